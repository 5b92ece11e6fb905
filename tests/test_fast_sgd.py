"""The compiled trainer loop (model_core.fast_sgd) against the notebook implementation it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from model_core import fast_sgd, rnn
from model_core import notebook as nb
from model_core.train_names import NamesConfig, train_sgd
from model_core.vocab import Vocab
from tests.conftest import FIXTURES

CHARS = "\nabcdefghijklmnopqrstuvwxyz"


def _random_params(n_a: int, v: int = 27, scale: float = 1.0, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"Wax": rng.normal(0, scale, (n_a, v)), "Waa": rng.normal(0, scale, (n_a, n_a)),
            "Wya": rng.normal(0, scale, (v, n_a)), "b": rng.normal(0, 0.5, (n_a, 1)), "by": rng.normal(0, 0.5, (v, 1))}


def _course(name_ix) -> tuple[list, list]:
    """The notebook's X, Y for a name: X = [None, c1..cn], Y = [c1..cn, 0]."""
    X = [None] + [int(c) for c in name_ix]
    return X, X[1:] + [0]


def test_one_step_gradients_and_update_equal_notebook_optimize():
    """One name, random parameters large enough that clipping engages: loss, gradients, update, carried state."""
    params = _random_params(n_a=9, scale=0.8)
    name = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 19, 1])  # many targets of "a": d by["a"] exceeds the clip
    xs, ys = rnn.encode_name(name)
    a0 = np.random.default_rng(3).normal(size=(9, 1)) * 0.5
    X, Y = _course(name)

    nb_loss, cache = nb.rnn_forward(X, Y, a0, params)
    nb_grads, _ = nb.rnn_backward(X, Y, params, cache)
    loss, grads, a_last = fast_sgd.loss_and_gradients(rnn.RNNParams.from_dict(params), xs, ys, a0)
    assert loss == pytest.approx(nb_loss, rel=1e-12)
    for k in rnn.PARAM_NAMES:
        np.testing.assert_allclose(getattr(grads, k), nb_grads["d" + k], rtol=1e-12, atol=1e-14, err_msg=k)
    assert max(np.abs(nb_grads["d" + k]).max() for k in rnn.PARAM_NAMES) > 5  # the clip is exercised

    ours = rnn.RNNParams(**{k: v.copy() for k, v in params.items()})
    theirs = {k: v.copy() for k, v in params.items()}
    run = fast_sgd.SGDRun(ours, fast_sgd.pack([(xs, ys)]), learning_rate=0.1, clip=5.0, a0=a0)
    smoothed = run.run(1)
    cur, nb_clipped, nb_a = nb.optimize(X, Y, a0, theirs, learning_rate=0.1)
    assert smoothed[0] == pytest.approx(nb.smooth(nb.get_initial_loss(27, 7), cur), rel=1e-12)
    for k in rnn.PARAM_NAMES:
        np.testing.assert_allclose(getattr(ours, k), theirs[k], rtol=1e-12, atol=1e-15, err_msg=k)
        moved = (params[k] - getattr(ours, k)) / 0.1  # the applied step is the clipped gradient
        np.testing.assert_allclose(moved, nb_clipped["d" + k], rtol=1e-9, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(run.a_prev, nb_a[:, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a_last, nb_a[:, 0], rtol=1e-12, atol=1e-15)


def test_many_steps_with_carried_state_equal_the_notebook():
    """Several names in a cycle (an empty one included), the hidden state carried across names, 60 steps."""
    rng = np.random.default_rng(7)
    names = [rng.integers(1, 27, size=n) for n in (5, 1, 9, 0, 12, 3)]
    params = _random_params(n_a=6, scale=0.5, seed=2)
    ours = rnn.RNNParams(**{k: v.copy() for k, v in params.items()})
    run = fast_sgd.SGDRun(ours, fast_sgd.pack_names(names), learning_rate=0.05, clip=5.0)
    got = np.concatenate([run.run(25), run.run(26), run.run(60)])  # in ranges, as train_sgd calls it
    loss, a_prev, expected = nb.get_initial_loss(27, 7), np.zeros((6, 1)), []
    for j in range(60):
        X, Y = _course(names[j % len(names)])
        cur, _, a_prev = nb.optimize(X, Y, a_prev, params, learning_rate=0.05)
        loss = nb.smooth(loss, cur)
        expected.append(loss)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    for k in rnn.PARAM_NAMES:
        np.testing.assert_allclose(getattr(ours, k), params[k], rtol=1e-9, atol=1e-10, err_msg=k)  # 60 steps
    np.testing.assert_allclose(run.a_prev, a_prev[:, 0], rtol=1e-9, atol=1e-10)


def test_report_sees_every_step_and_exact_parameters_at_report_points():
    names = [line.strip().lower() for line in (FIXTURES / "tiny_names.txt").read_text().splitlines() if line.strip()]
    vocab = Vocab.from_text("\n" + "\n".join(names))
    cfg = NamesConfig(hidden_size=8, sample_every=40)
    _, plain = train_sgd(names, vocab, cfg, 130)
    seen, snapshots = [], {}

    def report(j, loss, params):
        seen.append((j, loss))
        if j % cfg.sample_every == 0:
            snapshots[j] = params.copy()

    _, curve = train_sgd(names, vocab, cfg, 130, report)
    assert curve == plain and isinstance(curve[0], float)
    assert [j for j, _ in seen] == list(range(130)) and [loss for _, loss in seen] == curve
    assert sorted(snapshots) == [0, 40, 80, 120]
    for j, snap in snapshots.items():
        at_j, _ = train_sgd(names, vocab, cfg, j + 1)
        for k in rnn.PARAM_NAMES:
            np.testing.assert_array_equal(getattr(snap, k), getattr(at_j, k), err_msg=f"{k} at step {j}")


def test_rejects_parameters_it_cannot_update_in_place():
    p = rnn.RNNParams(**{k: v for k, v in _random_params(n_a=4).items()})
    p.Waa = np.asfortranarray(p.Waa)
    with pytest.raises(ValueError, match="C-contiguous"):
        fast_sgd.SGDRun(p, fast_sgd.pack_names([np.array([1, 2])]))
    p = rnn.RNNParams(**{k: v for k, v in _random_params(n_a=4).items()})
    with pytest.raises(ValueError, match="indices"):
        fast_sgd.SGDRun(p, fast_sgd.pack_names([np.array([1, 27])]))


def test_dinos_losses_and_parameters_equal_the_notebook(dinos_path, monkeypatch):
    """The smoothed loss at each of 12,001 steps, and the final parameters, equal `notebook.model`'s to 1e-6.

    (Measured: ~1e-13. The notebook's trajectory is sensitive to rounding from ~12,000 steps on, so any two
    implementations that differ in the last bit, e.g. BLAS vs loop summation order, separate beyond ~14,000
    steps; 12,001 is the range the issue asks to reproduce.)
    """
    iterations = 12_001
    data = open(dinos_path).read().lower().split("\n")
    recorded = []
    original = nb.smooth
    monkeypatch.setattr(nb, "smooth", lambda loss, cur: recorded.append(original(loss, cur)) or recorded[-1])
    nb_params, _ = nb.model(data, dict(enumerate(CHARS)), {c: i for i, c in enumerate(CHARS)}, iterations)
    reports = []
    params, curve = train_sgd([x.strip() for x in data], Vocab(CHARS), NamesConfig(), iterations,
                              lambda j, loss, p: reports.append(loss) if j % 2000 == 0 else None)
    assert len(curve) == len(recorded) == iterations
    np.testing.assert_allclose(curve, recorded, rtol=1e-6)
    assert reports == [curve[j] for j in range(0, iterations, 2000)]
    for k in rnn.PARAM_NAMES:
        np.testing.assert_allclose(getattr(params, k), nb_params[k], rtol=1e-6, atol=1e-9, err_msg=k)
