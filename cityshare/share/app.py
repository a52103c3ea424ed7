"""FastAPI app: the zh-CN portal and its JSON API (OpenAPI at /openapi.json), bound to loopback by default."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cityshare.errors import infrastructure_error
from cityshare.keys import require_token_key
from cityshare.settings import Settings, get_settings

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("cityshare.share")


def create_app(settings: Settings | None = None) -> Any:
    import swagger_ui
    from fastapi import Depends, FastAPI, Request
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import JSONResponse
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates

    from cityshare.instance import instance
    from cityshare.share import api, display, portal, routes_directory, routes_federation, routes_quality, service
    from cityshare.share.api import same_origin
    from cityshare.share.auth import ShareError, caller_from
    from cityshare.share.guard import Guard
    from cityshare.share.portal import page_context
    from cityshare.share.sessions import COOKIE
    from cityshare.share.store import today

    settings = settings or get_settings()
    require_token_key(settings)  # fail closed: no app without a real key (it hashes every API token)
    app = FastAPI(dependencies=[Depends(same_origin)], docs_url=None, redoc_url=None,  # docs: local assets below
                  title="CityShare 共享数据资源目录与共享服务", version="0.2.0",
                  description="部门令牌（Bearer）访问；无条件共享对所有部门开放，有条件共享须经提供方批准，"
                              "不予共享仅提供方可读。每次读取与审批均写入哈希链审计日志。")
    # Every router is built with these settings; the one app-wide dependency, the caller (cityshare.share.api.Who),
    # reads them here, as do the exception handlers' pages.
    app.state.settings = settings
    app.state.instance = instance(settings)  # fail closed on an identity the reference data does not know
    templates = Jinja2Templates(directory=str(TEMPLATES))
    display.install(templates.env, settings)

    @app.exception_handler(ShareError)
    def share_error(request: Request, exc: ShareError) -> Any:
        caller = caller_from(settings, request.headers.get("authorization"), request.cookies.get(COOKIE))
        if exc.status in (401, 403) and not exc.audited:  # every refusal is in the audit chain
            service.refused(settings, caller, "refuse", request.url.path[:80], exc, {"method": request.method})
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": exc.message}, status_code=exc.status)
        title = {401: "请先登录", 403: "无权访问", 404: "未找到"}.get(exc.status, "无法完成")
        return templates.TemplateResponse(
            request, "message.html", {**page_context(caller), "title": title, "message": exc.message,
                                      "status": exc.status}, status_code=exc.status)

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> Any:
        """A storage fault (disk full, read-only volume, held lock …) is 503 with its reason and Retry-After;
        anything else a plain 500. Neither shows a traceback or driver text; the log keeps both."""
        fault = infrastructure_error(exc, settings.data_dir)
        if fault is not None:
            log.error("%s %s: %s", request.method, request.url.path, fault)
            status, message = 503, f"服务暂不可用：{fault.reason_zh}，请稍后重试（运维人员已收到日志）"
        else:
            log.exception("%s %s failed", request.method, request.url.path)
            status, message = 500, "服务内部错误，请稍后重试（运维人员已收到日志）"
        headers = {"Retry-After": "60"} if status == 503 else None
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": message}, status_code=status, headers=headers)
        page = {"me": None, "csrf": "", "today": today().isoformat(),  # no session lookup: the store may be the fault
                "title": "暂不可用" if status == 503 else "出错了", "message": message, "status": status}
        return templates.TemplateResponse(request, "message.html", page, status_code=status, headers=headers)

    # Other engineers' routers first, so their specific paths win over this module's catch-alls.
    app.include_router(routes_directory.build_router(settings))
    app.include_router(routes_quality.build_router(settings))
    app.include_router(routes_federation.build_router(settings))
    app.include_router(routes_federation.build_feed_router(settings))
    app.include_router(api.build_router(settings))
    app.include_router(portal.build_router(settings))
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    # Swagger UI 5 (OpenAPI 3.1) from the installed swagger-ui-py package: /docs works offline, no CDN.
    app.mount("/docs-assets", StaticFiles(directory=Path(swagger_ui.__file__).parent / "static"), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} — API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")

    @app.get("/api/directory/{code:path}", tags=["目录"], summary="一条目录的全部字段")
    def entry(code: str) -> dict[str, Any]:
        return service.entry(settings, code)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(Guard, per_token=settings.rate_per_token, per_address=settings.rate_per_address,
                       credential_cookie=COOKIE)

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None) -> None:
    import uvicorn

    # keep-alive longer than a loaded consumer's pause, so pooled client connections are not closed under them
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", timeout_keep_alive=30)
