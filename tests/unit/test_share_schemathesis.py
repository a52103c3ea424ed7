"""Property-based fuzzing of the share API from its own OpenAPI spec: no input may cause a 5xx.

Uses schemathesis' Python API directly (its lazy pytest fixture integration does not run under
pytest 9): every operation's strategy is driven by Hypothesis, 20 examples each, against the ASGI app.
"""

from __future__ import annotations

import dataclasses

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from cityshare.share.app import create_app
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue


def test_no_operation_answers_with_a_server_error(tmp_path):
    # every example must reach the routes (not a 429 from the rate limit, tested in test_share_guard)
    world = dataclasses.replace(build_world(tmp_path, rows=30), rate_per_token=10**6, rate_per_address=10**6)
    _, token = issue(world, "zjw", "fuzzer", "approver")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(world))
    failures, labels = [], []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

        try:
            fuzz()
        except Exception as exc:  # collect every failing operation, then report them together
            failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert len(labels) >= 18, labels  # the spec really covers the API
    assert not failures, "\n\n".join(failures)
