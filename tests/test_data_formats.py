"""SSv2, UCF101, HMDB51 and a folder per class: parsing, label mapping, split selection, detection,
the config keys, ``data check``'s summary, and one training run, on data sets the tests write."""

from __future__ import annotations

import json

import pytest
import yaml

from nni_autotsnet.config import ConfigError, load_config
from nni_autotsnet.data import AnnotationError, make_dataset
from nni_autotsnet.data.__main__ import main as data_main
from nni_autotsnet.data.formats import detect_format, read_split
from nni_autotsnet.data.formats.splits import hold_out
from nni_autotsnet.data.formats.ucf_hmdb import hmdb51_group, ucf101_group
from nni_autotsnet.data.testing import read_frame_indices, write_format_dataset

FORMATS = ("ssv2", "ucf101", "hmdb51", "folders")
CLASSES = ("Run", "Jump", "Wave")


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    return {fmt: write_format_dataset(fmt, root / fmt, CLASSES) for fmt in FORMATS}


def _split(sets, fmt, split, **kw):
    return read_split(fmt, sets[fmt]["annotations"], split, sets[fmt]["root"], **kw)


def _names(videos):
    return [r.path.rsplit("/", 2)[-2] + "/" + r.path.rsplit("/", 1)[-1] for r in videos.records]


@pytest.mark.parametrize("fmt", FORMATS)
def test_detected_from_the_folder(sets, fmt):
    assert detect_format(sets[fmt]["annotations"]) == fmt


def test_ssv2_class_is_the_template_without_brackets(sets):
    train, val = _split(sets, "ssv2", "train"), _split(sets, "ssv2", "val")
    assert train.classes == tuple(f"{c} something from left to right" for c in CLASSES)
    assert len(train.records) == 12 and len(val.records) == 6
    assert [(r.path.rsplit("/", 1)[-1], r.label) for r in train.records[:3]] == [
        ("1000.webm", 0), ("1001.webm", 0), ("1003.webm", 0)]
    assert [r.line for r in train.records[:2]] == [2, 3]  # one object a line, after '['
    assert [r.path for r in _split(sets, "ssv2", "test").records] == [r.path for r in val.records]  # no test labels
    assert make_dataset(sets["ssv2"]["annotations"], sets["ssv2"]["root"], data_format="ssv2").preset.hflip is False
    assert make_dataset(sets["ssv2"]["annotations"], sets["ssv2"]["root"], data_format="ssv2",
                        hflip=True).preset.hflip is True


def test_ssv2_unknown_template_names_the_line(sets, tmp_path):
    src = sets["ssv2"]["annotations"]
    for name in ("something-something-v2-labels.json", "something-something-v2-validation.json"):
        (tmp_path / name).write_text((src / name).read_text())
    entries = [{"id": "1", "template": "Run [something] from left to right"},
               {"id": "2", "template": "Pushing [something] from right to left"}]
    (tmp_path / "something-something-v2-train.json").write_text("[\n" + ",\n".join(map(json.dumps, entries)) + "\n]")
    with pytest.raises(AnnotationError, match=r"train.json:3: entry 2 \(id 2\): template 'Pushing something from "
                                              r"right to left' is not in something-something-v2-labels.json"):
        read_split("ssv2", tmp_path, "train")


def test_ucf101_labels_from_classind_case_insensitive_folders_and_group_held_out(sets):
    train, val, test = (_split(sets, "ucf101", s) for s in ("train", "val", "test"))
    assert train.classes == CLASSES  # classInd.txt order, 1-based there
    # the lists say Run/..., the folder on disk is run/: found without case
    assert test.records[0].path.endswith("videos/run/v_Run_g01_c01.avi") and test.records[0].label == 0
    assert {r.label for r in test.records} == {0, 1, 2} and len(test.records) == 6
    # validation: whole groups out of the trainlist, every class, nothing shared with training
    groups = lambda v: {ucf101_group(r.path) for r in v.records}
    assert groups(train).isdisjoint(groups(val)) and {r.label for r in val.records} == {0, 1, 2}
    assert sorted(_names(train) + _names(val)) == sorted(_names(_split(sets, "ucf101", "train", val_fraction=1e-9))
                                                         + _names(_split(sets, "ucf101", "val", val_fraction=1e-9)))
    assert _names(_split(sets, "ucf101", "val", seed=0)) == _names(val)  # deterministic


