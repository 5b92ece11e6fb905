"""Load and soak test: start the real server with its production settings, drive it with N concurrent clients on
loopback across /names, /poem and /poem/stream, and report requests, errors, p50/p99 per route, resident memory
before/after (growth after warm-up), and whether a fixed seeded request stayed byte-identical throughout.

    make load                      # 32 clients, 180 s
    .venv/bin/python scripts/load_test.py --clients 32 --duration 300
Exit code 1 if any request failed, memory grew >= 10% after warm-up, or the seeded response changed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
FIXED = ("/names", {"count": 10, "seed": 42})  # must return identical bytes all along


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of the server process and its children (workers), MiB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def pick(rng: random.Random) -> tuple[str, dict]:
    r = rng.random()
    seed = rng.randrange(2**32)
    if r < 0.5:
        return "/names", {"count": rng.choice([1, 10, 50]), "seed": seed, "prefix": rng.choice(["", "a", "tri"])}
    if r < 0.85:
        return "/poem", {"prompt": "shall i compare thee", "length": rng.choice([100, 400]), "seed": seed,
                         "mode": rng.choice(["window", "stateful"])}
    return "/poem/stream", {"prompt": "my love", "length": 200, "seed": seed, "mode": rng.choice(["window", "stateful"])}


async def client_loop(client, deadline, rng, stats, errors):
    while time.monotonic() < deadline:
        route, params = pick(rng)
        t = time.perf_counter()
        try:
            r = await client.get(route, params=params)
            ok = r.status_code == 200 and (route != "/poem/stream" or "event: done" in r.text)
        except httpx.HTTPError as exc:
            ok, r = False, exc
        stats.setdefault(route, []).append(time.perf_counter() - t)
        if not ok:
            errors.append(f"{route} {params}: {getattr(r, 'status_code', r)}")


async def determinism_loop(client, deadline, expected, mismatches, checks):
    while time.monotonic() < deadline:
        r = await client.get(FIXED[0], params=FIXED[1])
        checks.append(1)
        if r.content != expected:
            mismatches.append(r.text[:200])
        await asyncio.sleep(0.5)


async def drive(base: str, clients: int, duration: float, pid: int) -> int:
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        expected = (await client.get(FIXED[0], params=FIXED[1])).content
        stats: dict[str, list[float]] = {}
        errors: list[str] = []
        mismatches: list[str] = []
        checks: list[int] = []
        memory = [(0.0, rss_mib(pid))]
        start = time.monotonic()
        deadline = start + duration

        async def sample_memory():
            while time.monotonic() < deadline:
                await asyncio.sleep(1)
                memory.append((time.monotonic() - start, rss_mib(pid)))

        await asyncio.gather(
            *(client_loop(client, deadline, random.Random(i), stats, errors) for i in range(clients)),
            determinism_loop(client, deadline, expected, mismatches, checks), sample_memory())
    warm = [m for t, m in memory if t >= duration * 0.2]
    after_warmup, final = warm[0], warm[-1]
    growth = (max(warm[len(warm) // 2 :]) - after_warmup) / after_warmup
    total = sum(len(v) for v in stats.values())
    print(f"\n{clients} clients, {duration:.0f} s: {total} requests, {len(errors)} errors, {total / duration:.1f} req/s")
    print("| route | requests | p50 ms | p99 ms |\n| --- | --- | --- | --- |")
    for route, lat in sorted(stats.items()):
        q = statistics.quantiles(lat, n=100)
        print(f"| {route} | {len(lat)} | {statistics.median(lat) * 1000:.0f} | {q[98] * 1000:.0f} |")
    print(f"memory (MiB): before {memory[0][1]:.0f}, after warm-up {after_warmup:.0f}, end {final:.0f}, "
          f"growth after warm-up {growth * 100:+.1f}%")
    print(f"determinism: {len(checks)} checks of GET {FIXED[0]}?{FIXED[1]} during load, {len(mismatches)} mismatches")
    for e in errors[:10]:
        print("error:", e)
    return 1 if errors or mismatches or growth >= 0.10 else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--duration", type=float, default=180.0, help="seconds of load (bounded: at most 1800)")
    p.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "1")))
    args = p.parse_args()
    duration = min(args.duration, 1800)
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "HOST": "127.0.0.1", "PORT": str(port), "WORKERS": str(args.workers)}
    # The production entry point, as `make run` and the container start it; its JSON access log goes to a file.
    log = open(REPO / "runs" / "load_server.log", "w") if (REPO / "runs").is_dir() else subprocess.DEVNULL
    server = subprocess.Popen([sys.executable, "-m", "app"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            print("server did not become ready")
            return 1
        return asyncio.run(drive(base, args.clients, duration, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
