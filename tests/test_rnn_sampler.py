"""The compiled lockstep sampler (model_core.rnn_sampler) against a plain one-row NumPy reference, and its invariants:
a row's name depends only on its own uniforms (not on the batch, the slot it ran in, or the other rows)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model_core import names_artifact
from model_core.names_model import kept_names
from model_core.rnn_sampler import SLOTS, _exp_into, _sample_rows, _tanh_into
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def model():
    return names_artifact.load(ARTIFACTS, "dinos")[0]


def reference_row(model, u: np.ndarray, temperature: float, min_steps: int) -> tuple[list[int], float, int]:
    """One candidate drawn with NumPy, step by step, from the uniforms u: (characters, log-likelihood, done_at)."""
    p = model.params
    a, x = np.zeros(p.n_a), None
    chars, total = [], 0.0
    for t, ut in enumerate(u):
        a = np.tanh(p.Waa @ a + p.b[:, 0] + (p.Wax[:, x] if x is not None else 0))
        logits = p.Wya @ a + p.by[:, 0]
        logp = logits - logits.max() - math.log(np.exp(logits - logits.max()).sum())
        if temperature == 0:
            ix = int(np.argmax(logits))
        else:
            w = np.exp((logits - logits.max()) / temperature)
            ix = min(int(np.searchsorted(np.cumsum(w), ut * w.sum(), side="right")), len(w) - 1)
        total += logp[ix]
        chars.append(ix)
        if ix == 0:
            return chars, total, t if t >= min_steps else -1
        x = ix
    return chars, total, -1


def run(model, U, temperature=1.0, min_steps=0):
    B, steps = U.shape
    chars, ll, done = np.zeros((B, steps), dtype=np.int64), np.zeros(B), np.full(B, -1)
    _sample_rows(model._WaxTb, model._WaaT, model._WyaT, model._by, np.zeros(model.params.n_a), -1, U,
                 temperature, min_steps, chars, ll, done)
    return chars, ll, done


@pytest.mark.parametrize("temperature,min_steps", [(1.0, 0), (0.6, 4), (2.0, 0)])
def test_rows_match_a_numpy_reference(model, temperature, min_steps):
    U = np.random.default_rng(5).random((150, 20))  # more rows than SLOTS: slots get refilled and retired
    chars, ll, done = run(model, U, temperature, min_steps)
    for r in range(len(U)):
        ref_chars, ref_ll, ref_done = reference_row(model, U[r], temperature, min_steps)
        assert done[r] == ref_done
        assert list(chars[r, : len(ref_chars)]) == ref_chars
        assert ll[r] == pytest.approx(ref_ll, rel=1e-12, abs=1e-12)


def test_a_row_depends_only_on_its_uniforms(model):
    U = np.random.default_rng(9).random((3 * SLOTS + 5, 51))
    together = run(model, U)
    for r in (0, 1, SLOTS - 1, SLOTS, 2 * SLOTS + 3, len(U) - 1):  # alone, and in a batch of another size
        for sub in (U[r : r + 1], U[max(r - 7, 0) : r + 1]):
            alone = run(model, sub)
            i = len(sub) - 1
            assert alone[2][i] == together[2][r] and alone[1][i] == together[1][r]  # bitwise: same arithmetic
            assert (alone[0][i, : alone[2][i] + 1] == together[0][r, : together[2][r] + 1]).all()


def test_no_steps_or_no_rows_rejects_everything(model):
    chars, ll, done = run(model, np.random.default_rng(0).random((4, 0)))
    assert (done == -1).all()
    run(model, np.random.default_rng(0).random((0, 5)))  # no rows: returns without touching anything


def test_vectorised_exp_and_tanh_match_numpy():
    x = np.concatenate([np.linspace(-800, 800, 4001), np.random.default_rng(0).normal(scale=5, size=5000)])
    out, tmp, kbits = np.empty_like(x), np.empty_like(x), np.empty(len(x), dtype=np.int64)
    _exp_into(np.clip(x, -700, 700), out, kbits)
    np.testing.assert_allclose(out, np.exp(np.clip(x, -700, 700)), rtol=1e-15)
    _tanh_into(x, out, tmp, kbits)
    np.testing.assert_allclose(out, np.tanh(x), rtol=1e-12, atol=1e-16)


def test_kept_names_decodes_each_kept_row(model):
    table = np.frombuffer(model.vocab.chars.encode(), dtype=np.uint8)
    enc = {c: i for i, c in enumerate(model.vocab.chars)}
    rows = ["abc\n", "zz\n", "", "q\n"]  # the third row was rejected
    chars = np.zeros((4, 6), dtype=np.int64)
    for r, s in enumerate(rows):
        chars[r, : len(s)] = [enc[c] for c in s]
    out = list(kept_names(table, chars, np.array([-1.0, -2.0, -3.0, -4.0]), np.array([3, 2, -1, 1])))
    assert out == [("abc", -1.0), ("zz", -2.0), ("q", -4.0)]
    assert list(kept_names(table, chars, np.zeros(4), np.full(4, -1))) == []
