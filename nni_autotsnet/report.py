"""``python -m nni_autotsnet.report RUN_DIRS... --out DIR``: figures and tables from search and training runs.

Reads what ``nni_autotsnet.search`` and ``nni_autotsnet.train`` wrote and writes, into ``--out``:

* ``fig2_accuracy_vs_gflops.png``, ``comparison.md`` / ``.csv``: the supplement's Figure 2 analog,
  accuracy of the searched, random and X3D-like models trained from scratch against their GFLOPs,
  mean and spread over seeds of one architecture, the FLOPs window shaded, best of random;
* ``table1_beta.md`` / ``.csv``, ``table1_beta_vs_gflops.png``: the supplement's Table 1 analog,
  one row per search directory (beta, window, searched GFLOPs, in window, accuracy, and the
  search's health: ``WARNING`` where a part's supernet had not learned, so its architecture
  follows noise; see :func:`health_cell`);
* ``alpha_<search>.png``: one search over its parts, epoch by epoch: entropy, expected and most
  likely GFLOPs against the window, the most likely value of every label;
* ``ranking<_name>.png`` / ``.md``: for each ranking table (``ranking.csv``, written by
  ``benchmarks/compare_tiny.py``; format in :mod:`nni_autotsnet.ranking`), how well the supernet
  ranks architectures: Kendall's tau between the accuracy on the supernet's inherited weights and
  the accuracy trained from scratch, printed, and the scatter of the two;
* ``report.md``: all of it on one page.

A run directory is recognised by its files, looked for up to :data:`MAX_DEPTH` levels below each
path given (an NNI experiment folder, a random-search folder): ``result.json`` with a ``label`` key
is a training run; ``result.json`` with ``gflops`` and ``beta`` next to ``config.yaml`` is a search
directory; a ``ranking.csv`` is a ranking table (a CSV file given as an argument is one too). The
walk does not enter a recognised run. A training run's accuracy is the top-1 of its
``eval_<protocol>/metrics.json`` (``--protocol``, or the protocol most runs have), else its
``val_acc``; accuracies are shown in percent. GFLOPs are multiply-adds of convolutions, linear
layers and matrix products per single view.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from nni_autotsnet.errors import CommandParser, command
from nni_autotsnet.results import ReportError, find_all, parse_window, ranking_line

__all__ = ["main", "ReportError"]


@command
def main(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(prog="python -m nni_autotsnet.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="search directories, training runs, ranking tables (ranking.csv), or folders holding "
                             "them (NNI experiments, ...)")
    parser.add_argument("--out", required=True, help="folder for the PNGs, tables and report.md")
    parser.add_argument("--window", metavar="LO,HI", help="FLOPs window of Figure 2, GFLOPs per view "
                        "(default: random.flops_window or search.flops_window of a config.yaml found)")
    parser.add_argument("--protocol", help="evaluation protocol to plot (eval_<protocol>/metrics.json; "
                        "default: the one most training runs have; runs without it: val_acc)")
    args = parser.parse_args(argv)
    from nni_autotsnet.report_plots import write_report  # here: matplotlib only once the arguments are good

    window = parse_window(args.window)
    searches, trains, rankings = find_all(args.runs)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    print(f"found {len(searches)} search directories, {len(trains)} training runs and {len(rankings)} ranking "
          "tables", flush=True)
    for table in rankings:
        print(ranking_line(table), flush=True)
    for path, what in write_report(searches, trains, out, window=window, protocol=args.protocol, rankings=rankings):
        print(f"  {path}: {what}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
