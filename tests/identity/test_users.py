"""/users: super_admin CRUD, write-only passwords, unique usernames, self-protection."""
from __future__ import annotations

import pytest

from core.errors import Conflict
from services.identity.users import UserService
from tests.conftest import PASSWORDS

USER_FIELDS = {"id", "username", "role", "is_active", "created_at", "updated_at"}


async def my_id(api, role):
    return (await api.get("/auth/me", role=role)).json["id"]


async def login_status(api, username, password):
    return (await api.post("/auth/login", {"username": username, "password": password})).status


async def create_user(api, username="operator1", password="operator-pass-1", **extra):
    return await api.create("users", {"username": username, "password": password, **extra},
                            role="super_admin")


def assert_no_secrets(response):
    text = response.body.decode()
    assert "password" not in text
    assert "scrypt$" not in text
    assert "token_version" not in text


# -- create and read --------------------------------------------------------------------------

async def test_create_user(api):
    response = await api.post("/users", {"username": "operator1", "password": "operator-pass-1",
                                         "role": "admin"}, role="super_admin")
    assert response.status == 201
    user = response.json
    assert set(user) == USER_FIELDS
    assert response.headers["Location"] == f"/users/{user['id']}"
    assert user["username"] == "operator1"
    assert user["role"] == "admin"
    assert user["is_active"] is True
    assert user["created_at"].endswith("Z")
    assert_no_secrets(response)
    login = await api.post("/auth/login", {"username": "operator1", "password": "operator-pass-1"})
    assert login.status == 200


async def test_new_users_default_to_role_user_and_active(api):
    user = await create_user(api)
    assert user["role"] == "user"
    assert user["is_active"] is True


async def test_get_user_and_list(api):
    user = await create_user(api)
    item = await api.get(f"/users/{user['id']}", role="super_admin")
    assert item.status == 200
    assert item.json == user
    assert_no_secrets(item)
    listing = await api.get("/users", role="super_admin")
    assert listing.status == 200
    assert listing.json["meta"]["total"] == 4  # the three role users of the fixture, plus this one
    assert {u["username"] for u in listing.json["items"]} == {
        "test_user", "test_admin", "test_super_admin", "operator1"}
    assert all(set(u) == USER_FIELDS for u in listing.json["items"])
    assert_no_secrets(listing)


async def test_list_filters(api):
    await create_user(api, "clerk_a", role="admin")
    await create_user(api, "clerk_b", is_active=False)
    admins = (await api.get("/users?role=admin", role="super_admin")).json["items"]
    assert {u["username"] for u in admins} == {"test_admin", "clerk_a"}
    inactive = (await api.get("/users?is_active=false", role="super_admin")).json["items"]
    assert [u["username"] for u in inactive] == ["clerk_b"]
    found = (await api.get("/users?q=clerk", role="super_admin")).json["items"]
    assert {u["username"] for u in found} == {"clerk_a", "clerk_b"}
    by_name = (await api.get("/users?sort_by=username&sort_order=desc", role="super_admin")).json["items"]
    names = [u["username"] for u in by_name]
    assert names == sorted(names, reverse=True)
    assert (await api.get("/users?sort_by=password_hash", role="super_admin")).status == 400
    assert (await api.get("/users?role=boss", role="super_admin")).status == 400


async def test_unknown_user_is_404(api):
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        body = {"username": "x_user", "password": "whatever-1"} if method in ("PATCH", "PUT") else None
        response = await api.request(method, "/users/999999", json_body=body, role="super_admin")
        assert response.status == 404, method
        assert response.headers["Content-Type"].startswith("application/problem+json")


