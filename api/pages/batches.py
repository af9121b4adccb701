"""Batch pages: upload a file (format explained, sample file), the batch's live progress,
the list of batches. Downloads are the JSON API's own CSV endpoints.

The upload goes through the API's own handler (:func:`api.routes.batches.create_batch`):
the same streaming limits, header checks, declarations, quota, storage and enqueueing. Its
errors are shown on the form. The progress page shows what ``GET /v1/batches/{id}`` answers,
and ``/static/batch-progress.js`` polls that endpoint to update the numbers without a reload.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ConnDep, SettingsDep, StateDep
from api.pages.base import CLIENT_ROLES, page, page_roles, page_router, redirect
from api.routes import batches as batch_api
from vbs.errors import PayloadTooLarge, TooManyRequests, UnsupportedFile, ValidationFailed
from vbs.principal import Principal

router = page_router()

Client = Annotated[Principal, Depends(page_roles(*CLIENT_ROLES))]

STATUS_COLOURS = {
    "received": "grey",
    "parsing": "blue",
    "matching": "blue",
    "complete": "green",
    "failed": "red",
}
DECLARATION_ERRORS = {
    "eligibility_confirmed": "Confirm every role in the file is regulated activity",
    "consent_confirmed": "Confirm every person in the file has agreed to the check",
}


def _upload_page(
    request: Request,
    principal: Principal,
    settings: SettingsDep,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, bool] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        principal,
        "batches/upload.html",
        {
            "errors": errors or {},
            "form": form or {"eligibility_confirmed": False, "consent_confirmed": False},
            "max_rows": settings.batch_max_rows,
            "max_mb": settings.batch_max_bytes // (1024 * 1024),
        },
        status_code=status_code,
    )


@router.get("/batches/new")
def upload_form(request: Request, principal: Client, settings: SettingsDep) -> HTMLResponse:
    return _upload_page(request, principal, settings)


def _file_message(detail: str) -> str:
    """The API's problem detail (which names fields and lines, never personal data)."""
    text = detail.removeprefix("file: ").strip()
    return "The selected file " + text if text and text[0].islower() else text


@router.post("/batches")
async def upload_submit(
    request: Request, principal: Client, state: StateDep, settings: SettingsDep
) -> Response:
    form = await request.form()
    try:
        return await _upload(request, form, principal, state, settings)
    finally:
        await form.close()  # the uploaded file's spool


async def _upload(
    request: Request, form: Any, principal: Principal, state: StateDep, settings: SettingsDep
) -> Response:
    ticked = {name: form.get(name) == "true" for name in DECLARATION_ERRORS}
    errors: dict[str, str] = {}
    file = form.get("file")
    if file is None or isinstance(file, str) or not (file.filename or "").strip():
        errors["file"] = "Select a CSV file to upload"
    for name, message in DECLARATION_ERRORS.items():
        if not ticked[name]:
            errors[name] = message
    if not errors:
        try:
            await batch_api.guard_length(request, state)
            response = await batch_api.create_batch(request, None, principal, state)
        except ValidationFailed as exc:
            for fe in exc.errors:
                if fe.field in DECLARATION_ERRORS:
                    errors.setdefault(fe.field, DECLARATION_ERRORS[fe.field])
                else:
                    msg = fe.message if fe.field == "file" else f"{fe.field}: {fe.message}"
                    errors.setdefault("file", msg[:1].upper() + msg[1:])
        except PayloadTooLarge:
            errors["file"] = (
                f"The selected file must be smaller than {settings.batch_max_bytes // 1048576} MB"
                f" and have at most {settings.batch_max_rows:,} rows"
            )
        except UnsupportedFile as exc:
            errors["file"] = _file_message(exc.detail)
        except TooManyRequests as exc:
            minutes = max(1, -(-int(exc.retry_after) // 60))
            errors["file"] = (
                "Your checks have reached your limit for now. "
                f"Try again in {minutes} minute{'' if minutes == 1 else 's'}, or split the file"
            )
        else:
            accepted = json.loads(bytes(response.body))
            return redirect(f"/batches/{accepted['id']}?uploaded=1")
    return _upload_page(request, principal, settings, errors=errors, form=ticked, status_code=400)


@router.get("/batches")
def batch_list(request: Request, principal: Client, conn: ConnDep) -> HTMLResponse:
    listing = batch_api.list_batches(principal, conn)
    return page(
        request,
        principal,
        "batches/list.html",
        {"batches": listing.batches, "status_colours": STATUS_COLOURS},
    )


@router.get("/batches/{batch_id}")
def batch_detail(
    request: Request, batch_id: UUID, principal: Client, conn: ConnDep
) -> HTMLResponse:
    batch = batch_api.get_batch(batch_id, principal, conn)
    done = batch.rows_processed
    total = batch.rows_total
    finished = batch.status in ("complete", "failed")
    percent = (100 * done // total) if total else (100 if finished else 0)
    return page(
        request,
        principal,
        "batches/detail.html",
        {
            "batch": batch,
            "outcomes": batch.outcomes.model_dump(),
            "done": done,
            "percent": percent,
            "finished": finished,
            "failure_reason": batch.failure_reason,
            "just_uploaded": request.query_params.get("uploaded") == "1",
            "status_colours": STATUS_COLOURS,
        },
    )
