"""A client written from /asyncapi.json alone reaches the feed, and the AsyncAPI CLI accepts the document.

The WebSocket client here takes everything from the document: the URL (server protocol, host and
pathname joined with the channel address), how to sign in (the security schemes and ws bindings),
the shape of `filters.line`, and what each close code means.
"""
from __future__ import annotations

import json
import os
import subprocess

import jsonschema
import pytest

from realtime.hub import MAX_FILTER_LINES
from tests.feeds import Feed
from tests.node_tools import ASYNCAPI_CLI, node_tool


def feed_url(document: dict) -> str:
    """Where the document says the live feed is: protocol://host + pathname + channel address."""
    channel = document["channels"]["liveFeed"]
    server = document["servers"][channel["servers"][0]["$ref"].rsplit("/", 1)[1]]
    return f"{server['protocol']}://{server['host']}{server.get('pathname', '')}{channel['address']}"


def scheme(document: dict, kind: str, **where: str) -> dict:
    """The server's security scheme of `kind` (e.g. httpApiKey in the query)."""
    live = document["servers"]["live"]
    schemes = document["components"]["securitySchemes"]
    found = [schemes[ref["$ref"].rsplit("/", 1)[1]] for ref in live["security"]]
    return next(s for s in found if s["type"] == kind and all(s.get(k) == v for k, v in where.items()))


async def test_a_client_built_from_the_document_connects_signs_in_and_filters(api, make):
    document = (await api.get("/asyncapi.json")).json
    url = feed_url(document)
    assert url.endswith("/ws") and not url.endswith("/ws/ws")
    token = await api.token("user")

    # Sign in the ways the document names: ?<name>= in the query, and the bearer header.
    query = scheme(document, "httpApiKey", **{"in": "query"})
    bindings = document["channels"]["liveFeed"]["bindings"]["ws"]
    assert query["name"] in bindings["query"]["properties"]
    by_query = await Feed.connect(f"{url}?{query['name']}={token}")
    bearer = scheme(document, "http", scheme="bearer")
    assert "Authorization" in bindings["headers"]["properties"]
    by_header = await Feed.connect(url, headers={"Authorization": f"Bearer {token}"})

    # filters.line: a code or a list of up to the documented number of codes; the server agrees.
    subscribe = document["components"]["messages"]["subscribe"]["payload"]
    line_filter = subscribe["properties"]["filters"]["properties"]["line"]
    many = [f"L{n}" for n in range(MAX_FILTER_LINES)]
    for value in ("L1", ["L1", "L2"], many):
        jsonschema.validate(value, line_filter)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([*many, "L99"], line_filter)
    reply = await by_query.subscribe(["lines"], filters={"line": ["L1", "L2"]})
    jsonschema.validate(reply, document["components"]["messages"]["subscribed"]["payload"])
    assert (await by_header.subscribe(["lines"], filters={"line": many}))["topics"] == ["lines"]
    by_header.send(type="subscribe", topics=["lines"], filters={"line": [*many, "L99"]})
    refused = await by_header.receive()
    assert refused["type"] == "error"  # what the document refuses, the server refuses too
    by_query.close()
    by_header.close()
    assert bearer["bearerFormat"] == "JWT"


async def test_every_close_code_the_server_sends_is_documented(api, make, base_url):
    document = (await api.get("/asyncapi.json")).json
    channel = document["channels"]["liveFeed"]
    codes = channel["x-close-codes"]
    assert {"1001", "1009", "1013", "4401", "4403", "4429"} <= set(codes)
    for code in codes:
        assert f"| {code} |" in channel["description"]
    url = feed_url(document)
    bad = await Feed.connect(f"{url}?token=not-a-token")
    assert str((await bad.until_closed())[0]) in codes  # 4401
    feed = await Feed.open(url, await api.token("user"))
    feed.send(type="ping", padding="x" * 70_000)  # over the documented 64 KiB
    code, _ = await feed.until_closed()
    assert code == 1009 and "64 KiB" in codes[str(code)]


@pytest.mark.sqlite_only
async def test_the_asyncapi_cli_validates_the_document_without_a_warning(api, tmp_path):
    cli = node_tool(*ASYNCAPI_CLI)
    source = tmp_path / "asyncapi.json"
    source.write_text((await api.get("/asyncapi.json")).body.decode())
    # No usage metrics (no network from tests): CI=true and a config that says so.
    (tmp_path / "analytics.json").write_text(json.dumps({"analyticsEnabled": "false",
                                                         "infoMessageShown": "true", "userID": "tests"}))
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CI": "true", "SUPPRESS_NO_CONFIG_WARNING": "1",
           "ASYNCAPI_METRICS_CONFIG_PATH": str(tmp_path / "analytics.json")}
    done = subprocess.run([str(cli), "validate", str(source), "--fail-severity", "warn"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "0 errors, 0 warnings" in output or "is valid" in output, output
    assert " warning " not in output and " error " not in output, output
