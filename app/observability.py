"""Prometheus metrics and structured JSON access logs with request ids, as one pure ASGI middleware.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched and are timed to their last byte.
With several workers, set PROMETHEUS_MULTIPROC_DIR to an empty writable directory to aggregate across them.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import time
import uuid

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

REQUESTS = Counter("http_requests_total", "HTTP requests by route, method and status", ["route", "method", "status"])
LATENCY = Histogram("http_request_duration_seconds", "Request latency (to the last byte) by route and status",
                    ["route", "method", "status"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being served", multiprocess_mode="livesum")
NAMES_GENERATED = Counter("names_generated_total", "Dinosaur names returned", ["model"])
CHARS_GENERATED = Counter("poem_characters_generated_total", "Poem characters generated", ["mode"])
MODEL_LOAD_SECONDS = Gauge("model_load_seconds", "Time to load each model at startup", ["model"], multiprocess_mode="max")

access_log = logging.getLogger("app.access")
MAX_QUERY_BYTES = 32 * 1024  # every schema-valid request fits (2,000 characters percent-encoded: at most 24,000 bytes);
# below uvicorn's own ~64 KiB request-line limit (a plain-text 400), so longer queries get this JSON 414 instead
_FRAMEWORK_PAGES = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # accept a caller's id only if it is safe to log and echo


def _forget_dead_workers(directory: str) -> None:
    """Drop the live gauges (in-flight requests) of worker processes that died without cleaning up, e.g. a worker
    killed mid-request: their files would otherwise keep counting its requests as in flight for ever."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)


def _alive(pid: int) -> bool:
    """Running (a killed worker that its supervisor has not reaped yet is a zombie: dead, though it has a pid)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # the state follows the parenthesised command
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # alive, under another user
        return True


def metrics_payload() -> tuple[bytes, str]:
    if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _forget_dead_workers(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class ObservabilityMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500
        sent_bytes = 0

        async def send_wrapper(message):
            nonlocal status, sent_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
            await send(message)

        IN_FLIGHT.inc()
        try:
            if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
                await _reject_long_query(send_wrapper, len(scope["query_string"]))
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None)  # the template, never raw paths
            if route is None:  # FastAPI's own pages (/docs, /openapi.json, ...) are named; anything else is not
                route = scope["path"] if scope["path"] in _FRAMEWORK_PAGES and status < 400 else "unmatched"
            labels = (route, scope["method"], str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(elapsed)
            access_log.info(json.dumps({
                "event": "access", "request_id": request_id, "method": scope["method"], "path": scope["path"],
                "route": route, "status": status, "duration_ms": round(elapsed * 1000, 2), "bytes": sent_bytes,
                "client": (scope.get("client") or [None])[0],
            }))


async def _reject_long_query(send, size: int) -> None:
    body = json.dumps({"error": "query string too long", "detail": [
        {"param": "query string", "message": f"{size} bytes; at most {MAX_QUERY_BYTES} are accepted"}]}).encode()
    await send({"type": "http.response.start", "status": 414,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
