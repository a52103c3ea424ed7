"""Portal and API routes for a directory entry's lineage (血缘): the graph as JSON and as a zoomable page drawn by
cityshare.share.lineage_view (mounted by cityshare.share.app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from cityshare.settings import Settings
from cityshare.share.lineage_view import ZOOMS, layout

TEMPLATES = Path(__file__).parent / "templates"


def _graph(code: str, settings: Settings) -> dict[str, Any]:
    from cityshare.lineage import UnknownResource, lineage_graph

    try:
        return lineage_graph(code, settings)
    except UnknownResource as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


def build_router(settings: Settings) -> APIRouter:
    """The lineage JSON and page, bound to the app's settings."""
    router = APIRouter()

    @router.get("/api/directory/{code:path}/lineage", tags=["目录"], summary="一条目录的表级与字段级血缘")
    def lineage_json(code: str, request: Request) -> dict[str, Any]:
        return _graph(code, settings)

    @router.get("/directory/{code:path}/lineage", response_class=HTMLResponse, include_in_schema=False)
    def lineage_page(code: str, request: Request, zoom: Annotated[int, Query(ge=10, le=400)] = 100) -> Any:
        """The whole graph, scrollable both ways; ``zoom`` (percent) scales it so a large graph fits a screen."""
        from fastapi.templating import Jinja2Templates

        from cityshare.directory.document import load_entries

        graph = _graph(code, settings)
        entry = next((e for e in load_entries(settings) if e["信息资源代码"] == code), None)
        templates = Jinja2Templates(directory=str(TEMPLATES))
        smaller = max((z for z in ZOOMS if z < zoom), default=None)
        larger = min((z for z in ZOOMS if z > zoom), default=None)
        return templates.TemplateResponse(request, "lineage.html",
                                          {"code": code, "entry": entry, "graph": graph, "svg": layout(graph),
                                           "zoom": zoom, "smaller": smaller, "larger": larger})

    return router