def test_ucf101_bad_index_names_the_line(sets, tmp_path):
    src = sets["ucf101"]["annotations"]
    (tmp_path / "classInd.txt").write_text((src / "classInd.txt").read_text())
    (tmp_path / "trainlist01.txt").write_text("Run/v_Run_g08_c01.avi 1\nJump/v_Jump_g08_c01.avi 3\n")
    with pytest.raises(AnnotationError, match=r"trainlist01.txt:2: class index 3 but the folder 'Jump' is class 2"):
        read_split("ucf101", tmp_path, "train")
    with pytest.raises(AnnotationError, match=r"testlist02.txt: UCF101 split list not found"):
        read_split("ucf101", tmp_path, "test", split_number=2)


def test_hmdb51_split_file_codes(sets):
    train, val, test = (_split(sets, "hmdb51", s) for s in ("train", "val", "test"))
    assert test.classes == tuple(sorted(CLASSES))
    assert len(test.records) == 6 and all("_med_0_" in r.path for r in test.records)  # code 2
    listed = _names(train) + _names(val)
    assert len(listed) == 9 and not any(n.endswith("_med_2_1.avi") for n in listed)  # code 0: unused
    assert {hmdb51_group(r.path) for r in train.records}.isdisjoint(hmdb51_group(r.path) for r in val.records)
    with pytest.raises(AnnotationError, match="no HMDB51 split files"):
        _split(sets, "hmdb51", "train", split_number=2)


def test_folders_split_by_seed_and_fractions(sets):
    splits = {s: _names(_split(sets, "folders", s)) for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [12, 3, 3]
    everything = sorted(sum(splits.values(), []))
    assert len(set(everything)) == 18 and not any("README" in n for n in everything)
    assert {n.rsplit(".", 1)[1] for n in everything} == {"mp4", "mkv", "avi", "webm", "mov"}
    other = {s: _names(_split(sets, "folders", s, seed=1)) for s in ("val", "test")}
    assert other != {s: splits[s] for s in ("val", "test")} and sorted(sum(
        (_names(_split(sets, "folders", s, seed=1)) for s in ("train", "val", "test")), [])) == everything


def test_hold_out_keeps_a_group_in_training():
    from nni_autotsnet.data.annotations import VideoRecord
    records = [VideoRecord(f"c/v_g{g:02d}_c{c}.avi", 0, 0) for g in range(1, 11) for c in range(2)]
    kept, held = hold_out(records, 0.25, seed=3, group=ucf101_group)
    assert len(held) == 6 and len(kept) == 14  # three whole groups reach 25 %
    assert hold_out(records[:2], 0.5, 0, ucf101_group)[1] == []  # one group: stays in training


def test_every_format_loads_through_the_dataset(sets):
    for fmt in FORMATS:
        ds = make_dataset(sets[fmt]["annotations"], sets[fmt]["root"], split="test", views=1, data_format=fmt)
        views, label, index = ds[0]
        assert views.shape == (1, 3, 8, 64, 64) and label == ds.videos.records[0].label and ds.num_classes == 3
        from nni_autotsnet.data import VideoReader
        with VideoReader(ds.videos.records[0].path) as reader:
            assert read_frame_indices(reader.frames_at([0.0, 0.4]).frames).tolist() == [0, 10]


def test_detection_errors_name_the_folder(tmp_path, sets):
    (tmp_path / "classInd.txt").write_text("1 Run\n")
    (tmp_path / "Run_test_split1.txt").write_text("a.avi 1\n")
    with pytest.raises(AnnotationError, match=rf"{tmp_path}: more than one format fits \(ucf101: classInd.txt; hmdb51"):
        detect_format(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationError, match="empty: is a folder; expected a list file"):
        detect_format(tmp_path / "empty")


def _config(tmp_path, data: dict) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"base": "tiny.yaml", "data": data}))
    import shutil
    shutil.copy("experiments/tiny.yaml", tmp_path / "tiny.yaml")
    return str(path)


def test_config_keys_detect_and_refuse(tmp_path, sets):
    folder = sets["hmdb51"]
    config = load_config(_config(tmp_path, {"annotations": str(folder["annotations"]), "root": str(folder["root"]),
                                            "split_number": 1, "val_fraction": 0.2}))
    assert config.data.format == "hmdb51" and config.data.val_fraction == 0.2
    with pytest.raises(ConfigError, match=r"key 'data.format': 'sv2' is not one of"):
        load_config(_config(tmp_path, {"annotations": str(folder["annotations"]), "format": "sv2"}))
    with pytest.raises(ConfigError, match=r"key 'data.split_number'"):
        load_config(_config(tmp_path, {"annotations": str(folder["annotations"]), "split_number": 4}))
    with pytest.raises(ConfigError, match=r"key 'data.train': not used with data.format hmdb51"):
        load_config(_config(tmp_path, {"annotations": str(folder["annotations"]), "train": "a.csv", "val": "b.csv"}))
    with pytest.raises(ConfigError, match=r"cfg.yaml.*key 'data.annotations'.*is a folder; expected a list file"):
        load_config(_config(tmp_path, {"annotations": str(tmp_path)}))


