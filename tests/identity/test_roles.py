"""The role table, driven from the route table: every route × method × caller.

Routes added later are picked up automatically: the matrix is built from `build_routes()`.
"""
from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from core.security import ROLE_RANK, Principal, role_at_least
from handlers.base import BaseHandler
from handlers.routes import build_routes
from models import Line, User
from services.identity.station_tokens import mint_station_token

CALLERS = (None, "user", "admin", "super_admin")
MISSING_ID = "999999"
ID = "{id}"


def route_access(spec) -> dict[str, str | None]:
    return (spec.kwargs or {}).get("access") or getattr(spec.handler_class, "access", {})


def concrete_path(spec, value: str) -> str:
    """The route's path with every group replaced by `value`."""
    return unquote(spec.reverse(*[value] * spec.regex.groups))


ROUTES = build_routes()
MATRIX = [
    pytest.param(spec, method, required, id=f"{method} {concrete_path(spec, ID)}")
    for spec in ROUTES
    for method, required in route_access(spec).items()
]


async def fresh_token(app, role: str, kind: str = "login") -> str:
    """A token of its own for every request, so a route that revokes one (logout) spoils nothing."""
    async with app.ctx.db.session() as session:
        user = (await session.execute(select(User).where(User.username == f"test_{role}"))).scalar_one()
    if kind == "display":
        principal = Principal(user.id, user.username, user.role, 0, "login")
        return (await app.ctx.auth.mint_display_token(principal, "role matrix", 1))["token"]
    if kind == "station":
        async with app.ctx.db.write() as uow:
            if not await uow.session.scalar(select(Line.id).where(Line.code == "MX1")):
                uow.session.add(Line(code="MX1", name="Matrix line", active=True))
        principal = Principal(user.id, user.username, user.role, 0, "login")
        return (await mint_station_token(app.ctx.auth, principal, "role matrix", ["MX1"], 1))["token"]
    return (await app.ctx.auth.login(user))["access_token"]


async def call(api, app, spec, method, caller, kind="login"):
    token = await fresh_token(app, caller, kind) if caller else None
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await api.request(method, concrete_path(spec, MISSING_ID), json_body=body, token=token)


@pytest.mark.parametrize("spec, method, required", MATRIX)
async def test_role_matrix(app, api, spec, method, required):
    for caller in CALLERS:
        response = await call(api, app, spec, method, caller)
        who = caller or "anonymous"
        if required is None:
            assert response.status not in (401, 403), (who, response)
        elif caller is None:
            assert response.status == 401, (who, response)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        elif not role_at_least(caller, required):
            assert response.status == 403, (who, response)
            assert response.headers["Content-Type"].startswith("application/problem+json")
        else:
            assert response.status not in (401, 403), (who, response)
        assert response.status < 500, (who, response)
    if required is not None:
        # An admin's wall-display token reaches only the handlers that allow display tokens.
        response = await call(api, app, spec, method, "admin", kind="display")
        if spec.handler_class.allow_display and role_at_least("admin", required):
            assert response.status not in (401, 403), ("display", response)
        else:
            assert response.status == 403, ("display", response)
        # An admin's station token acts as a user, and only on the routes and methods listed for
        # stations (its writes on other lines are refused too: see tests/identity/test_station_tokens.py).
        response = await call(api, app, spec, method, "admin", kind="station")
        station = (spec.kwargs or {}).get("station", spec.handler_class.allow_station)
        if method not in station or not role_at_least("user", required):
            assert response.status == 403, ("station", response)
        else:
            assert response.status != 401 and response.status < 500, ("station", response)


# -- the declared access matches the documented role table -------------------------------------

