"""The main job (``make demo``, docs/experiments.md): a small PARSEC search experiment through NNI, on CPU, end to end.

1. builds the bundled temporal benchmark (if it is not there yet);
2. ``nnictl create --config experiments/parsec.yml``: one progressive search per beta, shown live
   in NNI's web UI, whose address it prints; it follows the trials and prints their progress;
3. prints the supplement's Table 1 analog (beta against searched GFLOPs and accuracy, and each
   search's health: a WARNING where the supernet had not learned, so the architecture follows noise);
4. exports the best trial (``python -m nni_autotsnet.export --weights``) and prints its Table 4 row;
5. stops the experiment (also on Ctrl-C or an error): nothing is left running.

GFLOPs are multiply-adds of convolutions, linear layers and matrix products per single view.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Sequence

import pandas as pd

from nni_autotsnet.config import load_config
from nni_autotsnet.errors import CommandParser, UserError, command
from nni_autotsnet.nnictl import NnictlExperiment, TrialInfo, trial_search_config, trial_table
from nni_autotsnet.results import HEALTH_LABEL, table1_row, to_markdown
from nni_autotsnet.rundir import MODEL_FILE

__all__ = ["main", "table1", "best_trial", "health_note", "clock"]


def clock(seconds: float) -> str:
    """``MM:SS`` of elapsed seconds, rounded to whole seconds first (59.6 s is ``01:00``, never ``00:60``)."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _progress(epochs_per_trial: int, start: float):
    """A callback for :meth:`NnictlExperiment.wait` printing a line whenever a trial moves on."""
    last: dict = {}

    def show(trials: list[TrialInfo], status: str) -> None:
        state = {t.id: (t.status, len(t.intermediate)) for t in trials}
        if state == last.get("state") and time.monotonic() - last.get("time", 0) < 60:
            return
        last.update(state=state, time=time.monotonic())
        done = sum(t.status == "SUCCEEDED" for t in trials)
        cells = []
        for t in trials:
            beta = t.parameters.get("beta")
            if t.status == "RUNNING":
                acc = f", val acc {t.intermediate[-1]['default']:.3f}" if t.intermediate else ""
                cells.append(f"beta={beta}: epoch {len(t.intermediate)}/{epochs_per_trial}{acc}")
            elif t.status not in ("SUCCEEDED", "WAITING"):
                cells.append(f"beta={beta}: {t.status} (see {t.directory})")
        print(f"[{clock(time.monotonic() - start)}] {status}: {done}/{len(trials)} trials succeeded"
              + (f"; {'; '.join(cells)}" if cells else ""), flush=True)

    return show


def table1(trials: list[TrialInfo]) -> pd.DataFrame:
    """Supplement Table 1's analog over the experiment's trials (the report's columns), plus minutes and status."""
    rows = []
    for row in trial_table(trials):
        result = row["result"]
        beta = row.get("beta") if row.get("beta") is not None else result.get("beta")
        rows.append({**table1_row(f"trial {row['trial']}", result, beta, result.get("flops_window"), row["directory"]),
                     "minutes": (result.get("seconds") or 0) / 60, "status": row["status"]})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).drop(columns=["preset"]).sort_values("beta", ignore_index=True)


def best_trial(trials: list[TrialInfo]) -> TrialInfo | None:
    """The most accurate trial whose architecture is in the window (else the most accurate one).

    Trials whose search was healthy come first (``healthy`` = 1 in the final result): an
    architecture that follows noise is exported only when no search learned.
    """
    ok = [t for t in trials if t.status == "SUCCEEDED" and t.final]
    healthy = [t for t in ok if t.final.get("healthy") == 1.0]
    for pool in ([t for t in healthy if t.final.get("in_window")], [t for t in ok if t.final.get("in_window")], ok):
        if pool:
            return max(pool, key=lambda t: t.final.get("default", 0.0))
    return None


def health_note(table: pd.DataFrame) -> str:
    """What the health column says, in a sentence or two under the Table 1 analog."""
    cells = list(table[HEALTH_LABEL]) if HEALTH_LABEL in table else []
    warned = sum(str(c).startswith("WARNING") for c in cells)
    if not warned:
        return "search health: every search learned (no warning)." if cells and "-" not in cells else ""
    return (f"search health WARNING in {warned} of {len(cells)} searches: their supernet had not learned (validation "
            "accuracy not above chance, flat importance weights or a still alpha), so their architecture follows "
            "noise, not the data; more epochs or a larger weight learning rate (search.lr_scale, "
            "search.epochs in the trials' search config) give the search something to learn from.")


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Run the main job (see the module doc); 2 with one line on stderr for a bad config or path."""
    parser = CommandParser(prog="python -m nni_autotsnet.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="experiments/parsec.yml", help="nnictl experiment config")
    parser.add_argument("--search-config", default=None,
                        help="the trials' search config (default: the --config of the experiment's trialCommand)")
    parser.add_argument("--port", type=int, default=8080, help="port of NNI's web UI")
    parser.add_argument("--out", default="runs/demo", help="where the tables and the exported model go")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the experiment")
    args = parser.parse_args(argv)
    # SIGTERM (a closed terminal, a job scheduler, kill) unwinds like Ctrl-C, so the experiment is stopped
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    start = time.monotonic()
    # every input is checked before the benchmark is built and an experiment is started
    if not Path(args.experiment).is_file():
        raise UserError(f"{args.experiment}: {'is a folder' if Path(args.experiment).is_dir() else 'no such file'}; "
                        "--experiment expects an nnictl experiment config (experiments/parsec.yml)")
    config = load_config(args.search_config or trial_search_config(args.experiment))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from nni_autotsnet.runtime import build_datasets
    print(f"1/4 data: {config.data.train or config.data.benchmark}"
          + (f" (decoded-frame cache {config.data.cache})" if config.data.cache else ""), flush=True)
    build_datasets(config)  # the benchmark and the frame cache made once here, not inside the first trial

    print(f"2/4 nnictl create --config {args.experiment} --port {args.port}", flush=True)
    epochs = sum(p.epochs for p in config.search.parts)
    with NnictlExperiment(args.experiment, args.port) as experiment:
        print(f"    experiment {experiment.id}: web UI at {experiment.url} (open it to follow the trials)", flush=True)
        status = experiment.wait(args.timeout, poll=5, on_progress=_progress(epochs, start))
        trials = experiment.trials()
        print(f"    experiment {experiment.id} {status}; stopping it", flush=True)

    print("3/4 beta against searched GFLOPs (supplement Table 1 analog; GFLOPs = multiply-adds per view)")
    table = table1(trials)
    table.to_csv(out / "table1.csv", index=False)
    text = to_markdown(table)
    note = health_note(table)
    (out / "table1.md").write_text(text + "\n" + (f"\n{note}\n" if note else ""))
    print(text + (f"\n{note}" if note else ""), flush=True)

    best = best_trial(trials)
    if best is None:
        print("no trial succeeded: see the trial logs under runs/nni-experiments", file=sys.stderr)
        return 1
    print(f"4/4 exporting trial {best.id} (beta={best.parameters.get('beta')}) to {out / 'export'}", flush=True)
    if best.final.get("healthy") != 1.0:
        print("    its search health is not ok: the exported architecture shows the workflow, not a searched model",
              flush=True)
    from nni_autotsnet.export import export
    _, summary = export(best.directory, out=out / "export", weights=True)
    print(summary)
    minutes = (time.monotonic() - start) / 60
    print(f"done in {minutes:.1f} min; tables in {out}, the model in {out / 'export' / MODEL_FILE} "
          "(nni_autotsnet.models.load_exported loads it without NNI)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
