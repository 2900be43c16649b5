"""`server.py simulate` beside `server.py seed` and `server.py`: the seeded lines' machines are
registered and their counts reach the board through the real broker."""
from __future__ import annotations

import subprocess
import sys
import uuid

from tests.conftest import MQTT_URL, PASSWORDS, skip_unless_available
from tests.servers import SERVER, ServerProcess, run_cli, server_env
from tests.waiting import eventually


async def test_the_simulator_runs_the_seeded_plant(tmp_path):
    skip_unless_available(bool(MQTT_URL), "MQTT tests need FACTORY_TEST_MQTT_URL")
    tag = uuid.uuid4().hex[:8]
    env = server_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}", FACTORY_MQTT_URL=MQTT_URL,
                     FACTORY_MQTT_CLIENT_ID=f"factory-test-sim-{tag}", FACTORY_MQTT_PREFIX=f"sim-{tag}")
    seeded = run_cli(tmp_path, "seed", env=env)
    assert seeded.returncode == 0, seeded.stderr
    server = await ServerProcess(tmp_path / "server", env).wait_ready()
    simulator = subprocess.Popen([sys.executable, str(SERVER), "simulate", "--lines", "L1", "--speed", "50"],
                                 cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, text=True)
    try:
        status, body = server.login("admin", PASSWORDS["super_admin"])
        assert status == 200, body
        auth = {"Authorization": f"Bearer {body['access_token']}"}

        def machine_records() -> list:
            _, _, page = server.request("GET", "/production?line=L1&per_page=100", headers=auth)
            return [item for item in page["items"] if item["source"] == "machine"]

        assert await eventually(lambda: machine_records() and machine_records()[0]["quantity_produced"] > 2,
                                120), server.output()[-2000:]
        _, _, machines = server.request("GET", "/machines", headers=auth)
        [machine] = machines["items"]
        assert machine["name"] == "L1 simulated" and machine["protocol"] == "sparkplug"
        assert machine["status"] == "online" and machine["fault_reasons"]
    finally:
        simulator.terminate()
        output = simulator.communicate(timeout=30)[0]
        server.stop()
    assert "Simulating 1 machines (L1)" in output
    bad = run_cli(tmp_path, "simulate", "--broker", "http://nope", env=env)
    assert bad.returncode == 2 and "--broker" in bad.stderr
