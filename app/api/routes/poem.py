"""GET /poem (a continuation of your line in the style of the Sonnets) and GET /poem/stream (the same, as SSE)."""

from __future__ import annotations

import json
import time
from itertools import islice
from enum import Enum
from dataclasses import dataclass
from typing import Annotated, Iterator

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.api.deps import SEED_MAX, Lease, PoemSlotsDep, RegistryDep, SettingsDep, choose_seed
from app.errors import ERROR_RESPONSES, ParamError, ServiceUnavailable
from app.observability import CHARS_GENERATED
from app.registry import Registry
from model_core.poem_engine import PoemEngine
from model_core.vocab import UnknownCharactersError, describe

router = APIRouter(tags=["poems"], responses=ERROR_RESPONSES)
LENGTH_MAX = 2000  # documented bound; the setting max_poem_length may lower it
PROMPT_MAX = 2000


class Mode(str, Enum):
    window = "window"
    stateful = "stateful"


class PoemResponse(BaseModel):
    prompt: str = Field(description="the prompt, lower-cased as the model reads it")
    continuation: str = Field(description="the generated characters")
    poem: str = Field(description="prompt + continuation, as the notebook prints it")
    seed: int
    mode: Mode
    temperature: float
    model: str


Prompt = Annotated[str, Query(max_length=PROMPT_MAX, description="the line to continue (may be empty; letters, spaces, newlines and !'(),-.:;? — case-insensitive; at most 2000 characters)", examples=["Forsooth this maketh no sense"])]
Length = Annotated[int, Query(ge=1, le=LENGTH_MAX, description="characters to generate (1-2000)", examples=[400])]
Temperature = Annotated[float, Query(ge=0.0, le=10.0, allow_inf_nan=False, description="0 = greedy, 1 = the model's distribution, >1 = wilder (0-10)", examples=[1.0])]
Seed = Annotated[int | None, Query(ge=0, le=SEED_MAX, description=f"random seed, 0-{SEED_MAX}; chosen and returned when absent", examples=[1])]
ModeParam = Annotated[Mode, Query(description="window: the notebook's 40-character window (default); stateful: carry the LSTM state (faster)")]


def _engine(reg: Registry) -> PoemEngine:
    if reg.poem is None:
        raise ServiceUnavailable(f"poem model is unavailable: {reg.errors.get('poem', 'not loaded')}", retry_after=None)
    return reg.poem


def _prompt(engine: PoemEngine, prompt: str) -> str:
    try:
        return engine.normalise_prompt(prompt)
    except UnknownCharactersError as exc:
        shown = ", ".join(repr(c) for c in exc.unknown[:20])
        raise ParamError("prompt", f"characters outside the vocabulary: {shown}; allowed: {describe(exc.allowed)} (case-insensitive)") from exc


@dataclass(frozen=True)
class PoemRequest:
    """A validated poem request (the same parameters and checks for /poem and /poem/stream)."""

    engine: PoemEngine
    prompt: str  # lower-cased, inside the vocabulary
    length: int
    temperature: float
    seed: int
    mode: Mode
    model: str
    timeout_s: float

    def characters(self) -> Iterator[str]:
        """The continuation, one character at a time, from this request's own Generator, under the time limit."""
        chars = self.engine.generate(self.prompt, self.length, np.random.default_rng(self.seed), self.temperature,
                                     self.mode.value)
        return _with_deadline(chars, self.timeout_s)


async def poem_request(reg: RegistryDep, settings: SettingsDep, prompt: Prompt = "", length: Length = 400,
                       temperature: Temperature = 1.0, seed: Seed = None, mode: ModeParam = Mode.window) -> PoemRequest:
    engine = _engine(reg)
    text = _prompt(engine, prompt)
    if len(prompt) > settings.max_prompt_length:
        raise ParamError("prompt", f"prompt has {len(prompt)} characters; at most {settings.max_prompt_length} are allowed")
    if length > settings.max_poem_length:
        raise ParamError("length", f"length must be between 1 and {settings.max_poem_length} (got {length})")
    return PoemRequest(engine, text, length, temperature, choose_seed(seed), mode, reg.poem_meta.get("id", "poem"),
                       settings.generation_timeout_s)


PoemRequestDep = Annotated[PoemRequest, Depends(poem_request)]


CHUNK = 100  # characters generated per worker-thread hop: ~30 ms in window mode, ~3 ms stateful
STREAM_BATCH_S = 0.01  # a stream sends what it generated every 10 ms: one thread hop per batch, not per character


