"""JSON API (/api/…): directory search, rows and exports, requests and grants, corrections, audit."""


from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from cityshare.settings import Settings
from cityshare.share import audit, grants, receipts, service
from cityshare.share.auth import Caller, ShareError, caller_from, require
from cityshare.share.exports import FORMATS, DeliveryResponse
from cityshare.share.sessions import COOKIE, csrf_ok

bearer = HTTPBearer(auto_error=False, description="部门令牌（cityshare token issue 签发）")

FILTER_HELP = "字段:运算符:值，运算符 eq ne lt le gt ge contains prefix in（值以 | 分隔） null notnull"
Text = Annotated[str | None, Query(max_length=200)]


class RowFilter(BaseModel):
    column: str = Field(max_length=64)
    op: str = Field(max_length=10)
    value: str | int | float | bool | list[str] | None = None


class AccessRequestIn(BaseModel):
    """共享申请: table, purpose, columns (empty = all), period in days, optional row restriction."""

    table: str = Field(max_length=64, examples=["theme_city_cases__case"])
    purpose: str = Field(min_length=1, max_length=500, examples=["城市管理协同处置：店外经营案件研判"])
    columns: list[str] = Field(default_factory=list, max_length=200)
    period_days: int = Field(default=90, ge=1, le=366)
    row_filter: list[RowFilter] = Field(default_factory=list, max_length=20)


class DecisionIn(BaseModel):
    decision: str = Field(pattern="^(approve|refuse)$")
    reason: str = Field(default="", max_length=1000)


class CorrectionIn(BaseModel):
    """数据纠错: which table, row (primary key value) and column is wrong, and why."""

    table: str = Field(max_length=64)
    row_key: str = Field(min_length=1, max_length=200)
    column: str = Field(max_length=64)
    current_value: str = Field(default="", max_length=500)
    proposed_value: str = Field(default="", max_length=500)
    description: str = Field(min_length=1, max_length=1000)


class ResolutionIn(BaseModel):
    accepted: bool
    resolution: str = Field(min_length=1, max_length=1000)


UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_caller(request: Request,
                   cred: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None) -> Caller:
    """The caller of any route: a Bearer token, else the portal session (settings from ``app.state``).

    A state-changing call riding on the session cookie must echo the session's CSRF token
    (``X-CSRF-Token``); Bearer calls carry no ambient credential, so they need none.
    """
    caller = caller_from(request.app.state.settings, request.headers.get("authorization"),
                         request.cookies.get(COOKIE))
    if request.method in UNSAFE and caller.session and not csrf_ok(caller.session, request.headers.get("x-csrf-token")):
        raise ShareError(403, "CSRF 校验失败：使用会话 Cookie 的修改请求须带 X-CSRF-Token")
    return caller


def same_origin(request: Request) -> None:
    """Refuse a state-changing request whose Origin (else Referer) is another site or port (CSRF).

    SameSite=Strict does not cover another port of the same host; the origin comparison does.
    """
    if request.method not in UNSAFE:
        return
    own = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is None and request.headers.get("referer"):
        parts = urlsplit(request.headers["referer"])
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin is not None and origin != own:
        raise ShareError(403, f"跨站请求被拒绝：来源 {origin[:80]} 不是本站 {own[:80]}")


