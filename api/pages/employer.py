"""Employer (and registered body) pages: check one person, the outcome, check history,
dispute an outcome, make a referral, notifications from continuous screening.

The check form is validated by the JSON API's own model (:class:`api.routes.checks.CheckIn`)
and run by the same service (:func:`vbs.services.checks.run_check`) under the same quota;
the page only assembles the form (the date from its three boxes) and shows the errors by
each field.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import AuditDep, ConnDep, SettingsDep
from api.pages.base import CLIENT_ROLES, page, page_roles, page_router, redirect
from api.pages.forms import (
    blank_person,
    merge_errors,
    name_lines,
    read_person,
    required,
    text,
)
from api.quotas import check_quota
from api.routes.checks import CheckIn, HolderDep
from vbs.errors import Conflict, ValidationFailed
from vbs.principal import Principal
from vbs.repo import checks as check_repo
from vbs.repo import reporting
from vbs.services import cases, checks, reviews

router = page_router()

Client = Annotated[Principal, Depends(page_roles(*CLIENT_ROLES))]
Employer = Annotated[Principal, Depends(page_roles("employer"))]

CHECK_FIELDS = {
    "reference": "reference",
    "forenames": "forenames",
    "surname": "surname",
    "date_of_birth": "date_of_birth",
    "previous_names": "previous_names",
    "gender": "gender",
    "workforce": "workforce",
    "eligibility_confirmed": "eligibility_confirmed",
    "consent_confirmed": "consent_confirmed",
}
LABELS = {
    "reference": "Your reference",
    "forenames": "First names",
    "surname": "Last name",
    "date_of_birth": "Date of birth",
    "previous_names": "Previous names",
    "gender": "Gender",
    "workforce": "Who they will work with",
    "summary": "What happened",
}
CONFIRMATIONS = {
    "workforce": "Select who they will work with",
    "eligibility_confirmed": "Confirm the role is regulated activity",
    "consent_confirmed": "Confirm the person has agreed to this check",
}


def _blank_check_form() -> dict[str, Any]:
    return {
        "reference": "",
        **blank_person(),
        "workforce": "",
        "eligibility_confirmed": False,
        "consent_confirmed": False,
    }


def _labelled(errors: dict[str, str]) -> dict[str, str]:
    """A service's terse message ('must not be empty') with the field's label in front."""
    out = {}
    for key, message in errors.items():
        label = LABELS.get(key)
        if label and message.lower().startswith(("must ", "is ", "should ")):
            message = f"{label} {message[:1].lower()}{message[1:]}"
        out[key] = message
    return out


@router.get("/checks/new")
def check_form(request: Request, principal: Client) -> HTMLResponse:
    return page(request, principal, "employer/check_form.html", {"form": _blank_check_form()})


@router.post("/checks")
async def check_submit(
    request: Request,
    principal: Client,
    conn: ConnDep,
    audit: AuditDep,
    holder: HolderDep,
    settings: SettingsDep,
) -> Response:
    form = await request.form()
    values: dict[str, Any] = {"reference": text(form, "reference")}
    errors: dict[str, str] = {}
    required(values, errors, {"reference": "Enter your reference for this check"})
    person, dob = read_person(form, errors)
    values |= person | {
        "workforce": text(form, "workforce"),
        "eligibility_confirmed": form.get("eligibility_confirmed") == "true",
        "consent_confirmed": form.get("consent_confirmed") == "true",
    }
    required(values, errors, CONFIRMATIONS)
    body: CheckIn | None = None
    if not errors:
        try:
            body = CheckIn.model_validate(
                {
                    "reference": values["reference"],
                    "forenames": values["forenames"],
                    "surname": values["surname"],
                    "previous_names": name_lines(values["previous_names"]),
                    "date_of_birth": dob.isoformat() if dob else "",
                    "gender": values["gender"] or None,
                    "workforce": values["workforce"],
                    "eligibility_confirmed": True,
                    "consent_confirmed": True,
                }
            )
        except ValidationError as exc:
            merge_errors(exc, errors, CHECK_FIELDS)
    if body is not None:
        try:
            # The API's quota (per user session and per organisation), then the check.
            await check_quota(request, principal, request.app.state.vbs, conn)
            result = await run_in_threadpool(
                checks.run_check, conn, holder, audit, principal, body.to_request()
            )
        except ValidationFailed as exc:
            merge_errors(exc, errors, CHECK_FIELDS)
        else:
            return redirect(f"/checks/{result.id}")
    return page(
        request,
        principal,
        "employer/check_form.html",
        {"form": values, "errors": _labelled(errors), "nav_path": "/checks/new"},
        status_code=400,
    )


def _outcome_page(
    request: Request,
    principal: Principal,
    result: checks.CheckResult,
    *,
    errors: dict[str, str] | None = None,
    dispute_sent: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        principal,
        "employer/outcome.html",
        {
            "check": result,
            "headline": result.outcome.replace("_", " "),
            "errors": errors or {},
            "dispute_sent": dispute_sent,
        },
        status_code=status_code,
    )


@router.get("/checks/{check_id}")
def check_outcome(
    request: Request, check_id: UUID, principal: Client, conn: ConnDep
) -> HTMLResponse:
    result = checks.get_for_org(conn, principal, check_id)
    return _outcome_page(
        request, principal, result, dispute_sent=request.query_params.get("disputed") == "1"
    )


@router.post("/checks/{check_id}/dispute")
async def check_dispute(
    request: Request, check_id: UUID, principal: Client, conn: ConnDep, audit: AuditDep
) -> Response:
    form = await request.form()
    reason = text(form, "reason")
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = "Enter why the applicant says the outcome is wrong"
    else:
        try:
            await run_in_threadpool(reviews.dispute, conn, audit, principal, check_id, reason)
        except ValidationFailed as exc:
            merge_errors(exc, errors, {"reason": "reason"})
        except Conflict:
            errors["reason"] = "A caseworker is already looking at a dispute of this check"
        else:
            return redirect(f"/checks/{check_id}?disputed=1")
    result = await run_in_threadpool(checks.get_for_org, conn, principal, check_id)
    return _outcome_page(request, principal, result, errors=_labelled(errors), status_code=400)


@router.get("/checks")
def check_history(request: Request, principal: Client, conn: ConnDep) -> HTMLResponse:
    reference = (request.query_params.get("reference") or "").strip()[:100]
    try:
        page_no = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page_no = 1
    per_page = 50
    prev_href = next_href = None
    if reference:
        found: list[Any] = checks.search_for_org(conn, principal, reference)
    else:
        assert principal.org_id is not None
        found = reporting.recent_checks(
            conn, principal.org_id, limit=per_page + 1, offset=(page_no - 1) * per_page
        )
        if len(found) > per_page:
            found = found[:per_page]
            next_href = f"/checks?page={page_no + 1}"
        if page_no > 1:
            prev_href = f"/checks?page={page_no - 1}"
    return page(
        request,
        principal,
        "employer/history.html",
        {
            "checks": found,
            "reference": reference,
            "prev_href": prev_href,
            "next_href": next_href,
        },
    )


@router.get("/notifications")
def notifications(
    request: Request, principal: Client, conn: ConnDep, settings: SettingsDep
) -> HTMLResponse:
    assert principal.org_id is not None
    rows = check_repo.list_notifications(conn, principal.org_id, 100)
    return page(
        request,
        principal,
        "employer/notifications.html",
        {"notifications": rows, "retention_days": settings.retention_days},
    )


def _blank_referral() -> dict[str, Any]:
    return {**blank_person(), "summary": ""}


@router.get("/referrals/new")
def referral_form(request: Request, principal: Employer) -> HTMLResponse:
    return page(request, principal, "employer/referral_form.html", {"form": _blank_referral()})


@router.post("/referrals")
async def referral_submit(
    request: Request, principal: Employer, conn: ConnDep, audit: AuditDep
) -> Response:
    form = await request.form()
    errors: dict[str, str] = {}
    values, dob = read_person(form, errors)
    values["summary"] = text(form, "summary")
    required(values, errors, {"summary": "Enter what happened"})
    if not errors and dob is not None:
        raw = cases.CaseInput(
            forenames=values["forenames"],
            surname=values["surname"],
            date_of_birth=dob,
            summary=values["summary"],
            route="discretionary",
            previous_names=tuple(name_lines(values["previous_names"])),
            gender=values["gender"] or None,
        )

        def _open() -> str:
            with conn.transaction():
                case = cases.open_case(conn, audit, principal, raw)
            return case.reference

        try:
            reference = await run_in_threadpool(_open)
        except ValidationFailed as exc:
            merge_errors(exc, errors, {k: k for k in values})
        else:
            return page(request, principal, "employer/referral_done.html", {"reference": reference})
    return page(
        request,
        principal,
        "employer/referral_form.html",
        {"form": values, "errors": _labelled(errors), "nav_path": "/referrals/new"},
        status_code=400,
    )
