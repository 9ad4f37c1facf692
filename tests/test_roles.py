"""Every route × every kind of visitor → the expected status, checked on the server.

The table is keyed by the route table itself: a new route without an entry here fails
`test_every_route_has_an_entry`, so nobody can add a page and forget who may open it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from server import sync
from server.app import routes
from server.guides import load_guides

from .conftest import PASSWORD, World, csrf, login

WHO = ("anon", "vol_a", "vol_b", "coord_a", "coord_b", "admin")


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(WHO, status)


def roles(anon: int, vol: int, coord_a: int, coord_b: int, admin: int) -> dict[str, int]:
    return {
        "anon": anon,
        "vol_a": vol,
        "vol_b": vol,
        "coord_a": coord_a,
        "coord_b": coord_b,
        "admin": admin,
    }


STAFF_ONLY = roles(303, 403, 200, 200, 200)

# (method, path template) → ({param: value}, {who: status}). Values in <> come from `world`.
MATRIX: dict[tuple[str, str], tuple[dict[str, str], dict[str, int]]] = {
    ("GET", "/"): ({}, everyone(302)),
    ("GET", "/healthz"): ({}, everyone(200)),
    ("GET", "/favicon.ico"): ({}, everyone(200)),
    ("GET", "/language/{code}"): ({"code": "en"}, everyone(303)),
    ("GET", "/login"): ({}, roles(200, 303, 303, 303, 303)),
    ("POST", "/login"): ({}, everyone(400)),  # empty form: phone missing
    ("POST", "/logout"): ({}, everyone(303)),
    ("GET", "/setup"): ({}, everyone(404)),  # members exist: setup is gone
    ("POST", "/setup"): ({}, everyone(404)),
    ("GET", "/invite/{token}"): ({"token": "not-a-real-token"}, everyone(404)),
    ("POST", "/invite/{token}"): ({"token": "not-a-real-token"}, everyone(404)),
    ("GET", "/app"): ({}, everyone(200)),  # the shell: no data, cached for offline use
    ("GET", "/offline"): ({}, everyone(200)),
    ("GET", "/sw.js"): ({}, everyone(200)),
    ("GET", "/manifest.webmanifest"): ({}, everyone(200)),
    ("GET", "/console/"): ({}, roles(303, 403, 200, 200, 303)),
    ("GET", "/console/province"): ({}, roles(303, 403, 403, 403, 200)),
    ("POST", "/console/province"): ({}, roles(303, 403, 403, 403, 400)),
    ("POST", "/console/province/communes"): ({}, roles(303, 403, 403, 403, 400)),
    ("GET", "/console/members"): ({}, roles(303, 403, 200, 200, 404)),
    ("POST", "/console/members"): ({}, roles(303, 403, 400, 400, 404)),
    ("POST", "/console/members/{member_id}/{action}"): (
        {"member_id": "<vol_a>", "action": "invite"},
        roles(303, 403, 200, 404, 200),
    ),
    ("GET", "/console/villages"): ({}, roles(303, 403, 200, 200, 404)),
    ("POST", "/console/villages"): ({}, roles(303, 403, 400, 400, 404)),
    ("GET", "/console/villages/{village_id}"): (
        {"village_id": "<village_a>"},
        roles(303, 403, 200, 404, 200),
    ),
    ("POST", "/console/villages/{village_id}/{action}"): (
        {"village_id": "<village_a>", "action": "rename"},
        roles(303, 403, 400, 404, 400),
    ),
    ("GET", "/console/import"): ({}, roles(303, 403, 200, 200, 403)),
    ("POST", "/console/import"): ({}, roles(303, 403, 400, 400, 403)),  # no file
    ("GET", "/api/v1/me"): ({}, roles(401, 200, 200, 200, 200)),
    ("GET", "/api/v1/bootstrap"): ({}, roles(401, 200, 200, 200, 403)),  # admin: no commune
    ("POST", "/api/v1/sync"): ({}, roles(401, 400, 400, 400, 403)),  # a form, not JSON ops
    # push subscriptions (the matrix posts a form, not JSON: 400 for anyone signed in)
    ("GET", "/api/v1/push/key"): ({}, roles(401, 404, 404, 404, 404)),  # no VAPID keys in tests
    ("POST", "/api/v1/push/subscribe"): ({}, roles(401, 400, 400, 400, 400)),
    ("POST", "/api/v1/push/unsubscribe"): ({}, roles(401, 400, 400, 400, 400)),
    ("GET", "/api/v1/openapi.json"): ({}, everyone(200)),
    ("GET", "/{lang}/"): ({"lang": "vi"}, everyone(200)),
    ("GET", "/{lang}/glossary"): ({"lang": "en"}, everyone(200)),
    ("GET", "/{lang}/offline"): ({"lang": "en"}, everyone(200)),
    ("GET", "/{lang}/guides/{slug}"): ({"lang": "vi", "slug": "dung-zalo-an-toan"}, everyone(200)),
    ("GET", "/{lang}/guides/{slug}/poster"): (
        {"lang": "vi", "slug": "dung-zalo-an-toan"},
        everyone(200),
    ),
    ("GET", "/guides/{slug}/qr.svg"): ({"slug": "dung-zalo-an-toan"}, everyone(200)),
    ("POST", "/guides/{slug}/feedback"): ({"slug": "dung-zalo-an-toan"}, everyone(400)),  # empty
    # guide editor: the shared catalogue is the admin's; an empty form is refused (400)
    ("GET", "/console/guides"): ({}, STAFF_ONLY),
    ("GET", "/console/guides/new"): ({}, STAFF_ONLY),
    ("POST", "/console/guides/new"): ({}, roles(303, 403, 400, 400, 400)),
    ("GET", "/console/guides/{slug}/edit"): (
        {"slug": "dung-zalo-an-toan"},
        roles(303, 403, 403, 403, 200),
    ),
    ("POST", "/console/guides/{slug}/edit"): (
        {"slug": "dung-zalo-an-toan"},
        roles(303, 403, 403, 403, 400),
    ),
    ("GET", "/console/guides/{slug}/history"): (
        {"slug": "dung-zalo-an-toan"},
        roles(303, 403, 403, 403, 200),
    ),
    ("POST", "/console/guides/{slug}/restore"): (
        {"slug": "dung-zalo-an-toan"},
        roles(303, 403, 403, 403, 400),  # no version chosen
    ),
    ("GET", "/media/{name}"): ({"name": "0" * 32 + "-720.webp"}, everyone(404)),
    # sessions, households, follow-ups, exports, audit
    ("GET", "/console/sessions"): ({}, roles(303, 403, 200, 200, 404)),  # admin: no ?commune
    ("POST", "/console/sessions/approve"): ({}, roles(303, 403, 400, 400, 404)),  # none ticked
    ("GET", "/console/sessions/{session_id}"): (
        {"session_id": "<session_a>"},
        roles(303, 403, 200, 404, 200),
    ),
    ("POST", "/console/sessions/{session_id}/{action}"): (
        {"session_id": "<session_a>", "action": "return"},  # no comment
        roles(303, 403, 400, 404, 400),
    ),
    ("GET", "/console/follow-ups"): ({}, roles(303, 403, 200, 200, 404)),
    ("POST", "/console/follow-ups/{session_id}/{action}"): (
        {"session_id": "<session_a>", "action": "reassign"},  # nobody chosen
        roles(303, 403, 400, 404, 400),
    ),
    ("GET", "/console/households"): ({}, roles(303, 403, 200, 200, 404)),
    ("GET", "/console/households/{household_id}"): (
        {"household_id": "<household_a>"},
        roles(303, 403, 200, 404, 200),
    ),
    ("GET", "/console/households/{household_id}/card"): (
        {"household_id": "<household_a>"},
        roles(303, 403, 200, 404, 200),
    ),
    ("GET", "/console/households/{household_id}/export"): (
        {"household_id": "<household_a>"},
        roles(303, 403, 200, 404, 200),
    ),
    ("GET", "/console/households/{household_id}/export.json"): (
        {"household_id": "<household_a>"},
        roles(303, 403, 200, 404, 200),
    ),
    ("POST", "/console/households/{household_id}/erase"): (
        {"household_id": "<household_a>"},  # not confirmed
        roles(303, 403, 400, 404, 400),
    ),
    ("GET", "/console/exports"): ({}, roles(303, 403, 200, 200, 404)),
    ("GET", "/console/exports/{filename}"): (
        {"filename": "sessions.csv"},
        roles(303, 403, 200, 200, 404),
    ),
    ("GET", "/console/audit"): ({}, roles(303, 403, 200, 200, 404)),
    # dashboard, province roll-up, indicators API
    ("GET", "/console/province/communes/{code}"): (
        {"code": "07627"},  # commune A, in the admin's province
        roles(303, 403, 403, 403, 200),
    ),
    ("GET", "/console/province/tokens"): ({}, roles(303, 403, 403, 403, 200)),
    ("POST", "/console/province/tokens"): ({}, roles(303, 403, 403, 403, 400)),  # no name
    ("POST", "/console/province/tokens/{token_id}/revoke"): (
        {"token_id": "7a1b2c3d-0000-4000-8000-000000000000"},  # no such key
        roles(303, 403, 403, 403, 404),
    ),
    ("GET", "/api/v1/indicators"): ({}, everyone(401)),  # an API key, never a cookie
}


@pytest.fixture(autouse=True)
def guide_catalogue(request: pytest.FixtureRequest) -> None:
    """Guide pages need the shipped guides in this test's database."""
    if "guides" in request.node.name:
        with request.getfixturevalue("db").write() as session:
            load_guides(session)


