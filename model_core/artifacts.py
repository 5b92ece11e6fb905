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
