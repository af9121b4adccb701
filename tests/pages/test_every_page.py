"""axe-core on every page the routers serve without an id in the path, as the role that may
see it (pages with an id are covered by the journeys, with their error states). A new page
route must be added here, so nothing escapes the accessibility check."""

from __future__ import annotations

import importlib

import pytest
from playwright.sync_api import Page

from api.app import ROUTER_MODULES
from api.pages.base import PageRoute
from tests.pages.conftest import LiveServer, axe_check, sign_in

pytestmark = pytest.mark.browser

PAGES: dict[str | None, tuple[str, ...]] = {
    None: ("/sign-in", "/sign-in/staff", "/help/privacy", "/help/accessibility"),
    "employer": (
        "/checks/new",
        "/checks",
        "/notifications",
        "/referrals/new",
        "/batches",
        "/batches/new",
    ),
    "caseworker": (
        "/casework/reviews",
        "/casework/disputes",
        "/casework/cases",
        "/casework/cases/new",
        "/casework/list",
        "/casework/alerts",
    ),
    "senior_caseworker": ("/casework/approvals",),
    "admin": (
        "/admin",
        "/admin/organisations",
        "/admin/users",
        "/admin/api-keys",
        "/admin/audit",
    ),
}
REDIRECT_ONLY = {"/"}


def test_every_page_route_is_listed() -> None:
    served = {
        r.path
        for name in ROUTER_MODULES
        if name.startswith("api.pages.")
        for r in importlib.import_module(name).router.routes
        if isinstance(r, PageRoute) and "GET" in (r.methods or set()) and "{" not in r.path
    }
    assert len(served) > 20, served
    listed = {p for paths in PAGES.values() for p in paths} | REDIRECT_ONLY
    help_pages = {p for p in listed if p.startswith("/help/")}
    assert served - {"/help/{topic}"} <= listed, served - listed
    assert listed - help_pages <= served | REDIRECT_ONLY, listed - served


@pytest.mark.parametrize("role", list(PAGES))
def test_axe_on_every_page(page: Page, live_server: LiveServer, role: str | None) -> None:
    if role is not None:
        sign_in(page, live_server.accounts, live_server.accounts.user(role))
    for path in PAGES[role]:
        res = page.goto(path)
        assert res is not None and res.status == 200, (path, res and res.status)
        assert res.headers["cache-control"] == "no-store", path
        assert page.locator("h1").count() == 1, path
        axe_check(page, path)
