"""The served GRU sampler: agreement with its own scores and the training math, constraints, determinism,
temperature, artifact validation, and the committed artifact's recorded quality."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_core import gru, gru_model
from model_core.artifacts import ArtifactError
from model_core.names_model import NamesModel
from model_core.vocab import Vocab
from tests.conftest import ARTIFACTS, rewrite_npz_artifact

VOCAB = Vocab("\nabcdefghijklmnopqrstuvwxyz")
KNOWN = ["abc", "rex", "stegosaurus"]


def _params(embed: int = 4, hidden: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    p = gru.init_params(VOCAB.size, hidden, embed, np.random.default_rng(seed))
    p["by"][0] = -2.5  # end-of-name less likely at first, so random names are a few characters long
    return p


@pytest.fixture(scope="module", params=[(4, 1), (0, 1), (4, 2)], ids=["embedding", "one-hot", "ensemble"])
def model(request) -> gru_model.GRUNamesModel:
    embed, size = request.param
    return gru_model.GRUNamesModel([_params(embed, seed=k) for k in range(size)], VOCAB, frozenset(KNOWN))


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
    """Each character's probability is the members' average of model_core.gru's (the training mathematics)."""
    ix = VOCAB.encode("tyrannosaurus")
    xs, ys, mask = gru.pad_batch([ix], start=VOCAB.size)
    per_member = []
    for m in model.members:
        logp = gru.forward(m, xs, ys, mask)[1][-1][0]  # (T, V) log-probabilities from the cache
        per_member.append(logp[np.arange(len(ix) + 1), ys[0]])
    expected = np.log(np.mean(np.exp(per_member), axis=0))
    # The served model runs the recurrence in float32 (as trained; gru_sampler) and only the softmax in float64, so
    # it agrees with the float64 training forward to float32's precision (~1e-7 relative per operation): 1e-5.
    np.testing.assert_allclose(model.char_log_probs("tyrannosaurus"), expected, rtol=1e-5)
    if model.size == 1:
        assert model.score("tyrannosaurus") == pytest.approx(-gru.forward(model.members[0], xs, ys, mask)[0], rel=1e-5)
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


def _next_probs(model, prefix: str) -> np.ndarray:
    """The members' averaged next-character distribution after `prefix`, computed with model_core.gru directly."""
    total = np.zeros(VOCAB.size)
    for p in model.members:
        h = np.zeros((1, model.hidden))
        for x in [model.start, *VOCAB.encode(prefix).tolist()]:
            gx = (p["E"][x] @ p["Wx"] if "E" in p else p["Wx"][x]) + p["bx"]
            h = gru.cell(p, gx[None, :], h)[0]
        total += np.exp(gru.log_softmax(h @ p["Wy"] + p["by"])[0]) / model.size
    return total


def test_temperature_zero_is_greedy(model):
    res = model.sample(4, np.random.default_rng(0), temperature=0.0, unique=False, max_length=50, max_attempts=40)
    names = {s.name for s in res.names}
    name = ""  # build the greedy name by hand: repeatedly append the most likely next character
    while len(name) <= 50 and (nxt := int(np.argmax(_next_probs(model, name)))) != 0:
        name += VOCAB.chars[nxt]
    assert names == ({name} if len(name) <= 50 else set())


@pytest.mark.parametrize("temperature", [1.0, 0.6])  # T = 1 draws from p itself, other T from exp(log p / T)
def test_first_character_frequencies_follow_the_model(model, temperature):
    res = model.sample(4000, np.random.default_rng(11), temperature=temperature, unique=False, max_length=50,
                       max_attempts=10_000)
    counts = np.zeros(VOCAB.size)
    for s in res.names:
        counts[VOCAB.char_to_ix[s.name[0]]] += 1
    p = _next_probs(model, "") ** (1.0 / temperature)
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


@pytest.fixture(scope="module")
def wide() -> gru_model.GRUNamesModel:
    """Hidden 96: wide enough that BLAS gemv and gemm round a row differently (the tiny models' products agree)."""
    return gru_model.GRUNamesModel([_params(8, 96, seed=k) for k in range(2)], VOCAB)


def test_a_candidate_does_not_depend_on_its_batch(wide, monkeypatch):
    """A row's name and log-likelihood depend only on its own uniforms: not on the batch size, the chunking or the
    slot it ran in (BLAS rows are independent; a single row is never sent to gemv). So chunking is only a
    performance choice, and a sampled log-likelihood is bit for bit what scoring computes."""
    model = wide
    reference = model.sample(40, np.random.default_rng(5), unique=False, max_length=12)
    for chunk in (1, 2, 3, 7):
        monkeypatch.setattr(gru_model, "CHUNK", chunk)
        assert model.sample(40, np.random.default_rng(5), unique=False, max_length=12) == reference
    monkeypatch.undo()
    for seed in range(5):  # row r's uniforms are the same whatever the batch size: so is the first name
        one = model.sample(1, np.random.default_rng(seed)).names[0]
        assert model.sample(30, np.random.default_rng(seed), unique=False).names[0] == one
        assert one.log_likelihood == pytest.approx(model.score(one.name), rel=1e-13)
        assert one.log_likelihood == pytest.approx(float(model.char_log_probs(one.name).sum()), rel=1e-13)


