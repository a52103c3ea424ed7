"""Shared fixtures: every test runs against its own data folder (lake, warehouse, Airflow home)."""

from __future__ import annotations

import pytest

from cityshare.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    return get_settings()
