"""Artifact I/O shared by both models: sha256 of files, JSON metadata, and safe resolution inside a directory."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class ArtifactError(RuntimeError):
    """An artifact is missing, malformed or does not match its metadata; the message names the file and problem."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def write_json(path: str | Path, meta: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: metadata file is missing")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path}: metadata must be a JSON object")
    return meta


def resolve_inside(directory: str | Path, name: str) -> Path:
    """`directory/name`, refusing names that escape the directory (absolute paths, '..', symlinks out)."""
    base = Path(directory).resolve()
    target = (base / name).resolve()
    if base != target and base not in target.parents:
        raise ArtifactError(f"{name!r} points outside the artifact directory {base}")
    return target


def verify_sha256(path: Path, expected: str | None) -> None:
    """Refuse a weights file whose sha256 differs from the one recorded in its JSON."""
    if not path.is_file():
        raise ArtifactError(f"{path}: weights file is missing")
    if not expected:
        raise ArtifactError(f"{path}: metadata has no weights_sha256 to verify against")
    actual = sha256_file(path)
    if actual != expected:
        raise ArtifactError(f"{path}: sha256 {actual[:12]}… does not match metadata {expected[:12]}… (tampered or truncated)")


def write_npz_artifact(out_dir: str | Path, name: str, kind: str, arrays: dict[str, Any], known: list[str],
                       vocab_chars: str, meta: dict[str, Any]) -> Path:
    """Write `<name>.npz` (float64 `arrays` + the training names, no pickles) and `<name>.json`; returns the JSON path.

    The JSON starts with kind, id, weights file and vocabulary, then `meta` (sizes, recipe, provenance), and ends with
    the weights' sha256, which loading verifies.
    """
    import numpy as np

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.npz"
    np.savez_compressed(weights, known_names=np.array(sorted(known), dtype=str),
                        **{k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()})
    full = {"kind": kind, "id": name, "weights_file": weights.name, "vocab": vocab_chars, "vocab_size": len(vocab_chars),
            **meta, "weights_sha256": sha256_file(weights)}
    json_path = out / f"{name}.json"
    write_json(json_path, full)
    return json_path


def read_npz_artifact(artifact_dir: str | Path, name: str, kind: str) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    """Read and check the parts every `.npz` + `.json` artifact shares: (metadata, weights path, arrays).

    Checked here: the JSON is inside `artifact_dir` and of `kind`, its vocabulary is a string starting with "\\n",
    the weights file is inside the directory and matches the recorded sha256, loads without pickles, holds a 1-D
    string array `known_names`, and every other array is finite floating point. Shapes are the caller's to check.
    Any problem raises ArtifactError naming the file.
    """
    import zipfile

    import numpy as np

    json_name = f"{name}.json"
    meta = read_json(resolve_inside(artifact_dir, json_name))
    if meta.get("kind") != kind:
        raise ArtifactError(f"{json_name}: kind is {meta.get('kind')!r}, expected {kind!r}")
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
    known = arrays.get("known_names")
    if known is None:
        raise ArtifactError(f"{weights}: missing arrays ['known_names']")
    if known.dtype.kind != "U" or known.ndim != 1:
        raise ArtifactError(f"{weights}: known_names must be a 1-D string array")
    for k, v in arrays.items():
        if k == "known_names":
            continue
        if not np.issubdtype(v.dtype, np.floating):
            raise ArtifactError(f"{weights}: parameter {k} has dtype {v.dtype}, expected floating point")
        if not np.all(np.isfinite(v)):
            raise ArtifactError(f"{weights}: parameter {k} contains NaN or infinite values")
    return meta, weights, arrays
