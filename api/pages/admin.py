"""Administrator pages: organisations, users, API keys (the key shown once), the audit log
with filters, and a dashboard of server-side SVG charts.

Changes go through the JSON API's own admin handlers (:mod:`api.routes.admin`), so they are
validated and audited exactly as the API does it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import ConnDep, StateDep
from api.pages import charts
from api.pages.base import page, page_roles, page_router, redirect
from api.pages.forms import merge_errors, required, text
from api.routes import admin as admin_api
from vbs.errors import Conflict, ValidationFailed
from vbs.principal import Principal
from vbs.repo import reporting

router = page_router()

Admin = Annotated[Principal, Depends(page_roles("admin"))]

DASHBOARD_DAYS = 14


def _org_choices(orgs: list[admin_api.OrgOut], kinds: set[str] | None = None) -> list[Any]:
    choices: list[Any] = [("", "Choose an organisation")]
    choices += [
        (str(o.id), f"{o.name} ({o.kind.replace('_', ' ')})")
        for o in orgs
        if not o.disabled and (kinds is None or o.kind in kinds)
    ]
    return choices


# --- organisations -------------------------------------------------------------------------


def _orgs_page(
    request: Request,
    principal: Principal,
    conn: Any,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        principal,
        "admin/organisations.html",
        {
            "orgs": admin_api.list_orgs(principal, conn),
            "form": form or {"name": "", "kind": ""},
            "errors": errors or {},
            "created": request.query_params.get("created") == "1",
        },
        status_code=status_code,
    )


@router.get("/admin/organisations")
def organisations(request: Request, principal: Admin, conn: ConnDep) -> HTMLResponse:
    return _orgs_page(request, principal, conn)


@router.post("/admin/organisations")
async def organisation_create(
    request: Request, principal: Admin, state: StateDep, conn: ConnDep
) -> Response:
    form = await request.form()
    values = {"name": text(form, "name"), "kind": text(form, "kind")}
    errors: dict[str, str] = {}
    required(
        values,
        errors,
        {"name": "Enter the organisation’s name", "kind": "Select the kind of organisation"},
    )
    if not errors:
        try:
            body = admin_api.OrgIn.model_validate(values)
            await run_in_threadpool(admin_api.create_org, body, principal, state, conn)
        except (ValidationError, ValidationFailed) as exc:
            merge_errors(exc, errors, {"name": "name", "kind": "kind"})
        else:
            return redirect("/admin/organisations?created=1")
    return await run_in_threadpool(
        lambda: _orgs_page(request, principal, conn, form=values, errors=errors, status_code=400)
    )


# --- users -----------------------------------------------------------------------------


def _users_page(
    request: Request,
    principal: Principal,
    conn: Any,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    new_user: admin_api.NewUserOut | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    orgs = admin_api.list_orgs(principal, conn)
    org_filter: UUID | None = None
    raw = request.query_params.get("org")
    if raw:
        try:
            org_filter = UUID(raw)
        except ValueError:
            org_filter = None
    users = admin_api.list_users(principal, conn, org_filter)
    names = {o.id: o.name for o in orgs}
    return page(
        request,
        principal,
        "admin/users.html",
        {
            "users": users,
            "org_names": names,
            "org_name": names.get(org_filter) if org_filter else None,
            "org_choices": _org_choices(orgs),
            "form": form or {"email": "", "org_id": "", "role": ""},
            "errors": errors or {},
            "new_user": new_user,
        },
        status_code=status_code,
    )


@router.get("/admin/users")
def users(request: Request, principal: Admin, conn: ConnDep) -> HTMLResponse:
    return _users_page(request, principal, conn)


@router.post("/admin/users")
async def user_create(
    request: Request, principal: Admin, state: StateDep, conn: ConnDep
) -> Response:
    form = await request.form()
    values = {
        "email": text(form, "email"),
        "org_id": text(form, "org_id"),
        "role": text(form, "role"),
    }
    errors: dict[str, str] = {}
    required(
        values,
        errors,
        {
            "email": "Enter their email address",
            "org_id": "Select their organisation",
            "role": "Select their role",
        },
    )
    fields = {"email": "email", "org_id": "org_id", "org": "org_id", "role": "role"}
    new_user = None
    if not errors:
        try:
            body = admin_api.UserIn.model_validate(values)
            new_user = await run_in_threadpool(admin_api.create_user, body, principal, state, conn)
        except (ValidationError, ValidationFailed) as exc:
            merge_errors(exc, errors, fields)
        except Conflict:
            errors["email"] = "A user with this email address already exists"
    if new_user is not None:
        # The generated password and TOTP secret are shown once, on this response only.
        return await run_in_threadpool(
            lambda: _users_page(request, principal, conn, new_user=new_user)
        )
    return await run_in_threadpool(
        lambda: _users_page(request, principal, conn, form=values, errors=errors, status_code=400)
    )


@router.post("/admin/users/{user_id}/disable")
async def user_disable(
    request: Request, user_id: UUID, principal: Admin, state: StateDep, conn: ConnDep
) -> Response:
    await run_in_threadpool(admin_api.disable_user, user_id, principal, state, conn)
    return redirect("/admin/users")


# --- API keys --------------------------------------------------------------------------


def _keys_page(
    request: Request,
    principal: Principal,
    conn: Any,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    new_key: admin_api.NewApiKeyOut | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    orgs = admin_api.list_orgs(principal, conn)
    return page(
        request,
        principal,
        "admin/api_keys.html",
        {
            "keys": admin_api.list_keys(principal, conn, None),
            "org_names": {o.id: o.name for o in orgs},
            "org_choices": _org_choices(orgs, {"employer", "registered_body"}),
            "form": form or {"org_id": "", "label": ""},
            "errors": errors or {},
            "new_key": new_key,
        },
        status_code=status_code,
    )


@router.get("/admin/api-keys")
def api_keys(request: Request, principal: Admin, conn: ConnDep) -> HTMLResponse:
    return _keys_page(request, principal, conn)


@router.post("/admin/api-keys")
async def api_key_create(
    request: Request, principal: Admin, state: StateDep, conn: ConnDep
) -> Response:
    form = await request.form()
    values = {"org_id": text(form, "org_id"), "label": text(form, "label")}
    errors: dict[str, str] = {}
    required(values, errors, {"org_id": "Select the organisation the key is for"})
    fields = {"org_id": "org_id", "org": "org_id", "label": "label"}
    new_key = None
    if not errors:
        try:
            body = admin_api.ApiKeyIn.model_validate(
                {"org_id": values["org_id"], "label": values["label"] or None}
            )
            new_key = await run_in_threadpool(admin_api.create_key, body, principal, state, conn)
        except (ValidationError, ValidationFailed) as exc:
            merge_errors(exc, errors, fields)
    if new_key is not None:
        return await run_in_threadpool(
            lambda: _keys_page(request, principal, conn, new_key=new_key)
        )
    return await run_in_threadpool(
        lambda: _keys_page(request, principal, conn, form=values, errors=errors, status_code=400)
    )


@router.post("/admin/api-keys/{key_id}/revoke")
async def api_key_revoke(
    request: Request, key_id: UUID, principal: Admin, state: StateDep, conn: ConnDep
) -> Response:
    await run_in_threadpool(admin_api.revoke_key, key_id, principal, state, conn)
    return redirect("/admin/api-keys")


# --- audit log -------------------------------------------------------------------------


def _day_start(value: str, label: str, errors: dict[str, str], key: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
    except ValueError:
        errors[key] = f"{label} must be a real date, like 2026-03-27"
        return None


def _uuid(value: str, label: str, errors: dict[str, str], key: str) -> UUID | None:
    if not value:
        return None
    try:
        return UUID(value)
    except ValueError:
        errors[key] = f"{label} must be an id like 3f2b…, copied from another page"
        return None


@router.get("/admin/audit")
def audit_log(request: Request, principal: Admin, state: StateDep, conn: ConnDep) -> HTMLResponse:
    q = request.query_params
    form = {
        name: (q.get(name) or "").strip()[:100]
        for name in ("action", "object_type", "user_id", "org_id", "since", "until")
    }
    errors: dict[str, str] = {}
    user_id = _uuid(form["user_id"], "User id", errors, "user_id")
    org_id = _uuid(form["org_id"], "Organisation id", errors, "org_id")
    since = _day_start(form["since"], "From", errors, "since")
    until = _day_start(form["until"], "Until", errors, "until")
    if until is not None:
        until += timedelta(days=1)  # the whole of the last day
    before_seq: int | None = None
    raw_before = q.get("before")
    if raw_before and raw_before.isdigit() and int(raw_before) > 0:
        before_seq = int(raw_before)
    events: list[admin_api.AuditEventOut] = []
    next_href = None
    if not errors:
        result = admin_api.list_audit(
            principal,
            state,
            conn,
            action=form["action"] or None,
            org_id=org_id,
            user_id=user_id,
            object_type=form["object_type"] or None,
            object_id=None,
            since=since,
            until=until,
            before_seq=before_seq,
            limit=100,
        )
        events = result.events
        if result.next_before_seq:
            params = "&".join(f"{k}={v}" for k, v in form.items() if v)
            next_href = f"/admin/audit?{params}&before={result.next_before_seq}".replace("?&", "?")
    return page(
        request,
        principal,
        "admin/audit.html",
        {"events": events, "form": form, "errors": errors, "next_href": next_href},
        status_code=400 if errors else 200,
    )


# --- dashboard -------------------------------------------------------------------------


@router.get("/admin")
def dashboard(request: Request, principal: Admin, conn: ConnDep) -> HTMLResponse:
    today = datetime.now(UTC).date()
    since = today - timedelta(days=DASHBOARD_DAYS - 1)
    days = [since + timedelta(days=i) for i in range(DASHBOARD_DAYS)]
    per_day: dict[date, dict[str, int]] = {d: {} for d in days}
    for r in reporting.checks_per_day(conn, since):
        per_day.setdefault(r.day, {})[r.outcome] = r.n
    check_rows = [(f"{d.day} {d:%b}", per_day.get(d, {})) for d in days]
    queue = reporting.review_queue(conn)
    ages = reporting.review_queue_ages(conn)
    throughput = reporting.batch_throughput(conn, since)
    by_day = {t.day: t for t in throughput}
    batch_rows = [(f"{d.day} {d:%b}", float(by_day[d].rows) if d in by_day else 0.0) for d in days]
    oldest = min((q.oldest for q in queue if q.oldest is not None), default=None)
    return page(
        request,
        principal,
        "admin/dashboard.html",
        {
            "days": DASHBOARD_DAYS,
            "series": charts.OUTCOME_SERIES,
            "check_rows": check_rows,
            "checks_chart": charts.stacked_bars(
                "checks-per-day",
                f"Checks per day by outcome, last {DASHBOARD_DAYS} days",
                check_rows,
            ),
            "queue": queue,
            "queue_chart": charts.bars(
                "queue-age",
                "Reviews waiting, by how long they have waited",
                [(b.bucket, float(b.n)) for b in ages],
                unit="reviews",
                colour="#f47738",
            ),
            "throughput": throughput,
            "batch_chart": charts.bars(
                "batch-rows",
                f"Batch rows checked per day, last {DASHBOARD_DAYS} days",
                batch_rows,
                unit="rows",
            ),
            "totals": {
                "checks": sum(sum(c.values()) for _, c in check_rows),
                "queue": sum(q.n for q in queue),
                "oldest": oldest,
                "batch_rows": sum(t.rows for t in throughput),
            },
        },
    )
