"""HTTP tests for /poem and /poem/stream against the real app and the committed model."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import ARTIFACTS

PROMPT = "Forsooth this maketh no sense"

# These tests check outputs, not back-pressure (tests/test_generation_slots.py does): a generous slot wait keeps the
# concurrent ones from turning into 503s on a busy machine.
QUEUE_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(artifact_dir=ARTIFACTS, queue_timeout_s=QUEUE_TIMEOUT_S))) as c:
        yield c


def parse_sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_poem_default_400_and_identical(client):
    a = client.get("/poem", params={"prompt": PROMPT, "seed": 1})
    assert a.status_code == 200
    body = a.json()
    assert body["prompt"] == PROMPT.lower() and len(body["continuation"]) == 400
    assert body["poem"] == body["prompt"] + body["continuation"] and body["seed"] == 1 and body["mode"] == "window"
    assert client.get("/poem", params={"prompt": PROMPT, "seed": 1}).content == a.content


def test_seed_chosen_and_reproducible(client):
    body = client.get("/poem", params={"length": 30}).json()
    assert client.get("/poem", params={"length": 30, "seed": body["seed"]}).json() == body


@pytest.mark.parametrize("mode", ["window", "stateful"])
def test_stream_matches_poem(client, mode):
    params = {"prompt": "Shall I", "seed": 7, "length": 60, "mode": mode}
    plain = client.get("/poem", params=params).json()
    r = client.get("/poem/stream", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert events[0][0] == "start" and events[0][1]["seed"] == 7
    chars = [d["c"] for e, d in events if e == "char"]
    assert len(chars) == 60 and "".join(chars) == plain["continuation"]
    done = events[-1]
    assert done[0] == "done" and done[1]["characters"] == 60 and done[1]["poem"] == plain["poem"]


def test_concurrent_requests_same_output(client):
    params = {"prompt": "my love", "seed": 3, "length": 80}
    expected = client.get("/poem", params=params).content
    with ThreadPoolExecutor(6) as pool:
        outs = list(pool.map(lambda _: client.get("/poem", params=params).content, range(12)))
    assert outs == [expected] * 12


@pytest.mark.parametrize("prompt", ["", "a" * 40, "a" * 41, "ab " * 333 + "a", "Upper CASE"])
def test_prompt_lengths(client, prompt):
    r = client.get("/poem", params={"prompt": prompt, "seed": 2, "length": 10})
    assert r.status_code == 200 and r.json()["prompt"] == prompt.lower()


@pytest.mark.parametrize("params, param", [
    ({"prompt": "year 1609"}, "prompt"), ({"prompt": "tab\t"}, "prompt"), ({"prompt": "café"}, "prompt"),
    ({"prompt": "“hi”"}, "prompt"), ({"prompt": "🦖"}, "prompt"), ({"prompt": "\x00"}, "prompt"),
    ({"prompt": "İ"}, "prompt"), ({"prompt": "a" * 2001}, "prompt"),
    ({"length": 0}, "length"), ({"length": -1}, "length"), ({"length": 10**9}, "length"), ({"length": 2001}, "length"),
    ({"temperature": "nan"}, "temperature"), ({"temperature": "inf"}, "temperature"), ({"temperature": -1}, "temperature"),
    ({"seed": -5}, "seed"), ({"seed": 2**64}, "seed"), ({"mode": "fast"}, "mode"),
])
def test_bad_input_422(client, params, param):
    for route in ("/poem", "/poem/stream"):
        r = client.get(route, params=params)
        assert r.status_code == 422, (route, r.text)
        assert any(d["param"] == param for d in r.json()["detail"])


def test_unknown_characters_listed_with_allowed_set(client):
    msg = client.get("/poem", params={"prompt": "in 1609, ü"}).json()["detail"][0]["message"]
    assert "'1'" in msg and "'6'" in msg and "'ü'" in msg and "abcdefghijklmnopqrstuvwxyz" in msg
    msg = client.get("/poem", params={"prompt": "\u212aing İ"}).json()["detail"][0]["message"]
    assert msg.startswith("characters outside the vocabulary: '\u212a', 'İ';"), msg  # not folded to "k" and "i̇"


def test_readyz_and_info_cover_poem(client):
    assert client.get("/readyz").json()["models"]["poem"] == "loaded"
    poem = client.get("/info").json()["poem"]
    assert poem["held_out_nll"] <= 1.80 and poem["recurrent_activation"] == "sigmoid"


def test_missing_poem_model_is_503_and_names_still_work(artifact_copy):
    (artifact_copy / "sonnets.keras").unlink()
    with TestClient(create_app(Settings(artifact_dir=artifact_copy))) as c:
        for route in ("/poem", "/poem/stream"):
            r = c.get(route)
            assert r.status_code == 503 and "sonnets.keras" in r.json()["error"]
        assert c.get("/names", params={"seed": 1}).status_code == 200
        assert c.get("/readyz").status_code == 503


def test_legacy_h5_setting(legacy_h5_path):
    with TestClient(create_app(Settings(artifact_dir=ARTIFACTS, poem_legacy_h5=legacy_h5_path))) as c:
        body = c.get("/poem", params={"prompt": PROMPT, "seed": 1, "length": 40}).json()
        assert body["model"] == "course-legacy" and len(body["continuation"]) == 40
        assert c.get("/info").json()["poem"]["recurrent_activation"] == "hard_sigmoid_keras2"
