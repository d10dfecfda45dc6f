"""The generated configuration reference (docs/config.md) and ``python -m nni_autotsnet.config show`` (issue 22)."""

from __future__ import annotations

from pathlib import Path

import yaml

from nni_autotsnet.config import KEYS, Key, load_config
from nni_autotsnet.config.__main__ import main
from nni_autotsnet.config.reference import reference_markdown

REPO = Path(__file__).resolve().parents[1]


def test_docs_config_md_is_the_generated_reference():
    """Regenerate with: python -m nni_autotsnet.config reference --out docs/config.md"""
    assert (REPO / "docs" / "config.md").read_text() == reference_markdown(), \
        "docs/config.md is stale: python -m nni_autotsnet.config reference --out docs/config.md"


def test_the_reference_has_a_row_for_every_key():
    text = reference_markdown()
    for section, keys in KEYS.items():
        for name, key in (keys.items() if isinstance(keys, dict) else [(None, keys)]):
            dotted = f"{section}.{name}" if name else section
            assert f"| `{dotted}` |" in text, dotted


def test_reference_out_writes_the_page(tmp_path, capsys):
    assert main(["reference", "--out", str(tmp_path / "config.md")]) == 0
    assert (tmp_path / "config.md").read_text() == reference_markdown()


def test_show_prints_the_merged_config_with_overrides_and_derived_values(tmp_path, capsys):
    config = tmp_path / "exp.yaml"
    config.write_text("preset: tiny32\ndata:\n  benchmark: bench\ntrain:\n  epochs: 40\n  epoch_scale: 0.5\n")
    assert main(["show", str(config), "train.lr=0.01", "data.batch_size=4"]) == 0
    out = capsys.readouterr().out
    shown = yaml.safe_load(out)  # the derived block is comments: the rest loads back as the config
    assert shown["train"]["epochs"] == 40 and shown["train"]["lr"] == 0.01 and shown["data"]["batch_size"] == 4
    assert shown["search"]["beta"] == KEYS["search"]["beta"].default  # a default the file does not say
    assert Path(shown["output"]).is_absolute()
    assert "scaled_epochs: 20" in out  # 40 x 0.5
    # what show prints loads as the same config (it is what a run writes as config.yaml)
    again = tmp_path / "again.yaml"
    again.write_text(out)
    assert load_config(again).train == load_config(config, ["train.lr=0.01", "data.batch_size=4"]).train


def test_show_names_a_bad_key_and_a_missing_file(tmp_path, capsys):
    config = tmp_path / "exp.yaml"
    config.write_text("train:\n  epochz: 3\n")
    assert main(["show", str(config)]) == 2
    assert "train.epochz" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert main(["shoe"]) == 2
    assert "unknown command 'shoe'" in capsys.readouterr().err


def test_scaled_schedule_has_names_of_its_own_and_the_yaml_values_stay():
    config = load_config(None, ["data.benchmark=b", "train.epochs=40", "train.warmup_epochs=6", "train.epoch_scale=0.5"])
    assert (config.train.epochs, config.train.warmup_epochs) == (40, 6)  # what the YAML says
    assert (config.train.scaled_epochs, config.train.scaled_warmup_epochs) == (20, 3)  # what training runs
