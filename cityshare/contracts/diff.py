"""Classify the changes between two versions of a contract as breaking or not (契约变更).

Breaking = data or consumers that were fine under the old contract can fail under the new one:
a removed or retyped column, a column made required, a new or tightened rule (narrowed allowed
values, raised minimum, lowered maximum, changed pattern), a lowered quarantine threshold, extra
columns no longer tolerated, a stricter SLA, a narrower sharing type. A breaking change needs a new
major ``version``; ``version_ok`` says whether the new contract has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cityshare.contracts.model import ContractError
from cityshare.vocabulary import SharingType


@dataclass(frozen=True)
class Change:
    """One difference between two contract versions."""

    where: str
    message: str
    breaking: bool


@dataclass
class ContractDiff:
    old_version: str
    new_version: str
    changes: list[Change]

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    @property
    def major_bumped(self) -> bool:
        return _major(self.new_version) > _major(self.old_version)

    @property
    def version_ok(self) -> bool:
        """False when a breaking change keeps the same major version."""
        return not self.breaking or self.major_bumped


def _major(version: str) -> int:
    m = re.match(r"\s*v?(\d+)", str(version))
    return int(m.group(1)) if m else 0


def load_doc(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(path, "file", f"cannot read contract: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("schema"), list) or not doc["schema"]:
        raise ContractError(path, "schema", "needs exactly one table object with properties")
    return doc


def _custom(items: Any) -> dict[str, Any]:
    return {str(c.get("property")): c.get("value") for c in items or [] if isinstance(c, dict)}


def _props(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in doc["schema"][0].get("properties") or [] if isinstance(p, dict)}


def _rules(items: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for i, rule in enumerate(items or []):
        if isinstance(rule, dict):
            out[str(rule.get("name") or f"#{i}:{rule.get('metric') or rule.get('type')}")] = rule
    return out


def _varchar_len(physical: str) -> int | None:
    m = re.fullmatch(r"\s*VARCHAR\s*\(\s*(\d+)\s*\)\s*", str(physical), re.IGNORECASE)
    return int(m.group(1)) if m else (10**9 if str(physical).strip().upper() == "VARCHAR" else None)


def _counted_condition(query: Any) -> str | None:
    """The condition of a ``SELECT * | COUNT(*) FROM ${table} WHERE …`` rule, whitespace-normalized: the two
    forms select and count the same rows."""
    m = re.fullmatch(r"\s*SELECT\s+(?:\*|COUNT\s*\(\s*\*\s*\))\s+FROM\s+\$\{table\}\s+WHERE\s+(.+?)[\s;]*",
                     str(query or ""), re.IGNORECASE | re.DOTALL)
    return " ".join(m.group(1).split()) if m else None


def _option_changes(where: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """``logicalTypeOptions``: a bound or length that tightens is breaking, one that loosens is not."""
    oa, ob = (d["logicalTypeOptions"] if isinstance(d.get("logicalTypeOptions"), dict) else {} for d in (a, b))
    out: list[Change] = []
    for key in sorted(set(oa) | set(ob)):
        old, new = oa.get(key), ob.get(key)
        if old == new or (key == "maxLength" and new == _varchar_len(a.get("physicalType", "")) and old is None):
            continue  # maxLength now said beside the VARCHAR(N) that already held it
        lower = key in ("minimum", "exclusiveMinimum", "minLength")
        if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength"):
            breaking = _bound_change(old, new, lower) is not False
        else:  # pattern, format, timezone …: a different rule
            breaking = True
        out.append(Change(where, f"logicalTypeOptions.{key} {old!r} → {new!r}", breaking))
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _bound_change(old: Any, new: Any, lower: bool) -> bool | None:
    """True if a bound got stricter, False if looser, None if not comparable."""
    if old == new:
        return False
    if old is None:
        return True
    if new is None:
        return False
    a, b = _number(old), _number(new)
    if a is None or b is None:  # ISO dates compare as text; relative bounds (loadDate±N) by text
        return (str(new) > str(old)) if lower else (str(new) < str(old))
    return (b > a) if lower else (b < a)


def _rule_changes(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    changes: list[Change] = []
    for name in sorted(set(old) - set(new)):
        changes.append(Change(f"{where}.{name}", "rule removed (looser)", False))
    for name in sorted(set(new) - set(old)):
        advisory = str(new[name].get("severity", "")).lower() in ("warning", "info")
        changes.append(Change(f"{where}.{name}", "advisory rule added" if advisory else "rule added (tighter)",
                              not advisory))
    for name in sorted(set(old) & set(new)):
        a, b = old[name], new[name]
        if a == b:
            continue
        changes.extend(_one_rule(f"{where}.{name}", a, b))
    return changes


def _as_custom_anomaly(rule: dict[str, Any]) -> dict[str, Any]:
    """An old-style volume anomaly (a second ``rowCount`` with ``arguments.anomaly``) in today's ``custom`` form."""
    args = rule.get("arguments") or {}
    if rule.get("metric") != "rowCount" or not args.get("anomaly"):
        return rule
    kept = {k: v for k, v in rule.items() if k not in ("type", "metric", "arguments") and not k.startswith("mustBe")}
    settings = {k: v for k, v in args.items() if k != "anomaly"}
    return {**kept, "type": "custom", "engine": "cityshare", "implementation": {"metric": "volumeAnomaly", **settings}}


