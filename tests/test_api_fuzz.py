"""Every operation of /api/v1/openapi.json fuzzed by schemathesis, signed in as a volunteer:
whatever arrives, the answer is never a 5xx. A short run here; `make bench` runs a long one
(bench/api_fuzz.py). Invalid Unicode (lone surrogates, NUL) goes in through JSON escapes too."""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from starlette.applications import Starlette
from starlette.testclient import TestClient

from server.accounts import token_hash
from server.db import Database
from server.models import ApiToken
from server.web.dashboard import new_token

from .conftest import World, csrf, login

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
REPORT = os.environ.get("FUZZ_REPORT")  # bench/api_fuzz.py collects the statuses here
STATUSES: Counter[str] = Counter()


@pytest.fixture
def signed_in(app: Starlette, world: World) -> dict[str, str]:
    """A volunteer's cookies and CSRF header, as the field app sends them."""
    with TestClient(app, follow_redirects=False) as client:
        login(client, world.phone("vol_a"))
        token = csrf(client)
        cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return {"Cookie": cookies, "X-CSRF-Token": token}


@pytest.fixture
def api_key(db: Database, world: World) -> str:
    """A data-warehouse key of the admin's province, for /api/v1/indicators."""
    key = new_token()
    with db.write() as s:
        s.add(ApiToken(province_code="24", name="Kho dữ liệu", token_hash=token_hash(key)))
    return key


def _count(operation: str, status: int) -> None:
    STATUSES[f"{operation} {status}"] += 1
    if REPORT:
        Path(REPORT).write_text(json.dumps(STATUSES), encoding="utf-8")


def test_no_request_gets_a_server_error(
    app: Starlette, signed_in: dict[str, str], api_key: str
) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7  # every route under /api/ with a description

    signed_in = {**signed_in, "Authorization": f"Bearer {api_key}"}  # cookies for the rest
    for operation, mode in itertools.product(operations, GenerationMode):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=not REPORT,  # the same cases in every `make test`; new ones in the bench
        )
        @given(case=operation.as_strategy(mode))
        def call(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers={**(case.headers or {}), **signed_in})
            _count(f"{case.method} {case.path}", response.status_code)
            assert response.status_code < 500, (case.method, case.path, response.text[:300])

        try:
            call()
        except Unsatisfiable:  # no parameter and no body: there is no wrong request to make
            assert mode is GenerationMode.NEGATIVE


# Strings schemathesis does not make: lone surrogates and NUL, as JSON escapes.
BAD_TEXT = st.sampled_from(["\ud800", "a\udfffb", "\x00", "x\x00\ud83d", "\udc00\ud800"])
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | BAD_TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6) | BAD_TEXT, inner, max_size=3)
    ),
    max_leaves=8,
)
POSTS = ["/api/v1/sync", "/api/v1/push/subscribe", "/api/v1/push/unsubscribe"]
OP = {
    "op_id": "0190f3a0-0000-7000-8000-000000000001",
    "entity": "household",
    "id": "0190f3a0-0000-7000-8000-000000000002",
    "base_version": 0,
    "data": {"code": "A-1", "head_name": "Lan", "consent": True, "village_id": "x"},
}


def _shaped(bad: str) -> list[object]:
    """Bodies shaped like the real ones, with `bad` in each place in turn."""
    return [
        {"cursor": 0, "ops": [{**OP, "op_id": bad}]},
        {"cursor": 0, "ops": [{**OP, "entity": bad}]},
        {"cursor": 0, "ops": [{**OP, "data": {**OP["data"], "code": bad}}]},  # type: ignore[dict-item]
        {"cursor": 0, "ops": [{**OP, "data": {bad: 1}}]},
        {"cursor": 0, "member": bad, "ops": []},
        {bad: bad},
        {"endpoint": f"https://fcm.googleapis.com/{bad}", "keys": {"p256dh": bad, "auth": bad}},
    ]


def _post(client: TestClient, signed_in: dict[str, str], path: str, body: object) -> None:
    raw = json.dumps(body).encode()  # ensure_ascii: "\ud800" goes as an escape
    headers = {**signed_in, "Content-Type": "application/json"}
    response = client.post(path, content=raw, headers=headers)
    _count(f"POST {path} (bad text)", response.status_code)
    assert response.status_code < 500, (body, response.text[:300])


@pytest.mark.parametrize("path", POSTS)
def test_bad_text_in_each_place_of_a_real_body_is_never_a_server_error(
    client: TestClient, signed_in: dict[str, str], path: str
) -> None:
    for bad in ("\ud800", "\x00", "a\udfffb", "\udc00\ud800"):
        for body in _shaped(bad):
            _post(client, signed_in, path, body)


@settings(
    max_examples=EXAMPLES * 4,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not REPORT,
)
@given(body=JSON_VALUE, path=st.sampled_from(POSTS))
def test_any_json_with_bad_text_is_never_a_server_error(
    client: TestClient, signed_in: dict[str, str], body: object, path: str
) -> None:
    _post(client, signed_in, path, body)
