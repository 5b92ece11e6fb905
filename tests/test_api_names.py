"""HTTP tests for /names, /names/score and the operations routes, against the real app and committed models."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.conftest import ARTIFACTS

# These tests check outputs, not back-pressure (tests/test_generation_slots.py does): a generous slot wait keeps the
# concurrent ones from turning into 503s on a busy machine.
QUEUE_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(artifact_dir=ARTIFACTS, queue_timeout_s=QUEUE_TIMEOUT_S))) as c:
        yield c


def test_names_default(client):
    r = client.get("/names", params={"seed": 42})
    assert r.status_code == 200
    body = r.json()
    assert body["seed"] == 42 and body["model"] == "dinos-gru" and body["complete"] and len(body["names"]) == 10
    for n in body["names"]:
        assert n["name"][0].isupper() and n["name"][1:].islower() and n["name"].isalpha()
        assert n["log_likelihood"] < 0 and n["nll_per_char"] == pytest.approx(-n["log_likelihood"] / (len(n["name"]) + 1))


def test_same_seed_identical_json_and_seed_returned(client):
    a = client.get("/names", params={"count": 5, "seed": 42}).content
    b = client.get("/names", params={"count": 5, "seed": 42}).content
    assert a == b
    r = client.get("/names", params={"count": 3}).json()
    again = client.get("/names", params={"count": 3, "seed": r["seed"]}).json()
    assert again == r


def test_identical_under_concurrency(client):
    expected = client.get("/names", params={"count": 20, "seed": 9, "prefix": "a"}).content
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.get("/names", params={"count": 20, "seed": 9, "prefix": "a"}).content, range(24)))
    assert all(r == expected for r in results)


def test_constraints_respected(client):
    body = client.get("/names", params={"count": 25, "seed": 3, "prefix": "Rap", "min_length": 6, "max_length": 10,
                                        "exclude_known": True}).json()
    assert body["complete"] and len(body["names"]) == 25
    for n in body["names"]:
        assert n["name"].startswith("Rap") and 6 <= len(n["name"]) <= 10 and n["known"] is False
    assert len({n["name"] for n in body["names"]}) == 25


def test_known_flag_matches_score(client):
    body = client.get("/names", params={"count": 50, "seed": 5, "temperature": 0.5}).json()
    for n in body["names"][:10]:
        s = client.get("/names/score", params={"name": n["name"]}).json()
        assert s["known"] == n["known"] and s["log_likelihood"] == pytest.approx(n["log_likelihood"], rel=1e-9)


def test_temperature_zero_single_greedy_name(client):
    body = client.get("/names", params={"count": 3, "temperature": 0, "seed": 1}).json()
    assert len(body["names"]) == 1 and not body["complete"] and "found 1 of 3 distinct names meeting the constraints in 1 attempt;" in body["message"]


@pytest.mark.parametrize("model, budget", [("dinos", 20_000), ("dinos-gru", 2_000)])
def test_impossible_request_reports_shortfall_not_hang(client, model, budget):
    # Only one distinct name can satisfy this (the prefix itself, ended at once): no hang, a clear shortfall, and
    # the work stays within the budget (a tenth of it for the costlier GRU).
    params = {"count": 5, "prefix": "a" * 50, "min_length": 50, "max_length": 50, "seed": 1, "model": model}
    body = client.get("/names", params=params).json()
    assert body["complete"] is False and len(body["names"]) <= 1 and 64 <= body["attempts"] <= budget
    assert "found" in body["message"] and "relax" in body["message"]


@pytest.mark.parametrize("model", ["dinos", "dinos-gru"])
@pytest.mark.parametrize("count", [10, 100])
def test_near_zero_temperature_stops_when_it_only_repeats(client, model, count):
    """temperature 1e-300 is greedy in all but name: one distinct name, found fast instead of the whole budget."""
    greedy = client.get("/names", params={"count": count, "temperature": 0, "seed": 5, "model": model}).json()
    tiny = client.get("/names", params={"count": count, "temperature": 1e-300, "seed": 5, "model": model}).json()
    assert [n["name"] for n in tiny["names"]] == [n["name"] for n in greedy["names"]]
    assert tiny["complete"] is False and tiny["attempts"] < 1000


def test_hard_constrained_request_is_bounded_for_the_gru(client):
    params = {"count": 100, "min_length": 20, "max_length": 20, "exclude_known": "true", "seed": 100}
    body = client.get("/names", params=params).json()
    assert body["attempts"] <= 2_000 and body["model"] == "dinos-gru"


def test_empty_model_is_an_unknown_model(client):
    r = client.get("/names", params={"model": ""})
    assert r.status_code == 422 and r.json()["detail"][0]["param"] == "model" and "available" in r.json()["detail"][0]["message"]


def test_score(client):
    r = client.get("/names/score", params={"name": "Tyrannosaurus"}).json()
    assert r["known"] is True and len(r["char_log_probs"]) == 14
    assert r["nll_per_char"] == pytest.approx(-sum(r["char_log_probs"]) / 14)


@pytest.mark.parametrize("params, param", [
    ({"count": 0}, "count"), ({"count": 101}, "count"), ({"count": -1}, "count"), ({"count": 10**9}, "count"),
    ({"count": "ten"}, "count"), ({"count": 2.5}, "count"),
    ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed"), ({"seed": 2**64}, "seed"), ({"seed": "1.5"}, "seed"),
    ({"temperature": "nan"}, "temperature"), ({"temperature": "inf"}, "temperature"), ({"temperature": "-inf"}, "temperature"),
    ({"temperature": -0.1}, "temperature"), ({"temperature": 11}, "temperature"),
    ({"max_length": 0}, "max_length"), ({"max_length": 51}, "max_length"), ({"min_length": 0}, "min_length"),
    ({"min_length": 8, "max_length": 5}, "min_length"),
    ({"prefix": "t1"}, "prefix"), ({"prefix": "tÿ"}, "prefix"), ({"prefix": "a b"}, "prefix"), ({"prefix": "İ"}, "prefix"),
    ({"prefix": "\u212aa"}, "prefix"), ({"prefix": "🦖"}, "prefix"), ({"prefix": "a\x00"}, "prefix"), ({"prefix": "x" * 51}, "prefix"),
    ({"prefix": "abcdef", "max_length": 5}, "prefix"),
    ({"exclude_known": "maybe"}, "exclude_known"), ({"model": "nope"}, "model"),
])
def test_bad_input_is_422_naming_the_parameter(client, params, param):
    r = client.get("/names", params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] and any(d["param"] == param for d in body["detail"]), body


def test_look_alike_letters_are_named_as_typed(client):
    """Only A-Z are folded: the Kelvin sign (which str.lower() turns into "k") and "İ" are refused as themselves."""
    for prefix, shown in (("\u212aa", "'\u212a'"), ("Tİ", "'İ'")):
        msg = client.get("/names", params={"prefix": prefix}).json()["detail"][0]["message"]
        assert msg.startswith(f"characters outside the vocabulary: {shown};"), msg
    assert client.get("/names", params={"prefix": "TRI", "seed": 1}).json()["names"][0]["name"].startswith("Tri")


def test_422_message_names_range_and_characters(client):
    msg = client.get("/names", params={"count": 500}).json()["detail"][0]["message"]
    assert "allowed: 1 to 100" in msg
    assert "allowed: 1 to 100" in client.get("/names", params={"count": 0}).json()["detail"][0]["message"]
    assert "allowed: 0 to 4294967295" in client.get("/names", params={"seed": "x"}).json()["detail"][0]["message"]
    msg = client.get("/names", params={"prefix": "ab7"}).json()["detail"][0]["message"]
    assert "'7'" in msg and "a-z" in msg


@pytest.mark.parametrize("name", ["", "x" * 51, "t-rex", "Ümlaut"])
def test_score_bad_input(client, name):
    r = client.get("/names/score", params={"name": name})
    assert r.status_code == 422 and r.json()["detail"][0]["param"] == "name"


def test_health_ready_info(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    models = ready.json()["models"]
    assert ready.status_code == 200 and models["names:dinos"] == models["names:dinos-gru"] == "loaded"
    info = client.get("/info").json()
    assert info["names"]["dinos"]["vocab"] == "\nabcdefghijklmnopqrstuvwxyz" and info["default_names_model"] == "dinos-gru"
    assert info["names"]["dinos-gru"]["held_out_nll"] <= 1.55  # the default is the better recipe


def test_openapi_documents_bounds_and_examples(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/names"]["get"]["parameters"]}
    assert params["count"]["schema"]["maximum"] == 100 and params["count"]["schema"]["minimum"] == 1
    assert params["seed"]["schema"]["anyOf"][0]["maximum"] == 2**32 - 1
    for name, p in params.items():
        assert p.get("description") and (p.get("examples") or p["schema"].get("examples") or name == "exclude_known"), name
    assert client.get("/docs").status_code == 200


def test_broken_default_model_gives_503_on_names_only(artifact_copy):
    (artifact_copy / "dinos-gru.npz").write_bytes(b"garbage")
    with TestClient(create_app(Settings(artifact_dir=artifact_copy))) as c:
        r = c.get("/names")
        assert r.status_code == 503 and "dinos-gru.npz" in r.json()["error"] and "sha256" in r.json()["error"]
        assert c.get("/names", params={"model": "dinos"}).status_code == 200  # the other model still serves
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "sha256" in json.dumps(ready.json())


def test_framework_errors_share_the_error_shape(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Not Found", "detail": []}
    r = client.post("/names")
    assert r.status_code == 405 and r.json()["error"] == "Method Not Allowed"
    assert client.head("/healthz").status_code == 200 and client.head("/readyz").status_code == 200


def test_greedy_names_stop_after_one_batch(client):
    body = client.get("/names", params={"count": 100, "temperature": 0, "seed": 1}).json()
    assert len(body["names"]) == 1 and body["attempts"] == 1 and not body["complete"]


def test_names_split_between_event_loop_and_thread_match_a_direct_call(client):
    """The RNN's first batch runs inline, later batches in a worker thread: same names as one direct call."""
    from model_core import names_artifact

    params = {"model": "dinos", "count": 20, "seed": 5, "prefix": "q", "min_length": 12, "exclude_known": "true"}
    body = client.get("/names", params=params).json()
    model = names_artifact.load(ARTIFACTS, "dinos")[0]
    direct = model.sample(20, np.random.default_rng(5), prefix="q", min_length=12, exclude_known=True)
    assert body["attempts"] == direct.attempts > 22
    assert [n["name"] for n in body["names"]] == [s.name.capitalize() for s in direct.names]
