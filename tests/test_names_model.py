"""The served sampler: constraints, determinism, temperature, and agreement with the model's own probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from model_core import names_artifact
from model_core.names_model import NamesModel
from model_core.rnn import RNNParams, forward, encode_name
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def model() -> NamesModel:
    return names_artifact.load(ARTIFACTS, "dinos")[0]


def test_same_seed_same_names(model):
    a = model.sample(20, np.random.default_rng(7))
    b = model.sample(20, np.random.default_rng(7))
    assert a == b and len(a.names) == 20


def test_lengths_prefix_and_exclusion(model):
    res = model.sample(30, np.random.default_rng(1), prefix="ste", min_length=6, max_length=9, exclude_known=True)
    assert len(res.names) == 30 and not res.exhausted
    for s in res.names:
        assert s.name.startswith("ste") and 6 <= len(s.name) <= 9 and s.name not in model.known
    assert len({s.name for s in res.names}) == 30  # unique


def test_log_likelihood_equals_score(model):
    for s in model.sample(10, np.random.default_rng(3), prefix="ab").names:
        assert s.log_likelihood == pytest.approx(model.score(s.name), rel=1e-9)


def test_score_matches_training_forward(model):
    ix = model.vocab.encode("tyrannosaurus")
    xs, ys = encode_name(ix)
    loss, _ = forward(model.params, xs, ys, np.zeros(model.params.n_a))
    assert model.score("tyrannosaurus") == pytest.approx(-loss, rel=1e-10)


def test_temperature_zero_is_greedy(model):
    res = model.sample(5, np.random.default_rng(0), temperature=0.0, unique=False)
    names = {s.name for s in res.names}
    assert len(names) == 1
    # Build the greedy name by hand from the model's probabilities.
    name = ""
    while True:
        a = np.zeros(model.params.n_a)
        prev = -1
        for c in name:
            a = np.tanh(model.params.Waa @ a + model.params.b[:, 0] + (model.params.Wax[:, prev] if prev >= 0 else 0))
            prev = model.vocab.char_to_ix[c]
        a = np.tanh(model.params.Waa @ a + model.params.b[:, 0] + (model.params.Wax[:, prev] if prev >= 0 else 0))
        nxt = int(np.argmax(model.params.Wya @ a + model.params.by[:, 0]))
        if nxt == 0 or len(name) > 30:
            break
        name += model.vocab.chars[nxt]
    assert names == {name}


def test_first_character_frequencies_follow_the_model(model):
    """Empirical first letters of 4,000 unconstrained draws match p(first char) (a chi-square-style bound)."""
    res = model.sample(4000, np.random.default_rng(11), unique=False, max_length=50, max_attempts=10_000)
    counts = np.zeros(27)
    for s in res.names:
        counts[model.vocab.char_to_ix[s.name[0]]] += 1
    a = np.tanh(model.params.b[:, 0])
    logits = model.params.Wya @ a + model.params.by[:, 0]
    p = np.exp(logits - logits.max()); p /= p.sum()
    p_no_end = p[1:] / p[1:].sum()  # names are non-empty: first char conditional on not ending
    expected = p_no_end * counts.sum()
    chi2 = (((counts[1:] - expected) ** 2) / np.maximum(expected, 1e-9)).sum()
    assert chi2 < 60  # 25 degrees of freedom: p < 1e-4 above 60


def test_tiny_and_extreme_temperatures_stay_finite(model):
    for t in (1e-300, 1e-8, 10.0):
        res = model.sample(3, np.random.default_rng(0), temperature=t, unique=False, max_length=50)
        assert all(np.isfinite(s.log_likelihood) for s in res.names)


def test_float32_softmax_not_summing_to_one_is_fine():
    """A float32 model whose probabilities do not sum to 1 exactly can still be sampled (renormalised float64)."""
    rng = np.random.default_rng(0)
    p = RNNParams(Wax=rng.normal(size=(5, 27)).astype(np.float32), Waa=rng.normal(size=(5, 5)).astype(np.float32),
                  Wya=rng.normal(size=(27, 5)).astype(np.float32) * 3, b=np.zeros((5, 1), np.float32), by=np.zeros((27, 1), np.float32))
    from model_core.vocab import Vocab
    m = NamesModel(p, Vocab("\nabcdefghijklmnopqrstuvwxyz"))
    assert len(m.sample(50, np.random.default_rng(1), unique=False, max_length=50, max_attempts=5000).names) > 0


def test_impossible_constraints_exhaust_budget(model):
    res = model.sample(5, np.random.default_rng(0), prefix="qqqq", min_length=50, max_length=50, max_attempts=300)
    assert res.exhausted and res.attempts == 300


def test_model_weights_are_read_only(model):
    with pytest.raises(ValueError):
        model._WaaT[0, 0] = 1.0


def test_sampling_split_across_calls_gives_the_same_result(model):
    """The service may run the first batch in one place and the rest in another: the batches are the same."""
    from model_core.names_model import advance, finish

    kw = dict(prefix="q", min_length=12, exclude_known=True)
    whole = model.sample(20, np.random.default_rng(5), **kw)
    steps = model.sample_steps(20, np.random.default_rng(5), **kw)
    assert advance(steps) is None  # the first batch (22 candidates) cannot be enough under these constraints
    assert finish(steps) == whole and whole.attempts > 22 and len(whole.names) == 20
    assert advance(model.sample_steps(3, np.random.default_rng(5))) == model.sample(3, np.random.default_rng(5))
