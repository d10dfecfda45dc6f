"""``python -m nni_autotsnet.evaluate --checkpoint PATH [--views V] [--config CFG] [--list test.csv] [--out DIR] [--drop-stream dense]``.

Video-level evaluation with the supplement's test protocols (section 3.3): every test video is
cut into ``clips x crops`` views, the model's softmax is averaged over a video's views, and the
video counts as right when the average's top class (top-1) or one of its top five (top-5) is
its label. ``PATH`` is a run directory of ``python -m nni_autotsnet.train`` (its newer of
``model.pt`` and ``last.ckpt``), a ``last.ckpt`` or a ``model.pt`` (also ``export``'s).
``--views``: ``10-center`` (``10-Center``, 10 views), ``10-lcr`` (``10-LeftCenterRight``, 30),
``1`` (one centre view), or any ``N``, ``N-Center``, ``N-LeftCenterRight``; default the config's
``train.eval_views``, else the data preset's protocol. The config defaults to the run
directory's ``config.yaml``; the list to the benchmark's ``test.csv`` (a data set of your own
needs ``--list``). The config's ``trainer.precision`` (``bf16-mixed``, ``16-mixed``: autocast,
float32 weights) and ``trainer.channels_last`` apply. Writes into ``DIR`` (default
``RUN/eval_<protocol>/``, ``RUN/eval_<protocol>-no-dense/`` with ``--drop-stream dense``)::

    metrics.json       top1, top5, views, protocol, num_videos, skipped, per_class, checkpoint, list, precision,
                       drop_stream (null, or the stream dropped)
    predictions.csv    path, label, predicted, correct, top5 (';'-joined), score (mean probability of predicted)
    confusion.csv      rows: true class, columns: predicted class (class names as headers)
    per_class.csv      class, videos, correct, accuracy

``--drop-stream dense`` is a stream ablation: the dense stream contributes nothing, its tensor being
replaced by zeros wherever it leaves the stream (the dense input of every fusion block and the pooled
dense features before the classifier; see :mod:`nni_autotsnet.models.ablation`). The weights are
unchanged (no retraining), so the drop in accuracy, per class in ``per_class.csv``, measures how much
the trained network relies on its dense stream. A model without a dense stream is a user error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

import torch
from nni_autotsnet.config import ExperimentConfig, load_config
# the checkpoint reader and the views protocol live in a library module (predict and export use them too);
# their names stay importable from here
from nni_autotsnet.checkpoint import EvalError, canonical_views, load_checkpoint, resolve_checkpoint
from nni_autotsnet.errors import CommandParser, command
from nni_autotsnet.locking import folder_lock
from nni_autotsnet.models.ablation import STREAMS, drop_stream as ablate
from nni_autotsnet.rundir import CONFIG_FILE

__all__ = ["EvalError", "inference_autocast", "canonical_views", "resolve_checkpoint", "load_checkpoint", "test_dataset", "evaluate", "main"]


def inference_autocast(precision: str, device_type: str):
    """The autocast region of Lightning's ``precision`` for inference (a no-op for ``32-true``).

    ``bf16-mixed`` runs in bfloat16, ``16-mixed`` in float16 (bfloat16 on CPU, as Lightning falls
    back to there); the weights stay float32 and no gradient scaler is involved.
    """
    import contextlib

    precision = str(precision)
    if precision in ("32-true", "32", "64-true", "64"):
        return contextlib.nullcontext()
    if precision in ("bf16-mixed", "bf16"):
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision in ("16-mixed", "16"):
        return torch.autocast(device_type, dtype=torch.float16 if device_type == "cuda" else torch.bfloat16)
    raise EvalError(f"trainer.precision={precision!r}: evaluate runs 32-true, bf16-mixed or 16-mixed")


def _config_for(checkpoint: Path, config: str | Path | None) -> ExperimentConfig:
    if config is None:
        config = checkpoint.parent / CONFIG_FILE
        if not config.is_file():
            raise EvalError(f"{config}: missing; pass --config CFG (the config the model was trained with)")
    return load_config(config)


def test_protocol(config: ExperimentConfig, views: str | None = None) -> str:
    """The views a test video gets: ``views``, else ``train.eval_views``, else the data preset's protocol."""
    from nni_autotsnet.data import get_preset

    return canonical_views(views or config.train.eval_views or get_preset(config.data.preset).views)[2]


