"""Shared bench helpers: server subprocesses on a pinned core, and an HTTP load generator in another.

The load comes from wrk (Debian's `wrk` package) when it is installed, else from the asyncio
generator below (`python bench/common.py load …`), which runs in its own process with a pool of
keep-alive connections. Either way the generator and the server under test never share a process,
and with `cpu=` they sit on different cores, so one number is one server process's throughput.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass(frozen=True)
class LoadResult:
    """One load run against one URL."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors


@dataclass(frozen=True)
class Row:
    """One line of the suite's table (`bench/suite.py`): a workload, its figure, and its ratio.

    `ratio` is figure ÷ reference measured in the same run (or None when there is no reference);
    `target` says what the figure must reach in words ("≥ 0.7× bare", "< 20 ms") and `met` whether
    it did (None when the row has no target).
    """

    workload: str
    figure: float
    unit: str
    reference: str | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None


# The server processes run on one core and the load generator on the other, so that one figure is
# one server process's throughput (-1 on the command line: any core).
SERVER_CPU, LOAD_CPU = 0, 1


def add_load_arguments(parser: argparse.ArgumentParser, *, connections: int, seconds: float, rounds: int,
                       generator: bool = True) -> None:
    """The options every HTTP load bench takes: how hard, how long, how often, on which cores."""
    parser.add_argument("--connections", type=int, default=connections,
                        help=f"keep-alive connections (default {connections})")
    parser.add_argument("--seconds", type=float, default=seconds,
                        help=f"seconds per measurement (default {seconds:g})")
    parser.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds (default {rounds})")
    if generator:
        parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto",
                            help="load generator (default: wrk if installed)")
    parser.add_argument("--server-cpu", type=int, default=SERVER_CPU, help="core for the servers (-1: any)")
    parser.add_argument("--load-cpu", type=int, default=LOAD_CPU,
                        help="core for the load generator (-1: any)")


def add_rows_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=Path, help="append the results as JSON lines (Row) to this file "
                                                  "(bench/suite.py collects them into one table)")


