"""The report command on hand-written run directories in the formats search and train write.

Search directories follow ``nni_autotsnet/search.py`` (config.yaml, result.json, arch.json,
metrics.csv, part{i}_{name}/alpha_history.jsonl), some laid out like an NNI experiment's trial
folders; training runs follow the train command's result.json / metrics.csv / eval_<protocol>/.
The numbers are made up: the report only reads files.
"""

from __future__ import annotations

import hashlib
import json
import statistics

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from nni_autotsnet.report import main
from nni_autotsnet.results import GFLOPS_LABEL, find_runs
from nni_autotsnet.report_plots import timeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PROTOCOL = "10-LeftCenterRight"
# part -> {label: candidate values}
SPACE = {"sparse": {"sparse/s2_c": [8, 12, 16], "sparse/s2_b0_k": [3, 5]},
         "fusion": {"dense/s2_c": [4, 8], "fusion/s1": ["skip", "time_strided_conv", "time_strided_sampling",
                                                       "time_to_channel"]},
         "all": {"attention/s4_b0": ["none", "se", "nonlocal"]}}
EPOCHS = {"sparse": 3, "fusion": 2, "all": 1}
WINDOW = [0.0065, 0.0085]


def _probs(values: list, best: int) -> list:
    rest = 0.4 / (len(values) - 1)
    return [[v, 0.6 if i == best else rest] for i, v in enumerate(values)]


def write_search(folder, beta: float, gflops: float, accuracy: float, rerun_last_epoch: bool = False,
                 health: dict | None = None):
    """A search directory as ``python -m nni_autotsnet.search`` leaves it (large binaries left out)."""
    folder.mkdir(parents=True)
    window = WINDOW  # tiny.yaml keeps its window at beta 0 too, as the search then writes it
    (folder / "config.yaml").write_text(yaml.safe_dump(
        {"preset": "tiny", "search": {"num_samples": 2, "beta": beta, "flops_window": window, "seed": 0}}))
    rows, arch = [], {}
    for index, (part, epochs) in enumerate(EPOCHS.items(), start=1):
        part_dir = folder / f"part{index}_{part}"
        part_dir.mkdir()
        lines = []
        for epoch in range(epochs):
            best = epoch % 2  # the most likely value switches every epoch: 0, 1, 0, ...
            lines.append(json.dumps({"part": part, "epoch": epoch,
                                     "probs": {k: _probs(v, best) for k, v in SPACE[part].items()}}))
            rows.append({"part": part, "epoch": epoch, "entropy": 3.0 - epoch, "ess": 1.9,
                         "alpha_frozen": float(epoch == 0), "expected_gflops": gflops * (1.1 - 0.05 * epoch),
                         "ml_gflops": gflops * (1.05 - 0.025 * epoch), "cost": 0.1, "cost_batch": 0.1,
                         "ml_val_acc": accuracy})
        if rerun_last_epoch:  # a part run again appends its epochs again: the later line wins
            lines.append(json.dumps({"part": part, "epoch": epochs - 1,
                                     "probs": {k: _probs(v, len(v) - 1) for k, v in SPACE[part].items()}}))
        (part_dir / "alpha_history.jsonl").write_text("\n".join(lines) + "\n")
        arch.update({k: v[0] for k, v in SPACE[part].items()})
        pd.DataFrame([r for r in rows if r["part"] == part]).to_csv(part_dir / "metrics.csv", index=False)
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    (folder / "arch.json").write_text(json.dumps({"preset": "tiny", "parts": "all", "arch": arch}))
    in_window = WINDOW[0] <= gflops <= WINDOW[1]
    (folder / "result.json").write_text(json.dumps({
        "accuracy": accuracy, "gflops": gflops, "params": 60000, "in_window": in_window, "beta": beta,
        "flops_window": window, "expected_gflops": gflops * 1.01, "entropy": 2.0, "preset": "tiny",
        "parts": list(EPOCHS), "seconds": 20.0, **({"health": health} if health is not None else {})}))
    return folder


