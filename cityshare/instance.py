"""Instance identity (平台身份) and its place in the federation: level, GB/T 2260 area code, name, the
lower instances it harvests (``catalog/federation.yml``); the signing key is the receipt key.

The area code is checked against the project's reference data (the dbt seed ``chongqing_areas.csv``
every area check uses): a 区县 instance needs a district code listed there, a 市 instance the code of a
province-level city in it (``500000``), the 国家 instance ``000000`` (GB/T 2260 has no code for the
country; 000000 is the conventional national code of the 政务数据共享 cascade). A wrong identity stops
``serve`` and ``federation`` commands with a one-line message naming the variable.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

import yaml

from cityshare.errors import CityShareError
from cityshare.settings import PROJECT_ROOT, Settings, get_settings

LEVELS = ("国家", "市", "区县")
NATIONAL_AREA = "000000"
# The original single-instance deployment: its directory codes stay 5-digit sequences (docs/federation.md).
DEFAULT_AREA = "500000"
PROVINCE_NAMES = {"50": "重庆市"}  # province-level names for the provinces present in the reference data
CATALOG_FILE = "federation.yml"  # catalog/federation.yml: the lower instances this one harvests


class IdentityError(CityShareError):
    """The instance identity settings are inconsistent with the reference data."""


@dataclass(frozen=True)
class Instance:
    """This instance as peers and the directory see it."""

    level: str
    area: str
    area_name: str
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "area": self.area, "area_name": self.area_name, "name": self.name}

    @property
    def label(self) -> str:
        """``区县级平台 · 南岸区（500108）``: what the portal header shows."""
        return f"{self.level}级平台 · {self.area_name}（{self.area}）"


def reference_areas(settings: Settings) -> dict[str, str]:
    """GB/T 2260 code → name: the districts of the reference seed, their provinces and the country."""
    seed = settings.dbt_project_dir / "seeds" / "chongqing_areas.csv"
    if not seed.exists():  # a home without a dbt project (a share-only instance) uses the shipped seed
        seed = PROJECT_ROOT / "dbt_project" / "seeds" / "chongqing_areas.csv"
    areas = {NATIONAL_AREA: "中华人民共和国"}
    with seed.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            areas[row["code"]] = row["name"]
            province = row["province_code"]
            areas.setdefault(f"{province}0000", PROVINCE_NAMES.get(province, f"{province}0000"))
    return areas


def level_of(area: str) -> str:
    """The level a GB/T 2260 code denotes: 000000 国家, xx0000 市 (province-level city), else 区县."""
    if area == NATIONAL_AREA:
        return "国家"
    return "市" if area.endswith("0000") else "区县"


def check_identity(level: str, area: str, areas: dict[str, str], where: str = "CITYSHARE_INSTANCE") -> str:
    """The area's name, or IdentityError naming the setting and rule."""
    if level not in LEVELS:
        raise IdentityError(f"{where}_LEVEL={level!r}: must be one of {', '.join(LEVELS)}")
    if area not in areas:
        raise IdentityError(f"{where}_AREA={area!r}: not a GB/T 2260 code in the reference data "
                            "(dbt_project/seeds/chongqing_areas.csv; 000000 for the national platform)")
    if level_of(area) != level:
        raise IdentityError(f"{where}_AREA={area} ({areas[area]}) is a {level_of(area)}-level code, but "
                            f"{where}_LEVEL is {level}")
    return areas[area]


def instance(settings: Settings) -> Instance:
    """This instance's validated identity (its signing key is the receipt key, cityshare.share.receipts)."""
    area_name = check_identity(settings.instance_level, settings.instance_area, reference_areas(settings))
    if not settings.instance_name:
        raise IdentityError("CITYSHARE_INSTANCE_NAME is empty: name the platform (e.g. 南岸区城市运行和治理中心)")
    return Instance(settings.instance_level, settings.instance_area, area_name, settings.instance_name)


def code_infix(settings: Settings) -> str:
    """What a new resource code's sequence starts with: nothing on the default city instance (its codes
    predate the federation and stay stable), the area code everywhere else (globally unique codes)."""
    return "" if settings.instance_area == DEFAULT_AREA else settings.instance_area


@dataclass(frozen=True)
class HarvestSource:
    """A lower instance this one harvests (a ``harvest`` entry of catalog/federation.yml)."""

    name: str
    endpoint: str
    level: str
    area: str
    title: str
    schedule: str = "@daily"

    @property
    def dag_id(self) -> str:
        return f"harvest__{self.name}"


def harvest_sources(settings: Settings | None = None) -> list[HarvestSource]:
    """The ``harvest`` entries, checked: known name characters, a GB/T 2260 area of a lower level."""
    import re

    from cityshare.contracts.model import expand

    settings = settings or get_settings()
    path = settings.catalog_dir / CATALOG_FILE
    if not path.exists():
        return []
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    areas = reference_areas(settings)
    out = []
    for i, item in enumerate(raw.get("harvest") or []):
        where = f"{path}: harvest[{i}]"
        if not isinstance(item, dict):
            raise CityShareError(f"{where}: must be a mapping with name, endpoint, level, area")
        name, area, level = str(item.get("name") or ""), str(item.get("area") or ""), str(item.get("level") or "")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", name):
            raise CityShareError(f"{where}.name: lower-case letters, digits and _ (a DAG id part), got {name!r}")
        if not item.get("endpoint"):
            raise CityShareError(f"{where}.endpoint: the lower instance's portal URL is required")
        if area not in areas:
            raise CityShareError(f"{where}.area: {area!r} is not a GB/T 2260 code in the reference data")
        if level not in LEVELS or LEVELS.index(level) <= LEVELS.index(settings.instance_level):
            raise CityShareError(f"{where}.level: {level!r} must be a level below this {settings.instance_level}级 "
                                 "instance (a harvest goes upward)")
        out.append(HarvestSource(name, expand(str(item["endpoint"]), settings).rstrip("/"), level, area,
                                 str(item.get("title") or areas[area]), str(item.get("schedule") or "@daily")))
    return out


def get_source(name: str, settings: Settings) -> HarvestSource:
    for source in harvest_sources(settings):
        if source.name == name:
            return source
    raise CityShareError(f"{settings.catalog_dir / CATALOG_FILE}: no harvest entry named {name!r}")
