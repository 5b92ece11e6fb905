"""Shared fixtures. Tests that need the real corpora read ../shared/data and skip with a reason when it is absent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model_core.artifacts import sha256_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
ARTIFACTS = REPO / "artifacts"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def data_file(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared data folder sits beside the repository (../shared/data)")
    return path


@pytest.fixture
def dinos_path() -> Path:
    return data_file("dinos.txt")


@pytest.fixture
def shakespeare_path() -> Path:
    return data_file("shakespeare.txt")


@pytest.fixture
def legacy_h5_path() -> Path:
    return data_file("course/model_shakespeare_kiank_350_epoch.h5")


@pytest.fixture
def artifact_copy(tmp_path: Path) -> Path:
    """A private copy of the committed artifacts, for tests that break them."""
    dest = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS, dest)
    return dest


def rewrite_npz_artifact(directory: Path, name: str, **arrays: np.ndarray) -> None:
    """Replace arrays of `<directory>/<name>.npz` and re-sign its JSON, so only the loader's content checks (not the
    sha256) can catch what the test broke."""
    weights = directory / f"{name}.npz"
    with np.load(weights, allow_pickle=False) as z:
        current = {k: z[k] for k in z.files}
    current.update(arrays)
    np.savez(weights, **current)
    meta_path = directory / f"{name}.json"
    meta = json.loads(meta_path.read_text())
    meta["weights_sha256"] = sha256_file(weights)
    meta_path.write_text(json.dumps(meta))
