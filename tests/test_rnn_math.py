"""The fast RNN math against oracles: finite differences, and the notebook implementation itself."""

from __future__ import annotations

import numpy as np
import pytest

from model_core import notebook as nb
from model_core import rnn
from model_core.train_names import NamesConfig, train_sgd
from model_core.vocab import Vocab


def _params(n_a=7, v=27, seed=0) -> rnn.RNNParams:
    rng = np.random.default_rng(seed)
    return rnn.RNNParams(Wax=rng.normal(0, 0.5, (n_a, v)), Waa=rng.normal(0, 0.5, (n_a, n_a)),
                         Wya=rng.normal(0, 0.5, (v, n_a)), b=rng.normal(0, 0.1, (n_a, 1)), by=rng.normal(0, 0.1, (v, 1)))


def test_backward_matches_finite_differences():
    p = _params()
    xs, ys = rnn.encode_name(np.array([3, 1, 14, 5, 5, 20]))
    a0 = np.random.default_rng(1).normal(size=p.n_a) * 0.3
    _, cache = rnn.forward(p, xs, ys, a0)
    grads = rnn.backward(p, xs, ys, cache)
    eps = 1e-6
    for name in rnn.PARAM_NAMES:
        w, g = getattr(p, name), getattr(grads, name)
        for idx in np.ndindex(w.shape):
            old = w[idx]
            w[idx] = old + eps
            up, _ = rnn.forward(p, xs, ys, a0)
            w[idx] = old - eps
            down, _ = rnn.forward(p, xs, ys, a0)
            w[idx] = old
            assert g[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-7), (name, idx)


def test_forward_and_backward_equal_the_notebook():
    p = _params(n_a=9)
    xs, ys = rnn.encode_name(np.array([12, 3, 5, 11, 22, 3]))
    a0 = np.random.default_rng(2).normal(size=p.n_a)
    loss, cache = rnn.forward(p, xs, ys, a0)
    grads = rnn.backward(p, xs, ys, cache)
    params = {k: v.copy() for k, v in p.arrays().items()}
    X = [None] + list(xs[1:])
    nb_loss, nb_cache = nb.rnn_forward(X, list(ys), a0[:, None], params)
    nb_grads, _ = nb.rnn_backward(X, list(ys), params, nb_cache)
    assert loss == pytest.approx(nb_loss, rel=1e-12)
    for name in rnn.PARAM_NAMES:
        np.testing.assert_allclose(getattr(grads, name), nb_grads["d" + name], rtol=1e-10, atol=1e-13)


def test_clip_and_sgd_in_place():
    g = _params()
    rnn.clip_(g, 0.1)
    assert all(np.abs(v).max() <= 0.1 for v in g.arrays().values())
    p = _params(seed=5)
    before = p.copy()
    rnn.sgd_(p, g, 0.5)
    np.testing.assert_allclose(p.Waa, before.Waa - 0.5 * g.Waa)


def test_fast_trainer_reproduces_notebook_losses(dinos_path, monkeypatch):
    """The trainer's loop gives the notebook's smoothed loss at every step (2,001 steps here, to 1e-9 relative)."""
    data = open(dinos_path).read().lower().split("\n")
    recorded = []
    original = nb.smooth
    monkeypatch.setattr(nb, "smooth", lambda loss, cur: recorded.append(original(loss, cur)) or recorded[-1])
    nb.model(data, dict(enumerate("\nabcdefghijklmnopqrstuvwxyz")), {c: i for i, c in enumerate("\nabcdefghijklmnopqrstuvwxyz")}, 2001)
    examples = [x.strip() for x in data]
    _, curve = train_sgd(examples, Vocab("\nabcdefghijklmnopqrstuvwxyz"), NamesConfig(), 2001)
    np.testing.assert_allclose(curve, recorded, rtol=1e-9)


def test_mean_nll_uniform_model_is_log_v():
    v = 27
    p = rnn.RNNParams(Wax=np.zeros((4, v)), Waa=np.zeros((4, 4)), Wya=np.zeros((v, 4)), b=np.zeros((4, 1)), by=np.zeros((v, 1)))
    assert rnn.mean_nll(p, [np.array([1, 2, 3]), np.array([4])]) == pytest.approx(np.log(v))
