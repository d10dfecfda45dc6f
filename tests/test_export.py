"""``python -m nni_autotsnet.export`` on a real two-part PARSEC search of the tiny preset (CPU, seconds)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

from nni_autotsnet.export import alpha_distribution, main
from nni_autotsnet.models import load_exported
from nni_autotsnet.search_space import TwoStreamSpace, save_arch
from nni_autotsnet.strategies import Parsec
from toys import tiny_evaluator

FLOPS = "GFLOPs (multiply-adds per view)"


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run_part(root, index: int, parts: str, fixed: dict):
    """One search part as the search command writes it: part.json, arch.json, alpha.json, supernet.pt."""
    torch.manual_seed(index)
    space = TwoStreamSpace.from_preset("tiny", parts=parts, num_classes=10, fixed=fixed)
    strategy = Parsec(num_samples=2, weight_optimizer="sgd", seed=index, arch_lr=0.1, metric_samples=4)
    model = strategy.mutate_model(space)
    strategy.mutate_evaluator(tiny_evaluator(space, batch=2, batches=2, epochs=2, seed=index)).evaluate(model)
    folder = root / f"part{index}_{parts}"
    folder.mkdir()
    alpha = strategy.export_alpha(folder / "alpha.json", top_n=5)
    arch = {**fixed, **alpha["most_likely"]["sample"]}
    part = {"preset": "tiny", "parts": parts, "fixed": fixed, "num_classes": 10, "index": index}
    (folder / "part.json").write_text(json.dumps(part))
    save_arch(arch, folder / "arch.json", "tiny", parts)
    torch.save(space.state_dict(), folder / "supernet.pt")
    return space, arch, alpha


@pytest.fixture(scope="module")
def search(tmp_path_factory, one_thread):
    """Part 1 searches the sparse stream; part 2 the dense stream and fusions with part 1's labels pinned."""
    root = tmp_path_factory.mktemp("search")
    _, arch1, _ = _run_part(root, 1, "sparse", {})
    space2, arch2, alpha2 = _run_part(root, 2, "fusion", arch1)
    save_arch(arch2, root / "arch.json", "tiny", "fusion")
    return {"root": root, "space": space2, "arch": arch2, "alpha": alpha2, "arch1": arch1}


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_writes_the_model_and_the_cost_table(search, tmp_path, capsys, one_thread):
    code, out, _ = _run(capsys, search["root"], "--out", tmp_path, "--latency-runs", 3)
    assert code == 0
    assert {"arch.json", "model.pt", "summary.md", "summary.csv"} <= {p.name for p in tmp_path.iterdir()}
    arch = search["arch"]
    assert json.loads((tmp_path / "arch.json").read_text()) == {"preset": "tiny", "parts": "fusion", "arch": arch}
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert saved["format"] == "nni-autotsnet-model/1" and saved["inherited_weights"] is False
    assert (saved["builder"], saved["num_classes"], saved["arch"]) == ("nni_autotsnet.models.build_model", 10, arch)

    row = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    full = TwoStreamSpace.from_preset("tiny", parts="fusion")
    assert row[FLOPS] == pytest.approx(full.flops(arch) / 1e9, rel=1e-12)
    assert row["GFLOPs x views"] == pytest.approx(4 * full.flops(arch) / 1e9, rel=1e-12)  # tiny: 4-Center
    assert row["params (M)"] == pytest.approx(full.params(arch) / 1e6, rel=1e-12)
    assert (row["views"], row["threads"], row["weights"]) == (4, 1, "initialised")
    assert row["CPU latency (ms, batch 1)"] > 0
    probs = search["alpha"]["alpha"]
    expected = math.prod(p["probs"][p["values"].index(arch[label])] for label, p in probs.items())
    assert row["probability"] == pytest.approx(expected, rel=1e-5)
    assert "multiply-adds per view" in out and "| AutoTSNet-tiny |" in out


