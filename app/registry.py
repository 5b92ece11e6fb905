"""The models the service holds, loaded once at startup (in the lifespan) and shared read-only by all requests.

A model that fails to load is recorded with its error instead of crashing the worker: its routes answer 503 with
that error while the other model keeps serving, and /readyz reports it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.settings import Settings
from model_core import names_artifact
from model_core.artifacts import ArtifactError, read_json, resolve_inside
from model_core.names_model import ServedNamesModel  # NamesModel (RNN) or GRUNamesModel

log = logging.getLogger("app.registry")


@dataclass
class LoadedNames:
    model: ServedNamesModel
    meta: dict[str, Any]


@dataclass
class Registry:
    names: dict[str, LoadedNames] = field(default_factory=dict)
    default_names: str = "dinos-gru"
    poem: Any = None  # the poem engine (model_core.poem_engine.PoemEngine) once loaded
    poem_meta: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # model id -> why it is unavailable
    load_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.errors and self.default_names in self.names


NAMES_KINDS = ("names-rnn", "names-gru")  # the notebook's vanilla RNN, and the gated recipe


def discover_names_models(settings: Settings) -> list[str]:
    """Ids of every names model in the artifact directory (the default first)."""
    ids = [settings.names_model]
    directory = settings.artifact_dir
    if directory.is_dir():
        for path in sorted(directory.glob("*.json")):
            try:
                if read_json(path).get("kind") in NAMES_KINDS and path.stem not in ids:
                    ids.append(path.stem)
            except ArtifactError:
                continue  # reported if it is the default; otherwise not a names model we can offer
    return ids


def load_names_model(settings: Settings, model_id: str):
    """Dispatch on the artifact's kind; both loaders verify sha256, shapes and finiteness."""
    kind = read_json(resolve_inside(settings.artifact_dir, f"{model_id}.json")).get("kind")
    if kind == "names-gru":
        from model_core import gru_model

        return gru_model.load(settings.artifact_dir, model_id)
    return names_artifact.load(settings.artifact_dir, model_id)


def load_registry(settings: Settings) -> Registry:
    reg = Registry(default_names=settings.names_model)
    for model_id in discover_names_models(settings):
        started = time.perf_counter()
        try:
            model, meta = load_names_model(settings, model_id)
        except (ArtifactError, OSError, ValueError, KeyError, ImportError) as exc:
            reg.errors[f"names:{model_id}"] = str(exc)
            log.error("names model %r unavailable: %s", model_id, exc)
            continue
        # Compile (or load from the cache) the sampling and scoring kernels now, not during the first requests.
        model.sample(2, np.random.default_rng(0), prefix="a")
        model.score("a")
        reg.names[model_id] = LoadedNames(model, meta)
        reg.load_seconds[f"names:{model_id}"] = time.perf_counter() - started
    load_poem(settings, reg)
    return reg


def load_poem(settings: Settings, reg: Registry) -> None:
    """Load the poem engine (a NumPy LSTM) from a .keras artifact or a legacy course .h5."""
    from model_core import poem_artifact

    started = time.perf_counter()
    try:
        if settings.poem_legacy_h5 is not None:
            reg.poem, reg.poem_meta = poem_artifact.load_legacy_h5(settings.poem_legacy_h5)
        else:
            resolve_inside(settings.artifact_dir, f"{settings.poem_model}.json")
            reg.poem, reg.poem_meta = poem_artifact.load(settings.artifact_dir, settings.poem_model)
    except (ArtifactError, OSError, ValueError, KeyError, ImportError) as exc:
        reg.errors["poem"] = str(exc)
        log.error("poem model unavailable: %s", exc)
        return
    reg.poem.warm_up()  # compile the Numba kernels now (cached on disk), not during the first request
    reg.load_seconds["poem"] = time.perf_counter() - started
