"""The trainers' learning-curve PNGs: one helper so every curve is drawn (and saved headless) the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def save_curves(path: str | Path, curves: Sequence[tuple[Sequence[float], Sequence[float], str, dict]], *, xlabel: str,
                ylabel: str, title: str | None = None, ylim: tuple[float, float] | None = None,
                hline: tuple[float, str] | None = None, size: tuple[float, float] = (6, 4)) -> None:
    """Save a line plot of `curves`, each (x, y, label, matplotlib style keywords), to `path` (PNG, 80 dpi).

    `hline` = (y, label) draws a reference line (e.g. the held-out NLL). Matplotlib is imported here, with the
    non-interactive Agg backend, so the service never imports it and training works without a display.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    for x, y, label, style in curves:
        ax.plot(x, y, label=label, **style)
    if hline is not None:
        ax.axhline(hline[0], color="k", lw=0.8, label=hline[1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=7 if len(curves) > 4 else None)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
