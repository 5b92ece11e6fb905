"""GET /names (new dinosaur names) and GET /names/score (how likely the model finds a name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from app.api.deps import SEED_MAX, GenerationSlots, NamesSlotsDep, RegistryDep, SettingsDep, choose_seed
from app.errors import ERROR_RESPONSES, ParamError, ServiceUnavailable
from app.observability import NAMES_GENERATED
from app.registry import LoadedNames, Registry
from model_core.names_model import HARD_MAX_LENGTH, SampleResult, SampleSteps, advance, capitalise
from model_core.vocab import ascii_lower, describe

router = APIRouter(tags=["names"], responses=ERROR_RESPONSES)
COUNT_MAX = 100  # documented bound; the setting max_names_per_request may lower it


class GeneratedName(BaseModel):
    name: str = Field(examples=["Tyrannosaurus"], description="capitalised like the notebook")
    log_likelihood: float = Field(description="natural log of p(name + end-of-name) under the model")
    nll_per_char: float = Field(description="-log_likelihood / (len(name) + 1), in nats")
    known: bool = Field(description="true if the name is in the model's training list")


class NamesResponse(BaseModel):
    names: list[GeneratedName]
    seed: int = Field(description="the seed used; pass it back to reproduce this response")
    model: str
    requested: int
    complete: bool = Field(description="false when fewer than `requested` names met the constraints in the work budget")
    message: str | None = None
    attempts: int = Field(description="candidate names drawn, accepted or rejected")


class ScoreResponse(BaseModel):
    name: str
    model: str
    log_likelihood: float
    nll_per_char: float
    char_log_probs: list[float] = Field(description="log p of each character, then of the end-of-name")
    known: bool


def _names_model(reg: Registry, model: str | None) -> tuple[str, LoadedNames]:
    model_id = reg.default_names if model is None else model
    if model_id in reg.names:
        return model_id, reg.names[model_id]
    if f"names:{model_id}" in reg.errors:
        raise ServiceUnavailable(f"names model {model_id!r} is unavailable: {reg.errors[f'names:{model_id}']}")
    available = ", ".join(sorted(reg.names)) or "none"
    raise ParamError("model", f"unknown model {model_id!r}; available: {available}")


def _check_chars(loaded: LoadedNames, param: str, text: str) -> str:
    text = ascii_lower(text)
    chars = loaded.model.vocab.chars.replace("\n", "")
    bad = [c for c in dict.fromkeys(text) if c not in chars]
    if bad:
        raise ParamError(param, f"characters outside the vocabulary: {', '.join(repr(c) for c in bad)}; allowed: {describe(chars)} (case-insensitive)")
    return text


async def _sample(start: Callable[[], SampleSteps], inline: bool, slots: GenerationSlots,
                  request: Request) -> SampleResult | None:
    """Run a sampling batch by batch; None if the client disconnected before it finished.

    With `inline` (a cheap model, a small request) the first batch runs right here on the event loop: it takes a
    fraction of a millisecond, less than a worker-thread round trip. Every other batch runs in a worker thread
    while holding one of the names slots, and between batches a client that has gone away stops the work.
    The batches are the same wherever they run, so the result is too.
    """
    steps = start() if inline else None
    if steps is not None and (result := advance(steps)) is not None:
        return result
    lease = await slots.acquire(request)  # waits on the event loop; 503 + Retry-After if no slot frees up in time
    try:
        if steps is None:
            steps = await run_in_threadpool(start)
        while (result := await run_in_threadpool(advance, steps)) is None:
            if await request.is_disconnected():
                return None
        return result
    finally:
        lease.release()


ModelParam = Annotated[str | None, Query(max_length=64, description="names model id (default: the service's default model)", examples=["dinos"])]


@router.get("/names", response_model=NamesResponse, summary="Invent new dinosaur names")
async def get_names(
    request: Request,
    reg: RegistryDep,
    settings: SettingsDep,
    slots: NamesSlotsDep,
    count: Annotated[int, Query(ge=1, le=COUNT_MAX, description="how many names (1-100)", examples=[10])] = 10,
    seed: Annotated[int | None, Query(ge=0, le=SEED_MAX, description=f"random seed, 0-{SEED_MAX}; chosen and returned when absent", examples=[42])] = None,
    min_length: Annotated[int, Query(ge=1, le=HARD_MAX_LENGTH, description="shortest name, in characters (1-50)", examples=[4])] = 1,
    max_length: Annotated[int, Query(ge=1, le=HARD_MAX_LENGTH, description="longest name (1-50); longer names are never cut, they are not drawn", examples=[20])] = 30,
    temperature: Annotated[float, Query(ge=0.0, le=10.0, allow_inf_nan=False, description="0 = greedy (most likely name), 1 = the model's distribution, >1 = wilder (0-10)", examples=[1.0])] = 1.0,
    prefix: Annotated[str, Query(max_length=HARD_MAX_LENGTH, description="names start with this (letters a-z, case-insensitive, up to 50)", examples=["tyr"])] = "",
    exclude_known: Annotated[bool, Query(description="drop names that are in the training list", examples=[True])] = False,
    model: ModelParam = None,
) -> Response:
    """Validation runs inline (cheap), sampling as `_sample` says, and the response is serialised once by
    pydantic-core straight to JSON bytes (a Response skips FastAPI's second, threadpool-bound validation)."""
    model_id, loaded = _names_model(reg, model)
    prefix = _check_chars(loaded, "prefix", prefix)
    if min_length > max_length:
        raise ParamError("min_length", f"min_length ({min_length}) must not exceed max_length ({max_length})")
    if len(prefix) > max_length:
        raise ParamError("prefix", f"prefix has {len(prefix)} characters, more than max_length ({max_length})")
    if count > settings.max_names_per_request:
        raise ParamError("count", f"count must be between 1 and {settings.max_names_per_request} (got {count})")
    seed = choose_seed(seed)
    budget = max(1, settings.max_name_attempts // loaded.model.attempt_cost)  # costlier models: fewer candidates

    def start() -> SampleSteps:
        return loaded.model.sample_steps(
            count, np.random.default_rng(seed), temperature=temperature, prefix=prefix, min_length=min_length,
            max_length=max_length, exclude_known=exclude_known, unique=True, max_attempts=budget,
        )

    result = await _sample(start, count <= loaded.model.inline_max_count, slots, request)
    if result is None:
        return Response(status_code=499)  # the client went away: nobody reads this (logged as 499, like nginx)
    names = [
        GeneratedName(name=capitalise(s.name), log_likelihood=s.log_likelihood,
                      nll_per_char=-s.log_likelihood / (len(s.name) + 1), known=s.name in loaded.model.known)
        for s in result.names
    ]
    NAMES_GENERATED.labels(model_id).inc(len(names))
    message = None
    if result.exhausted:
        message = (f"found {len(names)} of {count} distinct names meeting the constraints in {result.attempts} "
                   f"attempt{'s' if result.attempts != 1 else ''}; "
                   "relax min_length/max_length/prefix/exclude_known or raise the temperature")
    response = NamesResponse(names=names, seed=seed, model=model_id, requested=count, complete=not result.exhausted,
                             message=message, attempts=result.attempts)
    return Response(response.model_dump_json(), media_type="application/json")


@router.get("/names/score", response_model=ScoreResponse, summary="Score a name under the model")
async def score_name(
    request: Request,
    reg: RegistryDep,
    slots: NamesSlotsDep,
    name: Annotated[str, Query(min_length=1, max_length=HARD_MAX_LENGTH, description="a name, letters a-z (case-insensitive), 1-50", examples=["Tyrannosaurus"])],
    model: ModelParam = None,
) -> ScoreResponse:
    """The RNN scores a name in microseconds, right here on the event loop; a costlier model (the GRU ensemble: ~3 ms
    for 50 characters) scores in a worker thread holding a names slot, like any other names work."""
    model_id, loaded = _names_model(reg, model)
    text = _check_chars(loaded, "name", name)
    if loaded.model.attempt_cost <= 1:
        logp = loaded.model.char_log_probs(text)
    else:
        lease = await slots.acquire(request)
        try:
            logp = await run_in_threadpool(loaded.model.char_log_probs, text)
        finally:
            lease.release()
    total = float(logp.sum())
    return ScoreResponse(name=capitalise(text), model=model_id, log_likelihood=total, nll_per_char=-total / len(logp),
                         char_log_probs=[float(v) for v in logp], known=text in loaded.model.known)
