"""One home per on-disk format (issue 12): run-directory names, result.json keys, atomic writers."""

from __future__ import annotations

import json
import os

import pytest
import torch

from nni_autotsnet.models import build_model
from nni_autotsnet.models.exported import load_exported, save_exported
from nni_autotsnet.rundir import (RESULT_FILE, SEARCH_RESULT_KEYS, TRAIN_RESULT_KEYS, part_dir, part_dirs,
                                  result_kind, write_result)
from nni_autotsnet.search_space import load_preset, make_layout, save_arch


def test_part_folders_are_named_and_found_in_part_order_not_name_order(tmp_path):
    for index, name in [(10, "all"), (2, "fusion"), (1, "sparse")]:
        part_dir(tmp_path, index, name).mkdir()
    (tmp_path / "part3_attention").mkdir()  # not a part of this space: ignored
    (tmp_path / "part4_all.txt").write_text("")  # a file, not a folder
    assert [(i, n, p.name) for i, n, p in part_dirs(tmp_path)] == [
        (1, "sparse", "part1_sparse"), (2, "fusion", "part2_fusion"), (10, "all", "part10_all")]
    assert part_dirs(tmp_path / "missing") == []


def test_a_result_without_a_declared_key_is_not_written(tmp_path):
    result = {key: 1.0 for key in TRAIN_RESULT_KEYS if key != "val_acc"}
    with pytest.raises(KeyError, match="val_acc"):
        write_result(tmp_path, result, TRAIN_RESULT_KEYS)
    assert not (tmp_path / RESULT_FILE).exists()
    write_result(tmp_path, {**result, "val_acc": 0.5}, TRAIN_RESULT_KEYS)
    assert json.loads((tmp_path / RESULT_FILE).read_text())["val_acc"] == 0.5


def test_result_kind_tells_a_training_run_from_a_search(tmp_path):
    train = {key: 0 for key in TRAIN_RESULT_KEYS}
    search = {key: 0 for key in SEARCH_RESULT_KEYS}
    assert result_kind(train, tmp_path) == "train"
    assert result_kind(search, tmp_path) is None  # a search directory also holds its config.yaml
    (tmp_path / "config.yaml").write_text("preset: tiny\n")
    assert result_kind(search, tmp_path) == "search"
    assert result_kind({"gflops": 1.0}, tmp_path) is None


def _fail_midway(monkeypatch):
    """Make ``os.replace`` fail, as a kill between writing the temporary and renaming it would."""
    def boom(*_):
        raise OSError("killed")
    monkeypatch.setattr(os, "replace", boom)


def test_arch_json_is_written_atomically(tmp_path, monkeypatch):
    layout = make_layout(load_preset("tiny"), "sparse")
    save_arch(layout.defaults(), tmp_path / "arch.json", "tiny", "sparse")
    before = (tmp_path / "arch.json").read_text()
    _fail_midway(monkeypatch)
    with pytest.raises(OSError):
        save_arch({}, tmp_path / "arch.json", "tiny", "sparse")
    assert (tmp_path / "arch.json").read_text() == before  # the old file is intact
    assert list(tmp_path.iterdir()) == [tmp_path / "arch.json"]  # no temporary left behind


def test_the_model_writer_round_trips_through_load_exported_and_is_atomic(tmp_path, monkeypatch):
    layout = make_layout(load_preset("tiny"), "all")
    arch = layout.defaults()
    model = build_model("tiny", arch, parts="all", num_classes=5)
    save_exported(tmp_path / "model.pt", preset="tiny", parts="all", num_classes=5, arch=arch,
                  state_dict=model.state_dict(), inherited_weights=False)
    loaded = load_exported(tmp_path / "model.pt")
    x = torch.randn(1, *load_preset("tiny").input_shape)
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    size = (tmp_path / "model.pt").stat().st_size
    _fail_midway(monkeypatch)
    with pytest.raises(OSError):
        save_exported(tmp_path / "model.pt", preset="tiny", parts="all", num_classes=5, arch=arch,
                      state_dict={}, inherited_weights=True)
    assert (tmp_path / "model.pt").stat().st_size == size


def test_part_info_round_trips_and_a_bad_one_names_its_file(tmp_path):
    from nni_autotsnet.rundir import PART_FILE, read_part_info, write_part_info

    write_part_info(tmp_path, "tiny32", "fusion", {"sparse.b1.k": 3}, 10, 2)
    assert read_part_info(tmp_path) == {"preset": "tiny32", "parts": "fusion", "fixed": {"sparse.b1.k": 3},
                                        "num_classes": 10, "index": 2}
    (tmp_path / PART_FILE).write_text('{"parts": "all"}')
    with pytest.raises(ValueError, match=r"part\.json: needs the keys 'preset' and 'parts'"):
        read_part_info(tmp_path)
    (tmp_path / PART_FILE).write_text('{"preset": ')
    with pytest.raises(KeyError, match=r"part\.json: cannot read JSON"):
        read_part_info(tmp_path, KeyError)
