"""Command line: serve the Factory Management System, or migrate, seed, import and create users."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import shutil
import signal
import sys
import tempfile

import tornado.httpserver
import tornado.netutil

from app import bootstrap_admin, build_context, make_app
from core import migrate
from core.config import ConfigError, Settings
from core.files import keep_files_private
from core.logs import setup_logging
from core.metrics import MULTIPROC_ENV, use_multiprocess_dir
from core.workers import cpu_count, run_workers
from handlers.limits import server_options

log = logging.getLogger("factory.server")
SHUTDOWN_GRACE = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="server.py", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    parser.add_argument("--processes", type=int, default=1,
                        help="worker processes sharing the port (0 = one per core; >1 needs MySQL)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve HTTP and the live feed (the default)")
    sub.add_parser("migrate", help="upgrade the database schema to the latest revision")
    seed = sub.add_parser("seed", help="fill an empty database with a demo factory")
    seed.add_argument("--size", type=int, default=1, help="scale factor (1 = a small factory)")
    bulk = sub.add_parser("import", help="import a CSV (or .json array) file of any size, all or nothing")
    bulk.add_argument("resource", choices=["products", "customers", "employees", "orders", "production"])
    bulk.add_argument("file", help="CSV with a header row of the API's field names, or a .json array")
    bulk.add_argument("--dry-run", action="store_true", help="validate every row, write nothing")
    bulk.add_argument("--restore", action="store_true",
                      help="rows as an export wrote them: keep ids, timestamps, order status and prices")
    legacy = sub.add_parser("import-legacy", help="load the old Flask system's database (idempotent)")
    legacy.add_argument("url", help="its database, e.g. sqlite:///old.db or mysql://user:pw@host/factory")
    simulate = sub.add_parser("simulate",
                              help="publish Sparkplug B for the seeded lines' machines (a demo plant)")
    simulate.add_argument("--broker", help="mqtt://[user:pass@]host:port (default FACTORY_MQTT_URL, else "
                                           "mqtt://127.0.0.1:1883)")
    simulate.add_argument("--lines", help="line codes, comma-separated (default: every active line)")
    simulate.add_argument("--speed", type=float, default=1.0, help="time runs this many times faster")
    sub.add_parser("rebuild-rollups", help="rebuild the summary tables (reports, counts) from the raw rows")
    user = sub.add_parser("create-user", help="create a user (prompts for the password)")
    user.add_argument("username")
    user.add_argument("--role", choices=["user", "admin", "super_admin"], default="user")
    user.add_argument("--password", help="password (default: prompt; or FACTORY_NEW_USER_PASSWORD)")
    return parser.parse_args(argv)


async def check_schema(settings: Settings) -> str | None:
    """One-line error when the database is not at the code's schema revision."""
    ctx = build_context(settings)
    try:
        async with ctx.db.engine.connect() as conn:
            current = await migrate.current_revision(conn)
    except Exception as exc:
        return f"cannot reach the database ({exc.__class__.__name__}); check FACTORY_DATABASE_URL"
    finally:
        await ctx.db.dispose()
    head = migrate.head_revision()
    if current != head:
        return (f"database schema is at revision {current or 'none'}, this code needs {head}: "
                "run 'python server.py migrate' first")
    return None


async def first_start(settings: Settings) -> None:
    ctx = build_context(settings)
    try:
        generated = await bootstrap_admin(ctx)
    finally:
        await ctx.db.dispose()
    if generated:
        print(f"Created super_admin 'admin' with password: {generated}\n"
              "(shown once; set FACTORY_ADMIN_PASSWORD to choose it, and change it after signing in)",
              flush=True)


async def run_server(settings: Settings, sockets: list) -> None:
    app = make_app(settings)
    server = tornado.httpserver.HTTPServer(app, **server_options(settings))
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    log.info("serving on %s", ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in sockets))
    await stop.wait()
    log.info("shutting down: no new connections; finishing requests in flight")
    server.stop()
    await app.shutdown()  # live feed: close every WebSocket with 1001
    if not await app.drain(SHUTDOWN_GRACE):
        log.warning("%d requests still running after %.0f s; closing anyway", app.in_flight, SHUTDOWN_GRACE)
    try:  # what is left are idle keep-alive connections
        await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE)
    except TimeoutError:
        log.warning("connections still open after %.0f s; closing anyway", SHUTDOWN_GRACE)
    await app.close()


