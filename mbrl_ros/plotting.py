"""Figures the tools write: panels two to a row, saved as PNG without a display."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def two_panels(path: Path, size: tuple[float, float] = (12, 4.5), rows: int = 1):
    """Yields (left, right) axes, or a (rows, 2) array of them where rows > 1; the figure is saved
    to `path` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(rows, 2, figsize=(size[0], size[1] * rows), squeeze=rows == 1)
    try:
        yield axes
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
