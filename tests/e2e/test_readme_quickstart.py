"""The README's quick start, verbatim, on a fresh clone: ``make demo`` sets itself up, runs every DAG, prints the
portal's address and three logins, and serves a portal where the printed consumer login works.

Slow (≈ 4 min: a fresh environment from uv's cache, then the demo): `make test-slow`. The clone is of the
committed HEAD, as a newcomer gets it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _quick_start() -> list[str]:
    """The commands of the README's first code block ("The two commands"), comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## The two commands\s+```bash\n(.*?)```", text, re.S)
    assert block, "the README has no quick-start block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.split("#", 1)[0].strip()]


def test_make_demo_from_the_readme_serves_a_portal_its_printed_login_opens(tmp_path):
    commands = _quick_start()
    assert commands == ["make demo", "make test"]
    clone = tmp_path / "cityshare"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITYSHARE_", "AIRFLOW", "VIRTUAL_ENV"))}
    env["COLUMNS"] = "400"  # the logins table on one line each
    demo = subprocess.Popen(commands[0], shell=True, cwd=clone, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        assert demo.stdout
        deadline = time.monotonic() + 900
        for line in demo.stdout:
            lines.append(line)
            if "approve it under 待我审批" in line or time.monotonic() > deadline:
                break
        out = "".join(lines)
        url = re.search(r"portal 门户: (http://127\.0\.0\.1:\d+/)", out)
        consumer = re.search(r"consumer\b.*?(cs_[A-Za-z0-9_-]{20,})", out)
        assert url and consumer, out[-3000:]
        assert re.search(r"governance\b.*?cs_", out) and re.search(r"approver\b.*?cs_", out)
        assert "DAG run failed" not in out
        for _ in range(120):  # the portal comes up after the summary
            try:
                if httpx.get(url.group(1), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        with httpx.Client(base_url=url.group(1), timeout=10) as browser:
            assert browser.post("/login", data={"token": consumer.group(1)}).status_code in (200, 303)
            page = browser.get("/grants")
            assert page.status_code == 200 and "南坪街道" in page.text  # signed in as the consumer department
            listed = browser.get("/api/directory").json()
            assert listed["total"] >= 30  # the demo's directory: sources and shared tables
        # "More can be issued at any time": the README's token command, verbatim, gives a login that works
        issue = re.search(r"\$ (\.venv/bin/cityshare token issue [^#\n]+?)\s+#", (ROOT / "README.md").read_text("utf-8"))
        assert issue, "the README shows no token command"
        made = subprocess.run(issue.group(1), shell=True, cwd=clone, env=env, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        with httpx.Client(base_url=url.group(1), timeout=10) as browser:
            assert browser.post("/login", data={"token": made.stdout.strip()}).status_code in (200, 303)
            assert "wang" in browser.get("/grants").text
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(30)
