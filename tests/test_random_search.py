"""The random-search baseline through NNI's NasExperiment: distinct architectures, all inside the window."""

from __future__ import annotations

import json

import pytest

from nni_autotsnet.random_search import main
from nni_autotsnet.search_space import TwoStreamSpace, check_arch, load_arch, load_preset, make_layout

pytestmark = pytest.mark.slow  # over ~10 s on 2 cores: pytest -m "not slow" leaves it out

WINDOW = (0.0065, 0.0085)


@pytest.fixture(scope="module")
def random_runs(tmp_path_factory, small_bench):
    tmp = tmp_path_factory.mktemp("random")
    bench = small_bench
    overrides = [f"data.benchmark={bench}", f"random.output={tmp / 'out'}", "random.num_archs=2",
                 f"random.flops_window=[{WINDOW[0]}, {WINDOW[1]}]", "random.port=18777", "train.epochs=1",
                 "train.epoch_scale=1.0", "train.warmup_epochs=0", "data.batch_size=4", "data.num_workers=0",
                 "trainer.threads=1"]
    assert main(["--config", "experiments/random_tiny.yaml", *overrides]) == 0
    return tmp / "out"


def test_two_distinct_architectures_inside_the_window_are_trained(random_runs):
    runs = sorted((random_runs / "runs").glob("*/result.json"))
    assert len(runs) == 2
    layout = make_layout(load_preset("tiny"), "all")
    space = TwoStreamSpace.from_preset("tiny", parts="all", num_classes=10)
    archs = []
    for path in runs:
        result = json.loads(path.read_text())
        arch, preset, parts = load_arch(path.parent / "arch.json")
        check_arch(layout, arch)
        assert result["label"] == "random" and result["epochs"] == 1
        assert WINDOW[0] <= space.flops(arch) / 1e9 <= WINDOW[1]
        assert result["gflops"] == pytest.approx(space.flops(arch) / 1e9)
        archs.append(json.dumps(arch, sort_keys=True))
    assert len(set(archs)) == 2
    table = (random_runs / "random.csv").read_text().splitlines()
    assert table[0].startswith("run,gflops") and len(table) == 3
    assert all(line.startswith("runs/") for line in table[1:])  # run folders relative to the table
    assert (random_runs / "nni").is_dir()  # NNI's experiment folder: the trials ran through its manager