# -- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"password": "operator-pass-1"}, "username"),
    ({"username": "operator1"}, "password"),
    ({"username": "ab", "password": "operator-pass-1"}, "username"),
    ({"username": "has space", "password": "operator-pass-1"}, "username"),
    ({"username": "operator1", "password": "short"}, "password"),
    ({"username": "operator1", "password": 12345678}, "password"),
    ({"username": "operator1", "password": "operator-pass-1", "role": "boss"}, "role"),
    ({"username": "operator1", "password": "operator-pass-1", "is_active": "yes"}, "is_active"),
    ({"username": "operator1", "password": "operator-pass-1", "is_active": 1}, "is_active"),
    ({"username": "operator1", "password": "operator-pass-1", "password_hash": "x"}, "password_hash"),
    ({"username": "operator1", "password": "operator-pass-1", "token_version": 3}, "token_version"),
    ({"username": "operator1", "password": "operator-pass-1", "id": 77}, "id"),
])
async def test_invalid_user_is_422_naming_the_field(api, body, field):
    response = await api.post("/users", body, role="super_admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert_no_secrets_in_errors(response)


def assert_no_secrets_in_errors(response):
    assert "operator-pass-1" not in response.body.decode()


async def test_username_is_unique(api):
    await create_user(api, "operator1")
    response = await api.post("/users", {"username": "operator1", "password": "another-pass-1"},
                              role="super_admin")
    assert response.status == 409
    assert "username" in response.json["errors"]
    other = await create_user(api, "operator2")
    renamed = await api.patch(f"/users/{other['id']}", {"username": "operator1"}, role="super_admin")
    assert renamed.status == 409
    assert "username" in renamed.json["errors"]


async def test_username_uniqueness_ignores_case(api):
    # MariaDB compares case-insensitively; SQLite must answer the same.
    await create_user(api, "operator1")
    response = await api.post("/users", {"username": "OPERATOR1", "password": "another-pass-1"},
                              role="super_admin")
    assert response.status == 409
    assert "username" in response.json["errors"]


# -- update -----------------------------------------------------------------------------------

async def test_patch_user(api):
    user = await create_user(api)
    response = await api.patch(f"/users/{user['id']}", {"role": "admin", "is_active": False},
                               role="super_admin")
    assert response.status == 200
    assert response.json["role"] == "admin"
    assert response.json["is_active"] is False
    assert response.json["username"] == "operator1"
    assert_no_secrets(response)
    assert (await api.get(f"/users/{user['id']}", role="super_admin")).json == response.json


async def test_put_replaces_the_user(api):
    user = await create_user(api)
    body = {"username": "operator9", "password": "replaced-pass-9", "role": "admin", "is_active": True}
    response = await api.put(f"/users/{user['id']}", body, role="super_admin")
    assert response.status == 200
    assert response.json["username"] == "operator9"
    assert response.json["role"] == "admin"
    assert_no_secrets(response)
    assert await login_status(api, "operator9", "replaced-pass-9") == 200


async def test_put_changes_the_fields_sent_and_keeps_the_password(api):
    user = await create_user(api)
    response = await api.put(f"/users/{user['id']}", {"role": "admin"}, role="super_admin")
    assert response.status == 200  # as PATCH (clients of the old system send only what changed)
    assert response.json["role"] == "admin" and response.json["username"] == user["username"]
    assert await login_status(api, "operator1", "operator-pass-1") == 200
    refused = await api.put(f"/users/{user['id']}", {"role": "owner", "password": "short"},
                            role="super_admin")
    assert refused.status == 422
    assert {"role", "password"} <= set(refused.json["errors"])


async def test_password_change_through_patch(api):
    user = await create_user(api)
    response = await api.patch(f"/users/{user['id']}", {"password": "changed-pass-2"}, role="super_admin")
    assert response.status == 200
    assert_no_secrets(response)
    assert await login_status(api, "operator1", "changed-pass-2") == 200
    assert await login_status(api, "operator1", "operator-pass-1") == 401


async def test_delete_user(api):
    user = await create_user(api)
    response = await api.delete(f"/users/{user['id']}", role="super_admin")
    assert response.status == 204
    assert response.body == b""
    assert (await api.get(f"/users/{user['id']}", role="super_admin")).status == 404
    assert (await api.delete(f"/users/{user['id']}", role="super_admin")).status == 404


# -- who may do what --------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["user", "admin"])
async def test_only_super_admin_manages_users(api, role):
    target = await create_user(api)
    assert (await api.get("/users", role=role)).status == 403
    assert (await api.get(f"/users/{target['id']}", role=role)).status == 403
    sneaky = {"username": "sneaky", "password": "sneaky-pass-1"}
    assert (await api.post("/users", sneaky, role=role)).status == 403
    assert (await api.patch(f"/users/{target['id']}", {"role": "super_admin"}, role=role)).status == 403
    assert (await api.delete(f"/users/{target['id']}", role=role)).status == 403
    assert (await api.get(f"/users/{target['id']}", role="super_admin")).json["role"] == "user"


@pytest.mark.parametrize("role", ["user", "admin"])
async def test_nobody_raises_their_own_role(api, role):
    me = await my_id(api, role)
    for method in ("PATCH", "PUT"):
        body = {"username": f"test_{role}", "password": PASSWORDS[role], "role": "super_admin"}
        response = await api.request(method, f"/users/{me}", json_body=body, role=role)
        assert response.status == 403, method
    assert (await api.get("/auth/me", role=role)).json["role"] == role


async def test_super_admin_cannot_change_own_role(api):
    me = await my_id(api, "super_admin")
    response = await api.patch(f"/users/{me}", {"role": "admin"}, role="super_admin")
    assert response.status == 409
    assert "role" in response.json["errors"]
    assert (await api.get("/auth/me", role="super_admin")).json["role"] == "super_admin"


async def test_super_admin_cannot_deactivate_or_delete_self(api):
    me = await my_id(api, "super_admin")
    response = await api.patch(f"/users/{me}", {"is_active": False}, role="super_admin")
    assert response.status == 409
    assert (await api.delete(f"/users/{me}", role="super_admin")).status == 409
    still = await api.get(f"/users/{me}", role="super_admin")
    assert still.status == 200
    assert still.json["is_active"] is True


async def test_super_admin_can_change_own_password(api):
    me = await my_id(api, "super_admin")
    response = await api.patch(f"/users/{me}", {"password": "new-super-pass-1"}, role="super_admin")
    assert response.status == 200
    # The password change ended the token it was made with, as every other one.
    assert (await api.get("/auth/me", role="super_admin")).status == 401
    relogin = await api.post("/auth/login", {"username": "test_super_admin", "password": "new-super-pass-1"})
    assert relogin.status == 200


async def test_another_super_admin_can_be_demoted(api):
    other = await create_user(api, "deputy", role="super_admin")
    response = await api.patch(f"/users/{other['id']}", {"role": "admin"}, role="super_admin")
    assert response.status == 200
    assert response.json["role"] == "admin"
    promoted = await api.patch(f"/users/{other['id']}", {"role": "super_admin"}, role="super_admin")
    assert promoted.status == 200
    assert (await api.delete(f"/users/{other['id']}", role="super_admin")).status == 204


async def test_last_active_super_admin_is_protected(app, api):
    # Through the API the self-rules above already stop it; the service refuses on its own as well
    # (the CLI and scripts call it without an actor).
    me = await my_id(api, "super_admin")
    service = UserService()
    for change in ({"role": "admin"}, {"is_active": False}):
        with pytest.raises(Conflict) as refused:
            async with app.ctx.db.write() as uow:
                await service.update(uow, me, change)
        assert type(refused.value) is Conflict
    with pytest.raises(Conflict) as refused:
        async with app.ctx.db.write() as uow:
            await service.delete(uow, me)
    assert type(refused.value) is Conflict
    still = await api.get(f"/users/{me}", role="super_admin")
    assert still.json["role"] == "super_admin" and still.json["is_active"] is True
