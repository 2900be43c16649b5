"""Reads on a million rows, uncached: first pages, cursor pages at depth, every report, the dashboard.

Starts one server process (response cache off, so every request is what a write-invalidated miss
costs) on a seeded database (`server.py seed --size 4000`: 1M orders, 1M production records) and
times each read sequentially, one request at a time (p50 and p90 of --repeat requests):

- the first page (with `meta.total`) of every list, and of /orders filtered by status;
- a cursor page at the end of /orders and /production, by id and by total_price / date_produced
  (the cursor is taken once from a deep page by number, then the cursor page is timed);
- every report over all history and over one month, every production-efficiency group_by;
- GET /dashboard/state;
- the server's CPU (utime + stime from /proc) per uncached 20-row /orders cursor page;
- with --walk, paging all orders by cursor (per_page=100) and the server's peak RSS (VmHWM).

    .venv/bin/python bench/scale_reads.py --database-url mysql+aiomysql://root@127.0.0.1:3306/factory_bench
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Row, add_rows_argument, write_rows  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + "x" * 40
PASSWORD = "bench-admin-pass-1"
MONTH = "from=2026-10-01&to=2026-10-31"
TARGETS = {"first page": 50.0, "cursor page": 30.0, "all history": 50.0, "one month": 100.0,
           "dashboard": 30.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, url: str) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}
        env.update(FACTORY_DATABASE_URL=url, FACTORY_JWT_SECRET=SECRET, FACTORY_CACHE_TTL="0",
                   FACTORY_ADMIN_PASSWORD=PASSWORD, FACTORY_LOG_DIR="/tmp/factory-scale-bench-logs",
                   FACTORY_RATE_LIMITS="login=100000/60,read=10000000/60,write=10000000/60,"
                                       "analytics=10000000/60")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--port", str(self.port)],
                                     env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        body = json.dumps({"username": "admin", "password": PASSWORD}).encode()
        answer = urllib.request.urlopen(urllib.request.Request(
            self.base + "/auth/login", body, {"Content-Type": "application/json"}), timeout=30)
        self.token = json.loads(answer.read())["access_token"]

    def get(self, path: str) -> tuple[float, Any]:
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as answer:
            body = answer.read()
        return (time.perf_counter() - started) * 1000, json.loads(body)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def timed(server: Server, path: str, repeat: int) -> tuple[float, float]:
    server.get(path)  # warm: the first request also warms MariaDB's buffer pool for this path
    times = sorted(server.get(path)[0] for _ in range(repeat))
    return statistics.median(times), times[int(len(times) * 0.9) - 1 if len(times) > 1 else 0]


def cursor_at_end(server: Server, path: str, total: int) -> str:
    """A cursor near the end of the list, from a deep page by number (slow once, then reused)."""
    joiner = "&" if "?" in path else "?"
    page = max(1, total // 20 - 2)
    _, body = server.get(f"{path}{joiner}per_page=20&page={page}")
    return body["meta"]["next_cursor"]


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    server = Server(args.database_url)
    rows: list[dict[str, Any]] = []

    def record(kind: str, path: str, p50: float, p90: float) -> None:
        target = TARGETS.get(kind)
        rows.append({"kind": kind, "path": path, "p50_ms": round(p50, 1), "p90_ms": round(p90, 1),
                     "target_ms": target, "met": target is None or p50 < target})
        print(f"{kind:12} {path:70} p50 {p50:8.1f} ms  p90 {p90:8.1f} ms  "
              f"{'' if target is None else ('met' if p50 < target else 'MISSED')}", flush=True)

    try:
        for path in ("/orders?per_page=20", "/orders?per_page=20&status=delivered", "/production?per_page=20",
                     "/customers?per_page=20", "/products?per_page=20", "/employees?per_page=20"):
            record("first page", path, *timed(server, path, args.repeat))
        totals = {"orders": server.get("/orders?per_page=1")[1]["meta"]["total"],
                  "production": server.get("/production?per_page=1")[1]["meta"]["total"]}
        for path in ("/orders?sort_by=id", "/orders?sort_by=total_price&sort_order=desc",
                     "/production?sort_by=id", "/production?sort_by=date_produced&sort_order=desc"):
            resource = path.split("?")[0].strip("/")
            cursor = cursor_at_end(server, path, totals[resource])
            cursor_path = f"{path}&per_page=20&cursor={urllib.parse.quote(cursor)}"
            record("cursor page", path + " (at the end)", *timed(server, cursor_path, args.repeat))
        reports = ["employee-performance", "top-products", "customer-lifetime-value",
                   *[f"production-efficiency?group_by={group}"
                     for group in ("product", "line", "employee", "day")]]
        for report in reports:
            path = f"/analytics/{report}"
            record("all history", path, *timed(server, path, args.repeat))
        for report in reports:
            joiner = "&" if "?" in report else "?"
            path = f"/analytics/{report}{joiner}{MONTH}"
            record("one month", path, *timed(server, path, args.repeat))
        record("dashboard", "/dashboard/state", *timed(server, "/dashboard/state", args.repeat))
        # Server CPU per uncached 20-row cursor page.
        cursor = cursor_at_end(server, "/orders?sort_by=id", totals["orders"] // 2)
        path = f"/orders?sort_by=id&per_page=20&cursor={urllib.parse.quote(cursor)}"
        before = server.cpu_seconds()
        for _ in range(args.cpu_requests):
            server.get(path)
        per_page_ms = (server.cpu_seconds() - before) / args.cpu_requests * 1000
        rows.append({"kind": "server CPU", "path": path, "cpu_ms_per_page": round(per_page_ms, 2),
                     "target_ms": 1.5, "met": per_page_ms <= 1.5})
        print(f"server CPU per uncached 20-row cursor page: {per_page_ms:.2f} ms (target 1.5 ms)", flush=True)
        if args.walk:
            started, pages, seen = time.perf_counter(), 0, 0
            _, body = server.get("/orders?per_page=100")
            seen += len(body["items"])
            while body["meta"]["next_cursor"]:
                cursor = urllib.parse.quote(body["meta"]["next_cursor"])
                _, body = server.get(f"/orders?per_page=100&cursor={cursor}")
                seen += len(body["items"])
                pages += 1
            rss = server.peak_rss_mb()
            rows.append({"kind": "walk", "orders": seen, "pages": pages,
                         "seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": round(rss, 1),
                         "target_mb": 200, "met": rss < 200})
            print(f"walked {seen:,} orders in {pages:,} cursor pages, {time.perf_counter() - started:.0f} s; "
                  f"server peak RSS {rss:.0f} MB (target < 200 MB)", flush=True)
    finally:
        server.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "FACTORY_BENCH_DATABASE_URL", "mysql+aiomysql://root@127.0.0.1:3306/factory_bench"))
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per read (default 15)")
    parser.add_argument("--cpu-requests", type=int, default=300, help="requests for the CPU figure")
    parser.add_argument("--walk", action="store_true", help="also page through every order by cursor")
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    add_rows_argument(parser)
    args = parser.parse_args(argv)
    rows = run(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    write_rows(args.rows, [suite_row(row) for row in rows])
    return 0  # missed targets are figures to record, not a failed run


def suite_row(row: dict[str, Any]) -> Row:
    """One result as a line of bench/suite.py's table."""
    if row["kind"] == "server CPU":
        return Row("uncached 20-row cursor page: server CPU", row["cpu_ms_per_page"], "ms",
                   target="≤ 1.5 ms", met=row["met"])
    if row["kind"] == "walk":
        return Row(f"cursor paging all {row['orders']:,} orders: server peak RSS", row["peak_rss_mb"], "MB",
                   target="< 200 MB", met=row["met"])
    return Row(f"{row['kind']}: GET {row['path']} uncached, p50", row["p50_ms"], "ms",
               target=f"< {row['target_ms']:g} ms", met=row["met"])


if __name__ == "__main__":
    sys.exit(main())
