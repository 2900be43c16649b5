"""Auth contract: login, refresh rotation, logout, /auth/me, token claims and revocation."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import jwt
import pytest

from tests.conftest import PASSWORDS, SECRET

ISSUER = "factory-management"
AUDIENCE = "factory-management-api"


async def new_user(api, role="user", password="initial-pass-1"):
    username = f"u_{uuid.uuid4().hex[:10]}"
    created = await api.create("users", {"username": username, "password": password, "role": role},
                               role="super_admin")
    return created, password


async def login(api, username, password, path="/auth/login"):
    response = await api.post(path, {"username": username, "password": password})
    assert response.status == 200, response
    return response.json


def claims_of(token: str) -> dict:
    return jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)


def forge(claims: dict, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


# -- login ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/auth/login", "/login"])
async def test_login_returns_a_bearer_token_pair(api, path):
    pair = await login(api, "test_user", PASSWORDS["user"], path)
    assert set(pair) == {"access_token", "token_type", "expires_in", "refresh_token", "token"}
    assert pair["token"] == pair["access_token"]  # what clients of the old system read
    assert pair["token_type"] == "Bearer"
    assert isinstance(pair["expires_in"], int) and 0 < pair["expires_in"] <= 3600
    me = await api.get("/auth/me", token=pair["access_token"])
    assert me.status == 200
    assert me.json["username"] == "test_user"
    assert me.json["role"] == "user"


async def test_login_as_curl_sends_it(api):
    # `curl -d '{"username":…}'` labels a JSON body as a form; it is still read as JSON.
    body = json.dumps({"username": "test_user", "password": PASSWORDS["user"]})
    response = await api.request("POST", "/auth/login", body=body,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 200
    assert response.json["token_type"] == "Bearer"


async def test_wrong_password_and_unknown_user_get_the_same_401(api):
    wrong = await api.post("/auth/login", {"username": "test_user", "password": "not-the-password"})
    unknown = await api.post("/auth/login", {"username": "nobody_here", "password": "not-the-password"})
    for response in (wrong, unknown):
        assert response.status == 401
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.json["detail"] == unknown.json["detail"]
    assert wrong.json["title"] == unknown.json["title"]
    assert "access_token" not in wrong.body.decode()


async def test_username_at_login_ignores_case_on_every_backend(api):
    pair = await login(api, "TEST_User", PASSWORDS["user"])
    assert (await api.get("/auth/me", token=pair["access_token"])).json["username"] == "test_user"


@pytest.mark.parametrize("body", [{}, {"username": "test_user"}, {"password": "x"},
                                  {"username": "", "password": ""}])
async def test_login_with_missing_fields_is_422(api, body):
    response = await api.post("/auth/login", body)
    assert response.status == 422
    assert response.json["errors"]


async def test_login_with_unknown_fields_is_422(api):
    response = await api.post("/auth/login", {"username": "test_user", "password": PASSWORDS["user"],
                                              "role": "super_admin"})
    assert response.status == 422
    assert "role" in response.json["errors"]


async def test_inactive_user_cannot_log_in(api):
    user, password = await new_user(api)
    response = await api.patch(f"/users/{user['id']}", {"is_active": False}, role="super_admin")
    assert response.status == 200
    refused = await api.post("/auth/login", {"username": user["username"], "password": password})
    wrong = await api.post("/auth/login", {"username": user["username"], "password": "wrong-pass-1"})
    assert refused.status == 401
    assert refused.json["detail"] == wrong.json["detail"]


# -- /auth/me and claims ----------------------------------------------------------------------

async def test_me_needs_a_token(api):
    response = await api.get("/auth/me")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["user", "admin", "super_admin"])
async def test_me_names_the_caller(api, role):
    response = await api.get("/auth/me", role=role)
    assert response.status == 200
    assert response.json["username"] == f"test_{role}"
    assert response.json["role"] == role
    assert isinstance(response.json["id"], int)


async def test_access_token_carries_the_required_claims(api):
    before = int(time.time())
    pair = await login(api, "test_admin", PASSWORDS["admin"])
    me = (await api.get("/auth/me", token=pair["access_token"])).json
    claims = claims_of(pair["access_token"])
    assert jwt.get_unverified_header(pair["access_token"])["alg"] == "HS256"
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["typ"] == "access"
    assert claims["sub"] == str(me["id"])
    assert claims["role"] == "admin"
    assert claims["jti"]
    assert before - 5 <= claims["iat"] <= int(time.time()) + 5
    assert claims["exp"] - claims["iat"] == pair["expires_in"]
    refresh = claims_of(pair["refresh_token"])
    assert refresh["typ"] == "refresh"
    assert refresh["jti"] != claims["jti"]
    assert refresh["exp"] > claims["exp"]


async def test_every_login_gets_a_fresh_jti(api):
    first = claims_of((await login(api, "test_user", PASSWORDS["user"]))["access_token"])
    second = claims_of((await login(api, "test_user", PASSWORDS["user"]))["access_token"])
    assert first["jti"] != second["jti"]


# -- signature and algorithm ------------------------------------------------------------------

def _variants(claims: dict) -> dict[str, str]:
    header, payload, _ = forge(claims).split(".")
    unsigned = jwt.encode(claims, None, algorithm="none")
    return {
        "alg none": unsigned,
        "alg none, signature kept": unsigned + forge(claims).split(".")[2],
        "HS512 with the right key": forge(claims, algorithm="HS512"),
        "HS256 with another key": forge(claims, key="another-secret-" + "y" * 40),
        "tampered payload": f"{header}.{forge({**claims, 'role': 'super_admin'}).split('.')[1]}."
                            f"{forge(claims).split('.')[2]}",
        "expired": forge({**claims, "iat": claims["iat"] - 7200, "nbf": claims["iat"] - 7200,
                          "exp": claims["iat"] - 3600}),
        "wrong audience": forge({**claims, "aud": "someone-else"}),
        "wrong issuer": forge({**claims, "iss": "someone-else"}),
        "no jti": forge({k: v for k, v in claims.items() if k != "jti"}),
        "no typ": forge({k: v for k, v in claims.items() if k != "typ"}),
        "not a jwt": "abc.def.ghi",
    }


# The HS512 forgery uses the 52-byte test key on purpose; PyJWT warns that it is short for SHA-512.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_only_properly_signed_hs256_tokens_are_accepted(api):
    pair = await login(api, "test_user", PASSWORDS["user"])
    claims = claims_of(pair["access_token"])
    # The untouched claims re-signed with the right key and algorithm still work: the forgery
    # checks below fail only for the reason each one names.
    assert (await api.get("/auth/me", token=forge(claims))).status == 200
    for name, token in _variants(claims).items():
        response = await api.get("/auth/me", token=token)
        assert response.status == 401, name
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), name
        assert response.headers["Content-Type"].startswith("application/problem+json"), name


@pytest.mark.parametrize("header", ["Basic dGVzdDp0ZXN0", "Bearer", "Bearer ", "Token abc"])
async def test_malformed_authorization_header_is_401(api, header):
    response = await api.get("/auth/me", headers={"Authorization": header})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- refresh ----------------------------------------------------------------------------------

async def test_refresh_rotates_the_pair(api):
    pair = await login(api, "test_user", PASSWORDS["user"])
    response = await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})
    assert response.status == 200
    fresh = response.json
    assert set(fresh) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert fresh["refresh_token"] != pair["refresh_token"]
    assert fresh["access_token"] != pair["access_token"]
    assert (await api.get("/auth/me", token=fresh["access_token"])).status == 200
    again = await api.post("/auth/refresh", {"refresh_token": fresh["refresh_token"]})
    assert again.status == 200


@pytest.mark.settings(refresh_reuse_window=0.2)
async def test_replayed_refresh_token_revokes_the_session(api):
    pair = await login(api, "test_user", PASSWORDS["user"])
    fresh = (await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})).json
    await asyncio.sleep(0.3)  # past the reuse window: a replay, not a client sending it twice
    replay = await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})
    assert replay.status == 401
    assert replay.headers["WWW-Authenticate"].startswith("Bearer")
    # The whole family is gone: the rotated refresh token and its access token stop working.
    assert (await api.post("/auth/refresh", {"refresh_token": fresh["refresh_token"]})).status == 401
    assert (await api.get("/auth/me", token=fresh["access_token"])).status == 401
    assert (await api.get("/auth/me", token=pair["access_token"])).status == 401
    # Other sessions of the same user are untouched.
    other = await login(api, "test_user", PASSWORDS["user"])
    assert (await api.get("/auth/me", token=other["access_token"])).status == 200


async def test_a_refresh_token_sent_twice_at_once_gets_one_pair_and_keeps_the_session(api):
    pair = await login(api, "test_user", PASSWORDS["user"])
    twins = await asyncio.gather(*(api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})
                                   for _ in range(3)))
    assert [twin.status for twin in twins] == [200, 200, 200], twins
    assert twins[0].body == twins[1].body == twins[2].body  # the same pair, whichever answer the client keeps
    fresh = twins[0].json
    assert (await api.get("/auth/me", token=fresh["access_token"])).status == 200
    again = await api.post("/auth/refresh", {"refresh_token": fresh["refresh_token"]})
    assert again.status == 200, again
    assert (await api.get("/auth/me", token=again.json["access_token"])).status == 200


async def test_refresh_token_is_not_an_access_token(api):
    pair = await login(api, "test_admin", PASSWORDS["admin"])
    for path in ("/auth/me", "/products", "/employees"):
        response = await api.get(path, token=pair["refresh_token"])
        assert response.status == 401, path


async def test_access_token_is_not_a_refresh_token(api):
    pair = await login(api, "test_user", PASSWORDS["user"])
    response = await api.post("/auth/refresh", {"refresh_token": pair["access_token"]})
    assert response.status == 401
    # ... and the failed attempt did not hurt the real refresh token.
    assert (await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})).status == 200


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": 5}])
async def test_refresh_with_bad_body_is_422(api, body):
    response = await api.post("/auth/refresh", body)
    assert response.status == 422


async def test_refresh_with_garbage_token_is_401(api):
    response = await api.post("/auth/refresh", {"refresh_token": "not.a.token"})
    assert response.status == 401


# -- logout -----------------------------------------------------------------------------------

async def test_logout_revokes_access_and_refresh_tokens(api):
    pair = await login(api, "test_user", PASSWORDS["user"])
    other = await login(api, "test_user", PASSWORDS["user"])
    response = await api.post("/auth/logout", token=pair["access_token"])
    assert response.status == 204
    assert response.body == b""
    assert (await api.get("/auth/me", token=pair["access_token"])).status == 401
    assert (await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})).status == 401
    # Logging out one session leaves the user's other sessions alone.
    assert (await api.get("/auth/me", token=other["access_token"])).status == 200


async def test_logout_accepts_an_empty_json_object(api):
    pair = await login(api, "test_user", PASSWORDS["user"])
    response = await api.post("/auth/logout", {}, token=pair["access_token"])
    assert response.status == 204


async def test_logout_needs_a_token(api):
    response = await api.post("/auth/logout")
    assert response.status == 401


# -- changes to the user end outstanding tokens at once ---------------------------------------

async def test_deactivating_a_user_invalidates_their_tokens(api):
    user, password = await new_user(api)
    pair = await login(api, user["username"], password)
    assert (await api.get("/products", token=pair["access_token"])).status == 200
    assert (await api.patch(f"/users/{user['id']}", {"is_active": False}, role="super_admin")).status == 200
    assert (await api.get("/products", token=pair["access_token"])).status == 401
    assert (await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})).status == 401
    # Reactivating does not bring the old tokens back.
    assert (await api.patch(f"/users/{user['id']}", {"is_active": True}, role="super_admin")).status == 200
    assert (await api.get("/products", token=pair["access_token"])).status == 401
    assert (await api.post("/auth/login", {"username": user["username"], "password": password})).status == 200


async def test_changing_the_password_invalidates_tokens(api):
    user, password = await new_user(api)
    pair = await login(api, user["username"], password)
    response = await api.patch(f"/users/{user['id']}", {"password": "brand-new-pass-2"}, role="super_admin")
    assert response.status == 200
    assert (await api.get("/auth/me", token=pair["access_token"])).status == 401
    assert (await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})).status == 401
    old = await api.post("/auth/login", {"username": user["username"], "password": password})
    assert old.status == 401
    await login(api, user["username"], "brand-new-pass-2")


async def test_changing_ones_own_password_ends_every_older_token_and_returns_a_new_pair(api):
    user, password = await new_user(api)
    first, second = await login(api, user["username"], password), await login(api, user["username"], password)
    change = {"current_password": password, "new_password": "my-own-pass-3"}
    response = await api.post("/auth/password", change, token=first["access_token"])
    assert response.status == 200, response
    fresh = response.json
    assert set(fresh) == {"access_token", "token_type", "expires_in", "refresh_token"}
    for old in (first, second):  # this device's tokens and another device's
        assert (await api.get("/auth/me", token=old["access_token"])).status == 401
        assert (await api.post("/auth/refresh", {"refresh_token": old["refresh_token"]})).status == 401
    assert (await api.get("/auth/me", token=fresh["access_token"])).json["username"] == user["username"]
    assert (await api.post("/auth/refresh", {"refresh_token": fresh["refresh_token"]})).status == 200
    assert (await api.post("/auth/login", {"username": user["username"], "password": password})).status == 401
    await login(api, user["username"], "my-own-pass-3")


async def test_a_wrong_current_password_is_422_and_changes_nothing(api):
    user, password = await new_user(api)
    pair = await login(api, user["username"], password)
    response = await api.post("/auth/password", {"current_password": "not-it-at-all",
                                                 "new_password": "my-own-pass-3"}, token=pair["access_token"])
    assert response.status == 422
    assert response.json["errors"] == {"current_password": ["Wrong password."]}
    assert (await api.get("/auth/me", token=pair["access_token"])).status == 200
    await login(api, user["username"], password)


@pytest.mark.parametrize("body", [
    {"current_password": "initial-pass-1"},
    {"current_password": "initial-pass-1", "new_password": "short"},
    {"current_password": "initial-pass-1", "new_password": "x" * 257},
    {"current_password": "initial-pass-1", "new_password": "long-enough-1", "role": "super_admin"},
    {"current_password": 12345678, "new_password": "long-enough-1"},
])
async def test_a_bad_password_change_is_422_and_changes_nothing(api, body):
    user, password = await new_user(api)
    pair = await login(api, user["username"], password)
    assert (await api.post("/auth/password", body, token=pair["access_token"])).status == 422
    assert (await api.get("/auth/me", token=pair["access_token"])).json["role"] == "user"
    await login(api, user["username"], password)


@pytest.mark.settings(rate_limits="login=5/60")
async def test_guessing_the_current_password_spends_the_login_budget(api):
    user, password = await new_user(api)
    pair = await login(api, user["username"], password)
    guesses = [{"current_password": f"guess-{n}", "new_password": "whatever-1"} for n in range(6)]
    token = pair["access_token"]
    statuses = [(await api.post("/auth/password", guess, token=token)).status for guess in guesses]
    assert 429 in statuses and set(statuses) <= {422, 429}


async def test_changing_the_role_invalidates_tokens(api):
    user, password = await new_user(api, role="admin")
    pair = await login(api, user["username"], password)
    assert (await api.get("/employees", token=pair["access_token"])).status == 200
    response = await api.patch(f"/users/{user['id']}", {"role": "user"}, role="super_admin")
    assert response.status == 200
    assert (await api.get("/employees", token=pair["access_token"])).status == 401
    assert (await api.get("/auth/me", token=pair["access_token"])).status == 401
    demoted = await login(api, user["username"], password)
    assert claims_of(demoted["access_token"])["role"] == "user"
    assert (await api.get("/employees", token=demoted["access_token"])).status == 403


async def test_deleting_a_user_invalidates_their_tokens(api):
    user, password = await new_user(api)
    pair = await login(api, user["username"], password)
    assert (await api.delete(f"/users/{user['id']}", role="super_admin")).status == 204
    assert (await api.get("/auth/me", token=pair["access_token"])).status == 401
    assert (await api.post("/auth/refresh", {"refresh_token": pair["refresh_token"]})).status == 401


async def test_unrelated_user_changes_keep_tokens_valid(api):
    user, password = await new_user(api)
    pair = await login(api, user["username"], password)
    other, _ = await new_user(api)
    assert (await api.patch(f"/users/{other['id']}", {"role": "admin"}, role="super_admin")).status == 200
    assert (await api.get("/auth/me", token=pair["access_token"])).status == 200
