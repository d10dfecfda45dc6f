"""The configuration reference (``docs/config.md``) and the effective config, both made from :data:`KEYS`.

The reference is generated rather than written so that it cannot drift from the keys: a test compares
``docs/config.md`` with :func:`reference_markdown` and fails when a key changed without the page.
"""

from __future__ import annotations

from typing import Any

import yaml

from . import DERIVED, KEYS, SECTIONS, TABLE2, ExperimentConfig, Key, Window, portable_raw

__all__ = ["reference_markdown", "effective_yaml"]

HEADER = """# Configuration reference

Generated from `nni_autotsnet/config/__init__.py` (`KEYS`) by
`python -m nni_autotsnet.config reference --out docs/config.md`; a test fails when this page is stale.
`python -m nni_autotsnet.config show CONFIG [key.sub=value ...]` prints the config a command would run with.

An experiment YAML holds only what changes; every other key takes the default below. `base: other.yaml`
(a file in the same folder) starts from another config; `key.sub=value` overrides on a command line are
read as YAML. Relative paths resolve against the config file's folder. An unknown key, a value of the
wrong type or one that fails its check stops the command before anything trains, with the file and the
dotted key named. GFLOPs are multiply-adds per view (convolutions, linear layers, matrix products).
"""

SECTION_TITLES = {"": "Top level", "data": "`data`: the videos", "search": "`search`: PARSEC and the supernet",
                  "train": "`train`: training from scratch", "random": "`random`: the random-search baseline",
                  "trainer": "`trainer`: Lightning"}


def _kind(key: Key) -> str:
    if isinstance(key.kind, Window):
        return f"[T_min, T_max] ({key.kind.unit})"
    kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
    names = {"str": "path" if key.path else "string", "int": "integer", "float": "number", "bool": "true / false",
             "list": "list", "dict": "mapping"}
    return " or ".join(names.get(k.__name__, k.__name__) for k in kinds)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    if value is None:
        return "null"
    return f"`{_cell(yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix('...').strip())}`"


def reference_markdown() -> str:
    """``docs/config.md``: one table per section, a row per key (default, type, check, meaning)."""
    lines = [HEADER]
    for section in ("", *SECTIONS):
        keys = {n: k for n, k in KEYS.items() if isinstance(k, Key)} if not section else KEYS[section]
        lines += [f"## {SECTION_TITLES.get(section, f'`{section}`')}", "", "| key | default | type | check | meaning |",
                  "|---|---|---|---|---|"]
        for name, key in keys.items():
            dotted = f"{section}.{name}" if section else name
            check = key.check[1] if key.check else ""
            lines.append(f"| `{dotted}` | {_default(key.default)} | {_kind(key)} | {_cell(check)} | {_cell(key.doc)} |")
        derived = DERIVED.get(section, ())
        if derived:
            lines += ["", "Derived (computed on load, under names of their own): " +
                      ", ".join(f"`{section}.{name}`" for name, _ in derived) + "."]
        lines.append("")
    lines += ["## Supplement Table 2 (what `search.epoch_scale`, `search.lr_scale` and `search.arch_lr_scale` scale)",
              "", "| part | epochs | weight lr (total batch 256) | alpha lr |", "|---|---|---|---|"]
    lines += [f"| {part} | {e} | {lr} | {alr} |" for part, (e, lr, alr) in TABLE2.items()]
    return "\n".join(lines) + "\n"


def effective_yaml(config: ExperimentConfig) -> str:
    """The merged config as YAML (paths absolute, as a run's ``config.yaml``), then what is derived from it."""
    text = yaml.safe_dump(portable_raw(config), sort_keys=False, default_flow_style=False, width=110)
    derived = {"train": {name: getattr(config.train, name) for name, _ in DERIVED["train"]},
               "search.parts": [{"name": p.name, "epochs": p.epochs, "weight_lr": p.weight_lr, "arch_lr": p.arch_lr}
                                for p in config.search.parts]}
    comment = yaml.safe_dump(derived, sort_keys=False, default_flow_style=None, width=110)
    return text + "# derived on load (not keys):\n" + "".join(f"# {line}\n" for line in comment.splitlines())
