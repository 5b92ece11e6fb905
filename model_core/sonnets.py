"""The Sonnets data pipeline (the notebook's `build_data` / `vectorization`) and the fixed evaluation split.

Text is lower-cased; the vocabulary is its sorted distinct characters (38 for the Sonnets). Training examples are
windows of `tx` characters taken every `stride` characters, each labelled with the character that follows it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_core.vocab import Vocab

TX = 40  # window length the notebook's model reads
HELD_OUT_FRACTION = 0.1  # the tail of the text held out for evaluation (shared/data/README.md)


def load_text(path: str | Path) -> str:
    """The corpus, lower-cased (the model only ever sees lower case)."""
    return Path(path).read_text(encoding="utf-8").lower()


def split_text(text: str) -> tuple[str, str]:
    """(train, tail): the fixed split — train on the first 90%, score the last 10%."""
    cut = int(len(text) * (1 - HELD_OUT_FRACTION))
    return text[:cut], text[cut:]


def build_data(text: str, tx: int = TX, stride: int = 3) -> tuple[list[str], list[str]]:
    """The notebook's windows: X[i] = text[j:j+tx], Y[i] = text[j+tx] for j = 0, stride, 2*stride, ..."""
    xs, ys = [], []
    for j in range(0, len(text) - tx, stride):
        xs.append(text[j : j + tx])
        ys.append(text[j + tx])
    return xs, ys


def vectorize(xs: list[str], ys: list[str], vocab: Vocab, tx: int = TX) -> tuple[np.ndarray, np.ndarray]:
    """One-hot encode windows: x (m, tx, V) bool, y (m, V) bool. Uses `bool`, not the removed `np.bool`."""
    m, v = len(xs), vocab.size
    x = np.zeros((m, tx, v), dtype=bool)
    y = np.zeros((m, v), dtype=bool)
    lookup = vocab.char_to_ix
    for i, (window, target) in enumerate(zip(xs, ys)):
        idx = [lookup[c] for c in window]
        x[i, np.arange(len(idx)), idx] = True
        y[i, lookup[target]] = True
    return x, y


def held_out_windows(text: str, vocab: Vocab, tx: int = TX) -> tuple[np.ndarray, np.ndarray]:
    """Every position of the tail from index `tx` on: the window before it and the character at it (one-hot)."""
    _, tail = split_text(text)
    xs = [tail[i - tx : i] for i in range(tx, len(tail))]
    ys = [tail[i] for i in range(tx, len(tail))]
    return vectorize(xs, ys, vocab, tx)


# The course's legacy model was trained on this corpus; its vocabulary is the corpus's 38 characters, sorted.
# (A test checks this equals Vocab.from_text(shakespeare.txt).)
SONNETS_VOCAB = "\n !'(),-.:;?abcdefghijklmnopqrstuvwxyz"
