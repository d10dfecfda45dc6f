"""Transforms keep a clip's frames consistent; presets have Table 3's sizes."""

import numpy as np
import pytest
import torch

from nni_autotsnet.data import DATA_PRESETS, eval_transform, get_preset, parse_views, spatial_crops, train_transform
from nni_autotsnet.data.transforms import frames_to_video


def _moving_frames(t=8, h=72, w=96):
    """Frames that differ only by a known shift: frame i is the base image rolled by i pixels."""
    base = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.stack([np.roll(base, i, axis=1) for i in range(t)])


@pytest.mark.parametrize("preset", ["tiny", "S"])
def test_train_transform_applies_the_same_parameters_to_every_frame(preset):
    p = get_preset(preset)
    still = np.repeat(_moving_frames(1), p.num_frames, axis=0)
    transform = train_transform(p)
    torch.manual_seed(0)
    for _ in range(12):  # crops, flips and AutoAugment ops differ between draws...
        out = transform(frames_to_video(still))
        assert out.shape == (p.num_frames, 3, p.crop, p.crop) and out.dtype == torch.float32
        # ...but within a clip identical frames stay identical.
        assert torch.equal(out, out[:1].expand_as(out))


def test_train_transform_keeps_motion_consistent():
    """Without AutoAugment (whose ops may be non-geometric), a one-pixel-per-frame roll survives
    a crop and flip as a consistent one-pixel shift between consecutive frames."""
    p = get_preset("tiny", jitter=(72, 72), autoaugment=False)
    frames = _moving_frames()
    torch.manual_seed(1)
    for _ in range(6):
        out = train_transform(p)(frames_to_video(frames))
        inner = out[:, :, :, 2:-2]
        shifts = [
            min((-1, 1), key=lambda s: (torch.roll(inner[i], s, dims=-1)[..., 2:-2] - inner[i + 1][..., 2:-2]).abs().mean())
            for i in range(len(out) - 1)
        ]
        assert len(set(shifts)) == 1  # every pair moved the same way (right, or left when flipped)


def test_train_transform_draws_different_parameters_per_clip():
    p = get_preset("tiny", autoaugment=False)
    frames = _moving_frames()
    torch.manual_seed(0)
    outs = [train_transform(p)(frames_to_video(frames)) for _ in range(6)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_test_transform_and_crops():
    p = get_preset("tiny")
    video = eval_transform(p)(frames_to_video(_moving_frames(8, 72, 96)))
    assert video.shape == (8, 3, 64, 85)
    clip = video.permute(1, 0, 2, 3)
    left, centre, right = spatial_crops(clip, 64, 3)
    assert torch.equal(left, clip[..., :64]) and torch.equal(right, clip[..., -64:])
    assert torch.equal(centre, clip[..., 10:74])
    (only,) = spatial_crops(clip, 64, 1)
    assert torch.equal(only, centre)
    portrait = torch.zeros(3, 8, 100, 64)
    top, _, bottom = spatial_crops(portrait, 64, 3)
    assert top.shape == bottom.shape == (3, 8, 64, 64)
    with pytest.raises(ValueError, match="cannot crop 64 px from a 50x64 clip"):
        spatial_crops(torch.zeros(3, 2, 50, 64), 64, 1)


def test_presets_follow_table_3():
    sizes = {name: (p.jitter, p.crop, p.test_size) for name, p in DATA_PRESETS.items()}
    assert sizes == {
        "tiny": ((64, 80), 64, 64),
        "tiny32": ((32, 40), 32, 32),
        "S": ((182, 228), 160, 182),
        "M": ((256, 320), 224, 256),
        "L": ((356, 446), 312, 356),
    }
    # clips are the space preset's T_dense frames, so the sparse stream sees X3D-S/M/L's 13 / 16 / 16
    from nni_autotsnet.search_space import load_preset
    for name in ("tiny", "tiny32", "S", "M", "L"):
        space = load_preset(name)
        assert (DATA_PRESETS[name].num_frames, DATA_PRESETS[name].crop) == (space.frames, space.crop)
    assert [load_preset(n).sparse_frames for n in ("S", "M", "L")] == [13, 16, 16]
    with pytest.raises(KeyError, match="unknown data preset 'XL'"):
        get_preset("XL")


def test_views_protocols():
    assert parse_views("10-Center") == (10, 1)
    assert parse_views("10-LeftCenterRight") == (10, 3)
    assert parse_views(4) == (4, 1)
    with pytest.raises(ValueError, match="10-Center"):
        parse_views("ten-center")
