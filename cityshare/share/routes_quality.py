"""Portal and API routes for the quality pages (mounted by cityshare.share.app).

Pages: ``/quality`` (dashboard: scorecards, timeliness, loads, city evaluation, inline SVG charts) and
``/quality/quarantine/{dataset}/{load_id}`` (masked quarantine browser). JSON under ``/api/quality/``.
The aggregates are open (the quality report goes to every department); the quarantine browser shows
rows, so it takes an entitled caller and audits every read and refusal (cityshare.share.service.quarantine).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse

from cityshare.settings import Settings
from cityshare.share.api import Who


def _period(settings: Settings, start: dt.date | None, end: dt.date | None) -> Any:
    from cityshare.quality.history import BadPeriod, default_period

    try:
        return default_period(settings, start, end)
    except BadPeriod as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


StartQ = Query(None, description="考核期起（YYYY-MM-DD）")
EndQ = Query(None, description="考核期止（YYYY-MM-DD）")


def build_router(settings: Settings) -> APIRouter:
    """The quality pages and JSON, bound to the app's settings."""
    router = APIRouter()

    @router.get("/quality", response_class=HTMLResponse)
    def dashboard(request: Request, start: dt.date | None = StartQ, end: dt.date | None = EndQ) -> HTMLResponse:
        from cityshare.quality.report import render_html

        return HTMLResponse(render_html(settings, _period(settings, start, end), offline=False))

    @router.get("/quality/quarantine/{dataset:path}/{load_id}", response_class=HTMLResponse)
    def quarantine_page(request: Request, who: Who, dataset: str, load_id: str, page: int = Query(1, ge=1),
                        size: int = Query(100, ge=1, le=500)) -> HTMLResponse:
        from cityshare.quality.history import resources
        from cityshare.quality.report import _environment
        from cityshare.share.service import quarantine

        q = quarantine(settings, who, dataset, load_id, page, size)
        res = resources(settings).get(dataset)
        html = _environment().get_template("quality_quarantine.html").render(q=q, name=res.name if res else dataset)
        return HTMLResponse(html)

    def period_json(module: str, reader: str) -> Callable[..., Any]:
        """A JSON route over one quality reader ``reader(settings, period)`` (imported when first called)."""
        def route(start: dt.date | None = StartQ, end: dt.date | None = EndQ) -> Any:
            read = getattr(importlib.import_module(module), reader)
            return jsonable_encoder(read(settings, _period(settings, start, end)))

        return route

    for path, module, reader in (("report", "cityshare.quality.report", "collect"),
                                 ("scorecards", "cityshare.quality.scorecards", "scorecards"),
                                 ("timeliness", "cityshare.quality.timeliness", "summary"),
                                 ("loads", "cityshare.quality.loads", "problem_loads"),
                                 ("evaluation", "cityshare.quality.evaluation", "evaluation")):
        router.add_api_route(f"/api/quality/{path}", period_json(module, reader), methods=["GET"], name=f"api_{path}")

    @router.get("/api/quality/quarantine/{dataset:path}/{load_id}")
    def api_quarantine(request: Request, who: Who, dataset: str, load_id: str, page: int = Query(1, ge=1),
                       size: int = Query(100, ge=1, le=500)) -> Any:
        from cityshare.share.service import quarantine

        return jsonable_encoder(quarantine(settings, who, dataset, load_id, page, size))

    return router
