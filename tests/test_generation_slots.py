"""The generation slot pool: bounded, first come first served, waits on the event loop (never in a worker thread),
releasable from any thread, and leak-free when a waiter times out or is cancelled."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.api.deps import GenerationSlots
from app.errors import ClientDisconnected, ServiceUnavailable
from app.main import create_app
from app.settings import Settings
from tests.conftest import ARTIFACTS


def _free(slots: GenerationSlots) -> int:
    return slots._free


def test_first_come_first_served_and_release_from_another_thread():
    async def main():
        slots = GenerationSlots(1, timeout_s=5)
        held = await slots.acquire()
        order = []

        async def waiter(i):
            lease = await slots.acquire()
            order.append(i)
            await asyncio.sleep(0.01)
            lease.release()

        tasks = [asyncio.create_task(waiter(i)) for i in range(5)]
        await asyncio.sleep(0.05)
        assert order == []  # all five wait for the held slot
        threading.Thread(target=held.release).start()  # e.g. a stream finishing in a worker thread
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4] and _free(slots) == 1

    asyncio.run(main())


class _Client:
    """The part of a Starlette Request that acquire() looks at."""

    def __init__(self, gone: bool):
        self.gone = gone

    async def is_disconnected(self) -> bool:
        return self.gone


def test_a_client_gone_while_queued_passes_its_turn_on():
    """A waiter whose client left is dropped when its turn comes (ClientDisconnected, 499) and the slot goes straight
    to the next waiter; one that times out after its client left is a 499 too, not a 503."""
    async def main():
        slots = GenerationSlots(1, timeout_s=5)
        held = await slots.acquire()
        gone = asyncio.create_task(slots.acquire(_Client(gone=True)))
        live = asyncio.create_task(slots.acquire(_Client(gone=False)))
        await asyncio.sleep(0.01)
        held.release()
        with pytest.raises(ClientDisconnected):
            await gone
        lease = await asyncio.wait_for(live, 1)
        assert _free(slots) == 0
        lease.release()
        assert _free(slots) == 1

        short = GenerationSlots(1, timeout_s=0.05)
        held = await short.acquire()
        with pytest.raises(ClientDisconnected):
            await short.acquire(_Client(gone=True))
        with pytest.raises(ServiceUnavailable):
            await short.acquire(_Client(gone=False))
        held.release()
        assert _free(short) == 1 and not short._waiters

    asyncio.run(main())


def test_timeout_is_503_and_cancelled_waiters_leak_nothing():
    async def main():
        slots = GenerationSlots(1, timeout_s=0.1)
        held = await slots.acquire()
        t0 = time.perf_counter()
        with pytest.raises(ServiceUnavailable, match="busy"):
            await slots.acquire()
        assert 0.09 < time.perf_counter() - t0 < 2
        cancelled = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        held.release()
        held.release()  # twice is harmless
        assert _free(slots) == 1 and not slots._waiters
        lease = slots.lease_nowait()
        with pytest.raises(ServiceUnavailable):
            slots.lease_nowait()
        lease.release()
        assert _free(slots) == 1

    asyncio.run(main())


def test_grant_racing_a_cancel_passes_the_slot_on():
    """A release that picks a waiter just as it gives up must hand the slot to the next one, not lose it."""
    async def main():
        slots = GenerationSlots(1, timeout_s=5)
        held = await slots.acquire()
        first = asyncio.create_task(slots.acquire())
        second = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0.01)
        held.release()  # schedules the grant to `first` on this loop...
        first.cancel()  # ...which is cancelled before the grant runs
        lease = await asyncio.wait_for(second, 2)
        with pytest.raises(asyncio.CancelledError):
            await first
        lease.release()
        assert _free(slots) == 1 and not slots._waiters

    asyncio.run(main())


def test_queued_poems_do_not_hold_up_names_or_the_thread_pool():
    """60 poem requests queued behind one held slot (more than the 40 worker threads) must not delay a names request
    that needs a worker thread; once the slot is free every queued poem is served, identically."""
    app = create_app(Settings(artifact_dir=ARTIFACTS, max_concurrent_generations=1, queue_timeout_s=60))
    with TestClient(app) as c:
        params = {"prompt": "my love", "seed": 3, "length": 20}
        expected = c.get("/poem", params=params).content
        held = app.state.slots["poem"].lease_nowait()
        with ThreadPoolExecutor(60) as pool:
            poems = [pool.submit(c.get, "/poem", params=params) for _ in range(60)]
            deadline = time.monotonic() + 30
            while len(app.state.slots["poem"]._waiters) < 60 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(app.state.slots["poem"]._waiters) == 60
            r = c.get("/names", params={"count": 50, "model": "dinos", "seed": 1})  # > 20 names: a worker thread
            assert r.status_code == 200 and len(r.json()["names"]) == 50
            assert all(not p.done() for p in poems)  # still queued
            held.release()
            assert all(p.result(timeout=60).content == expected for p in poems)
        assert _free(app.state.slots["poem"]) == 1
