"""Routes peers call (三级平台互联互通): the instance identity, the incremental directory feed, the code lists
it passes down (下发参考数据) and the directory as a DCAT-AP feed (``/catalog.jsonld``, ``/catalog.ttl``: what a
higher instance's ``dcat-ap`` harvest or any DCAT harvester reads)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

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

    @router.get("/reference", summary="本平台下发的参考数据（代码表）清单：内容版本与来源")
    def code_lists(request: Request) -> dict[str, Any]:
        from cityshare.share.federation import code_lists_index

        return code_lists_index(settings)

    @router.get("/reference/{name}", summary="一张代码表（CSV 文本）及其签名（哈希、行数、列、版本、来源平台）")
    def code_list(request: Request, name: str) -> dict[str, Any]:
        from cityshare.code_lists import CODE_LISTS
        from cityshare.share.federation import code_list_doc

        if name not in CODE_LISTS:
            raise ShareError(404, f"没有名为 {name[:40]!r} 的代码表（可选：{'、'.join(CODE_LISTS)}）")
        return code_list_doc(settings, name)

    return router


def build_feed_router(settings: Settings) -> APIRouter:
    """The DCAT-AP feed at the paths DCAT harvesters look for (public metadata, like the directory)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/catalog.jsonld")
    def catalog_jsonld(request: Request) -> Response:
        return _dcat(request, "jsonld", settings)

    @router.get("/catalog.ttl")
    def catalog_ttl(request: Request) -> Response:
        return _dcat(request, "ttl", settings)

    return router


def _dcat(request: Request, fmt: str, settings: Settings) -> Response:
    from cityshare.share.federation import dcat_feed

    text = dcat_feed(settings, str(request.base_url).rstrip("/"), turtle=fmt == "ttl")
    return Response(text, media_type="text/turtle; charset=utf-8" if fmt == "ttl" else "application/ld+json")
