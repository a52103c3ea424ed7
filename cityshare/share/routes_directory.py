"""Portal and API routes for the directory's lineage (血缘) pages (mounted by cityshare.share.app).

The graph is laid out on the server (columns = lineage depth, SVG), so the page needs no JavaScript.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from cityshare.settings import Settings, get_settings

router = APIRouter()
TEMPLATES = Path(__file__).parent / "templates"

NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 250, 46, 90, 22, 20
KIND_NAMES = {"source": "部门源数据", "seed": "代码表", "model": "加工模型", "shared": "共享表", "peer": "其他平台共享表"}


def _settings(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


def _graph(code: str, settings: Settings) -> dict[str, Any]:
    from cityshare.lineage import UnknownResource, lineage_graph

    try:
        return lineage_graph(code, settings)
    except UnknownResource as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


def layout(graph: dict[str, Any]) -> dict[str, Any]:
    """Place nodes in columns by their longest distance from a root; edges as cubic curves."""
    parents: dict[str, list[str]] = {n["id"]: [] for n in graph["nodes"]}
    for e in graph["edges"]:
        parents[e["target"]].append(e["source"])
    depth: dict[str, int] = {}

    def level(node: str, seen: frozenset[str] = frozenset()) -> int:
        if node not in depth:
            ups = [p for p in parents[node] if p not in seen]
            depth[node] = 1 + max((level(p, seen | {node}) for p in ups), default=-1)
        return depth[node]

    columns: dict[int, list[dict[str, Any]]] = {}
    for node in sorted(graph["nodes"], key=lambda n: (n["kind"] != "source", n["id"])):
        columns.setdefault(level(node["id"]), []).append(node)
    boxes = {}
    for col, nodes in columns.items():
        for row, node in enumerate(nodes):
            boxes[node["id"]] = {**node, "x": PAD + col * (NODE_W + COL_GAP), "y": PAD + row * (NODE_H + ROW_GAP),
                                 "kind_name": KIND_NAMES.get(node["kind"], node["kind"])}
    edges = []
    for e in graph["edges"]:
        a, b = boxes[e["source"]], boxes[e["target"]]
        x1, y1, x2, y2 = a["x"] + NODE_W, a["y"] + NODE_H / 2, b["x"], b["y"] + NODE_H / 2
        mid = (x1 + x2) / 2
        edges.append({**e, "d": f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}",
                      "title": "；".join(f"{f} → {t}" for f, t in e["columns"]) or "表级依赖"})
    width = PAD * 2 + (max(columns, default=0) + 1) * (NODE_W + COL_GAP) - COL_GAP
    height = PAD * 2 + max((len(v) for v in columns.values()), default=1) * (NODE_H + ROW_GAP) - ROW_GAP
    return {"nodes": list(boxes.values()), "edges": edges, "width": width, "height": height,
            "node_w": NODE_W, "node_h": NODE_H}


@router.get("/api/directory/{code:path}/lineage", tags=["目录"], summary="一条目录的表级与字段级血缘")
def lineage_json(code: str, request: Request) -> dict[str, Any]:
    return _graph(code, _settings(request))


ZOOMS = (25, 50, 75, 100, 150, 200)  # percent; links on the page step through them (no JavaScript)


@router.get("/directory/{code:path}/lineage", response_class=HTMLResponse, include_in_schema=False)
def lineage_page(code: str, request: Request, zoom: Annotated[int, Query(ge=10, le=400)] = 100) -> Any:
    """The whole graph, scrollable both ways; ``zoom`` (percent) scales it so a large graph fits a screen."""
    from fastapi.templating import Jinja2Templates

    from cityshare.directory.builder import load_entries

    settings = _settings(request)
    graph = _graph(code, settings)
    entry = next((e for e in load_entries(settings) if e["信息资源代码"] == code), None)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    smaller = max((z for z in ZOOMS if z < zoom), default=None)
    larger = min((z for z in ZOOMS if z > zoom), default=None)
    return templates.TemplateResponse(request, "lineage.html",
                                      {"code": code, "entry": entry, "graph": graph, "svg": layout(graph),
                                       "zoom": zoom, "smaller": smaller, "larger": larger})
