"""No traceback for a user error in the newest commands (issue 15: bad path, permission, port in use,
DNS, refused): each case runs in a real process and ends with one clear line and its exit status."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import cosemnet_command

ENV = {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
BAD_HOST = "no-such-host.invalid"


@pytest.fixture(scope="module")
def busy() -> Iterator[dict[str, int]]:
    """Ports in use on loopback: UDP over IPv6 and IPv4, TCP on IPv6 and IPv4 (the same number)."""
    udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp6.bind(("::1", 0))
    udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp4.bind(("127.0.0.1", 0))
    tcp4 = socket.socket()
    tcp4.bind(("127.0.0.1", 0))
    tcp4.listen()
    tcp6 = socket.socket(socket.AF_INET6)
    tcp6.bind(("::1", tcp4.getsockname()[1]))
    tcp6.listen()
    try:
        yield {"udp6": udp6.getsockname()[1], "udp4": udp4.getsockname()[1], "tcp": tcp4.getsockname()[1]}
    finally:
        for s in (udp6, udp4, tcp4, tcp6):
            s.close()


def refused_udp_port() -> int:
    """A loopback UDP port nobody listens on (ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CASES: list[tuple[str, list[str], int, str]] = [
    # (name, arguments with {tmp}/{udp6}/{udp4}/{tcp}/{refused} filled in, exit status, text)
    ("firmware-db-dir", ["hes", "firmware", "--db", "{tmp}/none/x.db", "--test-keys", "--image",
                         "{tmp}/img.bin", "--identifier", "a"], 1, "no such directory"),
    ("firmware-port-in-use", ["hes", "firmware", "--db", "{tmp}/h.db", "--test-keys", "--image",
                              "{tmp}/img.bin", "--identifier", "a", "--bind", "[::1]:{udp6}"], 1, "in use"),
    ("firmware-dns", ["hes", "firmware", "--db", "{tmp}/h.db", "--test-keys", "--image", "{tmp}/img.bin",
                      "--identifier", "a", "--bind", f"{BAD_HOST}:0"], 1, "cannot resolve"),
    ("firmware-image", ["hes", "firmware", "--db", "{tmp}/h.db", "--test-keys", "--image",
                        "{tmp}/none.bin", "--identifier", "a"], 2, "--image"),
    ("set-db-dir", ["hes", "set", "--db", "{tmp}/none/x.db", "--test-keys", "--obis", "0-0:1.0.0",
                    "--value", "now"], 1, "no such directory"),
    ("action-db-dir", ["hes", "action", "--db", "{tmp}/none/x.db", "--test-keys", "--obis",
                       "70/0-0:96.3.10*255/1", "--json"], 1, '"kind": "database"'),
    ("events-db-is-dir", ["hes", "events", "--db", "{tmp}"], 1, "unable to open"),
    ("collect-csv-dir", ["hes", "collect", "--db", "{tmp}/h.db", "--test-keys", "--obis", "1-0:1.8.0",
                         "--csv", "{tmp}/none/x.csv"], 1, "no such directory"),
    ("discover-dns", ["lon", "discover", "--segment", f"{BAD_HOST}:1628", "--timeout", "1"], 2,
     "unknown host"),
    ("discover-refused", ["lon", "discover", "--segment", "127.0.0.1:{refused}", "--timeout", "1"], 1,
     "no CN/IP segment"),
    ("commission-refused", ["lon", "commission", "--segment", "127.0.0.1:{refused}", "--test-keys",
                            "--timeout", "1"], 1, "no CN/IP segment"),
    ("commission-meters-file", ["lon", "commission", "--segment", "127.0.0.1:{refused}", "--meters",
                                "{tmp}/none.json", "--test-keys"], 2, "cannot read"),
    ("commission-key-permission", ["lon", "commission", "--segment", "127.0.0.1:{refused}", "--keys",
                                   "{tmp}/img.bin"], 2, "accessible to others"),
    ("sim-lon-key-file-dir", ["sim", "lon", "--meters", "2", "--key-file", "{tmp}/none/k.json"], 1,
     "no such directory"),
    ("sim-lon-pcap-dir", ["sim", "lon", "--meters", "2", "--topology", "line", "--pcap",
                          "{tmp}/none/x.pcap"], 1, "no such file or directory"),
    ("sim-lon-port-in-use", ["sim", "lon", "--channel", "cnip", "--meters", "2", "--port", "{udp4}"], 1,
     "in use"),
    ("sim-mesh-metrics-in-use", ["sim", "mesh", "--meters", "1", "--head-end", "[::1]:9", "--duration",
                                 "1", "--metrics-port", "{tcp}"], 1, "in use"),
    ("meter-serve-port-in-use", ["meter", "serve", "--no-state", "--bind", "127.0.0.1:{tcp}"], 1, "in use"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_clear_line_and_the_exit_status(
    args: list[str], status: int, text: str, tmp_path: Path, busy: dict[str, int]
) -> None:
    image = tmp_path / "img.bin"
    image.write_bytes(b"firmware")  # mode 0644: refused as a key file
    image.chmod(0o644)
    filled = [a.format(tmp=tmp_path, refused=refused_udp_port(), **busy) for a in args]
    done = subprocess.run(
        [*cosemnet_command(), *filled], capture_output=True, text=True, timeout=120, env=ENV, check=False
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == status, output
    assert text in output, output
    assert not (tmp_path / "none").exists()  # nothing created on the way
