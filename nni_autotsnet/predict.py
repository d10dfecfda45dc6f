"""``python -m nni_autotsnet.predict --checkpoint RUN VIDEO|FOLDER|LIST... [--views V] [--top-k 5] [--out DIR]``.

Classify a user's own videos with a trained run (``RUN``, ``RUN/model.pt``, ``last.ckpt``, an
export's ``model.pt``) or, with ``--backend onnx``, its ``model.onnx`` under ONNX Runtime. Each
video is cut into the run's test views (``--views`` overrides: ``1``, ``10-center``, ``10-lcr``,
``N-Center``, ...), their softmax averaged, and one line printed: the file, the top-1 class and
its probability. ``--out DIR`` writes every video's top-k with probabilities to
``predictions.csv`` (path, rank, index, label, probability) and ``predictions.json`` (the same
with the settings and the inputs not predicted). A model that records no class names (a run on a
list of bare indices, or a file from before names were recorded) prints indices and says so once.

A missing path, a folder with no videos, a video that cannot be decoded or is shorter than one
clip: one line on stderr naming it, and the other videos are still predicted. Exit status 0 when
every video was predicted, 2 when some were not (with their count), and 2 with one line when the
checkpoint is no model of this project. Needs neither NNI nor Lightning.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from nni_autotsnet.data import VideoDecodeError
from nni_autotsnet.errors import CommandParser, command
from nni_autotsnet.prediction import BACKENDS, Prediction, Predictor, Problem, expand_inputs
from nni_autotsnet.rundir import PREDICTIONS_CSV, PREDICTIONS_JSON

__all__ = ["predict_all", "write_predictions", "main"]


def predict_all(predictor: Predictor, videos: Sequence[Path], top_k: int) -> tuple[list[Prediction], list[Problem]]:
    """Predict every video, printing a line each (a tqdm progress bar on stderr over several files)."""
    from tqdm import tqdm  # the progress bar NNI and fvcore already depend on (pinned in setup.cfg)

    predictions, problems = [], []
    bar = tqdm(videos, desc="predict", unit="video", file=sys.stderr, disable=True if len(videos) < 2 else None)
    for path in bar:
        try:
            p = predictor(path, top_k)
        except VideoDecodeError as err:
            problems.append(Problem(err.path, err.reason))
            tqdm.write(f"error: {problems[-1]}", file=sys.stderr)
            continue
        predictions.append(p)
        index, label, prob = p.top[0]
        tqdm.write(f"{p.path}  {label}  {prob:.3f}", file=sys.stdout)
    return predictions, problems


def write_predictions(out: Path, predictor: Predictor, predictions: Sequence[Prediction],
                      problems: Sequence[Problem], seconds: float) -> None:
    """``out/predictions.csv`` and ``out/predictions.json`` (see the module doc)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / PREDICTIONS_CSV, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "rank", "index", "label", "probability"])
        for p in predictions:
            writer.writerows([p.path, rank, i, label, f"{prob:.6f}"] for rank, (i, label, prob) in enumerate(p.top, 1))
    doc = {**predictor.settings(), "seconds": seconds,
           "clips_per_second": predictor.clips / predictor.model_seconds if predictor.model_seconds else None,
           "predictions": [{"path": p.path, "top": [{"index": i, "label": label, "probability": prob}
                                                    for i, label, prob in p.top]} for p in predictions],
           "not_predicted": [{"path": q.path, "reason": q.reason} for q in problems]}
    (out / PREDICTIONS_JSON).write_text(json.dumps(doc, indent=1))


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Parse, load the model, predict every video; 0 when all were predicted, else 2 (see the module doc)."""
    p = CommandParser(prog="python -m nni_autotsnet.predict", description=__doc__.split("\n\n")[1])
    p.add_argument("inputs", nargs="+", metavar="VIDEO|FOLDER|LIST", help="video files, folders (searched "
                   "recursively) or list files (.txt/.csv/.lst: one video a line)")
    p.add_argument("--checkpoint", required=True, metavar="RUN|model.pt|model.onnx",
                   help="a training run, its model.pt or last.ckpt, an export's model.pt (model.onnx with --backend onnx)")
    p.add_argument("--views", help="1 | 10-center | 10-lcr | N-Center | N-LeftCenterRight (default: the run's)")
    p.add_argument("--top-k", type=int, default=5, metavar="K", help="classes kept per video (default 5)")
    p.add_argument("--batch", type=int, metavar="N", help="views per forward pass (default: a video's views at once)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--backend", choices=BACKENDS, default="torch", help="torch (eager) or onnx (ONNX Runtime)")
    p.add_argument("--threads", type=int, metavar="T", help="intra-op threads (torch.set_num_threads)")
    p.add_argument("--out", type=Path, metavar="DIR", help="write predictions.csv and predictions.json here")
    args = p.parse_args(argv)  # argparse's SystemExit is handled once, in errors.command
    if args.top_k < 1 or (args.batch is not None and args.batch < 1):
        p.error("--top-k and --batch must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor.load(args.checkpoint, args.backend, args.views, args.batch, args.device)
    if predictor.classes is None:
        print(f"note: {predictor.source} records no class names; printing class indices", file=sys.stderr)
    videos, problems = expand_inputs(args.inputs)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    start = time.perf_counter()
    predictions, failed = predict_all(predictor, videos, args.top_k)
    problems += failed
    seconds = time.perf_counter() - start
    if args.out is not None:
        write_predictions(args.out, predictor, predictions, problems, seconds)
    rate = f", {predictor.clips / predictor.model_seconds:.1f} clips/s in the model" if predictor.model_seconds else ""
    print(f"{len(predictions)} video(s) predicted ({predictor.spec.protocol}, {predictor.spec.num_views} views each, "
          f"{predictor.backend}) in {seconds:.1f} s{rate}", file=sys.stderr)
    if problems:
        print(f"error: {len(problems)} of {len(predictions) + len(problems)} inputs not predicted (named above)",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