def write_rows(path: Path | None, rows: list[Row]) -> None:
    """Append `rows` to `path` as JSON lines; nothing when `path` is None."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row.__dict__) + "\n")


def read_rows(path: Path) -> list[Row]:
    if not path.exists():
        return []
    return [Row(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- servers ------------------------------------------------------------------------------------

class ServerProcess:
    """A child process that binds a free port on 127.0.0.1 and prints `PORT <n>` once it serves."""

    def __init__(self, name: str, argv: list[str], *, cpu: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        preexec = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.process = subprocess.Popen([PYTHON, *argv], stdout=subprocess.PIPE, stderr=None, text=True,
                                        cwd=ROOT, env={**os.environ, **(env or {})}, preexec_fn=preexec)
        self.port = self._read_port()

    def _read_port(self) -> int:
        line = self.process.stdout.readline() if self.process.stdout else ""
        match = re.fullmatch(r"PORT (\d+)\s*", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"{self.name} did not start (said {line!r})")
        return int(match.group(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server has used so far: its cost, whatever the neighbours do."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def mariadb_server() -> str | None:
    """FACTORY_TEST_MYSQL_URL (the MariaDB server a bench makes its own database on), or None
    after saying it is missing."""
    url = os.environ.get("FACTORY_TEST_MYSQL_URL")
    if not url:
        print("error: set FACTORY_TEST_MYSQL_URL (a MariaDB server)", file=sys.stderr)
    return url


def announce_port(port: int) -> None:
    """Tell the parent `ServerProcess` which port this child serves on."""
    print(f"PORT {port}", flush=True)


def pin_to(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


# -- load ---------------------------------------------------------------------------------------

def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_load(url: str, *, connections: int, seconds: float, headers: dict[str, str],
             tool: str = "auto", cpu: int | None = None, method: str = "GET", body: str | None = None,
             first_n: int = 1) -> LoadResult:
    """Drive `url` for `seconds` with `connections` keep-alive connections from another process.

    Every request sends `body` (if any) with `method`. A `{n}` in the URL's path or query is
    replaced by a counter that starts at `first_n` and grows by one per request, so each request
    can ask for something different (a page the cache has not seen).
    """
    if tool == "auto":
        tool = "wrk" if have_wrk() else "python"
    if tool == "wrk":
        return _run_wrk(url, connections=connections, seconds=seconds, headers=headers, cpu=cpu,
                        method=method, body=body, first_n=first_n)
    argv = [PYTHON, str(Path(__file__).resolve()), "load", url, "--connections", str(connections),
            "--seconds", str(seconds), "--method", method, "--first-n", str(first_n)]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    if body is not None:
        argv += ["--body", body]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    return LoadResult(**json.loads(out))


def _run_wrk(url: str, *, connections: int, seconds: float, headers: dict[str, str],
             cpu: int | None, method: str = "GET", body: str | None = None, first_n: int = 1) -> LoadResult:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    script = wrk_script(url, method, body, first_n)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-wrk-") as lua:
        if script:
            lua.write(script)
            lua.flush()
            argv += ["-s", lua.name]
        argv.append(url.replace("{n}", str(first_n)))
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    return parse_wrk(out)


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII text is a valid Lua string literal


def wrk_script(url: str, method: str, body: str | None, first_n: int) -> str:
    """The Lua that makes wrk send `method` and `body`, and count `{n}` up per request ("" if neither)."""
    lines = []
    if method != "GET":
        lines.append(f"wrk.method = {_lua_string(method)}")
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body)}")
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if "{n}" in target:
        before, after = target.split("{n}", 1)
        # One wrk thread (-t1), so one counter for the whole run.
        lines += [f"local n = {first_n - 1}",
                  "request = function()",
                  "  n = n + 1",
                  f"  return wrk.format(nil, {_lua_string(before)} .. n .. {_lua_string(after)})",
                  "end"]
    return "\n".join(lines) + ("\n" if lines else "")


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def parse_wrk(out: str) -> LoadResult:
    """Read requests, duration, rate, p50/p99 and errors from `wrk --latency` output."""
    done = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s)", out)
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (done and rps and p50 and p99):
        raise ValueError(f"cannot read wrk output:\n{out}")
    errors = 0
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(non_2xx.group(1))
    if sockets := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(n) for n in sockets.groups())
    seconds = _wrk_ms(done.group(2) + done.group(3)) / 1000.0
    return LoadResult(int(done.group(1)), seconds, float(rps.group(1)), _wrk_ms(p50.group(1)),
                      _wrk_ms(p99.group(1)), errors)


# -- the asyncio generator, for machines without wrk -------------------------------------------

async def _connection(host: str, port: int, request: Callable[[], bytes], deadline: float,
                      latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request())
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.startswith((b"HTTP/1.1 2", b"HTTP/1.1 3")):
                errors[0] += 1
    finally:
        writer.close()


async def generate_load(url: str, connections: int, seconds: float, headers: dict[str, str],
                        method: str = "GET", body: str | None = None, first_n: int = 1) -> LoadResult:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    payload = (body or "").encode()
    lines = [f"Host: {parts.netloc}", *(f"{name}: {value}" for name, value in headers.items())]
    if body is not None:
        lines.append(f"Content-Length: {len(payload)}")
    tail = ("\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode() + payload
    fixed = f"{method} {target} HTTP/1.1".encode() + tail
    counter = itertools.count(first_n)

    def request() -> bytes:
        if "{n}" not in target:
            return fixed
        return f"{method} {target.replace('{n}', str(next(counter)))} HTTP/1.1".encode() + tail

    latencies: list[float] = []
    errors = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_connection(parts.hostname or "127.0.0.1", parts.port or 80, request, deadline,
                                       latencies, errors) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return LoadResult(len(latencies), elapsed, len(latencies) / elapsed, quantiles[49] * 1000,
                      quantiles[98] * 1000, errors[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="asyncio HTTP/1.1 keep-alive load generator")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load")
    load.add_argument("url")
    load.add_argument("--connections", type=int, default=32)
    load.add_argument("--seconds", type=float, default=5.0)
    load.add_argument("--header", action="append", default=[])
    load.add_argument("--method", default="GET")
    load.add_argument("--body")
    load.add_argument("--first-n", type=int, default=1)
    load.add_argument("--cpu", type=int)
    args = parser.parse_args(argv)
    pin_to(args.cpu)
    headers = dict(h.split(": ", 1) for h in args.header)
    result = asyncio.run(generate_load(args.url, args.connections, args.seconds, headers, args.method,
                                       args.body, args.first_n))
    print(json.dumps(result.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
