"""`server.py import-legacy URL`: a database in the Flask system's schema, built here, loads completely,
its users sign in with their old (Werkzeug-hashed) passwords, and a second run imports nothing."""
from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from models import Product, StockMovement, User
from services.exchange.legacy import LegacyImport
from tests.conftest import MYSQL_URL, skip_unless_available
from tests.databases import mariadb_database
from tests.servers import newcomer_env, run_cli

LEGACY_SCHEMA = [
    """CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(80), password VARCHAR(255),
       role VARCHAR(20), is_active BOOLEAN, created_at DATETIME, updated_at DATETIME, deleted_at DATETIME)""",
    """CREATE TABLE employees (id INTEGER PRIMARY KEY, name VARCHAR(100), position VARCHAR(100),
       email VARCHAR(120), phone VARCHAR(20), created_at DATETIME, updated_at DATETIME,
       deleted_at DATETIME)""",
    """CREATE TABLE products (id INTEGER PRIMARY KEY, name VARCHAR(100), description TEXT, price FLOAT,
       stock_quantity INTEGER, created_at DATETIME, updated_at DATETIME, deleted_at DATETIME)""",
    """CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(100), email VARCHAR(120),
       phone VARCHAR(20), address VARCHAR(200), created_at DATETIME, updated_at DATETIME,
       deleted_at DATETIME)""",
    """CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, product_id INTEGER, quantity INTEGER,
       total_price FLOAT, status VARCHAR(20), created_at DATETIME, updated_at DATETIME,
       deleted_at DATETIME)""",
    """CREATE TABLE production (id INTEGER PRIMARY KEY, product_id INTEGER, employee_id INTEGER,
       quantity_produced INTEGER, quantity_defective INTEGER, date_produced DATE, created_at DATETIME,
       updated_at DATETIME, deleted_at DATETIME)""",
]
T0 = datetime(2024, 5, 6, 7, 8, 9)
GONE = datetime(2025, 1, 2, 3, 4, 5)
PASSWORDS = {"alice": "alice-old-pass", "bob": "bob-old-pass", "carol": "carol-old-pass"}


def pbkdf2(password: str, salt: str = "Xy7salt1", iterations: int = 1000) -> str:
    """Werkzeug's generate_password_hash(method="pbkdf2:sha256:1000"): the salt as text, a hex digest."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2:sha256:{iterations}${salt}${digest}"


def scrypt(password: str, salt: str = "Qz9salt2", n: int = 16384, r: int = 8, p: int = 1) -> str:
    """Werkzeug's generate_password_hash(method="scrypt:16384:8:1"): 64-byte key, hex."""
    digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p,
                            maxmem=132 * n * r * p).hex()
    return f"scrypt:{n}:{r}:{p}${salt}${digest}"


ROWS = {
    "users": [
        {"id": 1, "username": "Alice ", "password": pbkdf2(PASSWORDS["alice"]), "role": "admin",
         "is_active": True},
        {"id": 2, "username": "bob", "password": scrypt(PASSWORDS["bob"]), "role": "user", "is_active": True},
        {"id": 3, "username": "carol", "password": pbkdf2(PASSWORDS["carol"]), "role": "user",
         "is_active": True, "deleted_at": GONE},
    ],
    "employees": [
        {"id": 1, "name": "Ann Operator", "position": "Operator", "email": "Ann@Plant.example",
         "phone": "(555) 123-4567"},
        {"id": 2, "name": "Ben Left", "position": "Welder", "email": "ben@plant.example",
         "phone": "+49 30 1234567", "deleted_at": GONE},
        {"id": 4, "name": "Cleo National", "position": "Fitter", "email": "cleo@plant.example",
         "phone": "098-765-4321"},
    ],
    "products": [
        {"id": 1, "name": "Gear", "description": "A gear", "price": 19.989999, "stock_quantity": 40},
        {"id": 2, "name": "Old bolt", "description": None, "price": 0.1, "stock_quantity": 0,
         "deleted_at": GONE},
        {"id": 7, "name": "Nut", "description": None, "price": 5.005, "stock_quantity": 3},
    ],
    "customers": [
        {"id": 1, "name": "Acme", "email": "buyer@acme.example", "phone": "+1 555 987 6543",
         "address": "1 Road"},
        {"id": 2, "name": "Gone Ltd", "email": "x@gone.example", "phone": "+4930111222", "deleted_at": GONE},
    ],
    "orders": [
        {"id": 1, "customer_id": 1, "product_id": 1, "quantity": 3, "total_price": 59.969997,
         "status": "shipped"},
        {"id": 2, "customer_id": 2, "product_id": 2, "quantity": 10, "total_price": 1.0, "status": None},
        {"id": 3, "customer_id": 1, "product_id": 7, "quantity": 1, "total_price": 5.0, "status": "pending",
         "deleted_at": GONE},
    ],
    "production": [
        {"id": 1, "product_id": 1, "employee_id": 1, "quantity_produced": 50, "quantity_defective": 2,
         "date_produced": "2024-05-06"},
        {"id": 2, "product_id": 7, "employee_id": None, "quantity_produced": 8, "quantity_defective": 0,
         "date_produced": "2024-05-07"},
        {"id": 3, "product_id": 2, "employee_id": 2, "quantity_produced": 5, "quantity_defective": 0,
         "date_produced": "2024-05-08", "deleted_at": GONE},
        {"id": 4, "product_id": 1, "employee_id": 1, "quantity_produced": 5, "quantity_defective": 0,
         "date_produced": "2999-01-01"},
    ],
}


