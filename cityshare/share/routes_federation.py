"""Routes peers call (三级平台互联互通): the instance identity and the incremental directory feed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from cityshare.settings import Settings
from cityshare.share.auth import ShareError


def build_router(settings: Settings) -> APIRouter:
    """The peers' routes, bound to this instance's settings."""
    router = APIRouter(prefix="/api/federation", tags=["平台互联"])

    @router.get("/identity", summary="平台身份（层级、行政区划代码、名称）与回执公钥")
    def identity(request: Request) -> dict[str, Any]:
        from cityshare.share.federation import identity_doc

        return identity_doc(settings)

    @router.get("/directory", summary="目录增量（按修改时间），供上级平台汇聚")
    def directory(request: Request, since: Annotated[str | None, Query(max_length=40)] = None) -> dict[str, Any]:
        from cityshare.share.federation import directory_feed

        try:
            when = dt.datetime.fromisoformat(since) if since else None
        except ValueError:
            raise ShareError(400, f"since: 须为 ISO 时间（如 2026-12-01 08:00:00），收到 {str(since)[:40]!r}") from None
        return directory_feed(settings, when)

    return router
