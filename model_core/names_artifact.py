"""Names-model artifacts: `<name>.npz` (weights + training names, no pickles) and `<name>.json` (the recipe).

The JSON holds everything needed to rebuild the model (vocabulary, sizes, hyperparameters) plus provenance
(dataset and weights sha256, losses, timings). Loading verifies the sha256, shapes and finiteness and refuses
anything else with an ArtifactError naming the file and the problem.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from model_core.artifacts import ArtifactError, read_json, resolve_inside, sha256_file, verify_sha256, write_json
from model_core.names_model import NamesModel
from model_core.rnn import PARAM_NAMES, RNNParams
from model_core.vocab import Vocab

KIND = "names-rnn"


def save(out_dir: str | Path, name: str, params: RNNParams, vocab: Vocab, known: list[str], meta: dict[str, Any]) -> Path:
    """Write `<name>.npz` and `<name>.json`; returns the JSON path. `meta` is merged into the metadata."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.npz"
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in params.arrays().items()}
    np.savez_compressed(weights, known_names=np.array(sorted(known), dtype=str), **arrays)
    full = {
        "kind": KIND,
        "id": name,
        "weights_file": weights.name,
        "vocab": vocab.chars,
        "n_a": params.n_a,
        "vocab_size": vocab.size,
        **meta,
        "weights_sha256": sha256_file(weights),
    }
    json_path = out / f"{name}.json"
    write_json(json_path, full)
    return json_path


def load(artifact_dir: str | Path, name: str) -> tuple[NamesModel, dict[str, Any]]:
    """Load and validate `<artifact_dir>/<name>.json` and its weights; raises ArtifactError on any problem."""
    meta = read_json(resolve_inside(artifact_dir, f"{name}.json"))
    json_name = f"{name}.json"
    if meta.get("kind") != KIND:
        raise ArtifactError(f"{json_name}: kind is {meta.get('kind')!r}, expected {KIND!r}")
    vocab_chars = meta.get("vocab")
    if not isinstance(vocab_chars, str) or not vocab_chars or vocab_chars[0] != "\n":
        raise ArtifactError(f"{json_name}: 'vocab' must be a string starting with '\\n'")
    weights = resolve_inside(artifact_dir, str(meta.get("weights_file", f"{name}.npz")))
    verify_sha256(weights, meta.get("weights_sha256"))
    try:
        with np.load(weights, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError(f"{weights}: cannot read weights ({exc})") from exc
    missing = [k for k in (*PARAM_NAMES, "known_names") if k not in arrays]
    if missing:
        raise ArtifactError(f"{weights}: missing arrays {missing}")
    params = RNNParams.from_dict(arrays)
    try:
        params.check_shapes()
    except ValueError as exc:
        raise ArtifactError(f"{weights}: {exc}") from exc
    if params.vocab_size != len(vocab_chars) or params.n_a != meta.get("n_a"):
        raise ArtifactError(f"{weights}: shapes (n_a={params.n_a}, V={params.vocab_size}) disagree with {json_name}")
    for k, v in params.arrays().items():
        if not np.all(np.isfinite(v)):
            raise ArtifactError(f"{weights}: parameter {k} contains NaN or infinite values")
    known = frozenset(str(s) for s in arrays["known_names"].tolist())
    return NamesModel(params, Vocab(vocab_chars), known), meta
