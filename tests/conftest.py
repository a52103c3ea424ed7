"""Shared fixtures: every test runs against its own data folder (lake, warehouse, Airflow home).

Secrets fail closed (cityshare.keys), so the suite sets random ones here, before any test imports
read the settings; subprocesses (Airflow, the CLI) inherit them through the environment.
"""

from __future__ import annotations

import os
import secrets

os.environ["CITYSHARE_TOKEN_KEY"] = secrets.token_urlsafe(32)
os.environ["CITYSHARE_SCJGJ_API_TOKEN"] = "scjgj_" + secrets.token_urlsafe(16)
os.environ["CITYSHARE_JTJ_API_TOKEN"] = "jtj_" + secrets.token_urlsafe(16)

import pytest

from cityshare.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    return get_settings()
