"""Datasets on the generated benchmark: shapes, workers, nni.trace, bad files and their report."""

import shutil
import warnings

import nni
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from nni_autotsnet.data import (
    CLASS_NAMES,
    SkippedVideoWarning,
    VideoClipDataset,
    VideoDecodeError,
    VideoViewDataset,
    make_dataset,
)
from nni_autotsnet.data.testing import truncate_copy, write_empty, write_garbage


@pytest.fixture(scope="session")
def bench(small_bench):
    return small_bench


@pytest.fixture(scope="module")
def broken(bench, tmp_path_factory):
    """A list of four good videos and one of each kind of bad input, all real files but one."""
    root = tmp_path_factory.mktemp("broken")
    good = sorted((bench / "videos").glob("*/*.mp4"))[:4]
    for i, path in enumerate(good):
        shutil.copy(path, root / f"good{i}.mp4")
    truncate_copy(good[0], root / "truncated.mp4", 0.6)  # moov atom lost with the tail
    # A Matroska file cut short: the header opens, the frames stop early.
    import av

    with av.open(str(good[1])) as src, av.open(str(root / "full.mkv"), "w") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    truncate_copy(root / "full.mkv", root / "truncated.mkv", 0.3)
    write_garbage(root / "garbage.mp4")
    write_empty(root / "empty.mp4")
    names = [f"good{i}.mp4" for i in range(4)] + ["truncated.mp4", "truncated.mkv", "garbage.mp4", "empty.mp4", "missing.mp4"]
    (root / "list.txt").write_text("".join(f"{n} {i % 2}\n" for i, n in enumerate(names)))
    return root


def test_train_dataset_shapes_and_labels(bench):
    ds = make_dataset(bench / "train.csv", split="train", preset="tiny", labels_file=str(bench / "labels.txt"))
    assert isinstance(ds, VideoClipDataset) and len(ds) == 10 and ds.classes == CLASS_NAMES
    clip, label = ds[3]
    assert clip.shape == (3, 8, 64, 64) and clip.dtype == torch.float32
    assert label == 3 and abs(float(clip.mean())) < 3


def test_test_dataset_views(bench):
    ds = make_dataset(bench / "test.csv", split="test", views="3-LeftCenterRight", classes_from=str(bench / "train.csv"))
    assert isinstance(ds, VideoViewDataset) and ds.num_views == 9
    views, label, index = ds[5]
    assert views.shape == (9, 3, 8, 64, 64) and index == 5
    assert ds.classes == tuple(sorted(CLASS_NAMES)) and ds.classes[label] == CLASS_NAMES[5]
    centre = make_dataset(bench / "test.csv", split="test", views="2-Center", labels_file=str(bench / "labels.txt"))[5][0]
    assert centre.shape == (2, 3, 8, 64, 64)
    with pytest.raises(ValueError, match="pass labels_file or classes_from"):
        make_dataset(bench / "test.csv", split="test")


def test_dataloader_with_two_workers(bench):
    ds = make_dataset(bench / "train.csv", preset="tiny", labels_file=str(bench / "labels.txt"))
    loader = DataLoader(ds, batch_size=4, num_workers=2, shuffle=True)
    clips, labels = zip(*loader)
    assert torch.cat(clips).shape == (10, 3, 8, 64, 64)
    assert sorted(torch.cat(labels).tolist()) == list(range(10))


def test_nni_trace_payload_has_no_video_bytes(bench):
    ds = make_dataset(bench / "train.csv", preset="tiny", labels_file=str(bench / "labels.txt"))
    payload = nni.dump(ds)
    assert len(payload) < 1000 and "VideoClipDataset" in payload
    clone = nni.load(payload)
    assert len(clone) == len(ds) and clone[0][0].shape == ds[0][0].shape
    from nni.nas.evaluator.pytorch import DataLoader as TracedLoader

    loader_payload = nni.dump(TracedLoader(ds, batch_size=2))
    assert len(loader_payload) < 1500


