"""What every simulated department shares: its context, its output record, and the file writers.

Each department's generator draws from its own ``random.Random`` seeded by (seed, dataset), so adding
a department never changes another department's files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.settings import Settings
from cityshare.simulate._util import write_atomic
from cityshare.simulate.geography import Geography

# Rough centres (lng, lat) of the street offices the simulated sensors and facilities sit in.
STREET_CENTRES: dict[str, tuple[float, float]] = {
    "500108003": (106.5705, 29.5310), "500108002": (106.5640, 29.5200), "500108001": (106.5720, 29.5450),
    "500108004": (106.5850, 29.5480), "500108005": (106.5900, 29.5560), "500108006": (106.5950, 29.5740),
    "500103003": (106.5790, 29.5570), "500103001": (106.5680, 29.5560), "500103012": (106.5220, 29.5420),
    "500105006": (106.5350, 29.5780), "500105001": (106.5520, 29.5700), "500107001": (106.5080, 29.5070),
    "500107005": (106.4950, 29.5270), "500112011": (106.5190, 29.5940), "500112019": (106.5330, 29.6620),
}
DEFAULT_CENTRE = (106.5500, 29.5600)
CHONGQING_BBOX = (105.28, 28.16, 110.20, 32.20)  # lng min, lat min, lng max, lat max of the municipality


@dataclass
class SimContext:
    """One simulation run, as every department generator sees it."""

    settings: Settings
    geo: Geography
    days: list[dt.date]
    scale: float
    defect_rate: float
    seed: int
    file_defects: bool = False
    registry_versions: list[dict[str, str]] = field(default_factory=list)
    shared: dict[str, Any] = field(default_factory=dict)  # what one generator hands the next (lots, elders)

    def rng(self, dataset: str) -> random.Random:
        return random.Random(f"{self.seed}:{dataset}")

    def inbox(self, dataset: str, name: str) -> Path:
        return self.settings.inbox_dir / dataset / name

    def department_dir(self, dept: str) -> Path:
        return self.settings.departments_dir / dept


@dataclass
class Output:
    """What a generator produced for one dataset."""

    dataset: str
    fmt: str
    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    defects: Counter[str] = field(default_factory=Counter)


def centre(street_code: str) -> tuple[float, float]:
    return STREET_CENTRES.get(street_code, DEFAULT_CENTRE)


def near(rng: random.Random, street_code: str, spread: float = 0.012) -> tuple[float, float]:
    lng, lat = centre(street_code)
    return round(lng + rng.uniform(-spread, spread), 6), round(lat + rng.uniform(-spread, spread), 6)


def csv_bytes(headers: list[str], rows: list[list[Any]], delimiter: str = ",", encoding: str = "utf-8",
              bom: bool = False) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def write_xlsx(path: Path, title: str, headers: list[str], sheets: dict[str, list[list[Any]]],
               merge_column: int | None = None, footer: str | None = None) -> None:
    """A workbook as a department fills it in: merged title row, header, rows, merged groups, footer.

    ``merge_column`` (0-based) is merged vertically over runs of equal values, the way clerks merge
    the 社区/道路 cell of a group of rows. Document timestamps are fixed so a seed gives the same content.
    """
    import openpyxl
    from openpyxl.styles import Alignment, Font

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    fixed = dt.datetime(2020, 1, 1)
    wb.properties.created = wb.properties.modified = fixed
    wb.properties.creator = "cityshare-simulator"
    for name, rows in sheets.items():
        ws = wb.create_sheet(name[:31])
        ws.append([title])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
        ws.cell(1, 1).font = Font(bold=True, size=14)
        ws.cell(1, 1).alignment = Alignment(horizontal="center")
        ws.append(headers)
        for row in rows:
            ws.append(row)
        if merge_column is not None and rows:
            col = merge_column + 1
            start = 0
            for i in range(1, len(rows) + 1):
                if i == len(rows) or rows[i][merge_column] != rows[start][merge_column]:
                    if i - start > 1:
                        ws.merge_cells(start_row=3 + start, start_column=col, end_row=2 + i, end_column=col)
                    start = i
        if footer:
            ws.append([])
            ws.append([footer])
    notes = wb.create_sheet("填表说明")
    notes.append(["填表说明"])
    notes.append(["1. 本表由部门信息系统导出后人工核对，合并单元格表示同组数据。"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    tmp.replace(path)


def write_file(out: Output, path: Path, data: bytes, day: dt.date, rows: int) -> None:
    write_atomic(path, data)
    out.files.append(path)
    out.rows[day.isoformat()] = rows


def remove_stale(folder: Path, keep: set[Path], pattern: str) -> list[str]:
    """Delete earlier simulations' files of a dataset that this run did not write."""
    removed = []
    if folder.is_dir():
        for stale in sorted(folder.glob(pattern)):
            if stale not in keep:
                stale.unlink()
                removed.append(str(stale))
    return removed