def _one_rule(where: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    if _as_custom_anomaly(a) != a or _as_custom_anomaly(b) != b:
        a, b = _as_custom_anomaly(a), _as_custom_anomaly(b)
        if a == b:
            return [Change(where, "volume anomaly rewritten as a custom rule (the same settings)", False)]
    # a custom rule's settings (the volume anomaly's) are compared like a library rule's arguments
    aa, ba = (r.get("arguments") or (r["implementation"] if isinstance(r.get("implementation"), dict) else {})
              for r in (a, b))
    keys = set(a) | set(b)
    for key in sorted(keys - {"arguments", "implementation", "description", "dimension", "businessImpact", "tags"}):
        if a.get(key) == b.get(key):
            continue
        if key == "query" and _counted_condition(a.get(key)) == _counted_condition(b.get(key)) is not None:
            out.append(Change(where, "sql rule rewritten as SELECT COUNT(*) (the same condition)", False))
        elif key == "severity":
            tighter = str(b.get(key, "error")).lower() not in ("warning", "info") and \
                str(a.get(key, "error")).lower() in ("warning", "info")
            out.append(Change(where, f"severity {a.get(key)!r} → {b.get(key)!r}", tighter))
        elif key in ("mustBeGreaterThan", "mustBeGreaterOrEqualTo"):
            out.append(Change(where, f"{key} {a.get(key)} → {b.get(key)}", bool(_bound_change(a.get(key), b.get(key), True))))
        elif key in ("mustBeLessThan", "mustBeLessOrEqualTo", "mustBe"):
            out.append(Change(where, f"{key} {a.get(key)} → {b.get(key)}", bool(_bound_change(a.get(key), b.get(key), False))))
        else:
            out.append(Change(where, f"{key} changed: {a.get(key)!r} → {b.get(key)!r}", True))
    for key in sorted(set(aa) | set(ba)):
        old, new = aa.get(key), ba.get(key)
        if old == new:
            continue
        if key == "validValues":
            removed = sorted(set(map(str, old or [])) - set(map(str, new or [])))
            added = sorted(set(map(str, new or [])) - set(map(str, old or [])))
            msg = "allowed values" + (f" narrowed (removed {', '.join(removed)})" if removed else "") + \
                (f" widened (added {', '.join(added)})" if added else "")
            out.append(Change(where, msg, bool(removed)))
        elif key == "minimum":
            out.append(Change(where, f"minimum {old!r} → {new!r}", _bound_change(old, new, True) is not False))
        elif key == "maximum":
            out.append(Change(where, f"maximum {old!r} → {new!r}", _bound_change(old, new, False) is not False))
        elif key in ("window", "minHistory"):
            out.append(Change(where, f"{key} {old!r} → {new!r}", False))
        elif key in ("k", "maxRatio") and _number(new) is not None and _number(old) is not None:
            out.append(Change(where, f"{key} {old!r} → {new!r}", (_number(new) or 0) < (_number(old) or 0)))
        elif key == "minRatio" and _number(new) is not None and _number(old) is not None:
            out.append(Change(where, f"minRatio {old!r} → {new!r}", (_number(new) or 0) > (_number(old) or 0)))
        else:
            out.append(Change(where, f"argument {key} {old!r} → {new!r}", True))
    return out


def diff_docs(old: dict[str, Any], new: dict[str, Any]) -> ContractDiff:
    """Every change from ``old`` to ``new`` (parsed ODCS documents), each classified."""
    changes: list[Change] = []
    po, pn = _props(old), _props(new)
    for name in sorted(set(po) - set(pn)):
        changes.append(Change(f"column {name}", "column removed", True))
    for name in sorted(set(pn) - set(po)):
        required = bool(pn[name].get("required"))
        changes.append(Change(f"column {name}", "required column added" if required else "optional column added",
                              required))
    for name in sorted(set(po) & set(pn)):
        a, b = po[name], pn[name]
        where = f"column {name}"
        if a.get("logicalType", "string") != b.get("logicalType", "string"):
            changes.append(Change(where, f"retyped {a.get('logicalType')} → {b.get('logicalType')}", True))
        if a.get("physicalType") != b.get("physicalType"):
            la, lb = _varchar_len(a.get("physicalType", "")), _varchar_len(b.get("physicalType", ""))
            widened = la is not None and lb is not None and lb >= la
            changes.append(Change(where, f"physicalType {a.get('physicalType')} → {b.get('physicalType')}", not widened))
        changes += _option_changes(where, a, b)
        for flag in ("required", "unique"):
            if bool(a.get(flag)) != bool(b.get(flag)):
                changes.append(Change(where, f"{flag} {bool(a.get(flag))} → {bool(b.get(flag))}", bool(b.get(flag))))
        if bool(a.get("primaryKey")) != bool(b.get("primaryKey")) or \
                a.get("primaryKeyPosition") != b.get("primaryKeyPosition"):
            changes.append(Change(where, "primary key changed", True))
        if a.get("classification") != b.get("classification"):
            changes.append(Change(where, f"classification {a.get('classification')!r} → {b.get('classification')!r}",
                                  False))
        changes += _rule_changes(f"{where} rule", _rules(a.get("quality")), _rules(b.get("quality")))
    changes += _rule_changes("table rule", _rules(old["schema"][0].get("quality")),
                             _rules(new["schema"][0].get("quality")))
    changes += _settings_changes(_custom(old.get("customProperties")), _custom(new.get("customProperties")))
    changes += _sla_changes(old, new)
    return ContractDiff(str(old.get("version", "")), str(new.get("version", "")), changes)


def _settings_changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key), b.get(key)
        if old == new:
            continue
        msg = f"{key} {old!r} → {new!r}"
        if key in ("quarantineThreshold", "retypedShare"):
            n_old, n_new = _number(old), _number(new)
            breaking = n_new is not None and n_old is not None and n_new < n_old
            breaking = breaking or (old is None and key == "quarantineThreshold" and (_number(new) or 0) < 0.05)
        elif key == "extraColumns":
            breaking = str(new).lower() != "tolerate" and str(old).lower() == "tolerate"
        elif key == "sharingType":
            breaking = SharingType.rank(str(new), 9) > SharingType.rank(str(old), 9)
        else:
            breaking = False
        out.append(Change(f"customProperties.{key}", msg, breaking))
    return out


def _sla_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    def sla(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {str(s.get("property")): s for s in doc.get("slaProperties") or [] if isinstance(s, dict)}

    a, b = sla(old), sla(new)
    out: list[Change] = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        va, vb = (a.get(key) or {}).get("value"), (b.get(key) or {}).get("value")
        n_a, n_b = _number(va), _number(vb)
        stricter = key not in a or (key in b and n_b is not None and n_a is not None and n_b < n_a)
        if key in a and key in b and a[key].get("unit") != b[key].get("unit"):
            stricter = True  # different units: assume stricter rather than guess
        out.append(Change(f"slaProperties.{key}", f"{key} {va!r} → {vb!r}" if key in a and key in b else
                          (f"{key} added" if key in b else f"{key} removed"), bool(stricter) and key in b))
    return out


def diff_files(old: Path | str, new: Path | str) -> ContractDiff:
    return diff_docs(load_doc(old), load_doc(new))
