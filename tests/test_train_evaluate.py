"""Training from scratch and evaluation on real generated videos: run directory, reload, views, resume, bad inputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from pytorch_lightning import Callback

from nni_autotsnet import evaluate as evaluate_cli
from nni_autotsnet import train as train_cli
from nni_autotsnet.config import load_config
from nni_autotsnet.models import load_exported
from nni_autotsnet.search_space import load_preset, make_layout, save_arch
from nni_autotsnet.training import METRIC_COLUMNS, lr_factor, train

CONFIG = "experiments/tiny.yaml"
QUICK = ["train.epochs=2", "train.warmup_epochs=1", "train.epoch_scale=1", "data.batch_size=4",
         "data.num_workers=0", "trainer.threads=1"]
LR = 0.4 * 0.125  # tiny.yaml: train.lr 0.4 times lr_scale 0.125
STEPS = 2  # 10 training videos (one a class), batch 4, last batch dropped


@pytest.fixture(scope="module")
def bench(small_bench):
    return small_bench


@pytest.fixture(scope="module")
def arch_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("arch") / "arch.json"
    save_arch(make_layout(load_preset("tiny"), "all").defaults(), path, "tiny", "all")
    return path


def _train(arch_file, bench, out, *extra):
    return train_cli.main(["--arch", str(arch_file), "--config", CONFIG, "--out", str(out),
                           f"data.benchmark={bench}", *QUICK, *extra])


@pytest.fixture(scope="module")
def run(arch_file, bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert _train(arch_file, bench, out, "--label", "tiny-default") == 0
    return out


def _metrics(run):
    return pd.read_csv(run / "metrics.csv")


def test_lr_schedule_warms_up_linearly_then_decays_to_zero():
    factors = [lr_factor(s, 10, 4) for s in range(11)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[7] == pytest.approx(0.5) and factors[10] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))
    assert lr_factor(0, 3, 0) == 1.0


def test_train_writes_the_run_directory(run, arch_file, bench):
    for name in ("config.yaml", "arch.json", "last.ckpt", "model.pt", "metrics.csv", "result.json"):
        assert (run / name).is_file(), name
    assert list((run / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "logs" / "csv" / "version_0" / "metrics.csv").is_file()
    metrics = _metrics(run)
    assert tuple(metrics.columns) == METRIC_COLUMNS and metrics["epoch"].tolist() == [1, 2]
    # the lr of each epoch's last step: warm-up over epoch 1, cosine over epoch 2 (2 steps an epoch)
    assert metrics["lr"].tolist() == pytest.approx([LR * lr_factor(STEPS - 1, 2 * STEPS, STEPS),
                                                    LR * lr_factor(2 * STEPS - 1, 2 * STEPS, STEPS)])
    assert metrics[["train_loss", "val_loss"]].notna().all().all()
    result = json.loads((run / "result.json").read_text())
    from nni_autotsnet.search_space import TwoStreamSpace
    arch = json.loads(arch_file.read_text())["arch"]
    space = TwoStreamSpace.from_preset("tiny", parts="all", num_classes=10)
    assert result["gflops"] == pytest.approx(space.flops(arch) / 1e9) and result["params"] == space.params(arch)
    assert (result["label"], result["preset"], result["parts"], result["epochs"], result["seed"]) == \
        ("tiny-default", "tiny", "all", 2, 0)
    assert result["val_acc"] == pytest.approx(metrics["val_acc"].iloc[-1])
    assert result["arch_file"] == "arch.json"  # relative to the run: a moved or committed run names no machine
    assert result["best_val_acc"] == pytest.approx(metrics["val_acc"].max())
    model = load_exported(run / "model.pt")  # the export format, rebuilt without NNI
    assert model(torch.randn(2, 3, 8, 64, 64)).shape == (2, 10)
    assert load_config(run / "config.yaml").data.benchmark == bench.resolve()  # paths absolute: loads from anywhere


def test_checkpoint_and_model_give_the_same_accuracy(run, tmp_path):
    assert evaluate_cli.main(["--checkpoint", str(run / "last.ckpt"), "--views", "1", "--out", str(tmp_path / "a")]) == 0
    assert evaluate_cli.main(["--checkpoint", str(run / "model.pt"), "--views", "1", "--out", str(tmp_path / "b")]) == 0
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in "ab")
    assert a["top1"] == b["top1"] and a["top5"] == b["top5"] and a["num_videos"] == 10 and a["views"] == 1
    assert (tmp_path / "a" / "predictions.csv").read_text() == (tmp_path / "b" / "predictions.csv").read_text()
    confusion = pd.read_csv(tmp_path / "a" / "confusion.csv", index_col=0)
    assert confusion.shape == (10, 10) and confusion.values.sum() == 10 and list(confusion.index) == list(confusion.columns)
    assert 0.0 <= a["top1"] <= a["top5"] <= 1.0 and set(a["per_class"]) == set(confusion.columns)


def test_multi_view_protocols_use_their_number_of_views(run):
    assert evaluate_cli.canonical_views("10-center") == (10, 1, "10-Center")
    assert evaluate_cli.canonical_views("10-lcr") == (10, 3, "10-LeftCenterRight")
    assert evaluate_cli.canonical_views("1") == (1, 1, "1-Center")
    with pytest.raises(evaluate_cli.EvalError, match="--views"):
        evaluate_cli.canonical_views("10-diagonal")
    assert evaluate_cli.main(["--checkpoint", str(run), "--views", "2-LeftCenterRight"]) == 0
    metrics = json.loads((run / "eval_2-LeftCenterRight" / "metrics.json").read_text())
    assert (metrics["views"], metrics["protocol"], metrics["num_videos"], metrics["skipped"]) == \
        (6, "2-LeftCenterRight", 10, 0)
    dataset = evaluate_cli.test_dataset(load_config(run / "config.yaml"), None, "2-LeftCenterRight")
    assert dataset[0][0].shape == (6, 3, 8, 64, 64)


class _CrashAtSecondEpoch(Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def test_resume_after_a_crash_ends_with_the_uninterrupted_weights(run, arch_file, bench, tmp_path):
    config = load_config(CONFIG, [f"data.benchmark={bench}", *QUICK])
    arch = json.loads(arch_file.read_text())["arch"]
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, arch, "tiny", "all", tmp_path, callbacks=[_CrashAtSecondEpoch()])
    assert _metrics(tmp_path)["epoch"].tolist() == [1] and not (tmp_path / "model.pt").exists()
    assert _train(arch_file, bench, tmp_path, "--resume") == 0
    resumed, uninterrupted = _metrics(tmp_path), _metrics(run)
    assert resumed["epoch"].tolist() == [1, 2]
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    a = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(run / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "logs" / "csv" / "version_1").is_dir()  # the resumed invocation's own CSV log


def test_resume_with_more_epochs_follows_the_longer_schedule(run, arch_file, bench, tmp_path):
    assert _train(arch_file, bench, tmp_path, "train.epochs=1", "train.warmup_epochs=0") == 0
    assert _metrics(tmp_path)["lr"].tolist() == pytest.approx([LR * lr_factor(STEPS - 1, STEPS, 0)])
    assert _train(arch_file, bench, tmp_path, "--resume") == 0  # QUICK: 2 epochs, 1 of warm-up
    metrics = _metrics(tmp_path)
    assert metrics["epoch"].tolist() == [1, 2]
    assert metrics["lr"].iloc[1] == pytest.approx(_metrics(run)["lr"].iloc[1])  # the 2-epoch schedule's
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert (ckpt["epoch"], ckpt["global_step"]) == (1, 2 * STEPS)
    assert json.loads((tmp_path / "result.json").read_text())["epochs"] == 2


def test_bad_inputs_exit_2_naming_the_file(run, arch_file, bench, tmp_path, capsys):
    other = tmp_path / "s_arch.json"
    save_arch(make_layout(load_preset("S"), "all").defaults(), other, "S", "all")
    assert _train(other, bench, tmp_path / "r1") == 2
    assert str(other) in capsys.readouterr().err
    bare = tmp_path / "bare.json"  # no preset recorded: the labels are checked against the config's
    bare.write_text(json.dumps(make_layout(load_preset("S"), "all").defaults()))
    assert _train(bare, bench, tmp_path / "r2") == 2
    assert str(bare) in capsys.readouterr().err
    assert _train(arch_file, bench, tmp_path / "r3", "--resume") == 2
    assert str(tmp_path / "r3" / "last.ckpt") in capsys.readouterr().err
    assert _train(arch_file, bench, run) == 2  # a fresh run into a finished one
    assert str(run / "last.ckpt") in capsys.readouterr().err
    missing = tmp_path / "nope" / "last.ckpt"
    assert evaluate_cli.main(["--checkpoint", str(missing), "--views", "1"]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and err.count("\n") == 1
    assert evaluate_cli.main(["--checkpoint", str(run), "--views", "3-diagonal"]) == 2
    assert "--views" in capsys.readouterr().err


def test_recipe_keys_reach_the_training_module():
    """train.optimizer / label_smoothing / dropout: validated with the key named, and used by the module."""
    from nni_autotsnet.config import ConfigError, load_config
    from nni_autotsnet.search_space import x3d_like_arch
    from nni_autotsnet.training import TrainingModule

    config = load_config("experiments/tiny32.yaml")
    t = config.train
    assert (t.optimizer, t.label_smoothing, t.dropout, t.effective_lr) == ("adamw", 0.1, 0.2, 0.003)
    assert t.lr == load_config("experiments/tiny32.yaml", ["train.lr_scale=2.0"]).train.lr  # the YAML's, unscaled
    assert config.data.cache is not None and config.data.cache.is_absolute()
    assert load_config("experiments/tiny.yaml").train.optimizer == "sgd"  # the supplement's, by default
    for override, key in (("train.optimizer=adam", "train.optimizer"), ("train.label_smoothing=1.5", "train.label_smoothing"),
                          ("train.dropout=-0.1", "train.dropout")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config("experiments/tiny32.yaml", [override])
    module = TrainingModule("tiny32", x3d_like_arch("tiny32"), "sparse", 10, lr=t.effective_lr, epochs=2,
                            weight_decay=t.weight_decay, optimizer=t.optimizer, label_smoothing=t.label_smoothing,
                            dropout=t.dropout)
    assert isinstance(module.configure_optimizers(), torch.optim.AdamW) and module.model.dropout.p == 0.2
    sgd = TrainingModule("tiny32", x3d_like_arch("tiny32"), "sparse", 10, lr=0.1, epochs=2)
    assert isinstance(sgd.configure_optimizers(), torch.optim.SGD) and sgd.model.dropout.p == 0.5


class _StepWeights(Callback):
    """The classifier's weights after every optimiser step."""

    def __init__(self):
        self.values = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.values.append(pl_module.model.fc.weight.detach().clone())