def _take(chars: Iterator[str], n: int) -> str:
    return "".join(islice(chars, n))


def _take_for(chars: Iterator[str], seconds: float, limit: int) -> list[str]:
    """The next characters generated within `seconds` (at least one, at most `limit`); [] when there are no more."""
    deadline = time.monotonic() + seconds
    batch = []
    for ch in chars:
        batch.append(ch)
        if len(batch) >= limit or time.monotonic() >= deadline:
            break
    return batch


@router.get("/poem", response_model=PoemResponse, summary="Continue a line in the style of Shakespeare's Sonnets")
async def get_poem(request: Request, req: PoemRequestDep, slots: PoemSlotsDep) -> PoemResponse | Response:
    """The slot is awaited on the event loop; the characters are generated in a worker thread, CHUNK at a time, and
    a client that has gone away between chunks stops the generation (logged as 499)."""
    lease = await slots.acquire(request)
    chars = req.characters()
    try:
        parts = []
        while chunk := await run_in_threadpool(_take, chars, CHUNK):
            parts.append(chunk)
            CHARS_GENERATED.labels(req.mode.value).inc(len(chunk))  # work done, whether or not anyone reads it
            if await request.is_disconnected():
                return Response(status_code=499)  # nobody reads this (logged as 499, like nginx)
        continuation = "".join(parts)
    finally:
        lease.release()
        try:
            chars.close()  # stop the generator (and its time limit) at once
        except ValueError:
            pass  # a worker thread is inside it right now (the request was cancelled); it ends with that chunk
    return PoemResponse(prompt=req.prompt, continuation=continuation, poem=req.prompt + continuation, seed=req.seed,
                        mode=req.mode, temperature=req.temperature, model=req.model)


def _with_deadline(chars: Iterator[str], seconds: float) -> Iterator[str]:
    """Pass characters through until the time limit; then stop the generation with a 503."""
    deadline = time.monotonic() + seconds
    for n, ch in enumerate(chars):
        if n % 32 == 0 and time.monotonic() > deadline:
            raise ServiceUnavailable(f"generation exceeded the {seconds:g} s time limit; retry or ask for fewer characters",
                                     retry_after=5)
        yield ch


class LeasedStreamingResponse(StreamingResponse):
    """A stream that gives its generation slot back when the response ends, however it ends (finished, client gone
    before or during the stream, cancelled), and stops the generator."""

    def __init__(self, content, lease: Lease, **kwargs):
        super().__init__(content, **kwargs)
        self._lease, self._generator = lease, content

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._lease.release()
            try:
                self._generator.close()  # no more characters for a client that has gone
            except ValueError:
                pass  # a worker thread is inside it right now; it ends at its next step


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


@router.get("/poem/stream", summary="The same poem, streamed as Server-Sent Events",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "`event: char` per character (data: {\"c\": ...}), then `event: done` with the seed and totals"}})
async def stream_poem(request: Request, req: PoemRequestDep, slots: PoemSlotsDep) -> StreamingResponse:
    lease = await slots.acquire(request)  # taken before the response starts, so a saturated server can still answer 503
    text, seed, mode, model_id, temperature = req.prompt, req.seed, req.mode, req.model, req.temperature

    def events() -> Iterator[str]:
        # A sync generator: Starlette runs each step in a worker thread, and stops pulling (so stops generating)
        # when the client disconnects. A step sends the characters of up to STREAM_BATCH_S, each as its own event.
        try:
            out = []
            yield _sse("start", {"prompt": text, "seed": seed, "mode": mode.value, "model": model_id})
            chars = req.characters()
            while batch := _take_for(chars, STREAM_BATCH_S, CHUNK):  # each step is a worker-thread hop: batch them
                out.extend(batch)
                CHARS_GENERATED.labels(mode.value).inc(len(batch))
                yield "".join(_sse("char", {"c": ch}) for ch in batch)
            continuation = "".join(out)
            yield _sse("done", {"seed": seed, "mode": mode.value, "model": model_id, "temperature": temperature,
                                "characters": len(continuation), "continuation": continuation,
                                "poem": text + continuation})
        except ServiceUnavailable as exc:  # the response has started: report in-band, then end the stream
            yield _sse("error", {"error": exc.message})
        finally:
            lease.release()

    return LeasedStreamingResponse(events(), lease, media_type="text/event-stream",
                                   headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