def test_concurrent_requests_match_sequential(model):
    """One instance serves concurrent requests (the kernels release the GIL): every buffer is per call."""
    from concurrent.futures import ThreadPoolExecutor

    def run(seed):
        return model.sample(150, np.random.default_rng(seed), prefix="a" if seed % 2 else "", max_length=20)

    sequential = [run(seed) for seed in range(8)]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(run, range(8))) == sequential


def test_saturated_gates_and_vanishing_probabilities():
    """Huge pre-activations saturate σ and tanh in float32 without overflow, and huge logits give log p far below
    exp's range (~-3000: every member's probability underflows, so the mixture falls back to log-mean-exp of the
    exact log p_k): scores stay finite and right, draws stay finite and agree with the scores."""
    members = []
    for seed in range(2):
        p = _params(seed=seed)
        for k in ("Wx", "Wh", "E"):
            p[k] = p[k] * 1e4
        p["Wy"] = p["Wy"] * 3e3
        members.append(p)
    big = gru_model.GRUNamesModel(members, VOCAB)
    ix = VOCAB.encode("qxzvab")
    xs, ys, mask = gru.pad_batch([ix], start=VOCAB.size)
    per_member = np.array([gru.forward(m, xs, ys, mask)[1][-1][0][np.arange(len(ix) + 1), ys[0]] for m in members])
    top = per_member.max(axis=0)
    expected = top + np.log(np.mean(np.exp(per_member - top), axis=0))
    assert expected.min() < -1000  # far below exp's range
    np.testing.assert_allclose(big.char_log_probs("qxzvab"), expected, rtol=1e-5)
    res = big.sample(5, np.random.default_rng(0), unique=False, max_length=50, max_attempts=200)
    assert len(res.names) == 5
    for s in res.names:
        assert np.isfinite(s.log_likelihood) and s.log_likelihood == pytest.approx(big.score(s.name), rel=1e-9)


def test_any_vocabulary_decodes():
    """Names are decoded from a table of character codes: one byte per character when the vocabulary fits Latin-1,
    else UTF-32; either way a sampled name is made of the vocabulary's characters and scores as sampled."""
    vocab = Vocab("\nabé€")
    wide_chars = gru_model.GRUNamesModel([gru.init_params(vocab.size, 8, 4, np.random.default_rng(0))], vocab)
    res = wide_chars.sample(20, np.random.default_rng(0), unique=False, max_length=50)
    assert len(res.names) == 20 and any(set(s.name) & {"é", "€"} for s in res.names)
    for s in res.names:
        assert set(s.name) <= set("abé€") and s.log_likelihood == pytest.approx(wide_chars.score(s.name), rel=1e-9)


def test_weights_are_read_only(model):
    with pytest.raises(ValueError):
        model.params["Wh"][0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        model.members[0]["Wy"][0, 0] = 1.0
    for table in (model._GX, model._Wh, model._Wy, model._by):  # the copies the sampler uses, too
        with pytest.raises(ValueError):
            table[(0,) * table.ndim] = 1.0


# -- artifacts ---------------------------------------------------------------------------------------------------
def _save(tmp_path, embed=4, size=1):
    members = [_params(embed, seed=k) for k in range(size)]
    gru_model.save(tmp_path, "m", members, VOCAB, KNOWN, {"note": "test"})
    return {k: np.stack([m[k] for m in members]) for k in members[0]}


@pytest.mark.parametrize("embed,size", [(4, 1), (0, 1), (4, 3)])
def test_round_trip(tmp_path, embed, size):
    params = _save(tmp_path, embed, size)
    model, meta = gru_model.load(tmp_path, "m")
    for k, v in params.items():
        np.testing.assert_array_equal(model.params[k], v)
    assert model.size == meta["members"] == size and meta["hidden_size"] == 8 and meta["embedding_size"] == embed
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


def test_nan_weights_refused(tmp_path):
    params = _save(tmp_path)
    bad = params["Wh"].copy(); bad[0, 0, 0] = np.nan
    rewrite_npz_artifact(tmp_path, "m", Wh=bad)
    with pytest.raises(ArtifactError, match="NaN"):
        gru_model.load(tmp_path, "m")


def test_wrong_shapes_pickles_and_wrong_kind_refused(tmp_path):
    _save(tmp_path)
    rewrite_npz_artifact(tmp_path, "m", Wy=np.zeros((1, 8, 26)))
    with pytest.raises(ArtifactError, match="shape"):
        gru_model.load(tmp_path, "m")
    _save(tmp_path)
    rewrite_npz_artifact(tmp_path, "m", known_names=np.array([{"x": 1}], dtype=object))
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
    res = model.sample(20, np.random.default_rng(0), exclude_known=True, prefix="ste")
    assert len(res.names) == 20 and all(s.name not in model.known and s.name.startswith("ste") for s in res.names)
    for s in res.names[:5]:
        assert s.log_likelihood == pytest.approx(model.score(s.name), rel=1e-9)
    assert model.score("tyrannosaurus") > model.score("qxzvkqwj")  # it learnt what a dinosaur name looks like
