"""``cosemnet read --profile lon --key-file``: real processes against ``cosemnet sim lon --channel cnip
--key-file``: the reader opens an OSGP-AES-128-PSK secure channel with the key from the file and reads an
object only the protected management association serves; a wrong key, a file others may read and a
missing file are refused."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

from cosemnet.profiles.lon.osgp_aes.keys import KeyStore

from .conftest import RunCli

DISCONNECT_CONTROL = "0-0:96.3.10*255"  # class 70: in the management association's object list only


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_read_over_a_secure_channel_with_keys_from_the_key_file(
    cosemnet: list[str], run_cli: RunCli, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.json"
    port = _free_udp_port()
    args = ("sim", "lon", "--meters", "2", "--channel", "cnip", "--duration", "30", "--port", str(port))
    sim = subprocess.Popen(
        [*cosemnet, *args, "--key-file", str(keys), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        summary = json.loads(sim.stdout.readline())
        assert summary["ok"] is True and summary["security"] == "osgp-aes"
        assert keys.stat().st_mode & 0o777 == 0o600
        node = summary["nodes"][1]
        base = ("read", "--profile", "lon", node["udp"], "--lon-node", node["meter"],
                "--lon-local", f"127.0.0.1:{port}")  # fmt: skip
        # the public association does not serve the disconnect control
        public = run_cli(*base, DISCONNECT_CONTROL, "--class-id", "70", "--timeout", "3")
        assert public.returncode == 1
        secure = run_cli(*base, "--key-file", str(keys), DISCONNECT_CONTROL, "--class-id", "70", "--json")
        assert secure.returncode == 0, secure.stderr
        assert json.loads(secure.stdout)["type"] == "boolean"
        energy = run_cli(*base, "--key-file", str(keys), "1-0:1.8.0*255", "--class-id", "3", "--json")
        assert energy.returncode == 0, energy.stderr
        assert json.loads(energy.stdout)["value"] >= summary["reads"][1]["ln"]["value"]
        # the same file with another key for that meter: the meter's challenge response does not verify
        store = KeyStore.load(keys)
        node_id = next(n for n in store.meters if n[-1] == 1)  # meter index 1 is node 1/3
        entry = store.entry(node_id)
        assert entry is not None
        genuine = entry.current.key.hex()
        store.provision(node_id, os.urandom(16))
        wrong = tmp_path / "wrong.json"
        store.save(wrong)
        refused = run_cli(*base, "--key-file", str(wrong), DISCONNECT_CONTROL, "--class-id", "70")
        assert refused.returncode == 1 and "does not hold the key" in refused.stderr
        assert genuine not in refused.stderr + refused.stdout and genuine.upper() not in refused.stderr
        # a key file others may read is refused before anything is sent
        loose = tmp_path / "loose.json"
        loose.write_bytes(keys.read_bytes())
        loose.chmod(0o644)
        opened = run_cli(*base, "--key-file", str(loose), DISCONNECT_CONTROL, "--class-id", "70")
        assert opened.returncode == 1 and "accessible to others" in opened.stderr
        missing = run_cli(*base, "--key-file", str(tmp_path / "none.json"), DISCONNECT_CONTROL)
        assert missing.returncode == 1 and "cannot read the key file" in missing.stderr
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def test_key_file_needs_the_lon_profile(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("read", "127.0.0.1:4059", "0-0:42.0.0*255", "--key-file", str(tmp_path / "k.json"))
    assert result.returncode == 2 and "--profile lon" in result.stderr
