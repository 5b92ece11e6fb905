"""Poem-model artifacts read with h5py + JSON only (no Keras, no code execution): our `.keras` files and the
course's legacy Keras-2 `.h5`.

Both become a `PoemEngine` over a `CharLSTM`. A legacy file's LSTMs use Keras 2's `hard_sigmoid`
(clip(0.2 z + 0.5, 0, 1)); Keras 3 would silently read it as clip(z / 6 + 0.5, 0, 1), so the slope is set explicitly.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from model_core.artifacts import ArtifactError, read_json, resolve_inside, sha256_file, verify_sha256
from model_core.lstm import CharLSTM, LSTMLayer
from model_core.poem_engine import PoemEngine
from model_core.sonnets import SONNETS_VOCAB
from model_core.vocab import Vocab

KIND = "poem-lstm"


def _architecture(layers: list[dict[str, Any]], source: str) -> tuple[list[dict], dict, str]:
    """(LSTM configs, Dense config, activation) from a Keras model config; refuses anything but the notebook's net."""
    lstms = [l for l in layers if l["class_name"] == "LSTM"]
    denses = [l for l in layers if l["class_name"] == "Dense"]
    if len(lstms) < 1 or len(denses) != 1:
        raise ArtifactError(f"{source}: expected stacked LSTM layers and one Dense layer, got {[l['class_name'] for l in layers]}")
    for l in lstms:
        cfg = l["config"]
        if cfg.get("activation") != "tanh" or not cfg.get("use_bias", True) or cfg.get("go_backwards"):
            raise ArtifactError(f"{source}: LSTM {cfg.get('name')} is not a plain tanh LSTM with bias")
    acts = {l["config"].get("recurrent_activation") for l in lstms}
    if len(acts) != 1 or not acts <= {"sigmoid", "hard_sigmoid"}:
        raise ArtifactError(f"{source}: unsupported recurrent activations {acts}")
    return lstms, denses[0], acts.pop()


def _check(weights: list[np.ndarray], source: str) -> None:
    for w in weights:
        if not np.all(np.isfinite(w)):
            raise ArtifactError(f"{source}: weights contain NaN or infinite values")


def _build(lstm_weights: list[list[np.ndarray]], dense: list[np.ndarray], activation: str, vocab: Vocab, tx: int,
           source: str) -> PoemEngine:
    _check([w for ws in lstm_weights for w in ws] + dense, source)
    try:
        layers = [LSTMLayer(*ws) for ws in lstm_weights]
        u = layers[0].recurrent.shape[0]
        ok = layers[0].kernel.shape == (vocab.size, 4 * u) and dense[0].shape == (u, vocab.size)
        ok = ok and all(l.recurrent.shape == (u, 4 * u) and l.bias.shape == (4 * u,) for l in layers)
        ok = ok and all(l.kernel.shape == (u, 4 * u) for l in layers[1:]) and dense[1].shape == (vocab.size,)
    except (TypeError, ValueError, IndexError) as exc:
        raise ArtifactError(f"{source}: malformed weights ({exc})") from exc
    if not ok:
        raise ArtifactError(f"{source}: weight shapes do not match a {vocab.size}-character, {tx}-step LSTM")
    return PoemEngine(CharLSTM(layers, dense[0], dense[1], activation), vocab, tx)


def load(artifact_dir: str | Path, name: str) -> tuple[PoemEngine, dict[str, Any]]:
    """Load `<name>.json` + its `.keras` file (a zip of config.json and model.weights.h5), verifying the sha256."""
    meta = read_json(resolve_inside(artifact_dir, f"{name}.json"))
    if meta.get("kind") != KIND:
        raise ArtifactError(f"{name}.json: kind is {meta.get('kind')!r}, expected {KIND!r}")
    path = resolve_inside(artifact_dir, str(meta.get("weights_file", f"{name}.keras")))
    verify_sha256(path, meta.get("weights_sha256"))
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            blob = z.read("model.weights.h5")
        with h5py.File(io.BytesIO(blob), "r") as f:
            by_name = {}
            for group in f["layers"].values():
                layer_name = group["vars"].attrs.get("name")
                holder = group["cell"]["vars"] if "cell" in group else group["vars"]
                by_name[layer_name] = [holder[str(i)][()] for i in range(len(holder))]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read Keras archive ({exc})") from exc
    lstms, dense, act = _architecture(config["config"]["layers"], str(path))
    if dense["config"].get("activation") != "softmax":
        raise ArtifactError(f"{path}: the Dense layer must end in softmax")
    vocab, tx = Vocab(str(meta["vocab"])), int(meta["tx"])
    try:
        weights = [by_name[l["config"]["name"]] for l in lstms]
        dense_w = by_name[dense["config"]["name"]]
    except KeyError as exc:
        raise ArtifactError(f"{path}: weights for layer {exc} are missing") from exc
    engine = _build(weights, dense_w, act, vocab, tx, str(path))
    return engine, {**meta, "id": name, "recurrent_activation": engine.lstm.recurrent_activation}


def load_legacy_h5(path: str | Path) -> tuple[PoemEngine, dict[str, Any]]:
    """The course's Keras-2 model file, served with Keras 2's hard_sigmoid (slope 0.2), vocabulary = the Sonnets'."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: legacy model file is missing")
    try:
        with h5py.File(path, "r") as f:
            config = json.loads(f.attrs["model_config"])
            weights_root = f["model_weights"]
            layers = config["config"]["layers"]
            lstms, dense, act = _architecture(layers, str(path))
            read = lambda n, keys: [weights_root[n][n][k][()] for k in keys]  # noqa: E731
            lstm_w = [read(l["config"]["name"], ("kernel:0", "recurrent_kernel:0", "bias:0")) for l in lstms]
            dense_w = read(dense["config"]["name"], ("kernel:0", "bias:0"))
            tx = int(layers[0]["config"]["batch_input_shape"][1])
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read legacy Keras-2 model ({exc})") from exc
    softmax_after = dense["config"].get("activation") == "softmax" or any(
        l["class_name"] == "Activation" and l["config"].get("activation") == "softmax" for l in layers)
    if not softmax_after:
        raise ArtifactError(f"{path}: no softmax after the Dense layer")
    activation = "hard_sigmoid_keras2" if act == "hard_sigmoid" else act
    engine = _build(lstm_w, dense_w, activation, Vocab(SONNETS_VOCAB), tx, str(path))
    meta = {"kind": KIND, "id": "course-legacy", "format": "keras2-h5", "weights_file": path.name, "vocab": SONNETS_VOCAB,
            "tx": tx, "recurrent_activation": activation, "weights_sha256": sha256_file(path)}
    return engine, meta
