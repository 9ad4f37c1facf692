"""Every route × every kind of visitor → the expected status, checked on the server.

The table is keyed by the route table itself: a new route without an entry here fails
`test_every_route_has_an_entry`, so nobody can add a page and forget who may open it.
"""

from __future__ import annotations

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

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
    ("GET", "/api/v1/openapi.json"): ({}, everyone(200)),
    ("GET", "/{lang}/"): ({"lang": "vi"}, everyone(200)),
    ("GET", "/{lang}/guides/{slug}"): ({"lang": "vi", "slug": "dung-zalo-an-toan"}, everyone(200)),
    ("GET", "/{lang}/guides/{slug}/poster"): (
        {"lang": "vi", "slug": "dung-zalo-an-toan"},
        everyone(200),
    ),
    ("GET", "/guides/{slug}/qr.svg"): ({"slug": "dung-zalo-an-toan"}, everyone(200)),
    ("POST", "/guides/{slug}/feedback"): ({"slug": "dung-zalo-an-toan"}, everyone(400)),  # empty
}


@pytest.fixture(autouse=True)
def guide_catalogue(request: pytest.FixtureRequest) -> None:
    """Guide pages need the shipped guides in this test's database."""
    if "guides" in request.node.name:
        with request.getfixturevalue("db").write() as session:
            load_guides(session)


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
    else:
        response = client.post(path, data={"csrf_token": csrf(client)})
    assert response.status_code == expected[who], response.text[:500]
    assert "Traceback" not in response.text
