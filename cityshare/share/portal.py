"""The zh-CN portal (门户): server-rendered pages over the same service functions as the API."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from cityshare.settings import Settings
from cityshare.share import audit, display, grants, service, sessions
from cityshare.share.auth import Caller, ShareError, caller_from, require
from cityshare.share.exports import FORMATS
from cityshare.share.lineage_view import layout
from cityshare.share.sessions import COOKIE
from cityshare.share.tokens import resolve

TEMPLATES = Path(__file__).parent / "templates"
log = logging.getLogger("cityshare.share")
PAGE_SIZE = 20  # directory entries per portal page
# Every state-changing form echoes its session's CSRF token in this field (templates: name="csrf").
CsrfField = Annotated[str, Form(max_length=100)]


def page_context(caller: Caller) -> dict[str, Any]:
    """What every portal page needs: who is signed in and the CSRF token its forms carry."""
    from cityshare.share.store import today

    return {"me": caller.identity if caller.ok else None, "csrf": caller.session.csrf if caller.session else "",
            "today": today().isoformat()}


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    display.install(templates.env, settings)

    def who(request: Request) -> Caller:
        return caller_from(settings, None, request.cookies.get(COOKIE))

    def posted(request: Request, csrf: str) -> Caller:
        """The caller of a form post: a signed-in session whose CSRF token the form echoes."""
        caller = who(request)
        if caller.session is not None and not sessions.csrf_ok(caller.session, csrf):
            raise ShareError(403, "表单已失效（CSRF 校验失败），请刷新页面后重新提交")
        return caller

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {**page_context(who(request)), **ctx}, status_code=status)

    def back(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    @router.get("/", response_class=HTMLResponse)
    def home(request: Request, q: Annotated[str | None, Query(max_length=200)] = None,
             classification: Annotated[str | None, Query(max_length=20)] = None,
             provider: Annotated[str | None, Query(max_length=64)] = None,
             sharing_type: Annotated[str | None, Query(max_length=20)] = None,
             update_cycle: Annotated[str | None, Query(max_length=20)] = None,
             kind: Annotated[str | None, Query(pattern="^(source|shared)?$")] = None,
             page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1) -> HTMLResponse:
        entries, _ = service.directory(settings)
        form = {"q": q or "", "classification": classification or "", "provider": provider or "",
                "sharing_type": sharing_type or "", "update_cycle": update_cycle or "", "kind": kind or ""}
        hits = service.find_entries(settings, q, classification=classification or None, provider=provider or None,
                                    sharing_type=sharing_type or None, update_cycle=update_cycle or None,
                                    kind=kind or None)
        pages = max(1, -(-len(hits) // PAGE_SIZE))
        page_no = min(page_no, pages)
        shown = hits[(page_no - 1) * PAGE_SIZE:page_no * PAGE_SIZE]
        return page(request, "directory.html", entries=shown, hits=len(hits), segmented=_segmented(q), all_count=len(entries),
                    facets=service.facets(settings), counts=_facet_counts(hits), form=form, page_no=page_no,
                    pages=pages, link=lambda **change: "/?" + urlencode({k: v for k, v in {**form, **change}.items()
                                                                         if v}))

    def _segmented(q: str | None) -> list[str]:
        """The query as the search reads it (terms, long Chinese ones cut into words), shown under the box."""
        from cityshare.share.search import terms, words

        return [" + ".join(words(t)) if len(t) >= 3 and not t.isascii() and len(words(t)) > 1 else t for t in terms(q)]

    def _facet_counts(hits: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
        """Counts of the hits by the portal's facets: provider slug, class, 共享类型, 更新周期, layer."""
        from collections import Counter

        def count(values: Any) -> dict[str, int]:
            return dict(Counter(v for v in values if v).most_common())

        return {"provider": count(e.get("department") for e in hits),
                "classification": count(str(e.get("信息资源分类") or "")[:1] for e in hits),
                "sharing_type": count((e.get("共享属性") or {}).get("共享类型") for e in hits),
                "update_cycle": count(e.get("更新周期") for e in hits),
                "kind": count(e.get("kind") for e in hits)}

    @router.get("/entry", response_class=HTMLResponse)
    def entry_page(request: Request, code: Annotated[str, Query(max_length=60)]) -> HTMLResponse:
        e = service.entry(settings, code)
        caller = who(request)
        name = service.table_of_entry(e)
        sample, denied, table = None, None, None
        if name:
            try:
                table = service.table(settings, name)
            except ShareError as exc:
                denied = exc.message
        if name and table and caller.ok:
            try:
                sample = service.read_rows(settings, caller, name, action="sample", limit=10)
            except ShareError as exc:
                denied = exc.message
        elif table:
            denied = "登录后可预览样例数据"
        try:
            quality = service.quality(settings, e)
            quality_note = None
        except ShareError as exc:
            quality, quality_note = [], exc.message
        try:
            graph = service.lineage(settings, code)
            lineage, lineage_note = layout(graph), None
        except ShareError as exc:
            lineage, lineage_note = None, exc.message
        except Exception:  # the lineage tables being rebuilt must not break the entry page; the log has why
            log.exception("lineage of %s", code)
            lineage, lineage_note = None, "血缘暂不可用，请稍后再试"
        related = [r for c in e.get("关联资源代码") or [] for r in _entries_by_code(c)]
        return page(request, "entry.html", e=e, table=table, sample=sample, denied=denied, quality=quality,
                    quality_note=quality_note, lineage=lineage, lineage_note=lineage_note, formats=list(FORMATS),
                    code_q=quote(code, safe=""), related=related,
                    provider_full=display.department(settings, e.get("department"), full=True))

    def _entries_by_code(code: str) -> list[dict[str, Any]]:
        return [x for x in service.directory(settings)[0] if x["信息资源代码"] == code]

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, error: Annotated[str | None, Query(max_length=200)] = None) -> HTMLResponse:
        return page(request, "login.html", error=error)

    @router.post("/login")
    def login(request: Request, token: Annotated[str, Form(max_length=200)],
              next: Annotated[str, Form(max_length=300)] = "/") -> Any:
        ident, problem = resolve(settings, token.strip())
        if problem or ident is None:
            audit.record(settings, ident, "login", None, status=401, detail={"refused": problem})
            return page(request, "login.html", status=401, error=problem or "令牌无效")
        audit.record(settings, ident, "login", None)
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        resp = back(target)
        resp.set_cookie(COOKIE, sessions.open_session(settings, ident), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=int(sessions.LIFETIME.total_seconds()))
        return resp

    @router.post("/logout")
    def logout(request: Request, csrf: CsrfField = "") -> RedirectResponse:
        caller = posted(request, csrf)
        if caller.session is not None and sessions.revoke(settings, request.cookies.get(COOKIE, "")):
            audit.record(settings, caller.identity, "logout", None)
        resp = back("/")
        resp.delete_cookie(COOKIE)
        return resp

    @router.post("/portal/requests")
    def request_access(request: Request, table: Annotated[str, Form(max_length=64)],
                       purpose: Annotated[str, Form(max_length=500)],
                       period_days: Annotated[int, Form(ge=1, le=366)] = 90,
                       columns: Annotated[list[str] | None, Form()] = None, csrf: CsrfField = "") -> Any:
        ident = require(posted(request, csrf))
        t = service.table(settings, table)
        req = grants.submit_request(settings, ident, t, purpose, columns or [], period_days)
        return back(f"/grants?submitted={req['id']}")

    @router.get("/approvals", response_class=HTMLResponse)
    def approvals(request: Request) -> HTMLResponse:
        ident = require(who(request))
        reqs = [r for r in grants.list_requests(settings, ident) if r["provider"] == ident.department]
        return page(request, "approvals.html", requests=reqs,
                    can_decide=ident.role == "approver")

    @router.post("/portal/requests/{request_id}/decision")
    def decide(request: Request, request_id: str, decision: Annotated[str, Form(pattern="^(approve|refuse)$")],
               reason: Annotated[str, Form(max_length=1000)] = "", csrf: CsrfField = "") -> Any:
        grants.decide(settings, require(posted(request, csrf)), request_id[:40], decision == "approve", reason)
        return back("/approvals")

    @router.get("/grants", response_class=HTMLResponse)
    def my_grants(request: Request, submitted: Annotated[str | None, Query(max_length=40)] = None,
                  revoked: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
        caller = who(request)
        ident = require(caller)
        reqs = [r for r in grants.list_requests(settings, ident) if r["department"] == ident.department]
        every = grants.list_grants(settings, ident)
        mine = [g for g in every if g["department"] == ident.department]
        # the provider's view: grants this department gave (governance oversees them all)
        given = [g for g in every if g["provider"] == ident.department or
                 (ident.role == "governance" and g["department"] != ident.department)]
        return page(request, "grants.html", requests=reqs, grants=mine, given=given, submitted=submitted, revoked=revoked,
                    can_revoke=ident.role in {"approver", "governance"}, deliveries=service.deliveries(settings, caller),
                    entry_codes=_entry_codes())

    def _entry_codes() -> dict[str, str]:
        """Published table name → its directory entry's code (grants link to the entry page, not raw JSON)."""
        return {service.table_of_entry(e) or "": e["信息资源代码"] for e in service.directory(settings)[0]}

    @router.post("/portal/grants/{grant_id}/revoke")
    def revoke(request: Request, grant_id: str, csrf: CsrfField = "") -> Any:
        ident = require(posted(request, csrf), "approver", "governance")
        if not grants.revoke_grant(settings, ident, grant_id[:40]):
            raise ShareError(404, f"没有可撤销的授权 {grant_id[:40]}")
        return back("/grants?revoked=" + quote(grant_id[:40], safe=""))

    @router.get("/corrections", response_class=HTMLResponse)
    def corrections(request: Request) -> HTMLResponse:
        caller = who(request)
        ident = require(caller)
        return page(request, "corrections.html", cases=service.corrections(settings, caller),
                    can_resolve=ident.role == "approver")

    @router.post("/portal/corrections")
    def correction(request: Request, table: Annotated[str, Form(max_length=64)],
                   row_key: Annotated[str, Form(max_length=200)], column: Annotated[str, Form(max_length=64)],
                   description: Annotated[str, Form(max_length=1000)],
                   current_value: Annotated[str, Form(max_length=500)] = "",
                   proposed_value: Annotated[str, Form(max_length=500)] = "", csrf: CsrfField = "") -> Any:
        caller = posted(request, csrf)
        t, _ = service.authorize(settings, caller, table, "correction.submit")
        assert caller.identity is not None
        grants.submit_correction(settings, caller.identity, t, row_key, column, current_value, proposed_value, description)
        return back("/corrections")

    @router.post("/portal/corrections/{case_id}/resolve")
    def resolve_case(request: Request, case_id: str, accepted: Annotated[str, Form(pattern="^(yes|no)$")],
                     resolution: Annotated[str, Form(max_length=1000)], csrf: CsrfField = "") -> Any:
        grants.resolve_correction(settings, require(posted(request, csrf)), case_id[:40], accepted == "yes", resolution)
        return back("/corrections")

    @router.get("/reference", response_class=HTMLResponse)
    def reference_page(request: Request, name: Annotated[str | None, Query(max_length=40)] = None) -> HTMLResponse:
        """参考数据: the code lists this instance builds and checks with, and where each came from (a list received
        from a higher instance or the project's own seed). Public like /api/federation/reference: code lists,
        no department's rows."""
        from cityshare.code_lists import CODE_LISTS, COLUMN_TITLES, code_list_path, parse, status

        shown = None
        if name:
            if name not in CODE_LISTS:
                raise ShareError(404, f"没有名为「{name[:40]}」的代码表")
            columns, rows = parse(code_list_path(settings, name).read_text(encoding="utf-8"))
            shown = {"name": name, "title": CODE_LISTS[name], "rows": rows,
                     "columns": [(c, COLUMN_TITLES.get(c, c)) for c in columns]}
        return page(request, "reference.html", lists=status(settings), shown=shown)

    @router.get("/governance", response_class=HTMLResponse)
    def governance(request: Request) -> HTMLResponse:
        ident = require(who(request), "governance")
        return page(request, "governance.html", overdue=grants.sweep_overdue(settings, ident),
                    chain=audit.verify(settings), log=audit.entries(settings, 50))

    return router