async def build_legacy(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for ddl in LEGACY_SCHEMA:
                await conn.execute(text(ddl))
            for table, rows in ROWS.items():
                for row in rows:
                    values = {"created_at": T0, "updated_at": T0, "deleted_at": None, **row}
                    names = ", ".join(values)
                    marks = ", ".join(f":{name}" for name in values)
                    await conn.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "mysql"])
def legacy_url(request, tmp_path):
    """The old system's database: a SQLite file, or a MariaDB database of its own (dropped after)."""
    if request.param == "sqlite":
        path = tmp_path / "legacy.db"
        asyncio.run(build_legacy(f"sqlite+aiosqlite:///{path}"))
        yield f"sqlite:///{path}"
        return
    skip_unless_available(bool(MYSQL_URL), "MariaDB tests need FACTORY_TEST_MYSQL_URL")
    with mariadb_database(MYSQL_URL, "legacy", migrated=False) as url:
        asyncio.run(build_legacy(url))
        yield make_url(url).set(drivername="mysql").render_as_string(hide_password=False)


async def import_legacy(tmp_path, settings, url: str):
    """The command in a thread: the test server's loop keeps running (its background writes finish).
    The plant is in Berlin: a record's day is a Berlin day."""
    env = newcomer_env(tmp_path, FACTORY_DATABASE_URL=settings.database_url, FACTORY_TIMEZONE="Europe/Berlin")
    result = await asyncio.to_thread(run_cli, tmp_path, "import-legacy", url, env=env)
    assert result.returncode == 0, result.stderr
    return result


