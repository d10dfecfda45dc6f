"""List files, labels files and their errors (no video decoding here)."""

import json

import pytest

from nni_autotsnet.data import AnnotationError, read_labels_file, read_video_list, resolve_classes
from nni_autotsnet.data.annotations import collect_class_names, write_video_list


def test_csv_with_header_and_names(tmp_path):
    lst = tmp_path / "train.csv"
    lst.write_text('path,label\na/x.mp4,run\n"b/y, z.mp4",jump\n\n# comment\nc.mp4,run\n')
    classes = resolve_classes(lst)
    assert classes == ("jump", "run")
    videos = read_video_list(lst, root=tmp_path / "root", classes=classes)
    assert [r.label for r in videos.records] == [1, 0, 1]
    assert videos.records[1].path == str(tmp_path / "root" / "b/y, z.mp4")
    assert [r.line for r in videos.records] == [2, 3, 6]
    assert videos.num_classes == 2


def test_csv_without_header_and_indices(tmp_path):
    lst = tmp_path / "l.csv"
    lst.write_text("x.mp4,3\ny.mp4,0\n")
    assert resolve_classes(lst) is None
    videos = read_video_list(lst)
    assert [r.label for r in videos.records] == [3, 0]
    assert videos.num_classes == 4
    assert videos.records[0].path == str(tmp_path / "x.mp4")  # relative to the list's folder


def test_slowfast_space_separated_with_spaces_in_path(tmp_path):
    lst = tmp_path / "train.txt"
    lst.write_text("/abs/a b.mp4 1\nrel.mp4   0\n")
    videos = read_video_list(lst, root="/data")
    assert [(r.path, r.label) for r in videos.records] == [("/abs/a b.mp4", 1), ("/data/rel.mp4", 0)]


def test_labels_file_text_and_json(tmp_path):
    (tmp_path / "labels.txt").write_text("a\nb\n\nc\n")
    assert read_labels_file(tmp_path / "labels.txt") == ("a", "b", "c")
    (tmp_path / "ids.json").write_text(json.dumps({"b": 1, "a": 0}))
    assert read_labels_file(tmp_path / "ids.json") == ("a", "b")
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(AnnotationError, match=r"dup.txt:3: duplicate class name 'a' \(first on line 1\)"):
        read_labels_file(tmp_path / "dup.txt")


def test_bad_line_names_file_and_line(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("path,label\nok.mp4,a\nonly_a_path.mp4\n")
    with pytest.raises(AnnotationError, match=r"bad.csv:3: expected 'path,label'"):
        read_video_list(csv, classes=["a"])
    txt = tmp_path / "bad.txt"
    txt.write_text("ok.mp4 0\n\nlonely\n")
    with pytest.raises(AnnotationError, match=r"bad.txt:3: expected 'path label'"):
        read_video_list(txt)


def test_unknown_labels_are_errors(tmp_path):
    lst = tmp_path / "val.csv"
    lst.write_text("x.mp4,run\ny.mp4,fly\n")
    with pytest.raises(AnnotationError, match=r"val.csv:2: unknown class 'fly'"):
        read_video_list(lst, classes=["run", "jump"])
    lst.write_text("x.mp4,5\n")
    with pytest.raises(AnnotationError, match=r"val.csv:1: class index 5 out of range \(0..1\)"):
        read_video_list(lst, classes=["run", "jump"])
    lst.write_text("x.mp4,run\n")
    with pytest.raises(AnnotationError, match="no class list"):
        read_video_list(lst)


def test_collect_needs_names_and_files_exist(tmp_path):
    lst = tmp_path / "l.txt"
    lst.write_text("x.mp4 run\ny.mp4 2\n")
    with pytest.raises(AnnotationError, match=r"l.txt:2: label '2' is an index"):
        collect_class_names(lst)
    with pytest.raises(AnnotationError, match="list file not found"):
        read_video_list(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("path,label\n")
    with pytest.raises(AnnotationError, match="no videos listed"):
        read_video_list(tmp_path / "empty.csv")


def test_write_and_read_back(tmp_path):
    rows = [("v/a.mp4", "x"), ("v/b.mp4", "y")]
    write_video_list(tmp_path / "l.csv", rows)
    write_video_list(tmp_path / "l.txt", [("v/a.mp4", 0), ("v/b.mp4", 1)])
    a = read_video_list(tmp_path / "l.csv", classes=["x", "y"])
    b = read_video_list(tmp_path / "l.txt")
    assert [(r.path, r.label) for r in a.records] == [(r.path, r.label) for r in b.records]