def test_inherited_weights_load_without_nni_and_match_the_supernet(search, tmp_path, capsys, one_thread):
    code, _, _ = _run(capsys, search["root"], "--weights", "--out", tmp_path, "--latency-runs", 0)
    assert code == 0
    space, arch = search["space"], search["arch"]
    frozen = space.freeze({label: arch[label] for label in space.layout.variables()}).eval()
    x = torch.randn(2, *space.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = frozen(x)
    torch.save(x, tmp_path / "x.pt")
    code = (
        "import sys, torch\n"
        "from nni_autotsnet.models import load_exported\n"
        f"d = {str(tmp_path)!r}\n"
        "model = load_exported(d + '/model.pt')\n"
        "with torch.no_grad():\n"
        "    torch.save(model(torch.load(d + '/x.pt', weights_only=True)), d + '/y.pt')\n"
        "bad = [k for k in sys.modules if k == 'nni' or k.startswith('nni.')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert torch.allclose(torch.load(tmp_path / "y.pt", weights_only=True), expected, atol=1e-5, rtol=0)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["inherited_weights"] is True


def test_top_exports_distinct_architectures_ranked_by_probability(search, tmp_path, capsys, one_thread):
    code, out, _ = _run(capsys, search["root"], "--top", 3, "--weights", "--out", tmp_path, "--latency-runs", 0)
    assert code == 0
    table = pd.read_csv(tmp_path / "summary.csv")
    assert list(table["model"]) == [f"AutoTSNet-tiny-rank{i}" for i in (1, 2, 3)]
    stored = search["alpha"]["top"][:3]
    assert list(table["probability"]) == pytest.approx([t["probability"] for t in stored], rel=1e-6)
    assert list(table["probability"]) == sorted(table["probability"], reverse=True)
    archs = [json.loads((tmp_path / f"rank{i}" / "arch.json").read_text())["arch"] for i in (1, 2, 3)]
    assert len({json.dumps(a, sort_keys=True) for a in archs}) == 3
    assert all({**a, **search["arch1"]} == a for a in archs)  # part 1's labels stay pinned
    assert archs[0] == search["arch"]
    for i, arch in enumerate(archs, 1):
        assert {"model.pt", "summary.csv", "summary.md"} <= {p.name for p in (tmp_path / f"rank{i}").iterdir()}
        model = load_exported(tmp_path / f"rank{i}" / "model.pt")
        assert model(torch.zeros(1, 3, 8, 64, 64)).shape == (1, 10)
    assert out.count("| AutoTSNet-tiny-rank") == 3


def test_top_beyond_the_stored_list_is_recomputed_from_alpha(search, tmp_path, capsys, one_thread):
    alpha = search["alpha"]
    recomputed = alpha_distribution(alpha["alpha"]).top_k(5)
    assert [s for s, _ in recomputed] == [t["sample"] for t in alpha["top"]]
    assert [p for _, p in recomputed] == pytest.approx([t["probability"] for t in alpha["top"]], rel=1e-5)
    code, _, err = _run(capsys, search["root"], "--top", 6, "--out", tmp_path, "--latency-runs", 0)
    assert code == 0 and "recomputed the top 6" in err
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 6


def test_an_arch_file_exports_with_its_preset(search, tmp_path, capsys, one_thread):
    part1 = search["root"] / "part1_sparse" / "arch.json"
    code, _, _ = _run(capsys, "--arch", part1, "--out", tmp_path / "a", "--latency-runs", 0)
    assert code == 0
    assert load_exported(tmp_path / "a" / "model.pt")(torch.zeros(1, 3, 8, 64, 64)).shape == (1, 10)
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(search["arch1"]))
    code, _, err = _run(capsys, "--arch", bare, "--out", tmp_path / "b", "--latency-runs", 0)
    assert code == 2 and str(bare) in err and "--preset" in err
    code, _, _ = _run(capsys, "--arch", bare, "--preset", "tiny", "--out", tmp_path / "b", "--latency-runs", 0)
    assert code == 0 and pd.read_csv(tmp_path / "b" / "summary.csv")["parts"][0] == "sparse"


def _copy(search, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(search["root"], root)
    return root


@pytest.mark.parametrize("case", ["no-dir", "no-arch", "bad-label", "no-supernet", "other-supernet", "unpinned",
                                  "no-format"])
def test_user_errors_exit_2_naming_the_file(search, tmp_path, capsys, one_thread, case):
    root = _copy(search, tmp_path) if case != "no-dir" else tmp_path / "missing"
    argv, expected = [root, "--out", tmp_path / "out", "--latency-runs", 0], [str(root)]
    if case == "no-arch":
        (root / "arch.json").unlink()
        expected = [str(root / "arch.json")]
    elif case == "bad-label":
        save_arch({**search["arch"], "sparse/s2_c": 999}, root / "arch.json", "tiny", "fusion")
        expected = [str(root / "arch.json"), "'sparse/s2_c'", "999"]
    elif case == "no-supernet":
        (root / "part2_fusion" / "supernet.pt").unlink()
        argv.append("--weights")
        expected = [str(root / "part2_fusion" / "supernet.pt"), "missing"]
    elif case == "other-supernet":
        shutil.copy(root / "part1_sparse" / "supernet.pt", root / "part2_fusion" / "supernet.pt")
        argv.append("--weights")
        expected = [str(root / "part2_fusion" / "supernet.pt"), "not the supernet"]
    elif case == "unpinned":  # the final arch disagrees with a label part 2 inherited from part 1
        width = next(w for w in (8, 12, 16) if w != search["arch"]["sparse/s2_c"])
        save_arch({**search["arch"], "sparse/s2_c": width}, root / "arch.json", "tiny", "fusion")
        argv.append("--weights")
        expected = [str(root / "part2_fusion" / "part.json"), "'sparse/s2_c'"]
    elif case == "no-format":
        torch.save({"arch": search["arch"]}, tmp_path / "model.pt")
        with pytest.raises(ValueError, match=f"{tmp_path / 'model.pt'}.*'format'"):
            load_exported(tmp_path / "model.pt")
        return
    code, _, err = _run(capsys, *argv)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err
    assert all(e in errors[0] for e in expected), errors[0]
