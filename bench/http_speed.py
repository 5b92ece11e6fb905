"""HTTP throughput: the real service's GET /names?count=10&seed=… vs a trivial FastAPI endpoint returning ten fixed
strings, both served by uvicorn with `make run`'s settings and driven by the same load generator on loopback.

    .venv/bin/python -m bench.http_speed
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import httpx

from bench.common import REPO, percentiles, print_table

CONCURRENCY = 16
SECONDS = 8.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app: str):
    port = _port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--no-access-log", "--log-level", "warning"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(base + "/names", params={"count": 10, "seed": 1}, timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{app} did not start")


async def drive(base: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.monotonic() + SECONDS

    async def worker(i: int):
        seed = i * 1_000_000
        async with httpx.AsyncClient(base_url=base) as client:
            while time.monotonic() < deadline:
                t = time.perf_counter()
                r = await client.get("/names", params={"count": 10, "seed": seed})
                r.raise_for_status()
                latencies.append(time.perf_counter() - t)
                seed += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    return len(latencies) / (time.monotonic() - start), latencies


def measure(app: str) -> tuple[float, dict]:
    proc, base = serve(app)
    try:
        asyncio.run(drive(base))  # warm-up round
        rps, lat = asyncio.run(drive(base))
        return rps, percentiles(lat)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run() -> list[dict]:
    trivial_rps, trivial_p = measure("bench.trivial_app:app")
    ours_rps, ours_p = measure("app.main:app")
    return [{"figure": "HTTP GET /names?count=10 (req/s)",
             "value": f"{ours_rps:,.0f} (p50 {ours_p[50] * 1000:.1f} ms, p99 {ours_p[99] * 1000:.1f} ms)",
             "baseline": f"trivial endpoint {trivial_rps:,.0f} (p50 {trivial_p[50] * 1000:.1f} ms, p99 {trivial_p[99] * 1000:.1f} ms)",
             "ratio": f"{ours_rps / trivial_rps:.0%}", "target": ">= 70%"}]


if __name__ == "__main__":
    print_table(run())
