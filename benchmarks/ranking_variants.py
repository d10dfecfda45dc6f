"""Kendall tau of other whole-space supernets over the comparison's 16 random architectures (issue 11 part 3).

``benchmarks/compare_tiny.py`` ranks the random architectures on a supernet of the progressive
search's budget (K = 4, 14 epochs). After it has run, this script trains one more whole-space
supernet into ``OUT/ranking-<variant>/`` with the comparison's own units and prints tau:

* ``long``: PARSEC with the main job's budget (K = 2, 44 epochs, dropout 0.2, the config's beta);
* ``uniform``: the same budget with alpha held uniform and no cost term (beta 0, alpha's learning
  rate ~0), i.e. single-path uniform sampling, NNI's RandomOneShot at K = 2: the reference for
  whether PARSEC's concentrating alpha is what spoils the ranking.

    python benchmarks/ranking_variants.py --variant long --out runs/compare-tiny32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compare_tiny  # noqa: E402

from nni_autotsnet.ranking import kendall_tau, read_ranking_table  # noqa: E402
from nni_autotsnet.rundir import RANKING_FILE  # noqa: E402

VARIANTS = {
    "long": ["search.num_samples=2", "search.dropout=0.2"],
    "uniform": ["search.num_samples=2", "search.dropout=0.2", "search.beta=0", "search.arch_lr_scale=1.0e-9"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--config", default="experiments/random_tiny32.yaml")
    parser.add_argument("--out", default="runs/compare-tiny32", help="the comparison's folder (its random runs)")
    parser.add_argument("--epochs", type=int, default=44, help="supernet epochs (the main job's 24 + 12 + 8)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)

    class Variant(compare_tiny.Comparison):
        @property
        def ranking_dir(self) -> Path:
            return self.out / f"ranking-{args.variant}"

    c = Variant(args.config, ["trainer.threads=2", *args.overrides], Path(args.out), [0], [0], 16, 10)
    c.ranking_overrides = [*c.overrides, "search.parts=[all]", f"search.epochs={{all: {args.epochs}}}",
                           "search.seed=0", *VARIANTS[args.variant]]
    c._search(c.ranking_overrides, c.ranking_dir / "supernet")
    c._ranking_table()
    table = read_ranking_table(c.ranking_dir / RANKING_FILE)
    tau = kendall_tau(list(table["inherited_acc"]), list(table["scratch_acc"]))
    print(f"{args.variant}: Kendall tau {tau} over {len(table)} architectures: {c.ranking_dir / RANKING_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
