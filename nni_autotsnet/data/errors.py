"""Errors and warnings of the video data pipeline.

Every error names the file it is about (and the line, for list files), so a user can find the
bad entry in a data set of hundreds of thousands of videos without a debugger.
"""

from __future__ import annotations

from pathlib import Path

from nni_autotsnet.errors import UserError

__all__ = ["AnnotationError", "VideoDecodeError", "SkippedVideoWarning"]


class AnnotationError(UserError):
    """A list, CSV or labels file is malformed; the message names the file and the line.

    Parameters
    ----------
    path
        The annotation file.
    line
        1-based line number of the bad line, or ``None`` when the problem is the whole file.
    reason
        What is wrong, in words.
    """

    def __init__(self, path: str | Path, line: int | None, reason: str):
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        # Exceptions raised in DataLoader workers are pickled back to the main process.
        return (type(self), (self.path, self.line, self.reason))


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded; ``reason`` says why in a few words.

    Parameters
    ----------
    path
        The video file.
    reason
        Why it failed: ``missing file``, ``empty file``, ``cannot open: ...``, ``truncated: ...``.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class SkippedVideoWarning(UserWarning):
    """Warned when a dataset skips a video it could not decode (non-strict mode)."""
