"""Typed dependencies: the loaded models, the settings, and a bounded slot for CPU-bound generation."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import deque
from typing import Annotated

from fastapi import Depends, Request

from app.errors import ClientDisconnected, ServiceUnavailable
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


def _busy() -> ServiceUnavailable:
    return ServiceUnavailable("server busy: too many generation requests in progress, retry shortly", retry_after=1)


class GenerationSlots:
    """At most N generations at once per worker; a request that cannot get a slot in time gets 503 + Retry-After.

    Waiting happens on the event loop (`await acquire()`), never in a worker thread: a flood of queued requests
    must not occupy the thread pool that every other route's work (and every stream's steps) needs. Waiters are
    served first come, first served. A slot can be released from any thread (a stream ends in a worker thread):
    the release hands it to the oldest waiter through that waiter's event loop.
    """

    def __init__(self, limit: int, timeout_s: float):
        self.limit = limit
        self._timeout = timeout_s
        self._free = limit
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()
        self._lock = threading.Lock()

    async def acquire(self, request: Request | None = None) -> "Lease":
        """A slot, once one is free (503 if none frees up within the queue timeout); release it with `Lease.release()`.

        With `request`, a client that went away while it waited is noticed when its turn comes (or its wait times
        out): the slot passes straight on and ClientDisconnected (499) is raised, so a queue of abandoned requests
        costs no generation work."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._take_free():
                return Lease(self)
            waiter = loop.create_future()
            self._waiters.append((loop, waiter))
        try:
            await asyncio.wait([waiter], timeout=self._timeout)
        except BaseException:  # the request was cancelled while it waited
            self._abandon(loop, waiter)
            raise
        granted = waiter.done()
        if not granted:  # timed out
            self._abandon(loop, waiter)
        if request is not None and await request.is_disconnected():
            if granted:
                self._release()  # straight on to the next waiter
            raise ClientDisconnected
        if not granted:
            raise _busy()
        return Lease(self)

    def _take_free(self) -> bool:
        """Take a free slot if there is one and nobody queues before us (call with the lock held)."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    def _abandon(self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future) -> None:
        """Stop waiting; a slot granted meanwhile goes back (on the waiter's loop, so no grant can race this)."""
        if waiter.done():
            if not waiter.cancelled():
                self._release()  # granted just now, but nobody will use it
            return
        waiter.cancel()  # a grant already on its way to this waiter passes the slot on (see _grant)
        with self._lock:
            if (loop, waiter) in self._waiters:
                self._waiters.remove((loop, waiter))

    def lease_nowait(self) -> "Lease":
        """A slot now, from any thread, or 503 at once (no waiting)."""
        with self._lock:
            if self._take_free():
                return Lease(self)
        raise _busy()

    def _release(self) -> None:
        """Give a slot back: to the oldest waiter whose event loop still runs, else to the pool."""
        with self._lock:
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._grant, waiter)
                    return
                except RuntimeError:  # that waiter's loop is closed: nobody is waiting there any more
                    continue
            self._free += 1

    def _grant(self, waiter: asyncio.Future) -> None:  # on the waiter's event loop
        if waiter.cancelled():
            self._release()  # it gave up in the meantime: the next waiter (or the pool) gets the slot
        else:
            waiter.set_result(None)


class Lease:
    """A held generation slot; releasing twice is harmless (a stream may end by finishing or by disconnecting)."""

    def __init__(self, slots: GenerationSlots):
        self._slots: GenerationSlots | None = slots
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            slots, self._slots = self._slots, None
        if slots is not None:
            slots._release()

    def __del__(self) -> None:  # safety net: a stream that was never iterated still gives its slot back
        self.release()


async def get_names_slots(request: Request) -> GenerationSlots:
    return request.app.state.slots["names"]


async def get_poem_slots(request: Request) -> GenerationSlots:
    return request.app.state.slots["poem"]


NamesSlotsDep = Annotated[GenerationSlots, Depends(get_names_slots)]
PoemSlotsDep = Annotated[GenerationSlots, Depends(get_poem_slots)]
