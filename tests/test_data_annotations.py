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


def test_header_columns_in_any_order_with_extra_columns(tmp_path):
    lst = tmp_path / "train.csv"
    lst.write_text('id,Label,duration,Video_Path,notes\n1,run,2.0,a/x.mp4,"ok, fine"\n2,jump,3.5,b/y.mp4,\n')
    assert resolve_classes(lst) == ("jump", "run")
    videos = read_video_list(lst, classes=("jump", "run"))
    assert [(r.path, r.label, r.line) for r in videos.records] == [
        (str(tmp_path / "a/x.mp4"), 1, 2),
        (str(tmp_path / "b/y.mp4"), 0, 3),
    ]


@pytest.mark.parametrize(
    "path_name, label_name",
    [("video", "class"), ("file_name", "category"), ("clip", "action"), ("FILENAME", "Class_Name"),
     ("clip_path", "label_name"), ("file", "label")],
)
def test_header_aliases(tmp_path, path_name, label_name):
    lst = tmp_path / "l.csv"
    lst.write_text(f"{label_name},{path_name}\n0,x.mp4\n1,y.mp4\n")
    assert [(r.path, r.label) for r in read_video_list(lst).records] == [
        (str(tmp_path / "x.mp4"), 0), (str(tmp_path / "y.mp4"), 1)
    ]


def test_most_specific_path_column_wins(tmp_path):
    lst = tmp_path / "l.csv"
    lst.write_text("video,video_path,label\nid7,clips/7.mp4,0\n")
    assert read_video_list(lst).records[0].path == str(tmp_path / "clips/7.mp4")


def test_header_without_path_or_label_column_names_file_line_and_columns(tmp_path):
    lst = tmp_path / "meta.csv"
    lst.write_text("# exported\nid,label,duration\n1,run,2.0\n")
    with pytest.raises(AnnotationError, match=r"meta.csv:2: header names no path column: found id, label, duration; "
                       r"a path column is one of path, video_path, .*youtube_id"):
        read_video_list(lst, classes=["run"])
    lst.write_text("path,target\nx.mp4,run\n")
    with pytest.raises(AnnotationError, match=r"meta.csv:1: header names no label column: found path, target; "
                       r"a label column is one of label, .*action"):
        resolve_classes(lst)
    lst.write_text("a,b,c\nx.mp4,run,1\n")
    with pytest.raises(AnnotationError, match=r"meta.csv:1: 3 columns \(a, b, c\) but no header naming a path column"):
        resolve_classes(lst)


def test_header_rows_name_line_and_column(tmp_path):
    lst = tmp_path / "l.csv"
    lst.write_text("label,path,fps\nrun,x.mp4,30\nrun,y.mp4\n")
    with pytest.raises(AnnotationError, match=r"l.csv:3: expected 'label,path,fps', got 2 field\(s\): 'run,y.mp4'"):
        resolve_classes(lst)
    lst.write_text("label,path,fps\nrun,,30\n")
    with pytest.raises(AnnotationError, match=r"l.csv:2: empty 'path' column \(column 2\)"):
        resolve_classes(lst)
    lst.write_text("label,path,label\nrun,x.mp4,run\n")
    with pytest.raises(AnnotationError, match=r"l.csv:1: header names column 'label' twice"):
        resolve_classes(lst)


def test_bom_and_windows_line_endings_with_a_header(tmp_path):
    lst = tmp_path / "excel.csv"
    lst.write_bytes("\ufeffClass,Extra,Path\r\nrun,1,x.mp4\r\njump,2,\"y, z.mp4\"\r\n".encode("utf-8"))
    videos = read_video_list(lst, classes=resolve_classes(lst))
    assert [(r.path, r.label) for r in videos.records] == [(str(tmp_path / "x.mp4"), 1), (str(tmp_path / "y, z.mp4"), 0)]
    lst.write_bytes("\ufeffx.mp4,0\r\ny.mp4,1\r\n".encode("utf-8"))  # headerless, as before
    assert [r.label for r in read_video_list(lst).records] == [0, 1]


_KINETICS = (
    "label,youtube_id,time_start,time_end,split,is_cc\n"
    "abseiling,--07WQ2iBlw,1,11,train,0\n"
    '"passing American football (in game)",-0MgDu2p4wM,12,22,train,1\n'
)
_NAMES = ("--07WQ2iBlw_000001_000011.mp4", "-0MgDu2p4wM_000012_000022.mp4")
_LABELS = ("abseiling", "passing American football (in game)")


@pytest.mark.parametrize(
    "layout",
    ["{name}", "{label}/{name}", "{label_}/{name}", "{split}/{label}/{name}", "{split}/{label_}/{name}", "{split}/{name}"],
)
def test_kinetics_csv_in_each_downloader_layout(tmp_path, layout):
    root = tmp_path / "kinetics"
    expected = []
    for name, label in zip(_NAMES, _LABELS):
        path = root / layout.format(name=name, label=label, label_=label.replace(" ", "_"), split="train")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        expected.append(str(path))
    lst = tmp_path / "annotations" / "train.csv"
    lst.parent.mkdir()
    lst.write_text(_KINETICS)
    classes = resolve_classes(lst)
    assert classes == tuple(sorted(_LABELS))
    videos = read_video_list(lst, root=root, classes=classes)
    assert [(r.path, r.label, r.line) for r in videos.records] == [(expected[0], 0, 2), (expected[1], 1, 3)]


def test_kinetics_missing_clip_keeps_the_layout_of_the_others_and_warns(tmp_path):
    root = tmp_path / "k"
    (root / "train" / "abseiling").mkdir(parents=True)
    (root / "train" / "abseiling" / _NAMES[0]).write_bytes(b"")
    lst = tmp_path / "train.csv"
    lst.write_text(_KINETICS)
    with pytest.warns(UserWarning, match=r"train.csv: 1 of 2 Kinetics clips are in none of the layouts .*"
                      r"<split>/<label>/NAME.*first on line 3 \(-0MgDu2p4wM_000012_000022.mp4\); "
                      r"listed as <split>/<label>/NAME"):
        videos = read_video_list(lst, root=root, classes=_LABELS)
    assert videos.records[1].path == str(root / "train" / _LABELS[1] / _NAMES[1])
    with pytest.warns(UserWarning, match="2 of 2 .* listed as NAME"):  # nothing found: the first layout
        videos = read_video_list(lst, root=tmp_path / "empty", classes=_LABELS)
    assert videos.records[0].path == str(tmp_path / "empty" / _NAMES[0])


def test_kinetics_bad_times_and_unlabelled_test_list(tmp_path):
    lst = tmp_path / "val.csv"
    lst.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,1.5,11,val\n")
    with pytest.raises(AnnotationError, match=r"val.csv:2: 'time_start' column \(column 3\) is not a whole number"):
        resolve_classes(lst)
    lst.write_text("label,youtube_id,time_start,time_end\nabseiling,abc,1.0,11\n")  # no split column
    with pytest.warns(UserWarning, match="1 of 1 Kinetics clips"):
        videos = read_video_list(lst, classes=["abseiling"])
    assert videos.records[0].path == str(tmp_path / "abc_000001_000011.mp4")
    lst.write_text("youtube_id,time_start,time_end,split\nabc,1,11,test\n")  # Kinetics' test lists have no labels
    with pytest.raises(AnnotationError, match=r"val.csv:1: header names no label column"):
        resolve_classes(lst)