Who = Annotated[Caller, Depends(request_caller)]


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/me", tags=["身份"], summary="当前令牌的身份")
    def me(who: Who) -> dict[str, Any]:
        ident = require(who)
        return {"department": ident.department, "user": ident.user, "role": ident.role, "token_id": ident.token_id}

    @router.get("/directory", tags=["目录"], summary="检索共享数据资源目录")
    def directory(q: Text = None, classification: Annotated[str | None, Query(max_length=20)] = None,
                  provider: Text = None, sharing_type: Text = None, update_cycle: Text = None,
                  kind: Annotated[str | None, Query(pattern="^(source|shared)$")] = None,
                  limit: Annotated[int, Query(ge=1, le=200, description="每页条数")] = 50,
                  offset: Annotated[int, Query(ge=0, le=10**6)] = 0) -> dict[str, Any]:
        hits = service.find_entries(settings, q, classification=classification, provider=provider,
                                    sharing_type=sharing_type, update_cycle=update_cycle, kind=kind)
        # a page of summaries (a city's catalogue has thousands of entries); the whole entry: /api/directory/{code}
        return {"共享数据资源目录": [service.summary(e) for e in hits[offset:offset + limit]], "total": len(hits),
                "limit": limit, "offset": offset, "facets": service.facet_counts(hits)}

    @router.get("/entry/quality", tags=["目录"], summary="资源最近一次质量检查结果")
    def entry_quality(code: Annotated[str, Query(max_length=60)]) -> dict[str, Any]:
        e = service.entry(settings, code)
        return {"信息资源代码": code, "results": service.quality(settings, e)}

    @router.get("/tables", tags=["数据"], summary="共享数据表及当前身份的访问权限")
    def tables(who: Who) -> list[dict[str, Any]]:
        from cityshare.share.auth import authorize_read
        from cityshare.share.tables import shared_tables

        out = []
        for t in shared_tables(settings).values():
            access = None
            if who.ok and who.identity and t.published:
                try:
                    access = authorize_read(settings, who.identity, t).basis
                except ShareError as exc:
                    access = None if exc.status == 403 else access
            out.append({"table": t.name, "title": t.title, "provider": t.provider, "sharing_type": t.sharing_type,
                        "version": t.version, "columns": t.columns, "masked": t.masked, "access": access})
        return out

    @router.get("/tables/{name}/rows", tags=["数据"], summary="读取共享表的行（筛选、排序、分页）")
    def rows(who: Who, name: Annotated[str, Path(max_length=64)],
             columns: Annotated[str | None, Query(max_length=2000, description="逗号分隔字段名")] = None,
             filters: Annotated[list[str], Query(alias="filter", max_length=20, description=FILTER_HELP)] = [],  # noqa: B006
             sort: Annotated[str | None, Query(max_length=500, description="逗号分隔，-字段 表示降序")] = None,
             limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
             offset: Annotated[int, Query(ge=0, le=10**12)] = 0,
             version: Annotated[int | None, Query(ge=1, le=10**9, description="发布版本（默认最新）")] = None
             ) -> dict[str, Any]:
        return service.read_rows(settings, who, name, columns=columns, filters=filters, sort=sort, limit=limit,
                                 offset=offset, version=version)

    @router.get("/tables/{name}/export", tags=["数据"],
                summary="导出共享表（CSV、XLSX、JSON Lines、Parquet、Arrow IPC；支持 Range 续传与 ETag）",
                response_class=StreamingResponse)
    def export(who: Who, request: Request, name: Annotated[str, Path(max_length=64)],
               format: Annotated[str, Query(max_length=10, description=", ".join(FORMATS))] = "parquet",
               header: Annotated[str, Query(max_length=10, description="CSV/XLSX 表头：zh 信息项名称，name 字段名")
                                 ] = "name",
               version: Annotated[int | None, Query(ge=1, le=10**9, description="发布版本（默认最新）")] = None,
               columns: Annotated[str | None, Query(max_length=2000)] = None,
               filters: Annotated[list[str], Query(alias="filter", max_length=20)] = [],  # noqa: B006
               sort: Annotated[str | None, Query(max_length=500)] = None) -> Response:
        plan = service.export(settings, who, name, format, header=header, version=version, columns=columns,
                              filters=filters, sort=sort, if_none_match=request.headers.get("if-none-match"),
                              range_header=request.headers.get("range"), if_range=request.headers.get("if-range"))
        if plan.delivery is None:
            return Response(status_code=plan.status, headers=plan.headers)
        return DeliveryResponse(plan.delivery, media_type=FORMATS[format][0], headers=plan.headers,
                                status_code=plan.status)

    @router.get("/deliveries", tags=["交付"], summary="本部门的导出交付记录")
    def deliveries(who: Who) -> list[dict[str, Any]]:
        return service.deliveries(settings, who)

    @router.get("/receipts/{delivery_id}", tags=["交付"], summary="导出的签名交付回执（Ed25519）")
    def receipt(who: Who, delivery_id: Annotated[str, Path(max_length=40)], download: bool = False) -> Any:
        from fastapi.responses import JSONResponse

        doc = service.receipt(settings, who, delivery_id)
        headers = {"Content-Disposition": f'attachment; filename="{delivery_id}.receipt.json"'} if download else None
        return JSONResponse(doc, headers=headers)

    @router.get("/keys/receipt", tags=["交付"], summary="平台回执公钥（PEM）", response_class=PlainTextResponse)
    def receipt_key() -> str:
        return receipts.public_key_pem(settings)

    @router.post("/requests", tags=["申请与授权"], summary="提交共享申请", status_code=201)
    def submit(who: Who, body: AccessRequestIn) -> dict[str, Any]:
        ident = require(who, "consumer", "approver", "governance")
        t = service.table(settings, body.table)
        return grants.submit_request(settings, ident, t, body.purpose, body.columns, body.period_days,
                                     [f.model_dump() for f in body.row_filter])

    @router.get("/requests", tags=["申请与授权"], summary="本部门提交的和待本部门审批的申请")
    def requests(who: Who) -> list[dict[str, Any]]:
        return grants.list_requests(settings, require(who))

    @router.get("/requests/{request_id}", tags=["申请与授权"], summary="一条申请")
    def request_detail(who: Who, request_id: Annotated[str, Path(max_length=40)]) -> dict[str, Any]:
        ident = require(who)
        req = grants.get_request(settings, request_id)
        if ident.role != "governance" and ident.department not in {req["department"], req["provider"]}:
            raise ShareError(404, f"没有共享申请 {request_id}")
        return req

    @router.post("/requests/{request_id}/decision", tags=["申请与授权"], summary="提供方审批：批准或不予批准（须说明理由）")
    def decision(who: Who, request_id: Annotated[str, Path(max_length=40)], body: DecisionIn) -> dict[str, Any]:
        ident = require(who)
        return grants.decide(settings, ident, request_id, body.decision == "approve", body.reason)

    @router.get("/grants", tags=["申请与授权"], summary="本部门获得的和本部门给出的授权")
    def grant_list(who: Who) -> list[dict[str, Any]]:
        return grants.list_grants(settings, require(who))

    @router.post("/grants/{grant_id}/revoke", tags=["申请与授权"], summary="撤销授权（提供方审批人或治理管理员）")
    def grant_revoke(who: Who, grant_id: Annotated[str, Path(max_length=40)]) -> dict[str, Any]:
        ident = require(who, "approver", "governance")
        if not grants.revoke_grant(settings, ident, grant_id):
            raise ShareError(404, f"没有可撤销的授权 {grant_id}")
        return {"revoked": grant_id}

    @router.post("/corrections", tags=["数据纠错"], summary="报告错误数据", status_code=201)
    def correction(who: Who, body: CorrectionIn) -> dict[str, Any]:
        t, _ = service.authorize(settings, who, body.table, "correction.submit")
        assert who.identity is not None
        return grants.submit_correction(settings, who.identity, t, body.row_key, body.column, body.current_value,
                                        body.proposed_value, body.description)

    @router.get("/corrections", tags=["数据纠错"], summary="本部门提交的和待本部门处理的纠错工单")
    def corrections(who: Who) -> list[dict[str, Any]]:
        return service.corrections(settings, who)

    @router.post("/corrections/{case_id}/resolve", tags=["数据纠错"], summary="提供方办结纠错工单")
    def resolve(who: Who, case_id: Annotated[str, Path(max_length=40)], body: ResolutionIn) -> dict[str, Any]:
        return grants.resolve_correction(settings, require(who), case_id, body.accepted, body.resolution)

    @router.get("/governance/overdue", tags=["治理"], summary="超期未答复的共享申请（已上报治理）")
    def overdue(who: Who) -> list[dict[str, Any]]:
        ident = require(who, "governance")
        return grants.sweep_overdue(settings, ident)

    @router.get("/audit", tags=["治理"], summary="审计日志（最新在前）")
    def audit_log(who: Who, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  action: Annotated[str | None, Query(max_length=40)] = None,
                  target: Annotated[str | None, Query(max_length=80)] = None) -> list[dict[str, Any]]:
        require(who, "governance")
        return audit.entries(settings, limit, action, target)

    @router.get("/audit/verify", tags=["治理"], summary="校验审计哈希链")
    def audit_verify(who: Who) -> dict[str, Any]:
        require(who, "governance")
        return audit.verify(settings)

    return router
