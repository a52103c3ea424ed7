"""Retracting a batch (撤回批次) and restoring it: an operator's way to take back data that should not count.

``cityshare batches retract <load_id> --reason …`` sets an accepted batch's status to ``retracted``: the raw
view stops reading it at once (for its load date the previous accepted delivery, if any, is current again),
and the next ``cityshare build`` republishes every table it reached (the incremental models start over when
a batch they read leaves the view). The lake keeps the batch's files; ``cityshare batches restore <load_id>``
makes it accepted again. Each action is recorded in ``meta.batch_actions`` (who, when, why), in the keyed
audit chain (``cityshare audit show``) and in the batch journal, so ``cityshare recover`` keeps it.
"""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Any

from cityshare import journal
from cityshare.errors import CityShareError
from cityshare.meta.batches import batches_of_load_id, latest_actions, record_action, set_status
from cityshare.raw_views import refresh_raw_view
from cityshare.settings import Settings
from cityshare.warehouse import connect, transaction

ACTIONS = {"retract": ("accepted", "retracted"), "restore": ("retracted", "accepted")}


def _find(con: Any, load_id: str, dataset: str | None) -> tuple[str, str]:
    rows = batches_of_load_id(con, load_id, dataset)
    if not rows:
        raise CityShareError(f"batch {load_id}{' of ' + dataset if dataset else ''}: no such batch in meta.batches "
                             "(see the 数据加载 page of the portal or `cityshare report quality`)")
    if len(rows) > 1:
        raise CityShareError(f"batch {load_id} is in several datasets ({', '.join(r[0] for r in rows)}): "
                             "name one with --dataset")
    return rows[0][0], rows[0][1]


def change(settings: Settings, action: str, load_id: str, reason: str, dataset: str | None = None,
           actor: str | None = None) -> dict[str, Any]:
    """Retract or restore one batch (``action``); CityShareError (exit 2) if it is not in the state to allow it."""
    from cityshare.contracts.model import get_contract
    from cityshare.share.audit import record

    was, becomes = ACTIONS[action]
    reason = reason.strip()
    if action == "retract" and not reason:
        raise CityShareError("batches retract: --reason is required (it is kept in the audit log)")
    actor = actor or getpass.getuser()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with connect(settings) as con:
        key, status = _find(con, load_id, dataset)
        if status != was:
            raise CityShareError(f"batch {load_id} of {key} is {status}: only a batch that is {was} can be {action}d")
        contract = get_contract(key, settings)
        with transaction(con):
            set_status(con, key, load_id, becomes)
            record_action(con, key, load_id, action, reason, actor, now)
            refresh_raw_view(con, contract, settings)
        journal.write(con, settings, key, load_id)
    record(settings, None, f"batch.{action}", f"{key}/{load_id}", detail={"reason": reason, "actor": actor})
    return {"dataset": key, "load_id": load_id, "status": becomes, "reason": reason, "actor": actor,
            "next": "run `cityshare build` to republish the tables it reaches"}


def actions(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    """The latest retractions and restores, newest first."""
    with connect(settings, read_only=True) as con:
        return latest_actions(con, limit)
