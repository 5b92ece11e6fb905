"""The dinosaur-names corpus and its fixed train/held-out split (shared/data/README.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HELD_OUT_FRACTION = 0.1  # the README's split: 90% train, 10% held out, permuted by default_rng(0)


def load_names(path: str | Path) -> list[str]:
    """Distinct lower-cased names, sorted (1,524 for dinos.txt)."""
    text = Path(path).read_text(encoding="utf-8")
    return sorted({line.strip().lower() for line in text.splitlines() if line.strip()})


def split_names(names: list[str], fraction: float = HELD_OUT_FRACTION, seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, held_out) exactly as the README defines them, so every figure is comparable."""
    if fraction <= 0:
        return list(names), []
    order = np.random.default_rng(seed).permutation(len(names))
    cut = int(len(names) * (1 - fraction))  # 1,371 of 1,524 for the README's 10%
    return [names[i] for i in order[:cut]], [names[i] for i in order[cut:]]