@pytest.fixture(autouse=True)
def console_records(request: pytest.FixtureRequest) -> None:
    """Session and household pages need a session (with a follow-up) and a household of
    commune A, logged by its volunteer through sync; `world` carries their ids."""
    if "{session_id}" not in request.node.name and "{household_id}" not in request.node.name:
        return
    world = request.getfixturevalue("world")
    household, record = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    ops = [
        {
            "op_id": str(uuid.uuid4()),
            "entity": "household",
            "id": str(household),
            "base_version": 0,
            "data": {
                "village_id": str(world.village_a),
                "code": "A-100",
                "head_name": "Nguyễn Thị Lan",
                "consent": True,
                "skills": [],
            },
        },
        {
            "op_id": str(uuid.uuid4()),
            "entity": "session",
            "id": str(record),
            "base_version": 0,
            "data": {
                "household_id": str(household),
                "village_id": str(world.village_a),
                "occurred_at": (now - timedelta(hours=1)).isoformat(),
                "minutes": 10,
                "people_helped": 1,
                "services": [{"service": "vneid_install", "outcome": "done"}],
                "follow_up_on": (now + timedelta(days=2)).date().isoformat(),
            },
        },
    ]
    with request.getfixturevalue("db").write() as session:
        results = sync.apply_ops(session, world.vol_a, ops)
    assert [r.status for r in results] == ["applied", "applied"]
    world.household_a, world.session_a = household, record


