"""Names-model artifacts: `<name>.npz` (weights + training names, no pickles) and `<name>.json` (the recipe).

The JSON holds everything needed to rebuild the model (vocabulary, sizes, hyperparameters) plus provenance
(dataset and weights sha256, losses, timings). Loading verifies the sha256, shapes and finiteness and refuses
anything else with an ArtifactError naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


from model_core.artifacts import ArtifactError, read_npz_artifact, write_npz_artifact
from model_core.names_model import NamesModel
from model_core.rnn import PARAM_NAMES, RNNParams
from model_core.vocab import Vocab

KIND = "names-rnn"


def save(out_dir: str | Path, name: str, params: RNNParams, vocab: Vocab, known: list[str], meta: dict[str, Any]) -> Path:
    """Write `<name>.npz` and `<name>.json`; returns the JSON path. `meta` is merged into the metadata."""
    return write_npz_artifact(out_dir, name, KIND, params.arrays(), known, vocab.chars, {"n_a": params.n_a, **meta})


def load(artifact_dir: str | Path, name: str) -> tuple[NamesModel, dict[str, Any]]:
    """Load and validate `<artifact_dir>/<name>.json` and its weights; raises ArtifactError on any problem."""
    meta, weights, arrays = read_npz_artifact(artifact_dir, name, KIND)
    missing = [k for k in PARAM_NAMES if k not in arrays]
    if missing:
        raise ArtifactError(f"{weights}: missing arrays {missing}")
    params = RNNParams.from_dict(arrays)
    try:
        params.check_shapes()
    except ValueError as exc:
        raise ArtifactError(f"{weights}: {exc}") from exc
    if params.vocab_size != len(meta["vocab"]) or params.n_a != meta.get("n_a"):
        raise ArtifactError(f"{weights}: shapes (n_a={params.n_a}, V={params.vocab_size}) disagree with {name}.json")
    known = frozenset(str(s) for s in arrays["known_names"].tolist())
    return NamesModel(params, Vocab(meta["vocab"]), known), meta
