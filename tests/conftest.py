"""Shared fixtures. Tests that need the real corpora read ../shared/data and skip with a reason when it is absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
