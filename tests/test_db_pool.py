"""The database pool: sized by FACTORY_DB_POOL_SIZE, and a full pool answers a truthful 503 quickly."""
from __future__ import annotations

import asyncio

import pytest

from core.config import ConfigError, Settings
from core.db import DEFAULT_POOL_SIZE, max_connections

MARIADB_DEFAULT_MAX_CONNECTIONS = 151


def test_the_default_pool_lets_four_processes_share_a_stock_mariadb_with_room_to_spare(tmp_path):
    per_process = max_connections(Settings.from_env({}, workdir=tmp_path).db_pool_size)
    assert per_process == max_connections(DEFAULT_POOL_SIZE)
    # pool and overflow of four processes, with a fifth of the server's connections still free
    assert 4 * per_process <= MARIADB_DEFAULT_MAX_CONNECTIONS * 0.8


def test_the_pool_size_is_read_from_the_environment(tmp_path):
    assert Settings.from_env({"FACTORY_DB_POOL_SIZE": "8"}, workdir=tmp_path).db_pool_size == 8
    for bad in ("0", "-3", "ten", "1.5"):
        with pytest.raises(ConfigError, match="FACTORY_DB_POOL_SIZE"):
            Settings.from_env({"FACTORY_DB_POOL_SIZE": bad}, workdir=tmp_path)


@pytest.mark.settings(db_pool_size=4)
async def test_the_server_opens_no_more_than_its_pool_and_overflow(api, app, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("the embedded database has no server connections to count: MariaDB only")
    pool = app.ctx.db.engine.pool
    assert (pool.size(), pool._max_overflow) == (4, 1)
    await api.token("user")
    answers = await asyncio.gather(*(api.get("/products", role="user") for _ in range(30)))
    assert {a.status for a in answers} == {200}
    assert pool.checkedout() == 0 and pool.checkedin() <= 4


@pytest.mark.settings(db_pool_size=1)
async def test_a_full_pool_waits_briefly_then_answers_503_saying_so(api, app, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("the embedded database has no connection pool to exhaust: MariaDB only")
    await api.token("user")  # signs in while a connection is free
    held = await app.ctx.db.engine.connect()  # the pool's one connection (overflow: a quarter of 1 = 0)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        refused = await api.get("/products?per_page=3", role="user")
        waited = loop.time() - started
        assert refused.status == 503, refused
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert "busy" in refused.json["detail"] and "unavailable" not in refused.json["detail"]
        assert refused.headers["Retry-After"] == "1"
        assert 4.5 <= waited < 15  # POOL_WAIT: briefly, then the answer
        assert app.ctx.db.available  # busy is not an outage: nothing else is refused for it
    finally:
        await held.close()
    assert (await api.get("/products?per_page=3", role="user")).status == 200
