"""Poem generation: prompt edge cases, padding by position, modes, temperature and determinism."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from model_core import poem_artifact
from model_core.poem_engine import draw
from model_core.vocab import UnknownCharactersError
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def engine():
    return poem_artifact.load(ARTIFACTS, "sonnets")[0]


def gen(engine, prompt, n=30, seed=0, temperature=1.0, mode="window"):
    return "".join(engine.generate(engine.normalise_prompt(prompt), n, np.random.default_rng(seed), temperature, mode))


def test_artifact_recipe_and_quality():
    _, meta = poem_artifact.load(ARTIFACTS, "sonnets")
    assert meta["held_out_nll"] <= 1.80 and meta["tx"] == 40 and len(meta["vocab"]) == 38
    assert meta["hyperparameters"]["units"] == 128 and meta["dataset_sha256"]


@pytest.mark.parametrize("prompt", ["", "a", "x" * 39, "shall i compare thee to a summer's day?\n"])
def test_short_and_exact_prompts(engine, prompt):
    out = gen(engine, prompt, 50)
    assert len(out) == 50 and set(out) <= set(engine.vocab.chars)


def test_window_is_the_last_40_characters(engine):
    base = "o, never say that i was false of heart,\n"  # 40 characters
    assert len(base) == 40
    for longer in ("z" + base, "q" * 960 + base):
        assert gen(engine, longer, 40, seed=5) == gen(engine, base, 40, seed=5)


def test_padding_is_by_position_not_a_character(engine):
    """The first window of a short prompt is zero rows then the prompt: no character stands in for padding."""
    w = engine._first_window(engine.vocab.encode("ab"))
    assert list(w[:38]) == [-1] * 38 and list(w[38:]) == [engine.vocab.char_to_ix["a"], engine.vocab.char_to_ix["b"]]


def test_zero_and_unknown_characters_are_errors(engine):
    for bad in ("0", "year 1609", "tab\there", "naïve", "“quoted”", "🦕"):
        with pytest.raises(UnknownCharactersError):
            engine.normalise_prompt(bad)


def test_upper_case_is_lower_cased(engine):
    assert engine.normalise_prompt("SHALL I") == "shall i"
    assert gen(engine, "SHALL I", 20, seed=3) == gen(engine, "shall i", 20, seed=3)


def test_seeded_and_concurrent_determinism(engine):
    expected = gen(engine, "my mistress' eyes", 120, seed=11)
    assert gen(engine, "my mistress' eyes", 120, seed=11) == expected
    with ThreadPoolExecutor(6) as pool:
        outs = list(pool.map(lambda m: gen(engine, "my mistress' eyes", 120, seed=11, mode=m), ["window", "stateful"] * 6))
    assert outs[0::2] == [expected] * 6
    assert len(set(outs[1::2])) == 1


def test_stateful_first_character_matches_window(engine):
    for seed in range(5):
        assert gen(engine, "thy beauty", 1, seed, mode="stateful") == gen(engine, "thy beauty", 1, seed, mode="window")


def test_greedy_is_argmax(engine):
    out = gen(engine, "when", 5, seed=0, temperature=0.0)
    assert out == gen(engine, "when", 5, seed=99, temperature=0.0)
    ids = list(engine.vocab.encode("when"))
    first = engine.lstm.window_log_probs(np.array([-1] * 36 + ids)).argmax()
    assert out[0] == engine.vocab.chars[first]


def test_draw_follows_probabilities():
    logp = np.log(np.array([0.5, 0.25, 0.125, 0.125], dtype=np.float32))  # float32: does not sum to exactly 1
    rng = np.random.default_rng(0)
    counts = np.bincount([draw(logp.astype(np.float64), 1.0, rng) for _ in range(8000)], minlength=4)
    np.testing.assert_allclose(counts / 8000, [0.5, 0.25, 0.125, 0.125], atol=0.02)
    assert {draw(logp, t, np.random.default_rng(1)) for t in (1e-300, 1e-12)} == {0}
    assert draw(np.array([-np.inf, 0.0]), 1.0, rng) == 1


def test_subnormal_temperature_is_greedy(engine):
    assert gen(engine, "when", 30, seed=1, temperature=1e-310) == gen(engine, "when", 30, seed=1, temperature=0.0)
    assert gen(engine, "when", 30, seed=1, temperature=5e-324, mode="stateful") == gen(engine, "when", 30, temperature=0.0, mode="stateful")
