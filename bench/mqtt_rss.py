"""Memory of one server process consuming machines over MQTT while `server.py simulate` runs beside it.

A MariaDB database of its own is seeded (`server.py seed`), one server consumes the local Mosquitto
(FACTORY_TEST_MQTT_URL, default mqtt://127.0.0.1:1883) and the simulator publishes Sparkplug B for
every seeded line at `--speed`. The server's RSS is sampled every `--every` seconds; the figures are
its RSS after the warm-up (the first tenth of the run), its peak, its last, and the growth from the
warm-up to the end, with the messages the server took in meanwhile.

    python bench/mqtt_rss.py [--minutes 10] [--speed 20] [--every 10]

Needs FACTORY_TEST_MYSQL_URL (a MariaDB server; a database of its own is made and dropped).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import mariadb_server  # noqa: E402
from bench.mqtt_ingest import forget_session  # noqa: E402
from tests.databases import mariadb_database  # noqa: E402
from tests.servers import SERVER, ServerProcess, run_cli, server_env  # noqa: E402

BROKER = os.environ.get("FACTORY_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def messages_taken(server: ServerProcess) -> int:
    status, _, body = server.request("GET", "/readyz")
    return int(body.get("mqtt", {}).get("messages", 0)) if status == 200 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--speed", type=float, default=20)
    parser.add_argument("--every", type=float, default=10)
    args = parser.parse_args(argv)
    mysql = mariadb_server()
    if not mysql:
        return 2
    load = os.getloadavg()
    with mariadb_database(mysql, "factory_bench_rss") as url, tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        env = server_env(workdir, url, FACTORY_MQTT_URL=BROKER,
                         FACTORY_MQTT_CLIENT_ID=f"bench-rss-{uuid.uuid4().hex[:8]}")
        seeded = run_cli(workdir, "seed", env=env)
        if seeded.returncode != 0:
            print(seeded.stderr, file=sys.stderr)
            return 1
        server = ServerProcess(workdir / "server", env)
        import asyncio
        asyncio.run(server.wait_ready())
        simulator = subprocess.Popen([sys.executable, str(SERVER), "simulate", "--speed", str(args.speed)],
                                     cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        samples: list[tuple[float, float, int]] = []
        try:
            started = time.monotonic()
            end = started + args.minutes * 60
            while time.monotonic() < end:
                samples.append((time.monotonic() - started, rss_mib(server.proc.pid), messages_taken(server)))
                print(f"{samples[-1][0]:6.0f} s  RSS {samples[-1][1]:7.1f} MiB  messages {samples[-1][2]:,}",
                      file=sys.stderr, flush=True)
                time.sleep(args.every)
            samples.append((time.monotonic() - started, rss_mib(server.proc.pid), messages_taken(server)))
        finally:
            simulator.terminate()
            simulator.wait(30)
            server.stop()
            forget_session(env["FACTORY_MQTT_CLIENT_ID"])
    warm = next(sample for sample in samples if sample[0] >= args.minutes * 6)
    peak = max(rss for _, rss, _ in samples)
    last = samples[-1]
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{args.minutes:g} min, simulator at --speed {args.speed:g}: {last[2]:,} messages taken "
          f"({(last[2] - warm[2]) / max(last[0] - warm[0], 1):,.1f}/s after the warm-up)")
    print(f"server RSS: {warm[1]:.1f} MiB after the warm-up ({warm[0]:.0f} s), peak {peak:.1f} MiB, "
          f"last {last[1]:.1f} MiB; growth after the warm-up {last[1] - warm[1]:+.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