def test_dataset(config: ExperimentConfig, list_file: str | Path | None, views: str):
    """The test split's dataset: ``list_file``, or the benchmark's ``test.csv``; classes as in training."""
    from nni_autotsnet.data import make_dataset
    from nni_autotsnet.runtime import ensure_benchmark

    data = config.data
    if data.annotations is not None:  # a folder format: its test split, unless a list is given
        from nni_autotsnet.runtime import folder_format_options

        if list_file is not None:
            raise EvalError(f"{config.path}: data.format {data.format} reads the test split from data.annotations; "
                            "drop --list")
        return make_dataset(data.annotations, split="test", views=views, **folder_format_options(config))
    if data.train is None:  # the bundled benchmark
        folder = ensure_benchmark(data.benchmark, data.benchmark_seed, data.benchmark_splits)
        labels, train_list = folder / "labels.txt", folder / "train.csv"
        list_file = list_file or folder / "test.csv"
    else:
        labels, train_list = data.labels_file, data.train
        if list_file is None:
            raise EvalError(f"{config.path}: key 'data.train' names a data set of your own; pass --list TEST.csv")
    if not Path(list_file).is_file():
        raise EvalError(f"{list_file}: no such test list")
    return make_dataset(list_file, root=data.root, split="test", preset=data.preset, views=views,
                        labels_file=str(labels) if labels else None, classes_from=None if labels else str(train_list),
                        cache=str(data.cache) if data.cache else None)


def _write(out: Path, names: list[str], rows: list[dict], metrics: dict) -> None:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["path", "label", "predicted", "correct", "top5", "score"]).to_csv(
        out / "predictions.csv", index=False)
    confusion = pd.DataFrame(0, index=pd.Index(names, name="true\\predicted"), columns=names)
    for row in rows:
        confusion.loc[row["label"], row["predicted"]] += 1
    confusion.to_csv(out / "confusion.csv")
    per_class = pd.DataFrame({"class": names, "videos": confusion.sum(axis=1).values,
                              "correct": [int(confusion.iloc[i, i]) for i in range(len(names))]})
    per_class["accuracy"] = per_class["correct"] / per_class["videos"].where(per_class["videos"] > 0)
    per_class.to_csv(out / "per_class.csv", index=False)
    metrics["per_class"] = {n: (None if pd.isna(a) else float(a)) for n, a in zip(names, per_class["accuracy"])}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))


