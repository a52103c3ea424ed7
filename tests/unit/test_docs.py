"""README.md and docs/*.md stay a working front door: links resolve inside the repository, nothing points
at ../shared, the README stays short, and every `cityshare …` command they show exists in the CLI.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
from docs_support import DOCS, FENCE, ROOT, documented_commands

from cityshare.cli import app

README = ROOT / "README.md"
README_MAX_BYTES = 8 * 1024  # a front door: the details live in docs/

_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]\n]*\]\(([^)\s]+)\)")
_CALL = re.compile(r"(?:^|(?<=[\s(]))(?:\S*/)?cityshare\s+(.*)")
_SEPARATORS = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1"}


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))  # code blocks may show markdown literally
    text = re.sub(r"`[^`\n]*`", "", text)
    return [a or b for a, b in _LINK.findall(text)]


def _commands(path: Path) -> list[list[str]]:
    """The words after `cityshare` of each command in the file's ```console / ```bash blocks."""
    found = []
    for command in documented_commands(path):
        for line in command.key.splitlines():
            for match in _CALL.finditer(line):
                words = []
                call = re.split(r"[)`]", match.group(1))[0].replace("…", "X")  # end of $(…) or `…`
                for word in shlex.split(call, comments=True):
                    if word in _SEPARATORS:
                        break
                    words.append(word)
                found.append(words)
    return found


def _ignored(path: Path) -> bool:
    """git-ignored files (data/, .venv/ …) exist only on the machine that made them."""
    if not (ROOT / ".git").exists():
        return False
    return subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", str(path)], check=False).returncode == 0


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_relative_link_resolves_to_a_file_in_the_repository(doc: Path):
    broken = []
    for target in _links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http(s), mailto: and in-page anchors are not files
        resolved = (doc.parent / target.split("#", 1)[0]).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists() or _ignored(resolved):
            broken.append(target)
    assert not broken, f"{_rel(doc)}: links that do not resolve to a file of the repository: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_no_doc_points_outside_the_project(doc: Path):
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text, f"{_rel(doc)} mentions ../shared: the project must not depend on files outside it"


def test_the_readme_is_a_short_front_door():
    size = README.stat().st_size
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes (≤ {README_MAX_BYTES}): move details into docs/"
    linked = {Path(t.split("#")[0]).name for t in _links(README)}
    unlinked = [p.name for p in DOCS[1:] if p.name not in linked]
    assert not unlinked, f"README.md does not link these docs pages: {unlinked}"


def _resolve(words: list[str]) -> tuple[Any, str, list[str]]:
    """Walk the CLI tree along ``words``; (command, its path, the remaining words) or (None, path, …)."""
    command = typer.main.get_command(app)  # Typer's own (vendored) click: a group has ``commands``
    path = "cityshare"
    rest = list(words)
    while hasattr(command, "commands"):
        if not rest or rest[0] not in command.commands:
            return None, f"{path} {rest[0] if rest else ''}".strip(), rest
        path += " " + rest[0]
        command = command.commands[rest.pop(0)]
    return command, path, rest


def test_every_cityshare_command_in_the_docs_exists_with_its_options():
    problems, seen = [], 0
    for doc in DOCS:
        for words in _commands(doc):
            seen += 1
            command, path, rest = _resolve(words)
            if command is None:
                problems.append(f"{_rel(doc)}: `{path}` is not a cityshare command")
                continue
            options = {name for p in command.params for name in (*p.opts, *getattr(p, "secondary_opts", []))} | {"--help"}
            unknown = [w.split("=", 1)[0] for w in rest if w.startswith("--") and w.split("=", 1)[0] not in options]
            if unknown:
                problems.append(f"{_rel(doc)}: `{path}` has no option {', '.join(unknown)}")
    assert seen, "no `cityshare …` command found in README.md or docs/ (the parser is broken)"
    assert not problems, "\n".join(problems)
