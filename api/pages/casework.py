"""Caseworker pages: the review queue and review page, disputes, barring cases (timeline,
allowed next steps, representations deadline, senior approval), barred-list search, alerts.

Each page calls the JSON API's own handler for the same operation (:mod:`api.routes.reviews`,
:mod:`api.routes.cases`, :mod:`api.routes.list`, :mod:`api.routes.alerts`), with the API's
own request models: the same rules, the same audit events. Every value is escaped by the
templates, so a name typed as markup shows as text.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import AuditDep, ConnDep, StateDep
from api.pages.base import CASEWORK_ROLES, page, page_roles, page_router, redirect
from api.pages.forms import (
    NAMES_REQUIRED,
    blank_person,
    date_parts,
    merge_errors,
    name_lines,
    read_date,
    read_person,
    required,
    text,
)
from api.pages.render import long_date
from api.routes import alerts as alerts_api
from api.routes import cases as cases_api
from api.routes import list as list_api
from api.routes import reviews as reviews_api
from vbs.errors import Conflict, ValidationFailed
from vbs.principal import Principal
from vbs.repo import reporting
from vbs.services import cases

router = page_router()

Caseworker = Annotated[Principal, Depends(page_roles(*CASEWORK_ROLES))]
Senior = Annotated[Principal, Depends(page_roles("senior_caseworker"))]

KIND_WORDS = {
    "possible_match": "Possible match",
    "dispute": "Dispute",
    "screening": "Continuous screening",
}
STATE_WORDS = {
    "referral_received": "Referral received",
    "initial_assessment": "Initial assessment",
    "information_gathering": "Information gathering",
    "risk_assessment": "Risk assessment",
    "minded_to_bar": "Minded to bar",
    "representations_received": "Representations received",
    "representations_closed": "Representations closed",
    "awaiting_approval": "Awaiting senior approval",
    "barred": "Barred",
    "no_further_action": "No further action",
    "appealed": "Appealed",
    "remitted": "Remitted by tribunal",
    "under_review": "Under review",
    "removed": "Removed from list",
}
STATE_COLOURS = {
    "minded_to_bar": "orange",
    "awaiting_approval": "yellow",
    "barred": "red",
    "no_further_action": "green",
    "removed": "grey",
    "appealed": "purple",
}
ACTION_WORDS = {
    "begin_assessment": ("Begin the initial assessment",),
    "gather_information": ("Gather information",),
    "assess_risk": ("Assess the risk",),
    "send_minded_to_bar": (
        "Send a minded-to-bar letter",
        "The person then has 8 weeks to make representations",
    ),
    "receive_representations": ("Record representations received",),
    "close_representations": ("Close representations (the deadline has passed)",),
    "decide_bar": ("Decide to bar", "A senior caseworker must approve it"),
    "decide_no_further_action": ("No further action",),
    "lodge_appeal": ("Record an appeal to the tribunal",),
    "tribunal_dismiss": ("The tribunal dismissed the appeal",),
    "tribunal_remove": ("The tribunal ordered removal from the list",),
    "tribunal_remit": ("The tribunal remitted the decision",),
    "begin_review": ("Begin a review of the bar",),
    "review_uphold": ("Uphold the bar after review",),
    "review_remove": ("Remove from the list after review",),
}
FIELD_LABELS = {
    "forenames": "First name",
    "middle_names": "Middle names",
    "surname": "Last name",
    "names": "Name order",
    "date_of_birth": "Date of birth",
    "gender": "Gender",
    "band": "Band",
}
SAME_LEVELS = frozenset({"exact", "agree"})
ROUTE_CHOICES = [
    ("discretionary", "Discretionary referral", "From an employer or another body"),
    (
        "automatic_with_representations",
        "Automatic barring offence, with representations",
        "The person may make representations before the decision",
    ),
    (
        "automatic_without_representations",
        "Automatic barring offence, without representations",
        "Straight to a decision after the risk assessment",
    ),
]


def _lists_text(names: list[str] | None) -> str:
    if not names:
        return "barred lists"
    if len(names) == 2:
        return "children’s and adults’ lists"
    return "children’s list" if names[0] == "children" else "adults’ list"


# --- reviews -----------------------------------------------------------------------------


def _queue(
    request: Request,
    principal: Principal,
    conn: Any,
    *,
    kinds: set[str] | None,
    heading: str,
    intro: str,
) -> HTMLResponse:
    listing = reviews_api.list_reviews(principal, conn, 500, 0)
    items = [i for i in listing.items if kinds is None or i.kind in kinds]
    return page(
        request,
        principal,
        "casework/reviews.html",
        {"items": items, "heading": heading, "intro": intro, "kind_words": KIND_WORDS},
    )


@router.get("/casework/reviews")
def review_queue(request: Request, principal: Caseworker, conn: ConnDep) -> HTMLResponse:
    return _queue(
        request,
        principal,
        conn,
        kinds=None,
        heading="Review queue",
        intro="Checks that may be a match with someone on a barred list, waiting for a decision.",
    )


@router.get("/casework/disputes")
def dispute_queue(request: Request, principal: Caseworker, conn: ConnDep) -> HTMLResponse:
    return _queue(
        request,
        principal,
        conn,
        kinds={"dispute"},
        heading="Disputes",
        intro="Disputes are outcomes an employer says are wrong, on the applicant’s behalf.",
    )


def _side_value(side: reviews_api.IdentityOut, field: str) -> str:
    forenames = side.forenames or ""
    if field == "forenames":
        return forenames.split(" ")[0] if forenames else "Not known"
    if field == "middle_names":
        return " ".join(forenames.split(" ")[1:]) or "None"
    if field == "surname":
        return side.surname or "Not known"
    if field == "names":
        return f"{forenames} {side.surname or ''}".strip()
    if field == "date_of_birth":
        return side.date_of_birth or "Not known"
    if field == "gender":
        return (side.gender or "not given").capitalize()
    return ""


def _candidate_view(
    check: reviews_api.IdentityOut, cand: reviews_api.CandidateOut
) -> dict[str, Any]:
    explanation = cand.explanation if isinstance(cand.explanation, dict) else {}
    rows = []
    for f in explanation.get("fields", []):
        if not isinstance(f, dict):
            continue
        field = str(f.get("field", ""))
        level = str(f.get("level", ""))
        rows.append(
            {
                "label": FIELD_LABELS.get(field, field.replace("_", " ").capitalize()),
                "check_value": _side_value(check, field),
                "entry_value": _side_value(cand.entry, field),
                "level": level,
                "detail": str(f.get("detail", "")),
                # the band line explains the whole pair: no values of its own to highlight
                "differs": level not in SAME_LEVELS and field != "band",
            }
        )
    prev_check = "; ".join(check.previous_names) or "None"
    prev_entry = "; ".join(cand.entry.previous_names) or "None"
    rows.append(
        {
            "label": "Previous names",
            "check_value": prev_check,
            "entry_value": prev_entry,
            "level": "shown for reference",
            "detail": "Previous names are compared as names when they match better.",
            "differs": False,
        }
    )
    return {
        "probability": cand.probability,
        "band": cand.band,
        "lists_text": _lists_text(cand.lists),
        "case_reference": cand.case_reference,
        # The case page of the barring case that listed the person (same roles as this page).
        "case_url": f"/casework/cases/{cand.case_id}" if cand.case_id else None,
        "rows": rows,
    }


def _review_page(
    request: Request,
    principal: Principal,
    detail: reviews_api.ReviewDetailOut,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        principal,
        "casework/review.html",
        {
            "review": detail.item,
            "check": detail.check,
            "candidates": [_candidate_view(detail.check.identity, c) for c in detail.candidates],
            "kind_words": KIND_WORDS,
            "form": form or {"decision": "", "reason": ""},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/casework/reviews/{item_id}")
def review_page(
    request: Request, item_id: UUID, principal: Caseworker, conn: ConnDep, audit: AuditDep
) -> HTMLResponse:
    detail = reviews_api.get_review(item_id, principal, conn, audit)
    return _review_page(request, principal, detail)


@router.post("/casework/reviews/{item_id}/decision")
async def review_decision(
    request: Request, item_id: UUID, principal: Caseworker, conn: ConnDep, audit: AuditDep
) -> Response:
    form = await request.form()
    values = {"decision": text(form, "decision"), "reason": text(form, "reason")}
    errors: dict[str, str] = {}
    if values["decision"] not in ("match", "no_match"):
        errors["decision"] = "Select whether it is the same person"
    if not values["reason"]:
        errors["reason"] = "Enter the reason for your decision"
    if not errors:
        try:
            body = reviews_api.DecisionIn.model_validate(values)
            await run_in_threadpool(
                reviews_api.decide_review, item_id, body, principal, conn, audit
            )
        except (ValidationError, ValidationFailed) as exc:
            merge_errors(exc, errors, {"decision": "decision", "reason": "reason"})
        except Conflict:
            errors["decision"] = "Someone has already decided this review"
        else:
            return redirect("/casework/reviews")
    detail = await run_in_threadpool(reviews_api.get_review, item_id, principal, conn, audit)
    return _review_page(request, principal, detail, form=values, errors=errors, status_code=400)


# --- cases -------------------------------------------------------------------------------


def _case_list(
    request: Request,
    principal: Principal,
    conn: Any,
    *,
    state: str | None,
    heading: str,
    show_filter: bool,
) -> HTMLResponse:
    rows = cases.list_cases(conn, state=state, limit=200)
    rows = sorted(rows, key=lambda c: c.created_at)
    options = [("", "All open and closed cases")] + [(s, STATE_WORDS[s]) for s in cases.STATES]
    return page(
        request,
        principal,
        "casework/cases.html",
        {
            "cases": rows,
            "heading": heading,
            "state_filter": (state or "") if show_filter else None,
            "state_options": options,
            "state_words": STATE_WORDS,
            "state_colours": STATE_COLOURS,
            "show_new": show_filter,
        },
    )


@router.get("/casework/cases")
def case_list(request: Request, principal: Caseworker, conn: ConnDep) -> HTMLResponse:
    state = request.query_params.get("state") or None
    if state is not None and state not in cases.STATES:
        state = None
    return _case_list(
        request, principal, conn, state=state, heading="Barring cases", show_filter=True
    )


@router.get("/casework/approvals")
def approvals(request: Request, principal: Senior, conn: ConnDep) -> HTMLResponse:
    return _case_list(
        request,
        principal,
        conn,
        state="awaiting_approval",
        heading="Decisions waiting for approval",
        show_filter=False,
    )


def _blank_case() -> dict[str, Any]:
    return {"route": "", **blank_person(), "summary": ""}


@router.get("/casework/cases/new")
def case_new(request: Request, principal: Caseworker) -> HTMLResponse:
    return page(
        request,
        principal,
        "casework/case_new.html",
        {"form": _blank_case(), "routes": ROUTE_CHOICES},
    )


@router.post("/casework/cases")
async def case_create(
    request: Request, principal: Caseworker, state: StateDep, conn: ConnDep
) -> Response:
    form = await request.form()
    values: dict[str, Any] = {"route": text(form, "route")}
    errors: dict[str, str] = {}
    required(values, errors, {"route": "Select how the case came to us"})
    person, dob = read_person(form, errors)
    values |= person | {"summary": text(form, "summary")}
    required(values, errors, {"summary": "Enter a summary of the case"})
    if not errors:
        fields = {k: k for k in values}
        try:
            body = cases_api.CaseCreate.model_validate(
                {
                    "route": values["route"],
                    "forenames": values["forenames"],
                    "surname": values["surname"],
                    "date_of_birth": dob,
                    "previous_names": name_lines(values["previous_names"]),
                    "gender": values["gender"] or None,
                    "summary": values["summary"],
                }
            )
            detail = await run_in_threadpool(cases_api.open_case, body, principal, state, conn)
        except (ValidationError, ValidationFailed) as exc:
            merge_errors(exc, errors, fields)
        else:
            return redirect(f"/casework/cases/{detail.id}")
    return page(
        request,
        principal,
        "casework/case_new.html",
        {"form": values, "routes": ROUTE_CHOICES, "errors": errors},
        status_code=400,
    )


def _case_page(
    request: Request,
    principal: Principal,
    detail: cases_api.CaseDetail,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    step_actions = [a for a in detail.allowed_actions if a not in cases.APPROVAL_ACTIONS]
    actions = [(a, *ACTION_WORDS.get(a, (a.replace("_", " ").capitalize(),))) for a in step_actions]
    previous = "; ".join(f"{p.forenames} {p.surname}" for p in detail.previous_names) or "None"
    person_rows = [
        ("Name", f"{detail.forenames} {detail.surname}"),
        ("Previous names", previous),
        ("Date of birth", long_date(detail.date_of_birth)),
        ("Gender", (detail.gender or "not known").capitalize()),
    ]
    case_rows = [
        ("Route", detail.route.replace("_", " ").capitalize()),
        ("Summary", detail.summary),
        ("Opened", long_date(detail.created_at)),
    ]
    if detail.representations_due:
        case_rows.append(("Representations due", long_date(detail.representations_due)))
    if detail.decision_lists:
        case_rows.append(("Lists", _lists_text(detail.decision_lists).capitalize()))
    if detail.barred_on:
        case_rows.append(("Barred on", long_date(detail.barred_on)))
    if detail.review_eligible_on:
        case_rows.append(("Review possible from", long_date(detail.review_eligible_on)))
    can_approve = (
        principal.role == "senior_caseworker"
        and "approve_bar" in detail.allowed_actions
        and detail.decided_by != principal.user_id
    )
    return page(
        request,
        principal,
        "casework/case.html",
        {
            "case": detail,
            "timeline": detail.timeline,
            "actions": actions,
            "needs_lists": "decide_bar" in step_actions,
            "can_approve": can_approve,
            "lists_text": _lists_text(detail.decision_lists),
            "person_rows": person_rows,
            "case_rows": case_rows,
            "state_words": STATE_WORDS,
            "state_colours": STATE_COLOURS,
            "form": form
            or {"action": "", "lists": "", "reason": "", "approve": "", "approval_reason": ""},
            "errors": errors or {},
            "done": done,
        },
        status_code=status_code,
    )


@router.get("/casework/cases/{case_id}")
def case_page(
    request: Request, case_id: UUID, principal: Caseworker, state: StateDep, conn: ConnDep
) -> HTMLResponse:
    detail = cases_api.get_case(case_id, principal, state, conn)
    done = {"step": "The next step is recorded.", "approval": "Your approval decision is saved."}
    return _case_page(
        request, principal, detail, done=done.get(request.query_params.get("done", ""), "")
    )


@router.post("/casework/cases/{case_id}/transitions")
async def case_transition(
    request: Request, case_id: UUID, principal: Caseworker, state: StateDep, conn: ConnDep
) -> Response:
    form = await request.form()
    values = {
        "action": text(form, "action"),
        "lists": text(form, "lists"),
        "reason": text(form, "reason"),
        "approve": "",
        "approval_reason": "",
    }
    errors: dict[str, str] = {}
    if not values["action"]:
        errors["action"] = "Select what happens next"
    if values["action"] == "decide_bar" and not values["lists"]:
        errors["lists"] = "Select which lists to bar the person from"
    if not values["reason"]:
        errors["reason"] = "Enter the reason for this step"
    if not errors:
        fields = {"action": "action", "lists": "lists", "reason": "reason"}
        try:
            body = cases_api.TransitionIn.model_validate(
                {
                    "action": values["action"],
                    "reason": values["reason"],
                    "lists": values["lists"] or None,
                }
            )
            await run_in_threadpool(cases_api.transition, case_id, body, principal, state, conn)
        except (ValidationError, ValidationFailed) as exc:
            merge_errors(exc, errors, fields)
        except Conflict as exc:
            errors["action"] = f"That step is not allowed now: {exc.detail}"
        else:
            return redirect(f"/casework/cases/{case_id}?done=step")
    detail = await run_in_threadpool(cases_api.get_case, case_id, principal, state, conn)
    return _case_page(request, principal, detail, form=values, errors=errors, status_code=400)


@router.post("/casework/cases/{case_id}/approval")
async def case_approval(
    request: Request, case_id: UUID, principal: Senior, state: StateDep, conn: ConnDep
) -> Response:
    form = await request.form()
    values = {
        "action": "",
        "lists": "",
        "reason": "",
        "approve": text(form, "approve"),
        "approval_reason": text(form, "approval_reason"),
    }
    errors: dict[str, str] = {}
    if values["approve"] not in ("yes", "no"):
        errors["approve"] = "Select whether you approve the bar"
    if not values["approval_reason"]:
        errors["approval_reason"] = "Enter the reason for your decision"
    if not errors:
        fields = {"approve": "approve", "reason": "approval_reason"}
        try:
            body = cases_api.ApprovalIn.model_validate(
                {"approve": values["approve"] == "yes", "reason": values["approval_reason"]}
            )
            await run_in_threadpool(
                cases_api.approval, case_id, body, request, principal, state, conn
            )
        except (ValidationError, ValidationFailed) as exc:
            merge_errors(exc, errors, fields)
        except Conflict as exc:
            errors["approve"] = f"This cannot be approved now: {exc.detail}"
        else:
            return redirect(f"/casework/cases/{case_id}?done=approval")
    detail = await run_in_threadpool(cases_api.get_case, case_id, principal, state, conn)
    return _case_page(request, principal, detail, form=values, errors=errors, status_code=400)


# --- the barred list and alerts ---------------------------------------------------------


def _blank_search() -> dict[str, Any]:
    return {"forenames": "", "surname": "", "date_of_birth": {"day": "", "month": "", "year": ""}}


@router.get("/casework/list")
def list_search_form(request: Request, principal: Caseworker) -> HTMLResponse:
    return page(
        request,
        principal,
        "casework/list_search.html",
        {"form": _blank_search(), "results": None},
    )


@router.post("/casework/list")
async def list_search(
    request: Request, principal: Caseworker, state: StateDep, conn: ConnDep
) -> Response:
    form = await request.form()
    values: dict[str, Any] = {
        "forenames": text(form, "forenames"),
        "surname": text(form, "surname"),
        "date_of_birth": date_parts(form, "date_of_birth"),
    }
    errors: dict[str, str] = {}
    required(values, errors, NAMES_REQUIRED)
    dob = None
    if any(values["date_of_birth"].values()):
        dob = read_date(form, "date_of_birth", "Date of birth", errors)
    results: list[dict[str, Any]] | None = None
    status = 200
    if not errors:
        fields = {"forenames": "forenames", "surname": "surname", "date_of_birth": "date_of_birth"}
        try:
            body = list_api.SearchIn.model_validate(
                {
                    "forenames": values["forenames"],
                    "surname": values["surname"],
                    "date_of_birth": dob.isoformat() if dob else None,
                }
            )
            found = await run_in_threadpool(list_api.search, body, request, principal, state, conn)
        except (ValidationError, ValidationFailed) as exc:
            merge_errors(exc, errors, fields)
        else:
            results = [
                {
                    "name": f"{r.entry.forenames or ''} {r.entry.surname or ''}".strip(),
                    "date_of_birth": r.entry.date_of_birth or "Not known",
                    "lists": _lists_text(r.entry.lists).capitalize(),
                    "barred_on": r.entry.barred_on,
                    "case_reference": r.entry.case_reference or "",
                    "band": r.band,
                    "probability": r.probability,
                }
                for r in found.results
                if r.entry.status == "barred"
            ]
    if errors:
        status = 400
    return page(
        request,
        principal,
        "casework/list_search.html",
        {"form": values, "results": results, "errors": errors},
        status_code=status,
    )


@router.get("/casework/alerts")
def alerts(request: Request, principal: Caseworker, conn: ConnDep) -> HTMLResponse:
    listing = alerts_api.list_alerts(principal, conn, 200, None)
    names = reporting.organisation_names(conn, list({a.organisation_id for a in listing.alerts}))
    rows = [
        {
            "created_at": a.created_at,
            "organisation": names.get(a.organisation_id, "Unknown organisation"),
            "kind": a.kind,
            "source": a.source,
        }
        for a in listing.alerts
    ]
    return page(request, principal, "casework/alerts.html", {"alerts": rows})