def serve(args: argparse.Namespace, settings: Settings) -> int:
    setup_logging(settings.log_dir)
    if settings.is_sqlite:
        if args.processes != 1:
            print("error: --processes > 1 needs MySQL/MariaDB (FACTORY_DATABASE_URL); SQLite has one writer",
                  file=sys.stderr)
            return 2
        migrate.upgrade(settings.database_url)
    else:
        problem = asyncio.run(check_schema(settings))
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
    asyncio.run(first_start(settings))
    sockets = tornado.netutil.bind_sockets(args.port, args.host)

    def serve_worker(worker_id: int = 0) -> int:
        own = settings
        if worker_id and own.mqtt_url and not own.redis_url:
            # Without Redis there is no lease: the first worker alone consumes the machines' session.
            own = settings.with_(mqtt_url=None)
        asyncio.run(run_server(own, sockets))
        return 0

    if args.processes == 1:
        return serve_worker()
    metrics_dir = None
    if not os.environ.get(MULTIPROC_ENV):  # workers' metrics meet in files here; /metrics sums them
        metrics_dir = tempfile.mkdtemp(prefix="factory-metrics-")
        use_multiprocess_dir(metrics_dir)
    try:
        return run_workers(args.processes if args.processes > 0 else cpu_count(), serve_worker)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


async def create_user(settings: Settings, username: str, role: str, password: str) -> str | None:
    from marshmallow import ValidationError

    from core.errors import DomainError
    from schemas.user import UserSchema
    from services.identity.users import UserService

    try:
        data = UserSchema().load({"username": username, "password": password, "role": role})
    except ValidationError as exc:
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.normalized_messages().items())
    ctx = build_context(settings)
    try:
        async with ctx.db.write() as uow:
            await UserService().create(uow, data)
    except DomainError as exc:
        return exc.detail
    finally:
        await ctx.db.dispose()
    return None


async def rebuild_rollups_command(settings: Settings) -> int:
    """Refill every summary table from the raw rows, in one transaction (writers wait meanwhile)."""
    from core.db import Database
    from services.analytics.rollups import rebuild_rollups

    db = Database(settings.database_url, timeout=max(settings.db_timeout, 10.0))
    try:
        async with db.engine.connect() as conn:
            current = await migrate.current_revision(conn)
        if current != migrate.head_revision():
            print(f"error: database schema is at revision {current or 'none'}: run 'python server.py "
                  "migrate' first", file=sys.stderr)
            return 1
        await rebuild_rollups(db)
        print("summary tables rebuilt from the raw rows")
        return 0
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = args.command or "serve"
    keep_files_private(settings.database_url, settings.log_dir)
    if command == "serve":
        return serve(args, settings)
    if command == "migrate":
        migrate.upgrade(settings.database_url)
        print(f"database is at revision {migrate.head_revision()}")
        return 0
    if command == "create-user":
        password = args.password or os.environ.get("FACTORY_NEW_USER_PASSWORD") or getpass.getpass()
        if settings.is_sqlite:
            migrate.upgrade(settings.database_url)
        error = asyncio.run(create_user(settings, args.username, args.role, password))
        if error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"created {args.role} {args.username!r}")
        return 0
    if command in ("import", "import-legacy") and settings.is_sqlite:
        migrate.upgrade(settings.database_url)
    if command == "import":
        from services.exchange.import_cli import run_import

        return run_import(settings, args.resource, args.file, dry_run=args.dry_run, restore=args.restore)
    if command == "import-legacy":
        from services.exchange.legacy import run_legacy_import

        return run_legacy_import(settings, args.url)
    if command == "simulate":
        from services.exchange.simulator import run_simulator

        if settings.is_sqlite:
            migrate.upgrade(settings.database_url)
        return run_simulator(settings, args.broker, args.lines, args.speed)
    if command == "rebuild-rollups":
        return asyncio.run(rebuild_rollups_command(settings))
    if command == "seed":
        from services.exchange.seed import run_seed

        return run_seed(settings, size=args.size)
    return 2


if __name__ == "__main__":
    sys.exit(main())