async def test_the_legacy_database_loads_completely_and_a_rerun_imports_nothing(api, app, settings, tmp_path,
                                                                                legacy_url):
    first = await import_legacy(tmp_path, settings, legacy_url)
    # carol (soft-deleted) is imported too, as a deactivated user
    assert first.stdout.splitlines()[0] == "users: 3 imported, 0 skipped"
    assert "production: 2 imported, 2 skipped" in first.stdout
    assert "deleted in the legacy system" in first.stdout
    assert "1 × date_produced is in the future" in first.stdout
    assert " 0 × " not in first.stdout  # only the reasons that skipped something
    for table in ("users", "employees", "products", "customers", "orders", "production"):
        assert table in first.stderr  # a progress bar per table

    products = (await api.get("/products?include_archived=true&sort_by=sku", role="admin")).json["items"]
    assert [(p["sku"], p["name"], p["price"], p["stock_quantity"], p["active"]) for p in products] == [
        ("LEGACY-1", "Gear", "19.99", 40, True), ("LEGACY-2", "Old bolt", "0.10", 0, False),
        ("LEGACY-7", "Nut", "5.01", 3, True)]
    listed = (await api.get("/products", role="admin")).json["items"]
    assert [p["sku"] for p in listed] == ["LEGACY-1", "LEGACY-7"]

    employees = (await api.get("/employees?include_archived=true", role="admin")).json["items"]
    assert [(e["name"], e["email"], e["phone"], e["active"]) for e in employees] == [
        ("Ann Operator", "ann@plant.example", "5551234567", True),
        ("Ben Left", "ben@plant.example", "+49301234567", False),
        ("Cleo National", "cleo@plant.example", "0987654321", True),
        ("Unassigned (imported)", "unassigned@legacy-import.invalid", "+10000000000", False)]
    customers = (await api.get("/customers?include_archived=true", role="admin")).json["items"]
    assert [(c["name"], c["active"]) for c in customers] == [("Acme", True), ("Gone Ltd", False)]

    orders = (await api.get("/orders", role="admin")).json["items"]
    assert [(o["status"], o["total_price"], o["created_at"]) for o in orders] == [
        ("shipped", "59.97", "2024-05-06T07:08:09Z"), ("delivered", "1.00", "2024-05-06T07:08:09Z"),
        ("cancelled", "5.00", "2024-05-06T07:08:09Z")]
    assert orders[0]["items"][0]["unit_price"] == "19.99" and orders[0]["customer_id"] == customers[0]["id"]

    production = (await api.get("/production", role="admin")).json["items"]
    assert [(r["employee_id"], r["quantity_produced"], r["date_produced"]) for r in production] == [
        (employees[0]["id"], 50, "2024-05-06"), (employees[3]["id"], 8, "2024-05-07")]
    # No line, no shift: each is placed at noon of its day on the plant's clock (Berlin, UTC+2 in May).
    assert [(r["line"], r["shift"], r["produced_at"]) for r in production] == [
        (None, None, "2024-05-06T10:00:00Z"), (None, None, "2024-05-07T10:00:00Z")]

    # History moved no stock: each product's ledger is its opening balance.
    async with app.ctx.db.session() as session:
        ledger = (await session.execute(select(StockMovement.product_id, StockMovement.delta,
                                               StockMovement.reason))).all()
        stock = dict((await session.execute(select(Product.id, Product.stock_quantity))).all())
    assert sorted((stock[pid], delta, reason) for pid, delta, reason in ledger) == [
        (3, 3, "opening"), (40, 40, "opening")]

    # The users keep their passwords; the first sign-in replaces the Werkzeug hash with ours.
    for name in ("alice", "bob"):
        response = await api.login(name, PASSWORDS[name])
        assert response.status == 200, (name, response)
        assert (await api.login(name, "wrong-password")).status == 401
    assert (await api.login("carol", PASSWORDS["carol"])).status == 401  # soft-deleted: deactivated
    async with app.ctx.db.session() as session:
        hashes = dict((await session.execute(select(User.username, User.password_hash))).all())
    assert hashes["alice"].startswith("scrypt$") and hashes["bob"].startswith("scrypt$")
    assert hashes["carol"].startswith("pbkdf2:sha256:1000$")
    me = await api.login("alice", PASSWORDS["alice"])
    assert me.status == 200
    whoami = await api.get("/auth/me", token=me.json["access_token"])
    assert whoami.json["role"] == "admin"

    second = await import_legacy(tmp_path, settings, legacy_url)
    for table in ("users", "employees", "products", "customers", "orders", "production"):
        assert f"{table}: 0 imported" in second.stdout, second.stdout
    assert "3 × already imported" in second.stdout
    assert len((await api.get("/orders", role="admin")).json["items"]) == 3
    assert len((await api.get("/employees?include_archived=true", role="admin")).json["items"]) == 4


def test_an_unsupported_url_is_a_one_line_error(tmp_path, settings):
    env = newcomer_env(tmp_path, FACTORY_DATABASE_URL=settings.database_url)
    result = run_cli(tmp_path, "import-legacy", "postgresql://nobody@localhost/old", env=env)
    assert result.returncode == 2 and result.stderr.startswith("error: unsupported database")
    missing = run_cli(tmp_path, "import-legacy", "mysql://root@127.0.0.1:1/nothing", env=env)
    assert missing.returncode == 1 and "cannot read the legacy database" in missing.stderr



DUPLICATES = {  # one batch per table: (id, name, email, phone) or (id, name, price, stock_quantity)
    "customers": [(1, "Acme", "buyer@acme.example", "+15559876543"),
                  (2, "Taken", "Taken@Shop.example", "+15550000001"),      # in the database
                  (3, "Acme again", "BUYER@acme.example", "+15550000002"),  # row 1's
                  (4, "Other", "other@x.example", "+15559876543"),          # phones need not be unique
                  (5, "Bad", "not-an-email", "+15550000003")],
    "employees": [(1, "Ann", "ann@plant.example", "(555) 123-4567"),
                  (2, "Bob", "bob@plant.example", "555-123-4567"),          # row 1's phone
                  (3, "Ann 2", "ANN@plant.example", "+4930999"),            # row 1's email
                  (4, "Eve", "eve@plant.example", "+4930111"),              # email in the database
                  (5, "Fay", "fay@plant.example", "+49 30 222"),            # phone in the database
                  (6, "Bob 2", "bob@plant.example", "+4930333")],           # row 2 was skipped: free
    "products": [(1, "Gear", 2.5, 5), (2, "Taken", 1.0, 7), (3, "Empty", 1.0, 0)],  # LEGACY-2 is taken
}


