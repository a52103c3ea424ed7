"""Helpers (no tests) for the documentation tests: the command lines of README.md's and docs/*.md's shell blocks,
and a shell session that runs them verbatim in a sandbox, as a reader would type them into a terminal.

A command line is a line starting with ``$ `` in a ```console block (the lines up to the next ``$ `` are its shown
output) or any line of a ```bash / ```sh / ```shell block that is not a comment; a line ending in ``\\`` continues
on the next one.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = ("console", "bash", "sh", "shell")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


@dataclasses.dataclass(frozen=True)
class DocCommand:
    doc: str    # relative to the repository: "docs/share.md"
    line: int   # 1-based line of the command in the file
    text: str   # verbatim (continuation lines joined with a newline), its trailing comment included
    shown: str  # the output shown below it in a console block ("" when none)

    @property
    def key(self) -> str:
        """The command without its trailing comments: how the tests name it."""
        return "\n".join(part.split(" #", 1)[0].rstrip() for part in self.text.splitlines()).strip()


def documented_commands(path: Path) -> list[DocCommand]:
    """Every command line of the file's shell blocks, in order."""
    text = path.read_text(encoding="utf-8")
    doc = path.relative_to(ROOT).as_posix()
    found: list[DocCommand] = []
    for block in FENCE.finditer(text):
        lang, body = block.group(1), block.group(2)
        if lang not in SHELL_BLOCKS:
            continue
        first = text.count("\n", 0, block.start(2)) + 1
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            line, start = lines[i], i
            is_command = line.startswith("$ ") if lang == "console" else bool(line.strip()) and not line.lstrip().startswith("#")
            i += 1
            if not is_command:
                continue
            parts = [line[2:] if lang == "console" else line]
            while parts[-1].split(" #", 1)[0].rstrip().endswith("\\") and i < len(lines):
                parts.append(lines[i])
                i += 1
            shown = []
            while lang == "console" and i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            found.append(DocCommand(doc, first + start, "\n".join(parts), "\n".join(shown)))
    return found


def all_documented_commands() -> list[DocCommand]:
    return [command for doc in DOCS for command in documented_commands(doc)]


@dataclasses.dataclass(frozen=True)
class Done:
    command: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return f"$ {self.command}\nexit {self.returncode}\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"


def reader_environment(**settings: str) -> dict[str, str]:
    """A reader's shell: this process's environment without CityShare's, Airflow's or a virtualenv's variables (the
    test suite's random keys included), with the package under test importable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITYSHARE_", "AIRFLOW", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["COLUMNS"] = "200"  # rich wraps at the terminal's width: one line per message, as on a wide terminal
    return {**env, **settings}


class Shell:
    """A terminal session in ``cwd``: each command runs in bash with the environment (``export``, ``eval``) and the
    working directory the previous one left. ``.venv/bin/cityshare`` and a bare ``cityshare`` run the package under
    test (``python -m cityshare.cli``), ``.venv/bin/python`` and the environment's other scripts are the running
    interpreter's. Background jobs (``… &``) are stopped by ``close``."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        self.cwd = cwd
        self.values: dict[str, str] = {}  # what earlier steps learnt (a token, a port), for later ones
        self._state = Path(tempfile.mkdtemp(prefix="shell-"))
        self._groups: list[int] = []
        self._runs = 0
        venv = cwd / ".venv" / "bin"
        if not venv.exists():
            venv.mkdir(parents=True)
            for script in ("python", "pyshacl", "metadata", "airflow"):
                (venv / script).symlink_to(Path(sys.executable).parent / script if script != "python" else sys.executable)
            cli = venv / "cityshare"
            cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cityshare.cli "$@"\n', encoding="utf-8")
            cli.chmod(0o755)
        self.env = {**env, "PATH": f"{venv}{os.pathsep}{env.get('PATH', os.defpath)}"}

    def run(self, command: str, env: Mapping[str, str] | None = None, timeout: float = 600) -> Done:
        """Run one command line; ``env`` holds for this command only."""
        self._runs += 1
        out, err, after = (self._state / f"{self._runs}.{name}" for name in ("out", "err", "env"))
        script = f'{command}\n__rc=$?\nenv -0 > "{after}"\njobs -p > "{after}.jobs"\nexit $__rc\n'
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(["bash", "-c", script], cwd=self.cwd, env={**self.env, **(env or {})},
                                    stdout=stdout, stderr=stderr, start_new_session=True)
            try:
                returncode = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
        if Path(f"{after}.jobs").exists() and Path(f"{after}.jobs").read_text().strip():
            self._groups.append(proc.pid)  # its process group: the background jobs it left running
        if after.exists():
            kept = dict(item.split("=", 1) for item in after.read_text(encoding="utf-8").split("\0") if "=" in item)
            for name in env or {}:
                kept.pop(name, None)
                if name in self.env:
                    kept[name] = self.env[name]
            self.env = kept
            self.cwd = Path(kept.get("PWD", self.cwd))
        return Done(command, returncode, out.read_text(encoding="utf-8", errors="replace"),
                    err.read_text(encoding="utf-8", errors="replace"))

    def close(self) -> None:
        for group in self._groups:
            try:
                os.killpg(group, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                os.killpg(group, signal.SIGKILL)
        self._groups.clear()
        shutil.rmtree(self._state, ignore_errors=True)


def wait_for_port(port: int, timeout: float = 300) -> None:
    """Until something accepts connections on 127.0.0.1:``port``."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")
