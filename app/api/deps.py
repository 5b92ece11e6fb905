"""Typed dependencies: the loaded models, the settings, and a bounded slot for CPU-bound generation."""

from __future__ import annotations

import secrets
import threading
from contextlib import contextmanager
from typing import Annotated, Iterator

from fastapi import Depends, Request

from app.errors import ServiceUnavailable
from app.registry import Registry
from app.settings import Settings

SEED_MAX = 2**32 - 1  # seeds are 0..2**32-1: exact in every JSON client (JavaScript included)


async def get_registry(request: Request) -> Registry:  # async: runs inline, no threadpool hop
    return request.app.state.registry


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def choose_seed(seed: int | None) -> int:
    """The request's seed, or a fresh one to return so the response can be reproduced."""
    return secrets.randbelow(SEED_MAX + 1) if seed is None else seed


class GenerationSlots:
    """At most N generations at once per worker; a request that cannot get a slot in time gets 503 + Retry-After."""

    def __init__(self, limit: int, timeout_s: float):
        self._sem = threading.BoundedSemaphore(limit)
        self._timeout = timeout_s
        self.limit = limit

    def lease(self) -> "Lease":
        """Take a slot now (503 if none frees up in time); release it exactly once with `Lease.release()`."""
        if not self._sem.acquire(timeout=self._timeout):
            raise ServiceUnavailable("server busy: too many generation requests in progress, retry shortly", retry_after=1)
        return Lease(self._sem)

    @contextmanager
    def slot(self) -> Iterator[None]:
        lease = self.lease()
        try:
            yield
        finally:
            lease.release()


class Lease:
    """A held generation slot; releasing twice is harmless (a stream may end by finishing or by disconnecting)."""

    def __init__(self, sem: threading.BoundedSemaphore):
        self._sem: threading.BoundedSemaphore | None = sem
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            sem, self._sem = self._sem, None
        if sem is not None:
            sem.release()

    def __del__(self) -> None:  # safety net: a stream that was never iterated still gives its slot back
        self.release()


async def get_names_slots(request: Request) -> GenerationSlots:
    return request.app.state.slots["names"]


async def get_poem_slots(request: Request) -> GenerationSlots:
    return request.app.state.slots["poem"]


NamesSlotsDep = Annotated[GenerationSlots, Depends(get_names_slots)]
PoemSlotsDep = Annotated[GenerationSlots, Depends(get_poem_slots)]
