"""`server.py import RESOURCE FILE`: any size, the same validation, all or nothing, a progress bar."""
from __future__ import annotations

import asyncio
import json

from tests.servers import newcomer_env, run_cli


async def cli(tmp_path, settings, *args: str):
    """The command in a thread: the test server's loop keeps running (its background writes finish)."""
    env = newcomer_env(tmp_path, FACTORY_DATABASE_URL=settings.database_url)
    return await asyncio.to_thread(run_cli, tmp_path, "import", *args, env=env)


def write_products(path, count: int, bad_row: int | None = None) -> str:
    lines = ["sku,name,price,stock_quantity"]
    for n in range(1, count + 1):
        lines.append(f"CLI-{n:05d},Part {n},{'1.2.3' if n == bad_row else f'{n % 9 + 1}.10'},{n % 4}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


async def test_a_file_imports_in_batches_with_progress_and_a_summary(api, make, settings, tmp_path):
    result = await cli(tmp_path, settings, "products", write_products(tmp_path / "products.csv", 1_200))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("imported 1200 products from 1200 rows in ")
    assert "validating" in result.stderr and "importing" in result.stderr  # the tqdm bars
    listed = await api.get("/products?sort_by=sku&sort_order=desc&per_page=1", role="user")
    assert listed.json["meta"]["total"] == 1_200
    assert listed.json["items"][0]["sku"] == "CLI-01200" and listed.json["items"][0]["stock_quantity"] == 0

    customer = await make.customer()
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps([{"customer_id": customer["id"], "items": [
        {"product_id": listed.json["items"][0]["id"], "quantity": 2}]}] * 3))
    result = await cli(tmp_path, settings, "orders", str(orders))
    assert result.returncode == 0, result.stderr
    totals = [o["total_price"] for o in (await api.get("/orders", role="user")).json["items"]]
    assert totals == ["8.20"] * 3


async def test_one_bad_row_imports_nothing_and_is_named(api, settings, tmp_path):
    big = write_products(tmp_path / "p.csv", 3_000, bad_row=2_345)
    result = await cli(tmp_path, settings, "products", big)
    assert result.returncode == 1
    assert "1 problem(s)" in result.stderr and "nothing was imported" in result.stderr
    assert "row 2345, price: Not a valid number." in result.stderr
    assert (await api.get("/products", role="user")).json["meta"]["total"] == 0


async def test_dry_run_and_a_missing_file(api, settings, tmp_path):
    result = await cli(tmp_path, settings, "products", write_products(tmp_path / "p.csv", 10), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dry run: 10 products rows are valid; nothing was written")
    assert (await api.get("/products", role="user")).json["meta"]["total"] == 0
    missing = await cli(tmp_path, settings, "products", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    unknown = await cli(tmp_path, settings, "users", str(tmp_path / "p.csv"))
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


async def test_a_cli_import_announces_itself_to_a_running_server_and_the_outbox(tmp_path, database_url):
    """The summary event of `server.py import` reaches the live feed of a server running in another
    process (a real WebSocket client on it), once, and the outbox that webhooks deliver from."""
    from sqlalchemy import select

    from core.db import Database
    from models import OutboxEvent, OutboxRelay
    from tests.conftest import PASSWORDS
    from tests.databases import empty_tables
    from tests.feeds import Feed
    from tests.servers import ServerProcess, server_env

    if not database_url.startswith("sqlite"):
        await empty_tables(database_url)
    server = ServerProcess(tmp_path / "server", server_env(tmp_path / "server", database_url))
    try:
        await server.wait_ready()
        status, body = await asyncio.to_thread(server.login, "admin", PASSWORDS["super_admin"])
        assert status == 200, body
        feed = await Feed.open(server.ws_url, body["access_token"])
        await feed.subscribe()
        env = newcomer_env(tmp_path, FACTORY_DATABASE_URL=database_url)
        path = write_products(tmp_path / "products.csv", 30)
        result = await asyncio.to_thread(run_cli, tmp_path, "import", "products", path, env=env)
        assert result.returncode == 0, result.stderr
        events = await feed.events(1)
        assert [(e["topic"], e["event"]) for e in events] == [("inventory", "products.imported")]
        assert events[0]["data"] == {"resource": "products", "rows": 30, "restore": False, "by": None}
        db = Database(database_url)
        try:
            async with db.session() as session:
                outbox = (await session.execute(select(OutboxEvent.event))).scalars().all()
                waiting = (await session.execute(select(OutboxRelay.outbox_id))).scalars().all()
        finally:
            await db.dispose()
        assert outbox == ["products.imported"] and waiting == []  # claimed once, delivered once
        await asyncio.sleep(1.5)  # the relay looks again meanwhile
        assert await feed.quiet() == []  # and does not publish it twice
    finally:
        server.stop()
