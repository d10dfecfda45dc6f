"""Which process of a multi-device run writes files: rank zero, the one way the package asks it.

Under DDP every rank runs the same command; rank 0 writes files and prints summaries. Lightning
reads the rank from the environment when it is imported (``rank_zero_only.rank``), which this reads
back, importing Lightning only when asked.
"""

from __future__ import annotations

__all__ = ["is_rank_zero"]


def is_rank_zero() -> bool:
    """True in the process that writes files: under DDP every rank runs this command, rank 0 writes."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0
