"""Excel workbooks (.xlsx) as departments really send them.

A title row (often merged across the table) sits above the header, a column is merged vertically
over a group of rows (the 社区 or 道路 of the rows below), several sheets share one layout (one per
district or community), and a sign-off line (填报单位/填报人) closes the sheet.

Server (ODCS ``local``, ``format: xlsx``): ``path`` with ``{date}``. customProperties:
``sheets`` (list of sheet names; default every sheet whose header matches the contract),
``sheetColumn`` (contract column that receives the sheet name), ``fillDown`` (columns whose blank
cells repeat the value above — how a vertically merged cell reads), ``skipRowsStartingWith``
(first-cell prefixes of notes/footer rows), ``headerSearchRows`` (default 10).

The workbook is streamed with openpyxl's read-only mode, so memory stays bounded by a row batch.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from cityshare.contracts.model import Contract
from cityshare.errors import UnusableInput
from cityshare.settings import Settings
from cityshare.sources.base import Extract, RowBatcher, modified_at, to_text
from cityshare.sources.csv_inbox import delivered_file, file_digest


def extract_xlsx(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    path = delivered_file(contract, load_date, settings)
    extract = Extract(source_uri=str(path), batches=iter(()), delivered_at=modified_at(path))
    extract.fingerprint_parts.append(file_digest(path))
    extract.batches = _read(contract, path)
    return extract


def _header_map(contract: Contract) -> dict[str, str]:
    mapping = contract.column_by_header()
    for p in contract.properties:
        if p.custom.get("sourceField"):
            mapping[str(p.custom["sourceField"])] = p.name
    return mapping


def _find_header(rows: list[tuple[Any, ...]], mapping: dict[str, str], wanted: int) -> int | None:
    """Index of the first row naming at least half of the contract's columns (the title is not)."""
    for i, row in enumerate(rows):
        hits = {mapping[str(v).strip()] for v in row if v is not None and str(v).strip() in mapping}
        if len(hits) >= max(1, (wanted + 1) // 2):
            return i
    return None


def _open(path: Path) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnusableInput(f"{path}: not a readable .xlsx workbook (truncated or wrong format): {exc}") from None


def _read(contract: Contract, path: Path) -> Iterator[pa.RecordBatch]:
    mapping = _header_map(contract)
    types = {p.name: p.logical_type for p in contract.properties}
    sheet_column = contract.server_option("sheetColumn")
    fill_down = set(contract.server_option("fillDown") or [])
    skip_prefixes = tuple(contract.server_option("skipRowsStartingWith") or [])
    search = int(contract.server_option("headerSearchRows", 10))
    wanted = len([p for p in contract.properties if p.name != sheet_column])
    workbook = _open(path)
    try:
        chosen = contract.server_option("sheets")
        missing = [s for s in chosen or [] if s not in workbook.sheetnames]
        if missing:
            raise UnusableInput(f"{path}: sheet(s) {', '.join(missing)} not in the workbook ({', '.join(workbook.sheetnames)})")
        names: list[str] | None = None
        batcher: RowBatcher | None = None
        matched = 0
        for sheet_name in chosen or workbook.sheetnames:
            sheet = workbook[sheet_name]
            rows = sheet.iter_rows(values_only=True)
            head: list[tuple[Any, ...]] = []
            for row in rows:
                head.append(row)
                if len(head) >= search:
                    break
            at = _find_header(head, mapping, wanted)
            if at is None:
                if chosen:
                    raise UnusableInput(f"{path}: sheet {sheet_name!r}: no header row naming the contract's columns "
                                      f"in the first {search} rows")
                continue  # a notes/说明 sheet
            matched += 1
            header = [str(v).strip() if v is not None else "" for v in head[at]]
            columns = [(i, mapping.get(h, h)) for i, h in enumerate(header) if h]
            sheet_names = [c for _, c in columns] + ([sheet_column] if sheet_column else [])
            dupes = sorted({c for c in sheet_names if sheet_names.count(c) > 1})
            if dupes:
                raise UnusableInput(f"{path}: sheet {sheet_name!r} row {at + 1}: duplicated column(s) {', '.join(dupes)}")
            if names is None:
                names, batcher = sheet_names, RowBatcher(sheet_names)
            elif sorted(sheet_names) != sorted(names):
                raise UnusableInput(
                    f"{path}: sheet {sheet_name!r} row {at + 1}: columns differ from the first sheet "
                    f"(missing {sorted(set(names) - set(sheet_names))}, extra {sorted(set(sheet_names) - set(names))})"
                )
            assert batcher is not None
            order = [sheet_names.index(n) for n in names]
            last: dict[str, str | None] = {}
            row_iter = iter(head[at + 1:])
            for row in _chain(row_iter, rows):
                if row is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                    continue
                first = next((v for v in row if v is not None), None)
                if skip_prefixes and isinstance(first, str) and first.strip().startswith(skip_prefixes):
                    continue
                values: list[str | None] = []
                for i, name in columns:
                    text = to_text(row[i] if i < len(row) else None, types.get(name, "string"))
                    if name in fill_down:
                        text = text if text is not None else last.get(name)
                        last[name] = text
                    values.append(text)
                if sheet_column:
                    values.append(sheet_name)
                out = batcher.add(tuple(values[j] for j in order))
                if out is not None:
                    yield out
        if names is None or batcher is None:
            raise UnusableInput(f"{path}: no sheet has a header row naming the contract's columns "
                              f"({', '.join(p.business_name or p.name for p in contract.properties[:4])} …)")
        out = batcher.flush()
        if out is not None:
            yield out
    except (zipfile.BadZipFile, EOFError) as exc:
        raise UnusableInput(f"{path}: workbook is truncated or corrupt: {exc}") from None
    finally:
        workbook.close()


def _chain(first: Iterator[tuple[Any, ...]], rest: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    yield from first
    yield from rest