def test_bad_files_are_skipped_warned_and_counted(broken):
    ds = VideoClipDataset(str(broken / "list.txt"), preset="tiny")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))]
    assert all(clip.shape == (3, 8, 64, 64) for clip, _ in items)
    messages = [str(w.message) for w in caught if w.category is SkippedVideoWarning]
    reasons = {
        "truncated.mp4": "cannot open",
        "truncated.mkv": "truncated: frames stop at",
        "garbage.mp4": "cannot open",
        "empty.mp4": "empty file",
        "missing.mp4": "missing file",
    }
    for name, reason in reasons.items():
        assert any(name in m and reason in m for m in messages), (name, messages)
    skipped = dict((p.rsplit("/", 1)[1], r) for p, r in ds.skipped_videos())
    assert set(skipped) == set(reasons)
    assert skipped["empty.mp4"] == "empty file" and skipped["truncated.mkv"] == "truncated"
    assert ds.skipped_count() >= 5
    report = ds.skip_report()
    assert "5 video(s)" in report and "missing.mp4 (missing file)" in report
    assert ds.skipped_count() == 0  # reported and reset


def test_skips_counted_across_workers(broken):
    ds = VideoClipDataset(str(broken / "list.txt"), preset="tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedVideoWarning)
        batches = list(DataLoader(ds, batch_size=3, num_workers=2))
    assert sum(len(b[1]) for b in batches) == len(ds)  # the epoch completed
    assert len(ds.skipped_videos()) == 5  # written in the workers, read here


def test_test_split_replaces_bad_videos_by_their_neighbour(broken):
    ds = VideoViewDataset(str(broken / "list.txt"), preset="tiny", views=2)
    with pytest.warns(SkippedVideoWarning, match="missing.mp4"):
        views, label, index = ds[len(ds) - 1]  # missing.mp4 is last: the next is good0
    assert index == 0 and views.shape == (2, 3, 8, 64, 64)


def test_strict_mode_raises(broken):
    ds = VideoClipDataset(str(broken / "list.txt"), preset="tiny", strict=True)
    ds[0]
    with pytest.raises(VideoDecodeError, match=r"garbage.mp4: cannot open"):
        ds[6]


def test_lightning_callback_reports_at_epoch_end(broken):
    import pytorch_lightning as pl

    from nni_autotsnet.data import SkippedVideosCallback

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 2)

        def training_step(self, batch, _):
            clip, label = batch
            return torch.nn.functional.cross_entropy(self.fc(clip.mean((2, 3, 4))), label)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    ds = VideoClipDataset(str(broken / "list.txt"), preset="tiny")
    callback = SkippedVideosCallback()
    # Replacements are drawn at random and 5 of these 9 videos are bad: seed them, so the chance of
    # 10 bad draws in a row (the dataset's give-up point, ~2% an epoch here) cannot make the test flaky.
    torch.manual_seed(0)
    trainer = pl.Trainer(
        max_epochs=1, callbacks=[callback], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Tiny(), DataLoader(ds, batch_size=3))
    assert trainer.callback_metrics["data/skipped_train"] >= 5
    assert "missing.mp4 (missing file)" in callback.last_reports["train"][0]
    assert ds.skipped_count() == 0


def test_video_level_prediction_averages_views():
    from nni_autotsnet.data import VideoLevelAccumulator, average_views

    logits = torch.tensor([[4.0, 0.0], [0.0, 1.0], [0.0, 3.0], [0.0, 3.0]])  # 2 videos x 2 views
    scores = average_views(logits, 2)
    assert scores.shape == (2, 2) and int(scores[0].argmax()) == 0 and int(scores[1].argmax()) == 1
    acc = VideoLevelAccumulator()
    acc.update(scores, labels=[0, 0], indices=[7, 8])
    acc.update(scores[1:], labels=[0], indices=[8])  # a replaced video seen twice counts once
    assert set(acc.predictions()) == {7, 8} and acc.accuracy() == 0.5
    with pytest.raises(ValueError, match="multiple of 3 views"):
        average_views(logits, 3)
