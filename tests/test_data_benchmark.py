"""The generated temporal benchmark and the two CLI commands, through the real loader."""

import csv
import json

import numpy as np
import pytest

from nni_autotsnet.data import CLASS_NAMES, VideoReader, make_benchmark
from nni_autotsnet.data.benchmark import split_sizes
from nni_autotsnet.data.__main__ import main
from nni_autotsnet.data.synthetic import _trajectory, render_video, sample_spec
from nni_autotsnet.data.testing import write_garbage


@pytest.fixture(scope="session")
def bench(small_bench):
    return small_bench


def _decoded(root, rel):
    with VideoReader(root / rel) as reader:
        return reader.frames_at(np.arange(reader.info.num_frames) / reader.info.fps).frames


def test_layout_and_lists(bench):
    assert (bench / "labels.txt").read_text().split() == list(CLASS_NAMES)
    rows = {s: list(csv.reader((bench / f"{s}.csv").open()))[1:] for s in ("train", "val", "test")}
    assert {s: len(r) for s, r in rows.items()} == {"train": 10, "val": 10, "test": 10}
    summary = json.loads((bench / "benchmark.json").read_text())
    fps = {v["fps"] for v in summary["videos"]}
    sizes = {(v["width"], v["height"]) for v in summary["videos"]}
    assert len(fps) >= 3 and len(sizes) >= 3  # varied rates and resolutions
    path, label = rows["val"][4]
    with VideoReader(bench / path) as reader:
        assert reader.info.codec == "h264" and reader.info.container.startswith("mov,mp4")
        assert 2.0 - 0.1 <= reader.info.duration <= 3.0 + 0.1 and label == CLASS_NAMES[4]


def test_deterministic_for_a_seed(bench, tmp_path):
    """Same seed, other worker count: same lists, same bytes, same decoded frames."""
    again = make_benchmark(tmp_path / "again", num_classes=10, videos_per_class=3, seed=0, workers=2)
    assert (tmp_path / "again" / "train.csv").read_text() == (bench / "train.csv").read_text()
    for row in again["videos"]:
        assert (bench / row["path"]).read_bytes() == (tmp_path / "again" / row["path"]).read_bytes(), row["path"]
    for row in again["videos"][::7]:
        np.testing.assert_array_equal(_decoded(bench, row["path"]), _decoded(tmp_path / "again", row["path"]))
    other = make_benchmark(tmp_path / "other", num_classes=2, videos_per_class=3, seed=1, workers=1)
    first = other["videos"][0]["path"]
    assert not np.array_equal(_decoded(bench, first)[:1], _decoded(tmp_path / "other", first)[:1])


@pytest.mark.parametrize("label", range(len(CLASS_NAMES)))
def test_a_single_frame_looks_the_same_in_every_class(label):
    """Position and orientation are uniform in every class (checked on the trajectories)."""
    xs, ys, thetas = [], [], []
    for index in range(200):
        spec = sample_spec(label, 0, index)
        x, y, theta = _trajectory(spec)
        k = index % spec.num_frames
        xs.append((x[k] % spec.width) / spec.width)
        ys.append((y[k] % spec.height) / spec.height)
        thetas.append((theta[k] % np.pi) / np.pi)
    for values in (xs, ys, thetas):
        counts = np.histogram(values, bins=4, range=(0, 1))[0]
        assert counts.min() > 25, counts  # ~50 a bin when uniform


def test_shakes_alias_for_a_sparse_stream():
    """Frames 4 strides apart show the shaking object at the same place; 1 stride apart, not."""
    for name in ("shake_horizontal", "shake_vertical"):
        spec = sample_spec(CLASS_NAMES.index(name), 0, 1, stride=4)
        frames = render_video(spec).astype(int)
        assert np.abs(frames[16] - frames[0]).max() == 0
        assert np.abs(frames[4] - frames[0]).max() > 50


def test_order_classes_differ_only_in_order():
    a = _trajectory(sample_spec(CLASS_NAMES.index("right_then_up"), 0, 5))
    b = _trajectory(sample_spec(CLASS_NAMES.index("up_then_right"), 0, 5))
    assert np.diff(a[0]).min() >= 0 and np.diff(a[1]).max() <= 0  # only right and up moves
    assert np.diff(b[0]).min() >= 0 and np.diff(b[1]).max() <= 0


def test_make_benchmark_cli(tmp_path, capsys):
    assert main(["make-benchmark", "--out", str(tmp_path / "b"), "--classes", "2", "--videos-per-class", "3", "--workers", "1"]) == 0
    assert "wrote 6 videos" in capsys.readouterr().out
    assert (tmp_path / "b" / "labels.txt").read_text().split() == ["move_right", "move_left"]
    assert main(["make-benchmark", "--out", str(tmp_path / "c"), "--classes", "11"]) == 2  # argparse: errors.command
    assert main([]) == 2


def test_check_cli(bench, tmp_path, capsys):
    assert main(["check", str(bench / "val.csv"), "--labels-file", str(bench / "labels.txt"), "--videos"]) == 0
    out = capsys.readouterr().out
    assert "10 of 10 videos decode" in out and "h264" in out and "path" in out.splitlines()[0]
    write_garbage(tmp_path / "bad.mp4")
    lst = tmp_path / "mixed.txt"
    lst.write_text(f"{bench / 'videos/move_left/move_left_00003.mp4'} 0\nbad.mp4 1\nnot_here.mp4 1\n")
    assert main(["check", str(lst)]) == 1
    captured = capsys.readouterr()
    assert "1 of 3 videos decode" in captured.out
    assert "bad.mp4: cannot open" in captured.err and "not_here.mp4: missing file" in captured.err
    lst.write_text("a.mp4 0\nlonely_path_without_label\n")
    assert main(["check", str(lst)]) == 2
    assert "mixed.txt:2" in capsys.readouterr().err


def test_motion_per_sampled_frame_does_not_depend_on_the_frame_rate():
    """Two videos of a class move alike between sampled frames whatever their rates (the speed pair stays apart)."""
    steps = {}
    for name in ("move_right", "drift_slow", "drift_fast"):
        label = CLASS_NAMES.index(name)
        per_rate = {}
        for index in range(60):
            spec = sample_spec(label, 0, index, stride=4)
            x, y, _ = _trajectory(spec)
            step = np.hypot(x[4] - x[0], y[4] - y[0]) / min(spec.height, spec.width)
            per_rate.setdefault(float(spec.fps), []).append(step)
        assert len(per_rate) >= 3
        steps[name] = np.concatenate(list(per_rate.values()))
        means = [np.mean(v) for v in per_rate.values()]
        assert max(means) - min(means) < 0.01, (name, per_rate.keys(), means)
    assert steps["drift_slow"].max() < steps["drift_fast"].min()  # no overlap in speed


def test_split_sizes_default_and_explicit(tmp_path, capsys):
    assert split_sizes() == {"train": 60, "val": 20, "test": 50}  # 500 test videos for 10 classes
    assert main(["make-benchmark", "--out", str(tmp_path / "b"), "--classes", "2", "--train", "2", "--val", "1",
                 "--test", "3", "--workers", "1"]) == 0
    assert "wrote 12 videos (train 4, val 2, test 6)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="splits"):
        make_benchmark(tmp_path / "c", num_classes=2, splits={"train": 1, "val": 0, "test": 1})
    assert main(["make-benchmark", "--out", str(tmp_path / "d"), "--videos-per-class", "5", "--test", "2"]) == 2
