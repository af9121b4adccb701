"""Reading HTML forms: field values, GOV.UK date inputs (day, month, year) and turning the
service's errors into messages shown by each field and in the error summary.

This is form plumbing only; the rules (what makes a valid check, a legal case move...) stay
in the services and the API models, and their errors are shown here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from vbs.errors import FieldError, ValidationFailed

FormData = Mapping[str, Any]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def date_parts(form: FormData, name: str) -> dict[str, str]:
    return {part: text(form, f"{name}-{part}") for part in ("day", "month", "year")}


def read_date(
    form: FormData, name: str, label: str, errors: dict[str, str], *, past: bool = True
) -> date | None:
    """A GOV.UK date input as a date; a message in ``errors[name]`` if it is not one."""
    parts = date_parts(form, name)
    missing = [p for p in ("day", "month", "year") if not parts[p]]
    if len(missing) == 3:
        errors[name] = f"Enter the {label.lower()}"
        return None
    if missing:
        errors[name] = f"{label} must include a {' and a '.join(missing)}"
        return None
    if not all(parts[p].isdigit() for p in parts):
        errors[name] = f"{label} must be a real date"
        return None
    if len(parts["year"]) != 4:
        errors[name] = "Year must include 4 numbers"
        return None
    try:
        value = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        errors[name] = f"{label} must be a real date"
        return None
    if past and value >= date.today():
        errors[name] = f"{label} must be in the past"
        return None
    return value


def required(
    values: Mapping[str, Any], errors: dict[str, str], messages: Mapping[str, str]
) -> None:
    """A message in ``errors`` for each of these fields left empty, in the order given."""
    for name, message in messages.items():
        if not values[name]:
            errors[name] = message


NAMES_REQUIRED = {"forenames": "Enter their first names", "surname": "Enter their last name"}


def read_person(form: FormData, errors: dict[str, str]) -> tuple[dict[str, Any], date | None]:
    """The person fields the check, referral and new-case forms share, as typed, and the date
    of birth; a message in ``errors`` for a missing name or a date of birth that is not one."""
    values = {
        "forenames": text(form, "forenames"),
        "surname": text(form, "surname"),
        "previous_names": text(form, "previous_names"),
        "date_of_birth": date_parts(form, "date_of_birth"),
        "gender": text(form, "gender"),
    }
    required(values, errors, NAMES_REQUIRED)
    return values, read_date(form, "date_of_birth", "Date of birth", errors)


def blank_person() -> dict[str, Any]:
    return {
        "forenames": "",
        "surname": "",
        "previous_names": "",
        "date_of_birth": {"day": "", "month": "", "year": ""},
        "gender": "",
    }


def name_lines(value: str) -> list[str]:
    """A textarea of names, one a line: blank lines dropped, spaces folded."""
    return [" ".join(line.split()) for line in value.splitlines() if line.strip()]


def merge_errors(
    exc: ValidationError | ValidationFailed, errors: dict[str, str], fields: Mapping[str, str]
) -> None:
    """Put the API model's or the service's field errors beside the form fields they belong to.

    ``fields`` maps the model's or service's field names to form field ids; an error for an
    unknown field goes on the first form field so it is still shown.
    """
    if isinstance(exc, ValidationFailed):
        found = exc.errors
    else:
        found = [
            FieldError(_first_name(err["loc"]), _plain(err))
            for err in exc.errors(include_url=False, include_input=False)
        ]
    for fe in found:
        _place(fe, errors, fields)


def _first_name(loc: tuple[int | str, ...]) -> str:
    names = [str(p) for p in loc if not isinstance(p, int)]
    return names[0] if names else ""


def _plain(err: Any) -> str:
    """A pydantic error in the words of the GOV.UK style guide (never quoting the value)."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "string_too_long":
        return f"must be {ctx.get('max_length')} characters or fewer"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_long":
        return f"must have {ctx.get('max_length')} entries or fewer"
    if kind in ("literal_error", "enum"):
        return "must be one of the choices given"
    message = str(err.get("msg", "is not valid"))
    return message.removeprefix("Value error, ")


def _place(fe: FieldError, errors: dict[str, str], fields: Mapping[str, str]) -> None:
    key = fields.get(fe.field.split(".")[0])
    if key is None:
        key = next(iter(fields.values()), fe.field)
    message = fe.message[:1].upper() + fe.message[1:]
    errors.setdefault(key, message)
