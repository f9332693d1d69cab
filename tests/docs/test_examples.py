"""The README's and the docs' examples, run against the simulator on loopback (issue 15 item 7).

Conventions (docs/cli.md, "Examples that are tested"):

- A fenced block with the info string ``console`` is a session: ``$ `` lines are commands (a trailing
  ``\\`` continues one), the lines after a command are its expected output. Output is compared line by
  line with every run of digits made equal (values change with the time of day), up to a line ``...``
  (the rest is not compared); a command shown without output is only checked to exit 0. ``export``
  sets variables for the rest of the block.
- A command ending in ``&`` runs in the background for the rest of the block (a meter); its first
  expected line (``listening on ...``) is awaited before the next command, and it is stopped at the end.
- A fenced ``python`` block is run as a script while a simulated meter (``meter serve --start 6h``)
  listens; every ``4059`` in commands and scripts is replaced by a free port, so tests run in parallel.
- ``<!-- not-runnable: REASON -->`` on the line before a block skips it, with the reason in the test
  report (root, network namespaces, long simulations).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "cli.md", ROOT / "docs" / "api.md"]
BIN = Path(sys.executable).parent
SKIP = re.compile(r"<!--\s*not-runnable:\s*(.+?)\s*-->")


@dataclass
class Command:
    text: str
    output: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        """The command without a trailing ``# comment``."""
        return re.sub(r"\s+#[^'\"]*$", "", self.text.rstrip())

    @property
    def background(self) -> bool:
        return self.code.endswith("&")


@dataclass
class Block:
    path: Path
    line: int
    kind: str
    body: list[str]
    skip: str | None

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"

    def commands(self) -> list[Command]:
        commands: list[Command] = []
        continued = False
        for raw in self.body:
            if continued:
                commands[-1].text += "\n" + raw
            elif raw.startswith("$ "):
                commands.append(Command(raw[2:]))
            elif commands:
                commands[-1].output.append(raw)
            continued = raw.endswith("\\")
        return commands


def blocks() -> Iterator[Block]:
    for path in DOCS:
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            fence = lines[index].strip()
            if fence.startswith("```") and fence[3:].strip() in ("console", "python"):
                previous = lines[index - 1] if index else ""
                match = SKIP.search(previous)
                end = index + 1
                while not lines[end].strip().startswith("```"):
                    end += 1
                yield Block(path, index + 1, fence[3:].strip(), lines[index + 1 : end], match and match[1])
                index = end
            index += 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shape(text: str) -> str:
    return re.sub(r"\d+", "N", text.rstrip())


def compare(command: Command, stdout: str) -> None:
    got = stdout.splitlines()
    for number, expected in enumerate(command.output):
        if expected.strip() == "...":
            return
        assert number < len(got), f"{command.text!r}: expected {expected!r}, the output ended\n{stdout}"
        assert shape(got[number]) == shape(expected), f"{command.text!r}: line {number + 1}\n{stdout}"


class Session:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COSEMNET_")},
            "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "COLUMNS": "200",
            "XDG_STATE_HOME": str(workdir / "state"),
        }
        self.background: list[subprocess.Popen[str]] = []

    def local(self, text: str) -> str:
        return text.replace("4059", str(self.port))

    def start(self, command: Command) -> None:
        process = subprocess.Popen(
            ["bash", "-c", "exec " + self.local(command.code.rstrip("&"))],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.background.append(process)
        if command.output:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert shape(first) == shape(self.local(command.output[0])), f"{command.text!r}: {first!r}"

    def run(self, command: Command) -> None:
        if command.code.startswith("export "):  # variables for the rest of the block
            for assignment in shlex.split(command.code)[1:]:
                name, _, value = assignment.partition("=")
                self.env[name] = value
            return
        if command.background:
            self.start(command)
            return
        result = subprocess.run(
            ["bash", "-c", self.local(command.text)],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{command.text!r} exited {result.returncode}\n{result.stderr}"
        compare(Command(command.text, [self.local(line) for line in command.output]), result.stdout)

    def close(self) -> None:
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


ALL = list(blocks())


def test_the_docs_have_runnable_examples() -> None:
    runnable = [b for b in ALL if b.skip is None]
    assert {b.path.name for b in runnable} >= {"README.md", "cli.md", "api.md"}
    assert sum(b.kind == "python" for b in runnable) >= 3


@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_example(block: Block, tmp_path: Path) -> None:
    if block.skip is not None:
        pytest.skip(block.skip)
    session = Session(tmp_path)
    try:
        if block.kind == "console":
            for command in block.commands():
                session.run(command)
            return
        session.start(
            Command(
                "cosemnet meter serve --no-state --bind 127.0.0.1:4059 --start 6h &",
                ["listening on tcp 127.0.0.1:4059"],
            )
        )
        script = tmp_path / "example.py"
        script.write_text(session.local("\n".join(block.body)) + "\n", encoding="utf-8")
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=session.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{block.id} ({time.monotonic() - started:.1f} s)\n{result.stderr}"
    finally:
        session.close()
