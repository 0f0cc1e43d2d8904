"""Figures the tools write: two panels side by side, saved as PNG without a display."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


@contextmanager
def two_panels(path: Path, size: tuple[float, float] = (12, 4.5)):
    """Yields (left, right) axes; the figure is saved to `path` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=size)
    try:
        yield axes
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