def write_train(folder, label: str, seed: int, gflops: float, val_acc: float, arch_file=None, top1=None):
    """A training run directory as ``python -m nni_autotsnet.train`` leaves it."""
    folder.mkdir(parents=True, exist_ok=True)  # its arch.json may be there already
    (folder / "result.json").write_text(json.dumps({
        "label": label, "preset": "tiny", "parts": "all", "arch_file": None if arch_file is None else str(arch_file),
        "gflops": gflops, "params": 50000, "val_acc": val_acc, "best_val_acc": val_acc + 0.01, "epochs": 3,
        "seed": seed, "seconds": 30.0}))
    pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [2.3, 2.0, 1.8], "train_acc": [0.1, 0.2, 0.3],
                  "val_loss": [2.3, 2.1, 1.9], "val_acc": [0.1, 0.2, val_acc], "lr": [0.05, 0.03, 0.01]}
                 ).to_csv(folder / "metrics.csv", index=False)
    if top1 is not None:
        (folder / f"eval_{PROTOCOL}").mkdir()
        (folder / f"eval_{PROTOCOL}" / "metrics.json").write_text(json.dumps(
            {"top1": top1, "top5": min(1.0, top1 + 0.2), "views": 30, "protocol": PROTOCOL, "num_videos": 60}))
    return folder


def write_arch(path, channels: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"preset": "tiny", "parts": "all", "arch": {"sparse/s2_c": channels}}, indent=1))
    return path


