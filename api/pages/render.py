"""Rendering the web pages: one Jinja2 environment, the navigation for each role, and the
response headers every page carries (``Cache-Control: no-store``: pages show personal data).

Templates are autoescaped: a value typed as ``<script>`` shows as text. Undefined variables
are errors, so a template bug fails its test rather than rendering a blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from vbs.principal import Principal

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class NavItem:
    href: str
    text: str


NAV: dict[str, tuple[NavItem, ...]] = {
    "employer": (
        NavItem("/checks/new", "Check a person"),
        NavItem("/checks", "Check history"),
        NavItem("/batches", "Batch checks"),
        NavItem("/referrals/new", "Make a referral"),
        NavItem("/notifications", "Notifications"),
    ),
    "registered_body": (
        NavItem("/batches", "Batch checks"),
        NavItem("/checks/new", "Check a person"),
        NavItem("/checks", "Check history"),
        NavItem("/notifications", "Notifications"),
    ),
    "caseworker": (
        NavItem("/casework/reviews", "Reviews"),
        NavItem("/casework/cases", "Cases"),
        NavItem("/casework/list", "Barred list"),
        NavItem("/casework/disputes", "Disputes"),
        NavItem("/casework/alerts", "Alerts"),
    ),
    "senior_caseworker": (
        NavItem("/casework/reviews", "Reviews"),
        NavItem("/casework/cases", "Cases"),
        NavItem("/casework/approvals", "Approvals"),
        NavItem("/casework/list", "Barred list"),
        NavItem("/casework/disputes", "Disputes"),
        NavItem("/casework/alerts", "Alerts"),
    ),
    "admin": (
        NavItem("/admin", "Dashboard"),
        NavItem("/admin/organisations", "Organisations"),
        NavItem("/admin/users", "Users"),
        NavItem("/admin/api-keys", "API keys"),
        NavItem("/admin/audit", "Audit log"),
    ),
}

HOME: dict[str, str] = {
    "employer": "/checks/new",
    "registered_body": "/batches",
    "caseworker": "/casework/reviews",
    "senior_caseworker": "/casework/reviews",
    "admin": "/admin",
}


def home_for(principal: Principal | None) -> str:
    if principal is None:
        return "/sign-in"
    return HOME.get(principal.role, "/sign-in")


def _when(value: datetime | date | None) -> str:
    """A date or time the way GOV.UK writes it: 4 June 2026, or 4 June 2026 at 2:05pm UTC."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        v = value.astimezone(UTC)
        hour = v.hour % 12 or 12
        suffix = "am" if v.hour < 12 else "pm"
        return f"{v.day} {v:%B %Y} at {hour}:{v.minute:02d}{suffix} UTC"
    return f"{value.day} {value:%B %Y}"


def long_date(value: datetime | date | None) -> str:
    """A day the way GOV.UK writes it: 4 June 2026."""
    if value is None:
        return ""
    return f"{value.day} {value:%B %Y}"


def _age(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in words: '3 days', '5 hours', 'under a minute'."""
    if value is None:
        return ""
    delta = (now or datetime.now(UTC)) - value
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return "under a minute"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return "under a minute"


def _words(value: object) -> str:
    """A machine value like ``minded_to_bar`` as words: 'Minded to bar'."""
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


def _number(value: int | float | None) -> str:
    if value is None:
        return "0"
    return f"{value:,}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["day"] = long_date
    env.filters["age"] = _age
    env.filters["words"] = _words
    env.filters["number"] = _number
    return env


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    csrf_token: str = "",
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` as a full page; every page is ``no-store``."""
    # A form posted to a collection (POST /checks) is still the page it came from.
    path = str((context or {}).get("nav_path") or request.url.path)
    items = NAV.get(principal.role, ()) if principal is not None else ()
    nav = [
        {"href": i.href, "text": i.text, "current": path == i.href or path.startswith(i.href + "/")}
        for i in items
    ]
    # Only the longest matching prefix is current.
    current = [n for n in nav if n["current"]]
    if len(current) > 1:
        best = max(current, key=lambda n: len(str(n["href"])))
        for n in nav:
            n["current"] = n is best
    ctx: dict[str, Any] = {
        "principal": principal,
        "csrf_token": csrf_token,
        "nav": nav,
        "errors": {},
        "request_path": path,
    }
    if context:
        ctx.update(context)
    html = environment().get_template(template).render(ctx)
    all_headers = dict(NO_STORE)
    if headers:
        all_headers.update(headers)
    return HTMLResponse(html, status_code=status_code, headers=all_headers)