EMA = ["train.ema_decay=0.6", "train.gradient_clip_val=1.0"]


def test_ema_weights_are_the_moving_average_of_every_step_and_are_the_trained_model(arch_file, bench, tmp_path):
    config = load_config(CONFIG, [f"data.benchmark={bench}", *QUICK, *EMA])
    assert (config.train.ema_decay, config.train.gradient_clip_val) == (0.6, 1.0)
    arch = json.loads(arch_file.read_text())["arch"]
    steps = _StepWeights()
    train(config, arch, "tiny", "all", tmp_path, callbacks=[steps])
    assert len(steps.values) == 2 * STEPS
    expected = steps.values[0]  # torch's EMA: the first update copies, then d * average + (1 - d) * current
    for value in steps.values[1:]:
        expected = 0.6 * expected + 0.4 * value
    kept = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]["fc.weight"]
    assert torch.allclose(kept, expected, atol=1e-6)
    assert not torch.allclose(kept, steps.values[-1], atol=1e-4)  # not the last step's raw weights
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=True)  # the average and the raw weights, both kept
    assert torch.allclose(ckpt["state_dict"]["model.fc.weight"], expected, atol=1e-6)
    assert torch.equal(ckpt["current_model_state"]["model.fc.weight"], steps.values[-1])


def test_resume_with_ema_ends_with_the_uninterrupted_average(arch_file, bench, tmp_path):
    config = load_config(CONFIG, [f"data.benchmark={bench}", *QUICK, *EMA])
    arch = json.loads(arch_file.read_text())["arch"]
    train(config, arch, "tiny", "all", tmp_path / "whole")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(config, arch, "tiny", "all", tmp_path / "cut", callbacks=[_CrashAtSecondEpoch()])
    train(config, arch, "tiny", "all", tmp_path / "cut", resume=True)
    a = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    pd.testing.assert_frame_equal(_metrics(tmp_path / "cut"), _metrics(tmp_path / "whole"))


def test_the_run_carries_its_class_names_and_predict_prints_them(run, bench, capsys):
    from nni_autotsnet import predict as predict_cli
    from nni_autotsnet.data import CLASS_NAMES

    names = list(CLASS_NAMES[:10])
    exported = torch.load(run / "model.pt", weights_only=True)
    ckpt = torch.load(run / "last.ckpt", weights_only=True)["hyper_parameters"]
    assert exported["classes"] == names and list(ckpt["classes"]) == names
    assert exported["data_preset"] == ckpt["data_preset"] == load_config(run / "config.yaml").data.preset
    video = sorted(bench.rglob("*.mp4"))[0]
    assert predict_cli.main(["--checkpoint", str(run), str(video), "--views", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.split()[0] == str(video) and line.split()[1] in names
