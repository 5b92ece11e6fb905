"""HTTP throughput: the real service's GET /names?count=10&seed=… vs a trivial FastAPI endpoint returning ten fixed
strings. Both are served by `python -m app`'s launcher (the settings of `make run`: one worker, uvicorn with
httptools + uvloop, no uvicorn access log) and driven by the same load generator on loopback.

    .venv/bin/python -m bench.http_speed

Load generator: `wrk` (C, one thread, 16 connections) when it is installed (`apt-get install wrk`; `make bench`
installs it when it can), else a Python httpx client, which itself needs most of a core and so caps both figures.
Every request carries a new seed (a Lua script for wrk), so no two requests do the same work. Rounds alternate
baseline and service and the medians are reported: the machine is shared and noisy.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx

from bench.common import REPO, percentiles, print_table

CONNECTIONS = 16
SECONDS = 6
ROUNDS = 3
TARGETS = [  # (label, path): the default model, then the notebook-recipe RNN
    ("HTTP GET /names?count=10 (default model dinos-gru)", "/names?count=10"),
    ("HTTP GET /names?count=10&model=dinos (RNN)", "/names?count=10&model=dinos"),
]
WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "%s&seed=" .. counter)
end
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(asgi_app: str):
    """Start `python -m app`'s launcher on a free port with `asgi_app`; wait until it answers."""
    port = _port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "WORKERS": "1", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    code = f"from app.__main__ import main; main({asgi_app!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # the service logs every request
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(base + "/names", params={"count": 10, "seed": 1}, timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{asgi_app} did not start")


def drive_wrk(base: str, path: str, seconds: float) -> tuple[float, float, float]:
    """(req/s, p50 s, p99 s) from one wrk run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % path)
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", f.name, base],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"errors during the wrk run on {path}:\n{out}")

    def latency(q: str) -> float:
        value, unit = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]

    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), latency("50"), latency("99")


def drive_python(base: str, path: str, seconds: float) -> tuple[float, float, float]:
    """The fallback generator: CONNECTIONS asyncio httpx clients in this process."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(i: int):
        seed = i * 1_000_000
        async with httpx.AsyncClient(base_url=base) as client:
            while time.monotonic() < deadline:
                t = time.perf_counter()
                (await client.get(f"{path}&seed={seed}")).raise_for_status()
                latencies.append(time.perf_counter() - t)
                seed += 1

    async def main():
        start = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(CONNECTIONS)))
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    p = percentiles(latencies)
    return len(latencies) / elapsed, p[50], p[99]


def run() -> list[dict]:
    drive, generator = (drive_wrk, "wrk") if shutil.which("wrk") else (drive_python, "python httpx")
    trivial, base_trivial = serve("bench.trivial_app:app")
    ours, base_ours = serve("app.main:app")
    try:
        for base, path in ((base_trivial, "/names?count=10"), *((base_ours, p) for _, p in TARGETS)):
            drive(base, path, 2)  # warm-up
        results: dict[str, list[tuple[float, float, float]]] = {}
        for _ in range(ROUNDS):  # alternate, so a burst of load on the shared machine hits every figure alike
            results.setdefault("trivial", []).append(drive(base_trivial, "/names?count=10", SECONDS))
            for label, path in TARGETS:
                results.setdefault(label, []).append(drive(base_ours, path, SECONDS))
    finally:
        for proc in (trivial, ours):
            proc.terminate()
            proc.wait(timeout=30)

    def median(runs):  # the run with the median req/s, with its own latencies
        return sorted(runs)[len(runs) // 2]

    t_rps, t50, t99 = median(results["trivial"])
    rows = []
    for label, _ in TARGETS:
        rps, p50, p99 = median(results[label])
        rows.append({"figure": f"{label}, req/s", "value": f"{rps:,.0f} (p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms)",
                     "baseline": f"trivial endpoint {t_rps:,.0f} (p50 {t50 * 1e3:.1f} ms, p99 {t99 * 1e3:.1f} ms)",
                     "ratio": f"{rps / t_rps:.0%}", "target": ">= 70%"})
    rows[-1]["target"] += f" ({generator}, {CONNECTIONS} connections, median of {ROUNDS} x {SECONDS} s)"
    return rows


if __name__ == "__main__":
    print_table(run())
