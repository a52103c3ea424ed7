"""What an Airflow task's failure means: the outcome of a CityShare function, as the task state an operator sees.

The DAG files call every package function through :func:`run_task`, so each error class has one meaning in
Airflow (and the CLI's exit codes the same in the shell):

- a gate or audit verdict (``GateBlocked``, ``AuditFailed``, CLI exit 1) and unusable input (``UnusableInput``,
  exit 2) fail the task at once, never retried: waiting cannot change them;
- nothing delivered for the window (``NoDelivery``) skips the task with the reason;
- a full disk, read-only volume, held lock or lack of memory fails the try with one line saying what to do, and
  is retried;
- anything else (a source that is down: a plain ``SourceError``) fails the try and is retried.
Each message is the one line the CLI prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cityshare.errors import AuditFailed, GateBlocked, NoDelivery, UnusableInput, infrastructure_error


def run_task(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` inside an Airflow task, its errors turned into the task outcomes above."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    try:
        return fn(*args)
    except (GateBlocked, AuditFailed, UnusableInput) as exc:
        raise AirflowFailException(str(exc)) from exc
    except NoDelivery as exc:  # nothing to load is an outcome, not an error: skipped, never retried
        raise AirflowSkipException(str(exc)) from exc
    except Exception as exc:
        infra = infrastructure_error(exc)
        if infra is None:
            raise
        raise infra from None