ADMIN_WRITES = {"PATCH": "admin", "PUT": "admin", "DELETE": "admin"}
DOCUMENTED_ACCESS: dict[str, dict[str, str | None]] = {
    "/healthz": {"GET": None},
    "/readyz": {"GET": None},
    "/auth/login": {"POST": None},
    "/login": {"POST": None},
    "/auth/refresh": {"POST": None},
    "/auth/logout": {"POST": "user"},
    "/auth/me": {"GET": "user"},
    "/auth/display-tokens": {"GET": "admin", "POST": "admin"},
    "/auth/display-tokens/{id}": {"DELETE": "admin"},
    "/auth/station-tokens": {"GET": "admin", "POST": "admin"},
    "/auth/station-tokens/{id}": {"DELETE": "admin"},
    # andon calls: anyone at a line raises and answers them; the report is admin's
    "/lines/{id}/calls": {"POST": "user"},
    "/calls": {"GET": "user"},
    "/calls/{id}": {"GET": "user"},
    "/calls/{id}/acknowledge": {"POST": "user"},
    "/calls/{id}/resolve": {"POST": "user"},
    # manage users and roles: super_admin only
    "/users": {"GET": "super_admin", "POST": "super_admin"},
    "/users/{id}": {"GET": "super_admin", "PATCH": "super_admin", "PUT": "super_admin",
                    "DELETE": "super_admin"},
    # read employees; create/update/delete anything but users: admin
    "/employees": {"GET": "admin", "POST": "admin"},
    "/employees/{id}": {"GET": "admin", **ADMIN_WRITES},
    # read products, customers, orders, production: user
    "/products": {"GET": "user", "POST": "admin"},
    "/products/{id}": {"GET": "user", **ADMIN_WRITES},
    "/customers": {"GET": "user", "POST": "admin"},
    "/customers/{id}": {"GET": "user", **ADMIN_WRITES},
    "/products/{id}/stock-adjustments": {"POST": "admin"},
    "/products/{id}/stock-movements": {"GET": "user"},
    # place orders, record production: user
    "/orders": {"GET": "user", "POST": "user"},
    "/orders/{id}": {"GET": "user", **ADMIN_WRITES},
    "/production": {"GET": "user", "POST": "user"},
    "/production/{id}": {"GET": "user", **ADMIN_WRITES},
    # bulk creation is "create anything but users": admin
    **{f"/imports/{name}": {"POST": "admin"}
       for name in ("products", "customers", "employees", "orders", "production")},
}
FOUNDATION = ("/auth/login", "/login", "/auth/refresh", "/auth/logout", "/auth/me", "/users", "/users/{id}",
              "/employees", "/employees/{id}", "/products", "/products/{id}", "/customers",
              "/customers/{id}")


def declared() -> dict[str, dict[str, str | None]]:
    return {concrete_path(spec, ID): route_access(spec) for spec in ROUTES}


def test_foundation_routes_exist():
    assert set(FOUNDATION) <= set(declared())


@pytest.mark.parametrize("path", sorted(DOCUMENTED_ACCESS))
def test_declared_access_matches_the_design(path):
    routes = declared()
    if path not in routes:
        pytest.skip(f"{path} is not in the route table yet")
    assert routes[path] == DOCUMENTED_ACCESS[path]


def test_analytics_is_admin_only():
    for path, access in declared().items():
        if path.startswith("/analytics"):
            assert access == {"GET": "admin"}, path


def test_every_route_goes_through_the_base_handler_with_known_roles():
    for spec in ROUTES:
        assert issubclass(spec.handler_class, BaseHandler), spec.regex.pattern
        access = route_access(spec)
        assert access, f"{spec.regex.pattern} declares no methods"
        for method, role in access.items():
            assert re.fullmatch(r"GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS", method), spec.regex.pattern
            assert role is None or role in ROLE_RANK, (spec.regex.pattern, method, role)


def test_role_hierarchy():
    assert role_at_least("super_admin", "admin") and role_at_least("super_admin", "user")
    assert role_at_least("admin", "user") and not role_at_least("admin", "super_admin")
    assert not role_at_least("user", "admin") and not role_at_least(None, "user")
