"""The one lineage (血缘) renderer: a graph laid out on the server as SVG (columns = lineage depth), so no page needs
JavaScript. The entry page and the lineage page both draw it with templates/_lineage_graph.html."""

from __future__ import annotations

from typing import Any

NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 250, 46, 90, 22, 20
KIND_NAMES = {"source": "部门源数据", "seed": "代码表", "model": "加工模型", "shared": "共享表", "peer": "其他平台共享表"}

ZOOMS = (25, 50, 75, 100, 150, 200)  # percent; links on the lineage page step through them


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