SEARCHED_TOP1 = [0.62, 0.66, 0.64]
X3D_TOP1 = [0.55, 0.57, 0.59]
# random architecture -> val_acc per seed (arch_3 trained twice)
RANDOM = {"arch_0": [0.41], "arch_1": [0.52], "arch_2": [0.47], "arch_3": [0.50, 0.58], "arch_4": [0.30]}
SEARCHES = {"x4Ab6": (0.2, 0.0080, 0.12), "sTmtV": (0.0, 0.0140, 0.10), "YzeFP": (0.05, 0.0095, 0.13)}
# each part's search health at its last epoch, as the search writes it; YzeFP predates the check
HEALTH = {"x4Ab6": {"sparse": "ok", "fusion": "ok", "all": "ok"},
          "sTmtV": {"sparse": "chance,flat_weights", "fusion": "ok", "all": "chance"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    trials = root / "nni-experiments" / "abc123" / "environments" / "local-env" / "trials"
    for trial, (beta, gflops, acc) in SEARCHES.items():
        write_search(trials / trial, beta, gflops, acc, rerun_last_epoch=trial == "x4Ab6", health=HEALTH.get(trial))
    (root / "nni-experiments" / "abc123" / "log").mkdir()
    searched_arch = write_arch(root / "arch_searched.json", 16)
    train = root / "train"
    for seed, top1 in enumerate(SEARCHED_TOP1):
        write_train(train / f"searched-seed{seed}", "searched", seed, 0.0079, 0.6, searched_arch, top1)
    for seed, top1 in enumerate(X3D_TOP1):  # no arch file: the seeds are grouped by their GFLOPs
        write_train(train / f"x3d-seed{seed}", "x3d", seed, 0.0083, 0.5, None, top1)
    random = root / "random" / "runs"
    for i, (name, accs) in enumerate(RANDOM.items()):
        for seed, acc in enumerate(accs):  # each run keeps its own arch.json, as training.py writes it
            run = random / f"{name}-seed{seed}"
            write_train(run, "random", seed, 0.0070 + 0.0003 * i, acc, write_arch(run / "arch.json", 100 + i))
    return root


def digest(name: str) -> str:
    """The random search's folder name of RANDOM's architecture ``name`` (nni_autotsnet.search_space.arch.arch_digest)."""
    arch = {"sparse/s2_c": 100 + list(RANDOM).index(name)}
    return hashlib.sha1(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:10]


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main([str(runs / "nni-experiments"), str(runs / "train"), str(runs / "random"), "--out", str(out)])
    assert code == 0
    return out, buffer.getvalue()


def _check_png(path, min_bytes=15_000):
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > min_bytes, (path, len(data))
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        assert width >= 600 and height >= 400
        pixels = np.asarray(image.convert("L"))
        assert pixels.std() > 10  # not a blank canvas


def test_every_output_is_written_and_printed(report):
    out, printed = report
    pngs = ["fig2_accuracy_vs_gflops.png", "table1_beta_vs_gflops.png",
            *(f"alpha_{trial}.png" for trial in SEARCHES)]
    for name in pngs:
        _check_png(out / name)
    for name in [*pngs, "comparison.md", "comparison.csv", "table1_beta.md", "table1_beta.csv", "report.md"]:
        assert str(out / name) in printed, name
    page = (out / "report.md").read_text()
    assert all(f"]({name})" in page for name in pngs)  # every figure embedded
    assert "| searched |" in page and "| best of random |" in page and "multiply-adds" in page


def test_comparison_gives_mean_std_over_seeds_and_best_of_random(report):
    out, _ = report
    table = pd.read_csv(out / "comparison.csv")
    assert list(table["label"]) == ["searched", "x3d", *["random"] * len(RANDOM), "best of random"]
    searched = table[table["label"] == "searched"].iloc[0]
    assert searched["n"] == 3
    assert searched["top-1 mean (%)"] == pytest.approx(100 * statistics.mean(SEARCHED_TOP1))
    assert searched["top-1 std (%)"] == pytest.approx(100 * statistics.stdev(SEARCHED_TOP1))
    assert searched["accuracy from"] == f"top-1, {PROTOCOL}"  # eval top-1 wins over val_acc
    assert searched[GFLOPS_LABEL] == pytest.approx(0.0079)
    x3d = table[table["label"] == "x3d"].iloc[0]
    assert x3d["n"] == 3 and x3d["top-1 mean (%)"] == pytest.approx(100 * statistics.mean(X3D_TOP1))
    random = table[table["label"] == "random"]
    assert sorted(random["n"]) == [1, 1, 1, 1, 2]  # arch_3's two seeds are one architecture
    assert set(random["accuracy from"]) == {"val_acc (last epoch)"}
    means = {name: 100 * statistics.mean(accs) for name, accs in RANDOM.items()}
    best = table[table["label"] == "best of random"].iloc[0]
    assert best["top-1 mean (%)"] == pytest.approx(max(means.values()))
    assert best["top-1 mean (%)"] == pytest.approx(random["top-1 mean (%)"].max())
    best_name = max(means, key=means.get)
    assert best["architecture"] == digest(best_name) and best["n"] == len(RANDOM[best_name])
    assert sorted(random["architecture"]) == sorted(digest(name) for name in RANDOM)
    text = (out / "comparison.md").read_text()
    assert f"Best of {len(RANDOM)} random architectures: {max(means.values()):.2f} ± " in text
    assert "FLOPs window: [0.0065, 0.0085]" in text  # from the search directories' config.yaml


def test_table1_rows_sorted_by_beta(report):
    out, _ = report
    table = pd.read_csv(out / "table1_beta.csv")
    expected = sorted(SEARCHES.items(), key=lambda item: item[1][0])
    assert list(table["search"]) == [trial for trial, _ in expected]
    assert list(table["beta"]) == [beta for _, (beta, _, _) in expected]
    assert list(table["searched, " + GFLOPS_LABEL]) == pytest.approx([g for _, (_, g, _) in expected])
    assert list(table["val acc, most likely arch on the supernet (%)"]) == pytest.approx(
        [100 * a for _, (_, _, a) in expected])
    assert np.isnan(table["T_min, " + GFLOPS_LABEL][0])  # beta 0: no constraint, as in the supplement
    assert list(table["T_max, " + GFLOPS_LABEL][1:]) == pytest.approx([WINDOW[1]] * 2)
    assert list(table["in window"]) == [False, False, True]
    assert all("GFLOPs" not in c or "per view (multiply-adds)" in c for c in table.columns)


def test_table1_flags_a_search_that_did_not_learn(report):
    """The health column: a search whose supernet had not learned is never shown as a plain searched result."""
    out, _ = report
    table = pd.read_csv(out / "table1_beta.csv").set_index("search")
    assert table.loc["x4Ab6", "search health"] == "ok"
    assert table.loc["sTmtV", "search health"] == "WARNING: sparse: chance, flat_weights; all: chance"
    assert table.loc["YzeFP", "search health"] == "-"  # not recorded
    page = (out / "report.md").read_text()
    assert "### sTmtV (beta = 0, search health WARNING: sparse: chance, flat_weights; all: chance" in page
    assert "follows noise" in (out / "table1_beta.md").read_text()


def test_timeline_concatenates_parts_and_takes_the_argmax(runs):
    searches, trains = find_runs([runs / "nni-experiments"])
    assert not trains and sorted(r.name for r in searches) == sorted(SEARCHES)
    run = next(r for r in searches if r.name == "sTmtV")
    tl = timeline(run)
    assert [(name, first, n) for name, first, n in tl["parts"]] == [("sparse", 0, 3), ("fusion", 3, 2), ("all", 5, 1)]
    assert list(tl["metrics"]["x"]) == list(range(6))
    assert tl["labels"] == [label for part in SPACE.values() for label in part]
    row = tl["choice"][tl["labels"].index("sparse/s2_c")]
    assert list(row[:3]) == [0, 1, 0] and np.isnan(row[3:]).all()  # searched in part 1 only
    assert tl["final"]["fusion/s1"] == "time_strided_conv (0.60)"
    rerun = timeline(next(r for r in searches if r.name == "x4Ab6"))
    assert rerun["parts"][0][2] == 3  # the re-run epoch replaced, not appended
    assert rerun["choice"][rerun["labels"].index("sparse/s2_c"), 2] == 2


def test_window_option_single_kind_and_name_clashes(runs, tmp_path):
    twin = tmp_path / "other" / "trials" / "x4Ab6"  # same trial id in another experiment
    write_search(twin, 0.1, 0.0075, 0.2)
    out = tmp_path / "out"
    assert main([str(runs / "nni-experiments"), str(twin), str(runs / "train"), "--window", "0.007,0.009",
                 "--out", str(out)]) == 0
    alphas = sorted(p.name for p in out.glob("alpha_*.png"))
    assert len(alphas) == 4 and len(set(alphas)) == 4
    assert "FLOPs window: [0.007, 0.009] (--window)" in (out / "comparison.md").read_text()
    only_train = tmp_path / "only_train"
    assert main([str(runs / "random"), "--out", str(only_train)]) == 0
    assert (only_train / "fig2_accuracy_vs_gflops.png").is_file() and not (only_train / "table1_beta.csv").exists()
    assert "best of random" in (only_train / "comparison.md").read_text()
    failed = tmp_path / "failed_eval"  # an evaluation without a number: the run falls back to val_acc
    write_train(failed, "x3d", 0, 0.008, 0.5, None, float("nan"))
    assert main([str(failed), "--out", str(tmp_path / "failed_out")]) == 0
    row = pd.read_csv(tmp_path / "failed_out" / "comparison.csv").iloc[0]
    assert row["top-1 mean (%)"] == pytest.approx(50.0) and row["accuracy from"] == "val_acc (last epoch)"


@pytest.mark.parametrize("case", ["missing", "file", "empty", "window", "out_is_file"])
def test_bad_inputs_exit_2_naming_the_path(case, runs, tmp_path, capsys):
    out, args = tmp_path / "out", [str(runs / "train")]
    if case == "missing":
        bad = tmp_path / "nowhere"
        args = [str(bad)]
    elif case == "file":
        bad = tmp_path / "result.json"
        bad.write_text("{}")
        args = [str(runs / "train"), str(bad)]
    elif case == "empty":
        bad = tmp_path / "empty" / "a" / "b"
        bad.mkdir(parents=True)
        (bad / "notes.txt").write_text("not a run")
        args = [str(tmp_path / "empty")]
        bad = tmp_path / "empty"
    elif case == "window":
        bad = "2,1"
        args += ["--window", bad]
    else:
        bad = out = tmp_path / "report.png"
        out.write_text("")
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(bad) in err and len(err.splitlines()) == 1
