"""The departments registry (部门注册表): who provides data, by slug.

Two places declare a department, and this module is the one that merges them:
- ``catalog/departments.yml`` — the city's registry (name, short name, provider code);
- a source contract of a department not in that file — its ``team`` (``name`` = slug, ``description`` =
  full Chinese name) and ``customProperties`` ``providerCode`` (统一社会信用代码) and, optionally,
  ``providerShortName``. So a new department is onboarded by its contract alone; the registry file wins
  where both name a department.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from cityshare.contracts.model import Contract, load_contracts
from cityshare.settings import Settings, get_settings


@cache
def catalog_departments(catalog_dir: Path) -> dict[str, dict[str, str]]:
    """``catalog/departments.yml``: slug → {name, short_name, provider_code}, in file order."""
    data = yaml.safe_load((catalog_dir / "departments.yml").read_text(encoding="utf-8"))
    return data["departments"]


def declared_department(contract: Contract) -> dict[str, str] | None:
    """The department a contract declares itself (``team.description`` + ``providerCode``), if it does."""
    team = contract.raw.get("team")
    team = team if isinstance(team, dict) else {}
    name = str(team.get("description") or "").strip()
    code = str(contract.custom.get("providerCode") or "").strip()
    if not (name and code):
        return None
    return {"name": name, "short_name": str(contract.custom.get("providerShortName") or name), "provider_code": code}


def registry(settings: Settings | None = None) -> dict[str, dict[str, str]]:
    """Every known department: the catalog's, then those declared only by their source contracts."""
    settings = settings or get_settings()
    known = dict(catalog_departments(settings.catalog_dir))
    for contract in load_contracts(settings, kind="source"):
        if contract.department not in known and (entry := declared_department(contract)):
            known[contract.department] = entry
    return known
