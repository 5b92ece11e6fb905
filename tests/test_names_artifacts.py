"""Artifact round trip and refusal of missing, tampered, NaN, mis-shaped or escaping artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_core import names_artifact
from model_core.artifacts import ArtifactError
from model_core.rnn import RNNParams, init_params
from model_core.vocab import Vocab
from tests.conftest import rewrite_npz_artifact

VOCAB = Vocab("\nabcdefghijklmnopqrstuvwxyz")


def _save(tmp_path, params=None):
    params = params or init_params(6, 27, np.random.default_rng(0))
    names_artifact.save(tmp_path, "m", params, VOCAB, ["abc", "rex"], {"note": "test"})
    return params


def test_round_trip(tmp_path):
    params = _save(tmp_path)
    model, meta = names_artifact.load(tmp_path, "m")
    for k, v in params.arrays().items():
        np.testing.assert_array_equal(getattr(model.params, k), v)
    assert model.known == {"abc", "rex"} and meta["note"] == "test" and meta["vocab"] == VOCAB.chars
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:  # loadable without pickles
        assert set(z.files) >= {"Wax", "Waa", "Wya", "b", "by", "known_names"}


def test_committed_artifact_loads_and_records_its_recipe():
    from tests.conftest import ARTIFACTS

    model, meta = names_artifact.load(ARTIFACTS, "dinos")
    assert meta["held_out_nll"] < 1.95 and meta["dataset_sha256"] and meta["hyperparameters"]["hidden_size"] == model.params.n_a
    assert len(model.known) == 1524


def test_tampered_weights_refused(tmp_path):
    _save(tmp_path)
    data = bytearray((tmp_path / "m.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "m.npz").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        names_artifact.load(tmp_path, "m")


def test_truncated_and_missing_weights_refused(tmp_path):
    _save(tmp_path)
    blob = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "m.npz").write_bytes(blob[:100])
    with pytest.raises(ArtifactError, match="m.npz"):
        names_artifact.load(tmp_path, "m")
    (tmp_path / "m.npz").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        names_artifact.load(tmp_path, "m")


def test_nan_weights_refused(tmp_path):
    params = _save(tmp_path)
    bad = params.Waa.copy(); bad[0, 0] = np.nan
    rewrite_npz_artifact(tmp_path, "m", Waa=bad)
    with pytest.raises(ArtifactError, match="NaN"):
        names_artifact.load(tmp_path, "m")


def test_wrong_shapes_refused(tmp_path):
    _save(tmp_path)
    rewrite_npz_artifact(tmp_path, "m", Wya=np.zeros((26, 6)))
    with pytest.raises(ArtifactError, match="shape"):
        names_artifact.load(tmp_path, "m")


def test_pickled_arrays_refused(tmp_path):
    _save(tmp_path)
    rewrite_npz_artifact(tmp_path, "m", known_names=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ArtifactError):
        names_artifact.load(tmp_path, "m")


def test_name_outside_directory_refused(tmp_path):
    _save(tmp_path)
    with pytest.raises(ArtifactError, match="outside"):
        names_artifact.load(tmp_path, "../m")
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["weights_file"] = "/etc/passwd"
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="outside"):
        names_artifact.load(tmp_path, "m")
