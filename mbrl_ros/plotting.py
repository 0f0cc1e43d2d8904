"""Figures the tools write: panels two to a row, saved as PNG without a display."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def two_panels(path: Path, size: tuple[float, float] = (12, 4.5), rows: int | None = None):
    """Yields (left, right) axes, or with `rows` a (rows, 2) array of them, each row `size` high;
    the figure is saved to `path` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(rows or 1, 2, figsize=(size[0], size[1] * (rows or 1)), squeeze=rows is None)
    try:
        yield axes
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
