"""``cosemnet lon action`` / ``lon set``: the data concentrator disconnects one meter of a ``cosemnet sim
lon --channel cnip --key-file`` segment over an OSGP-AES secure channel and reads its control state back
(real processes); the other meter stays connected; the public association (no key file) is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import RunCli
from .test_lon_read_key_file import _free_udp_port

DISCONNECT = "0-0:96.3.10*255"


def test_lon_action_disconnects_one_meter_and_the_state_reads_back(
    cosemnet: list[str], run_cli: RunCli, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.json"
    port = _free_udp_port()
    args = ("sim", "lon", "--meters", "2", "--channel", "cnip", "--duration", "60", "--port", str(port))
    sim = subprocess.Popen(
        [*cosemnet, *args, "--key-file", str(keys), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        summary = json.loads(sim.stdout.readline())
        assert summary["ok"] is True
        local = f"127.0.0.1:{port}"

        def where(i: int) -> tuple[str, ...]:
            node = summary["nodes"][i]
            return ("--segment", node["udp"], "--node", node["meter"], "--local", local)

        def state(i: int) -> int:
            """The control state (attribute 3): 0 disconnected, 1 connected."""
            node = summary["nodes"][i]
            base = (
                "read",
                "--profile",
                "lon",
                node["udp"],
                "--lon-node",
                node["meter"],
                "--lon-local",
                local,
            )
            done = run_cli(*base, "--key-file", str(keys), f"70/{DISCONNECT}/3", "--json")
            assert done.returncode == 0, done.stderr
            return int(json.loads(done.stdout)["value"])

        # without the key file: the public association may not invoke it
        public = run_cli("lon", "action", *where(1), "--obis", f"70/{DISCONNECT}/1", "--value", "integer:0")
        assert public.returncode == 1 and "success" not in public.stdout
        done = run_cli(
            "lon", "action", *where(1), "--key-file", str(keys), "--obis", f"70/{DISCONNECT}/1",
            "--value", "integer:0", "--json",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {
            "operation": "action",
            "target": f"70/{DISCONNECT}/1",
            "result": "success",
        }
        assert state(1) == 0 and state(0) == 1  # every simulated meter starts connected
        # SET: the control mode (attribute 4) of the disconnected meter, read back
        mode = run_cli(
            "lon", "set", *where(1), "--key-file", str(keys), "--obis", f"70/{DISCONNECT}/4",
            "--value", "enum:4",
        )  # fmt: skip
        assert mode.returncode == 0 and "success" in mode.stdout, mode.stderr + mode.stdout
        node = summary["nodes"][1]
        back = run_cli(
            "read", "--profile", "lon", node["udp"], "--lon-node", node["meter"], "--lon-local", local,
            "--key-file", str(keys), f"70/{DISCONNECT}/4", "--json",
        )  # fmt: skip
        assert back.returncode == 0 and json.loads(back.stdout)["value"] == 4, back.stdout
    finally:
        sim.terminate()
        sim.wait(timeout=10)