@pytest.mark.parametrize("fmt", FORMATS)
def test_data_check_summary(sets, fmt, tmp_path, capsys):
    report = tmp_path / "check.json"
    argv = ["check", str(sets[fmt]["annotations"]), "--root", str(sets[fmt]["root"]), "--json", str(report)]
    assert data_main(argv) == 0
    out = capsys.readouterr().out
    assert f"format {fmt}" in out and out.rstrip().endswith("videos decode")
    summary = json.loads(report.read_text())
    splits = [s["split"] for s in summary["splits"]]
    assert splits == (["train", "val"] if fmt == "ssv2" else ["train", "val", "test"])
    first = summary["splits"][0]
    codec = {"ssv2": "vp9", "ucf101": "mpeg4", "hmdb51": "mpeg4"}.get(fmt)
    assert (set(first["codecs"]) == {codec}) if codec else (set(first["codecs"]) == {"h264", "mpeg4", "vp9"})
    assert first["classes"] == 3 and first["resolution"]["most_common"][0][0] == "80x64"
    assert first["fps"]["min"] == 25.0 and first["unreadable"] == [] and first["shorter_than_clip"] == []
    assert f"  videos       {first['videos']} in 3 of 3 classes; smallest" in out


def test_data_check_names_bad_and_short_videos_and_unseen_classes(sets, tmp_path, capsys):
    from nni_autotsnet.data import write_video
    from nni_autotsnet.data.testing import index_coded_frames, write_garbage
    write_garbage(tmp_path / "bad.mp4")
    write_video(tmp_path / "short.mp4", index_coded_frames(6), fps=25)
    write_video(tmp_path / "ok.mp4", index_coded_frames(32), fps=25)
    (tmp_path / "train.csv").write_text("path,label\nok.mp4,run\nshort.mp4,run\n")
    (tmp_path / "val.csv").write_text("path,label\nbad.mp4,jump\nok.mp4,run\n")
    (tmp_path / "labels.txt").write_text("run\njump\n")
    argv = ["check", str(tmp_path / "train.csv"), str(tmp_path / "val.csv"), "--labels-file", str(tmp_path / "labels.txt")]
    assert data_main(argv) == 1
    out, err = capsys.readouterr()
    assert "shorter than one clip (29 frames)  1: " + str(tmp_path / "short.mp4") in out
    assert "unreadable   1: " + str(tmp_path / "bad.mp4") + " (cannot open" in out
    assert "warning: val.csv has 1 class(es) that train.csv does not: jump" in err
    assert f"FAILED {tmp_path / 'bad.mp4'}: cannot open" in err


@pytest.mark.slow
def test_a_new_format_trains_through_the_command(sets, tmp_path):
    """python -m nni_autotsnet.train, unchanged, on an UCF101 data set: one epoch, then its test split."""
    from nni_autotsnet import evaluate as evaluate_cli
    from nni_autotsnet import train as train_cli
    from nni_autotsnet.search_space import load_preset, make_layout, save_arch

    arch = tmp_path / "arch.json"
    save_arch(make_layout(load_preset("tiny"), "all").defaults(), arch, "tiny", "all")
    folder = sets["ucf101"]
    cfg = _config(tmp_path, {"format": "ucf101", "annotations": str(folder["annotations"]), "root": str(folder["root"]),
                             "val_fraction": 0.3, "batch_size": 3, "num_workers": 0})
    out = tmp_path / "run"
    assert train_cli.main(["--arch", str(arch), "--config", cfg, "--out", str(out), "train.epochs=1",
                           "train.warmup_epochs=0", "train.epoch_scale=1", "trainer.threads=1"]) == 0
    assert (out / "model.pt").is_file() and len((out / "metrics.csv").read_text().splitlines()) == 2
    assert evaluate_cli.main(["--checkpoint", str(out / "model.pt"), "--views", "1", "--out", str(tmp_path / "ev")]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["num_videos"] == 6 and 0.0 <= metrics["top1"] <= 1.0
