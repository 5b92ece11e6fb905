"""The served GRU sampler: agreement with its own scores and the training math, constraints, determinism,
temperature, artifact validation, and the committed artifact's recorded quality."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_core import gru, gru_model
from model_core.artifacts import ArtifactError, sha256_file
from model_core.names_model import NamesModel
from model_core.vocab import Vocab
from tests.conftest import ARTIFACTS

VOCAB = Vocab("\nabcdefghijklmnopqrstuvwxyz")
KNOWN = ["abc", "rex", "stegosaurus"]


def _params(embed: int = 4, hidden: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    p = gru.init_params(VOCAB.size, hidden, embed, np.random.default_rng(seed))
    p["by"][0] = -2.5  # end-of-name less likely at first, so random names are a few characters long
    return p


@pytest.fixture(scope="module", params=[4, 0], ids=["embedding", "one-hot"])
def model(request) -> gru_model.GRUNamesModel:
    return gru_model.GRUNamesModel(_params(request.param), VOCAB, frozenset(KNOWN))


def test_interface_matches_names_model(model):
    for attr in ("sample", "char_log_probs", "score"):
        assert callable(getattr(model, attr)) and callable(getattr(NamesModel, attr))
    import inspect

    assert inspect.signature(gru_model.GRUNamesModel.sample) == inspect.signature(NamesModel.sample)
    assert isinstance(model.vocab, Vocab) and isinstance(model.known, frozenset)


def test_log_likelihood_equals_score(model):
    for prefix in ("", "a", "ste"):
        for s in model.sample(10, np.random.default_rng(3), prefix=prefix).names:
            assert s.log_likelihood == pytest.approx(model.score(s.name), rel=1e-9)


def test_score_matches_training_forward(model):
    """score() is minus the training loss of that one name (the same mathematics as model_core.gru)."""
    ix = VOCAB.encode("tyrannosaurus")
    xs, ys, mask = gru.pad_batch([ix], start=VOCAB.size)
    loss, _ = gru.forward(model.params, xs, ys, mask)
    assert model.score("tyrannosaurus") == pytest.approx(-loss, rel=1e-10)
    assert len(model.char_log_probs("rex")) == 4 and np.all(model.char_log_probs("rex") < 0)


def test_same_seed_same_names(model):
    a = model.sample(20, np.random.default_rng(7))
    b = model.sample(20, np.random.default_rng(7))
    assert a == b and len(a.names) == 20


def test_constraints_respected(model):
    res = model.sample(30, np.random.default_rng(1), prefix="ste", min_length=5, max_length=9, exclude_known=True)
    assert len(res.names) == 30 and not res.exhausted
    for s in res.names:
        assert s.name.startswith("ste") and 5 <= len(s.name) <= 9 and s.name not in model.known
    assert len({s.name for s in res.names}) == 30  # unique
    many = model.sample(300, np.random.default_rng(2), unique=False, max_length=6, max_attempts=5000)
    assert all(1 <= len(s.name) <= 6 for s in many.names)


def test_temperature_zero_is_greedy(model):
    res = model.sample(4, np.random.default_rng(0), temperature=0.0, unique=False, max_length=50, max_attempts=40)
    names = {s.name for s in res.names}
    name = ""  # build the greedy name by hand: repeatedly append the most likely next character
    while len(name) <= 50:
        h = np.zeros((1, model.hidden))
        for x in [model.start, *VOCAB.encode(name).tolist()]:
            gx = (model.params["E"][x] @ model.params["Wx"] if "E" in model.params else model.params["Wx"][x])
            h = gru.cell(model.params, (gx + model.params["bx"])[None, :], h)[0]
        nxt = int(np.argmax(h @ model.params["Wy"] + model.params["by"]))
        if nxt == 0:
            break
        name += VOCAB.chars[nxt]
    assert names == ({name} if len(name) <= 50 else set())


def test_first_character_frequencies_follow_the_model(model):
    res = model.sample(4000, np.random.default_rng(11), unique=False, max_length=50, max_attempts=10_000)
    counts = np.zeros(VOCAB.size)
    for s in res.names:
        counts[VOCAB.char_to_ix[s.name[0]]] += 1
    h = gru.cell(model.params, model._GX[[model.start]], np.zeros((1, model.hidden)))[0]  # after START
    logits = (h @ model.params["Wy"] + model.params["by"])[0]
    p = np.exp(logits - logits.max()); p /= p.sum()
    expected = p[1:] / p[1:].sum() * counts.sum()  # names are non-empty: first char conditional on not ending
    chi2 = (((counts[1:] - expected) ** 2) / np.maximum(expected, 1e-9)).sum()
    assert chi2 < 60  # 25 degrees of freedom: p < 1e-4 above 60


def test_extreme_temperatures_and_impossible_constraints(model):
    for t in (1e-300, 1e-8, 10.0):
        res = model.sample(3, np.random.default_rng(0), temperature=t, unique=False, max_length=50, max_attempts=500)
        assert all(np.isfinite(s.log_likelihood) for s in res.names)
    res = model.sample(5, np.random.default_rng(0), prefix="qqqq", min_length=50, max_length=50, max_attempts=300)
    assert res.exhausted and res.attempts == 300
    assert model.sample(2, np.random.default_rng(0), prefix="abcdef", max_length=3, max_attempts=50).exhausted


def test_weights_are_read_only(model):
    with pytest.raises(ValueError):
        model.params["Wh"][0, 0] = 1.0
    with pytest.raises(ValueError):
        model._GX[0, 0] = 1.0


# -- artifacts ---------------------------------------------------------------------------------------------------
def _save(tmp_path, embed=4):
    params = _params(embed)
    gru_model.save(tmp_path, "m", params, VOCAB, KNOWN, {"note": "test"})
    return params


@pytest.mark.parametrize("embed", [4, 0])
def test_round_trip(tmp_path, embed):
    params = _save(tmp_path, embed)
    model, meta = gru_model.load(tmp_path, "m")
    for k, v in params.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert model.known == set(KNOWN) and meta["note"] == "test" and meta["kind"] == "names-gru"
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        assert set(z.files) == set(params) | {"known_names"}


def test_tampered_weights_refused(tmp_path):
    _save(tmp_path)
    data = bytearray((tmp_path / "m.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "m.npz").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        gru_model.load(tmp_path, "m")


def _rewrite(tmp_path, **arrays):
    """Replace arrays and re-sign the JSON, so only the content checks can catch the problem."""
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        current = {k: z[k] for k in z.files}
    current.update(arrays)
    np.savez(tmp_path / "m.npz", **current)
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["weights_sha256"] = sha256_file(tmp_path / "m.npz")
    (tmp_path / "m.json").write_text(json.dumps(meta))


def test_nan_weights_refused(tmp_path):
    params = _save(tmp_path)
    bad = params["Wh"].copy(); bad[0, 0] = np.nan
    _rewrite(tmp_path, Wh=bad)
    with pytest.raises(ArtifactError, match="NaN"):
        gru_model.load(tmp_path, "m")


def test_wrong_shapes_pickles_and_wrong_kind_refused(tmp_path):
    _save(tmp_path)
    _rewrite(tmp_path, Wy=np.zeros((8, 26)))
    with pytest.raises(ArtifactError, match="shape"):
        gru_model.load(tmp_path, "m")
    _save(tmp_path)
    _rewrite(tmp_path, known_names=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ArtifactError, match="m.npz"):
        gru_model.load(tmp_path, "m")
    _save(tmp_path)
    meta = json.loads((tmp_path / "m.json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({**meta, "kind": "names-rnn"}))
    with pytest.raises(ArtifactError, match="kind"):
        gru_model.load(tmp_path, "m")


def test_missing_files_and_escaping_names_refused(tmp_path):
    _save(tmp_path)
    with pytest.raises(ArtifactError, match="outside"):
        gru_model.load(tmp_path, "../m")
    meta = json.loads((tmp_path / "m.json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({**meta, "weights_file": "/etc/passwd"}))
    with pytest.raises(ArtifactError, match="outside"):
        gru_model.load(tmp_path, "m")
    (tmp_path / "m.json").write_text(json.dumps(meta))
    (tmp_path / "m.npz").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        gru_model.load(tmp_path, "m")


def test_committed_artifact_loads_and_beats_the_target():
    if not (ARTIFACTS / "dinos-gru.json").is_file():
        pytest.fail("artifacts/dinos-gru.json is missing: train it with python -m model_core.train_names_gru")
    model, meta = gru_model.load(ARTIFACTS, "dinos-gru")
    assert meta["kind"] == "names-gru" and meta["held_out_nll"] <= 1.55
    assert meta["evaluation"]["held_out_names"] == 153 and meta["dataset_sha256"] and meta["weights_sha256"]
    assert meta["hyperparameters"]["hidden_size"] == model.hidden and len(model.known) == 1524
    stats = meta["sample_stats"]
    assert stats["samples"] == 1000 and 0 < stats["fraction_new"] <= 1 and 0 < stats["fraction_unique"] <= 1
    res = model.sample(20, np.random.default_rng(0), exclude_known=True)
    assert len(res.names) == 20 and all(s.name not in model.known for s in res.names)