def route_keys() -> set[tuple[str, str]]:
    keys = set()
    for route in routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    keys.add((method, route.path))
    return keys


def test_every_route_has_an_entry() -> None:
    assert route_keys() - set(MATRIX) == set(), "add the new route to MATRIX"
    assert set(MATRIX) - route_keys() == set(), "MATRIX names a route that no longer exists"


CASES = [(m, p, who) for (m, p) in sorted(MATRIX) for who in WHO]


@pytest.mark.parametrize(("method", "template", "who"), CASES)
def test_role_matrix(
    client: TestClient, world: World, method: str, template: str, who: str
) -> None:
    params, expected = MATRIX[(method, template)]
    if who != "anon":
        login(client, world.phone(who), PASSWORD)
    path = template
    for name, value in params.items():
        if value.startswith("<"):
            obj = getattr(world, value.strip("<>"))
            value = str(getattr(obj, "id", obj))
        path = path.replace("{" + name + "}", value).replace("{" + name + ":str}", value)
    if method == "GET":
        response = client.get(path)
        # HEAD (link checkers, some proxies) answers as GET does, without a body.
        head = client.head(path)
        assert head.status_code == response.status_code and head.content == b"", "HEAD"
    else:
        response = client.post(path, data={"csrf_token": csrf(client)})
    assert response.status_code == expected[who], response.text[:500]
    assert "Traceback" not in response.text