async def build_duplicates(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for ddl in LEGACY_SCHEMA[1:4]:
                await conn.execute(text(ddl))
            for table, rows in DUPLICATES.items():
                names = (("id", "name", "price", "stock_quantity") if table == "products"
                         else ("id", "name", "email", "phone"))
                columns = names + (("position",) if table == "employees" else ())
                await conn.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                        f"({', '.join(':' + name for name in columns)})"),
                                   [{"position": "Operator", **dict(zip(names, row, strict=True))}
                                    for row in rows])
    finally:
        await engine.dispose()


async def test_a_batch_skips_values_taken_in_the_database_and_earlier_in_the_batch(api, app, tmp_path):
    """A unique value already in the database, or taken by an earlier row of the same batch (whatever
    its case or phone format), is skipped with the service's conflict, as the row-at-a-time path
    skipped it; a row skipped for one value does not take its other values."""
    for path, body in (("/customers", {"name": "Shop", "email": "taken@shop.example", "phone": "+4940123"}),
                       ("/employees", {"name": "Eve", "position": "Op", "email": "EVE@plant.example",
                                       "phone": "+4940777"}),
                       ("/employees", {"name": "Gil", "position": "Op", "email": "gil@plant.example",
                                       "phone": "+4930222"}),
                       ("/products", {"sku": "legacy-2", "name": "Mine", "price": "1.00"})):
        assert (await api.post(path, body, role="admin")).status == 201
    url = f"sqlite+aiosqlite:///{tmp_path / 'duplicates.db'}"
    await build_duplicates(url)
    legacy = create_async_engine(url)
    try:
        async with legacy.connect() as conn:
            run = LegacyImport(app.ctx.db, conn, progress=False)
            await run.run()
    finally:
        await legacy.dispose()
    assert (run.imported["customers"], run.imported["employees"], run.imported["products"]) == (2, 2, 2)
    assert run.skipped["customers"] == Counter({"Another customer already has this email.": 2,
                                                "email: Not a valid email address.": 1})
    assert run.skipped["employees"] == Counter({"Another employee already has this email.": 2,
                                                "Another employee already has this phone.": 2})
    assert run.skipped["products"] == Counter({"Another product already has this sku.": 1})
    assert sorted(run.mapped["customers"]) == [1, 4] and sorted(run.mapped["employees"]) == [1, 6]
    assert not run.row_by_row  # each batch was checked and written at once

    customers = (await api.get("/customers?sort_by=id", role="admin")).json["items"]
    assert [(c["name"], c["email"]) for c in customers] == [
        ("Shop", "taken@shop.example"), ("Acme", "buyer@acme.example"), ("Other", "other@x.example")]
    employees = (await api.get("/employees?sort_by=id", role="admin")).json["items"]
    assert [(e["name"], e["phone"]) for e in employees] == [
        ("Eve", "+4940777"), ("Gil", "+4930222"), ("Ann", "5551234567"), ("Bob 2", "+4930333")]
    async with app.ctx.db.session() as session:
        ledger = (await session.execute(select(Product.sku, StockMovement.delta, StockMovement.balance_after,
                                               StockMovement.reason, StockMovement.note)
                                        .join(Product, Product.id == StockMovement.product_id))).all()
    assert ledger == [("LEGACY-1", 5, 5, "opening", "Opening balance")]


async def test_a_batch_the_unique_index_refuses_is_taken_row_by_row(api, app, settings, tmp_path):
    """MariaDB's collation takes "josé@…" and "jose@…" for one email, which the batch's own check (by
    lower case) does not: its unique index refuses the batch, which is then written row by row, with
    the row path's outcome. SQLite tells them apart, as the row path there does."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'accents.db'}"
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(LEGACY_SCHEMA[3]))
            await conn.execute(text("INSERT INTO customers (id, name, email, phone) VALUES "
                                    "(1, 'José', 'josé@plant.example', '+4930111'), "
                                    "(2, 'Jose', 'jose@plant.example', '+4930222'), "
                                    "(3, 'Other', 'other@plant.example', '+4930333')"))
        async with engine.connect() as conn:
            run = LegacyImport(app.ctx.db, conn, progress=False)
            await run.run()
    finally:
        await engine.dispose()
    customers = (await api.get("/customers?sort_by=id", role="admin")).json["items"]
    if settings.is_sqlite:
        assert not run.row_by_row and run.imported["customers"] == 3
        assert [c["name"] for c in customers] == ["José", "Jose", "Other"]
    else:
        assert run.row_by_row == Counter({"customers": 1})
        assert run.skipped["customers"] == Counter({"Another customer already has this email.": 1})
        assert sorted(run.mapped["customers"]) == [1, 3]
        assert [c["name"] for c in customers] == ["José", "Other"]
