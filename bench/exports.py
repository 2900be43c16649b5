"""CSV export memory: the server's RSS while it streams every order of a seeded MariaDB database.

A fresh database is seeded (`server.py seed --size N`: 250 × N orders), a server process is
started on it, and `GET /orders` with `Accept: text/csv` is read to the end while the server's
RSS is sampled every 0.2 s. Prints rows, seconds, rows/s, the RSS before and its peak during the
export. The database is dropped at the end.

    .venv/bin/python bench/exports.py --size 4000     # 1M orders
    .venv/bin/python bench/exports.py --size 400      # 100k orders
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import loadavg, run_sql  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-export-pass-1"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--database-url", default="mysql+aiomysql://root@127.0.0.1:3306/factory_exportbench")
    args = parser.parse_args()
    base = make_url(args.database_url)
    name = f"{base.database}_{uuid.uuid4().hex[:6]}"
    server = base.set(database="")
    url = base.set(database=name).render_as_string(hide_password=False)
    asyncio.run(run_sql(server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    proc = None
    try:
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "FACTORY_DATABASE_URL": url, "FACTORY_ADMIN_PASSWORD": PASSWORD,
                   "FACTORY_LOG_DIR": folder, "FACTORY_RATE_LIMITS": "read=100000/60,login=100/60"}
            for command in (["migrate"], ["seed", "--size", str(args.size)]):
                subprocess.run([sys.executable, str(ROOT / "server.py"), *command], check=True, cwd=folder,
                               env=env, capture_output=True)
            port = free_port()
            proc = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--port", str(port)],
                                    cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base_url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(base_url + "/healthz", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
            credentials = json.dumps({"username": "admin", "password": PASSWORD}).encode()
            login = urllib.request.Request(base_url + "/auth/login", method="POST", data=credentials,
                                           headers={"Content-Type": "application/json"})
            token = json.loads(urllib.request.urlopen(login).read())["access_token"]
            before = rss_kib(proc.pid)
            peak, done = before, threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, rss_kib(proc.pid))
                    time.sleep(0.2)

            threading.Thread(target=sample, daemon=True).start()
            print(f"load before: {loadavg()}")
            started = time.monotonic()
            request = urllib.request.Request(base_url + "/orders", headers={
                "Authorization": f"Bearer {token}", "Accept": "text/csv"})
            lines = 0
            with urllib.request.urlopen(request, timeout=600) as response:
                while chunk := response.read(1 << 16):
                    lines += chunk.count(b"\n")
            seconds = time.monotonic() - started
            done.set()
            print(f"load after: {loadavg()}")
            rows = lines - 1
            print(f"exported {rows:,} order lines in {seconds:.1f} s = {rows / seconds:,.0f} rows/s")
            print(f"server RSS: {before / 1024:.1f} MiB before, {peak / 1024:.1f} MiB peak during the export")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        asyncio.run(run_sql(server, f"DROP DATABASE IF EXISTS `{name}`"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
