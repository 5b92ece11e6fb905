"""The Sonnets data pipeline: the notebook's windows, one-hot encoding, and the fixed held-out split."""

from __future__ import annotations

import numpy as np

from model_core import sonnets
from model_core.vocab import Vocab


def test_build_data_windows_and_targets():
    xs, ys = sonnets.build_data("abcdefghij", tx=4, stride=3)
    assert xs == ["abcd", "defg"] and ys == ["e", "h"]


def test_vectorize_is_bool_one_hot():
    v = Vocab("\nab")
    x, y = sonnets.vectorize(["ab\n", "ba\n"], ["a", "\n"], v, tx=3)
    assert x.dtype == bool and y.dtype == bool and x.shape == (2, 3, 3) and y.shape == (2, 3)
    assert x.sum(axis=2).tolist() == [[1, 1, 1], [1, 1, 1]] and x[0, 0, 1] and y[1, 0]


def test_real_corpus_sizes(shakespeare_path):
    text = sonnets.load_text(shakespeare_path)
    assert len(text) == 94_275 and Vocab.from_text(text).size == 38
    xs, _ = sonnets.build_data(text, 40, 3)
    assert len(xs) == 31_412  # the notebook's number of training windows
    train, tail = sonnets.split_text(text)
    assert train + tail == text and len(train) == int(len(text) * 0.9)
    x, y = sonnets.held_out_windows(text, Vocab.from_text(text))
    assert x.shape == (len(tail) - 40, 40, 38) and np.all(x.sum(axis=(1, 2)) == 40)
