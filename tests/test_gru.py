"""The GRU's mathematics: gradients against central finite differences, masking, and per-name agreement."""

from __future__ import annotations

import numpy as np
import pytest

from model_core import gru

V, H = 7, 5  # small sizes so a float64 finite-difference check of every entry is quick
NAMES = [np.array([1, 2, 3]), np.array([4]), np.array([5, 6, 1, 2, 3, 4]), np.array([2, 2])]  # unequal: padding


def _params(embed: int, seed: int = 0) -> dict[str, np.ndarray]:
    p = gru.init_params(V, H, embed, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 100)
    for k in ("bx", "bh", "by"):  # non-zero biases so their gradients are exercised in general position
        p[k] = rng.normal(scale=0.3, size=p[k].shape)
    p["Wh"] *= 3.0  # larger recurrent weights: saturating gates, a stricter test
    return p


def _numeric_grad(p, name, loss_fn, eps=1e-6):
    g = np.zeros_like(p[name])
    it = np.nditer(p[name], flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = p[name][i]
        p[name][i] = old + eps
        up = loss_fn()
        p[name][i] = old - eps
        down = loss_fn()
        p[name][i] = old
        g[i] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("embed,dropout", [(0, False), (3, False), (0, "per-step"), (3, "per-step"), (3, "locked")])
def test_gradients_match_finite_differences(embed, dropout):
    p = _params(embed)
    xs, ys, mask = gru.pad_batch(NAMES, start=V)
    assert not mask.all()  # the batch really contains padding
    rng = np.random.default_rng(5)
    B, T = xs.shape
    steps = 1 if dropout == "locked" else T  # locked: one mask per name, broadcast over its steps
    drop_in = gru.dropout_mask(rng, (B, steps, embed), 0.3) if dropout and embed else None  # fixed: deterministic
    drop_out = gru.dropout_mask(rng, (B, steps, H), 0.3) if dropout else None
    drop_rec = gru.dropout_mask(rng, (B, steps, H), 0.3) if dropout else None
    loss, cache = gru.forward(p, xs, ys, mask, drop_in, drop_out, drop_rec)
    grads = gru.backward(p, cache)
    assert set(grads) == set(p) == set(gru.param_shapes(V, H, embed))
    for name in p:
        num = _numeric_grad(p, name, lambda: gru.forward(p, xs, ys, mask, drop_in, drop_out, drop_rec)[0])
        assert grads[name].shape == p[name].shape
        err = np.abs(grads[name] - num).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("embed", [0, 3])
def test_padding_changes_nothing(embed):
    """Extra padding, and garbage in the padded inputs/targets, leave the loss and every gradient unchanged."""
    p = _params(embed)
    xs, ys, mask = gru.pad_batch(NAMES, start=V)
    loss, cache = gru.forward(p, xs, ys, mask)
    grads = gru.backward(p, cache)
    pad = 4
    rng = np.random.default_rng(1)
    xs2 = np.concatenate([xs, rng.integers(0, V + 1, (len(xs), pad))], axis=1)
    ys2 = np.concatenate([ys, rng.integers(0, V, (len(xs), pad))], axis=1)
    mask2 = np.concatenate([mask, np.zeros((len(xs), pad), bool)], axis=1)
    xs2[~mask2] = rng.integers(0, V + 1, (~mask2).sum())  # garbage wherever the mask is 0
    ys2[~mask2] = rng.integers(0, V, (~mask2).sum())
    loss2, cache2 = gru.forward(p, xs2, ys2, mask2)
    grads2 = gru.backward(p, cache2)
    assert loss2 == pytest.approx(loss, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads2[k], grads[k], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("embed", [0, 3])
def test_batch_loss_equals_names_one_at_a_time(embed):
    """The batched mean NLL equals the NLL of each name scored alone (its own cell loop), averaged per character."""
    p = _params(embed)
    total, count = 0.0, 0
    for ix in NAMES:
        h = np.zeros((1, H))
        prev = V  # START
        for target in [*ix.tolist(), 0]:
            gx = (p["E"][prev] @ p["Wx"] if embed else p["Wx"][prev]) + p["bx"]
            h = gru.cell(p, gx[None, :], h)[0]
            total -= gru.log_softmax(h @ p["Wy"] + p["by"])[0, target]
            prev = target
        count += len(ix) + 1
    assert gru.mean_nll(p, NAMES) == pytest.approx(total / count, rel=1e-12)
    assert gru.mean_nll(p, NAMES, batch=1) == pytest.approx(total / count, rel=1e-12)


def test_dropout_mask_scales_to_keep_the_expectation():
    m = gru.dropout_mask(np.random.default_rng(0), (200, 50, 20), 0.25)
    assert set(np.unique(m)) == {0.0, 1 / 0.75} and m.mean() == pytest.approx(1.0, abs=0.01)
    assert gru.dropout_mask(np.random.default_rng(0), (2, 2), 0.0) is None


def test_float32_parameters_stay_float32():
    p = {k: v.astype(np.float32) for k, v in _params(3).items()}
    xs, ys, mask = gru.pad_batch(NAMES, start=V)
    loss, cache = gru.forward(p, xs, ys, mask)
    assert all(g.dtype == np.float32 for g in gru.backward(p, cache).values()) and np.isfinite(loss)
