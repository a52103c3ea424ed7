"""FastAPI app: the directory portal (zh-CN HTML) and its JSON API, bound to loopback by default."""

# No `from __future__ import annotations` here: FastAPI resolves the route parameters' annotations
# (e.g. `Request`, imported inside create_app) at runtime, and string annotations would not resolve.
from pathlib import Path
from typing import Any

from cityshare.settings import Settings, get_settings

TEMPLATES = Path(__file__).parent / "templates"


def create_app(settings: Settings | None = None) -> Any:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import HTMLResponse
    from fastapi.templating import Jinja2Templates

    from cityshare.directory.builder import load_entries

    settings = settings or get_settings()
    app = FastAPI(title="CityShare 共享数据资源目录", version="0.1.0")
    templates = Jinja2Templates(directory=str(TEMPLATES))

    @app.get("/", response_class=HTMLResponse)
    def portal(request: Request) -> Any:
        entries = load_entries(settings)
        return templates.TemplateResponse(request, "directory.html", {"entries": entries})

    @app.get("/api/directory")
    def directory() -> dict[str, Any]:
        return {"共享数据资源目录": load_entries(settings)}

    @app.get("/api/directory/{code:path}")
    def entry(code: str) -> dict[str, Any]:
        for e in load_entries(settings):
            if e["信息资源代码"] == code:
                return e
        raise HTTPException(status_code=404, detail=f"no directory entry {code}")

    from cityshare.share import routes_directory, routes_quality

    app.include_router(routes_directory.router)
    app.include_router(routes_quality.router)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