def evaluate(checkpoint: str | Path, views: str | None = None, config: str | Path | None = None,
             list_file: str | Path | None = None, out: str | Path | None = None,
             drop_stream: str | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint on a test list (see the module doc); write the files and return ``metrics.json``.

    ``drop_stream="dense"`` evaluates the same weights with the dense stream's contribution replaced
    by zeros (:func:`nni_autotsnet.models.ablation.drop_dense_stream`).
    """
    if drop_stream is not None and drop_stream not in STREAMS:
        raise EvalError(f"--drop-stream {drop_stream}: one of {', '.join(STREAMS)}")
    path = resolve_checkpoint(checkpoint)
    model, info = load_checkpoint(path)
    try:
        ablation = ablate(model, drop_stream)
    except ValueError:
        raise EvalError(f"{path}: --drop-stream {drop_stream}: this model (parts {info['parts']!r}) has no "
                        f"{drop_stream} stream to drop") from None
    cfg = _config_for(path, config)
    clips, crops, protocol = canonical_views(test_protocol(cfg, views))
    dataset = test_dataset(cfg, list_file, protocol)
    if dataset.num_classes != info["num_classes"]:
        raise EvalError(f"{dataset.videos.source}: {dataset.num_classes} classes, but {path} classifies "
                        f"{info['num_classes']}")
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    suffix = f"-no-{drop_stream}" if drop_stream else ""
    out = Path(out) if out is not None else path.parent / f"eval_{protocol}{suffix}"
    with folder_lock(out, "evaluation folder"):
        metrics = _evaluate(model, dataset, cfg, clips, crops, protocol, path, drop_stream, ablation)
        _write(out, metrics.pop("names"), metrics.pop("rows"), metrics)
    metrics["out"] = str(out)
    return metrics


def _evaluate(model: nn.Module, dataset, cfg: ExperimentConfig, clips: int, crops: int, protocol: str, path: Path,
              drop_stream: str | None, ablation) -> dict[str, Any]:
    """Run the model over every view of ``dataset``: ``metrics.json``'s entries, with ``names`` and ``rows``."""
    from torch.utils.data import DataLoader

    from nni_autotsnet.data import VideoLevelAccumulator, average_views

    use_cuda = cfg.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    model.to(device)
    memory_format = torch.contiguous_format
    if cfg.trainer.channels_last:
        from nni_autotsnet.speed import to_channels_last_3d

        to_channels_last_3d(model)
        memory_format = torch.channels_last_3d
    precision = cfg.trainer.precision
    batch = cfg.data.batch_size  # clips per forward pass: what training fitted on one device
    accumulator, seen_views = VideoLevelAccumulator(), set()
    loader = DataLoader(dataset, batch_size=max(1, batch // (clips * crops)), num_workers=cfg.data.num_workers,
                        pin_memory=use_cuda)
    with torch.no_grad(), inference_autocast(precision, device.type), ablation:
        for views_batch, labels, indices in loader:
            seen_views.add(views_batch.shape[1])
            flat = views_batch.flatten(0, 1).to(device, non_blocking=True).contiguous(memory_format=memory_format)
            logits = torch.cat([model(chunk) for chunk in flat.split(batch)]).float()
            accumulator.update(average_views(logits, views_batch.shape[1]), labels.tolist(), indices.tolist())
    if seen_views and seen_views != {clips * crops}:
        raise RuntimeError(f"the dataset gave {sorted(seen_views)} views per video, expected {clips * crops}")
    names = list(dataset.classes or [str(i) for i in range(dataset.num_classes)])
    k = min(5, len(names))
    rows, top1, top5 = [], 0, 0
    for index, probs in sorted(accumulator.predictions().items()):
        record = dataset.videos.records[index]
        ranked = probs.topk(k).indices.tolist()
        top1 += ranked[0] == record.label
        top5 += record.label in ranked
        rows.append({"path": record.path, "label": names[record.label], "predicted": names[ranked[0]],
                     "correct": ranked[0] == record.label, "top5": ";".join(names[i] for i in ranked),
                     "score": float(probs[ranked[0]])})
    n = len(rows)
    metrics = {"top1": top1 / n if n else float("nan"), "top5": top5 / n if n else float("nan"),
               "views": clips * crops, "protocol": protocol, "num_videos": n, "skipped": len(dataset) - n,
               "checkpoint": str(path), "list": str(dataset.videos.source), "precision": precision,
               "drop_stream": drop_stream, "names": names, "rows": rows}
    return metrics


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Parse, evaluate, print a summary; 2 with one line on stderr for user errors."""
    parser = CommandParser(prog="python -m nni_autotsnet.evaluate", description=__doc__.split("\n\n")[1].replace("::", "."))
    parser.add_argument("--checkpoint", required=True, metavar="PATH", help="run directory, its last.ckpt, or a model.pt")
    parser.add_argument("--views", help="10-center | 10-lcr | 1 | N-Center | N-LeftCenterRight (default: the config's)")
    parser.add_argument("--config", metavar="CFG", help="experiment YAML (default: the run directory's config.yaml)")
    parser.add_argument("--list", dest="list_file", metavar="TEST.csv", help="test list (default: the benchmark's test.csv)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUN/eval_<protocol>/, "
                        "RUN/eval_<protocol>-no-<stream>/ with --drop-stream)")
    parser.add_argument("--drop-stream", choices=STREAMS, help="stream ablation: the stream contributes nothing, "
                        "its tensor replaced by zeros wherever it leaves the stream (every fusion's dense input, "
                        "the pooled dense features before the classifier); same weights, no retraining, so it "
                        "measures how much the trained network relies on that stream")
    args = parser.parse_args(argv)
    m = evaluate(args.checkpoint, args.views, args.config, args.list_file, args.out, drop_stream=args.drop_stream)
    dropped = f" without the {m['drop_stream']} stream" if m["drop_stream"] else ""
    print(f"{m['checkpoint']}{dropped}: top-1 {100 * m['top1']:.2f}%, top-5 {100 * m['top5']:.2f}% over {m['num_videos']} "
          f"videos ({m['protocol']}, {m['views']} views each; {m['skipped']} skipped)\n  files: {m['out']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
