"""/metrics in Prometheus format, request ids, and JSON access logs."""

from __future__ import annotations

import json
import logging
import os
import time

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(artifact_dir=ARTIFACTS))) as c:
        yield c


def _value(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def test_metrics_count_requests_names_and_characters(client):
    before = client.get("/metrics").text
    client.get("/names", params={"count": 4, "seed": 1})
    client.get("/poem", params={"length": 25, "seed": 1, "mode": "stateful"})
    client.get("/names", params={"count": 0})
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text
    ok = 'http_requests_total{method="GET",route="/names",status="200"}'
    bad = 'http_requests_total{method="GET",route="/names",status="422"}'
    assert _value(after, ok) - _value(before, ok) == 1 and _value(after, bad) - _value(before, bad) == 1
    assert _value(after, 'names_generated_total{model="dinos-gru"}') - _value(before, 'names_generated_total{model="dinos-gru"}') == 4
    assert _value(after, 'poem_characters_generated_total{mode="stateful"}') - _value(before, 'poem_characters_generated_total{mode="stateful"}') == 25
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/names",status="200"}' in after
    assert "http_requests_in_flight" in after and 'model_load_seconds{model="poem"}' in after


def test_request_id_echoed_or_created(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert r.headers["x-request-id"] != "bad id\nwith newline" and len(r.headers["x-request-id"]) == 32


def test_json_access_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get("/names", params={"count": 1, "seed": 2}, headers={"X-Request-ID": "req-7"})
    entries = [json.loads(r.getMessage()) for r in caplog.records if r.name == "app.access"]
    entry = next(e for e in entries if e["request_id"] == "req-7")
    assert entry["route"] == "/names" and entry["status"] == 200 and entry["duration_ms"] >= 0


def test_a_killed_worker_not_yet_reaped_counts_as_dead():
    """The in-flight gauge of a dead worker is dropped even while it is a zombie its supervisor has not reaped."""
    import subprocess

    from app.observability import _alive

    child = subprocess.Popen(["sleep", "0"])
    deadline = time.monotonic() + 10
    while _alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _alive(child.pid)  # exited, not yet waited for: a zombie
    assert child.poll() == 0  # reaped only now
    assert _alive(os.getpid())
