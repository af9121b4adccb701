"""Sign in and out in a real browser: GOV.UK styles load, one message for any wrong
credential, TOTP for the authority's staff, CSRF on the form, HTML error pages."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.pages.conftest import LiveServer, axe_check, sign_in

pytestmark = pytest.mark.browser


def test_sign_in_page_is_govuk_styled_and_accessible(page: Page, live_server: LiveServer) -> None:
    responses: list[tuple[str, int]] = []
    page.on("response", lambda r: responses.append((r.url, r.status)))
    page.goto("/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to check the barred lists")
    expect(page.locator(".govuk-service-navigation__service-name")).to_have_text(
        "Check the barred lists"
    )
    expect(page.locator(".govuk-phase-banner")).to_contain_text("Beta")
    expect(page.locator(".govuk-skip-link")).to_have_attribute("href", "#main-content")
    font = page.evaluate("getComputedStyle(document.querySelector('.govuk-body')).fontFamily")
    assert "GDS Transport" in font
    assets = [(u, s) for u, s in responses if "/assets/" in u or "/static/" in u]
    assert any(u.endswith("govuk-frontend.min.css") for u, _ in assets)
    assert all(s == 200 for _, s in assets), assets
    # GOV.UK Frontend's JavaScript ran (the module marks initialised components).
    expect(page.locator("body.govuk-frontend-supported")).to_have_count(1)
    axe_check(page)


def test_wrong_credentials_one_message(page: Page, live_server: LiveServer) -> None:
    employer = live_server.accounts.user("employer")
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(employer.email or "")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Enter a correct email address and password")
    # The same words for an unknown address: nothing says which part was wrong.
    first = summary.inner_text()
    page.get_by_label("Email address").fill("nobody@example.test")
    page.get_by_label("Password").fill("whatever-it-is")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_have_text(first)
    assert page.title().startswith("Error: ")
    axe_check(page, "sign-in with errors")
    # Empty fields: an error by each field, linked from the summary.
    page.get_by_label("Email address").fill("")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#email-error")).to_contain_text("Enter your email address")
    expect(page.locator("#password-error")).to_contain_text("Enter your password")
    page.locator(".govuk-error-summary a[href='#password']").click()
    expect(page.get_by_label("Password")).to_be_focused()


def test_employer_signs_in_and_out(page: Page, live_server: LiveServer) -> None:
    employer = live_server.accounts.user("employer")
    sign_in(page, live_server.accounts, employer)
    expect(page.get_by_role("link", name="Check history")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You have signed out")
    page.goto("/checks")
    assert page.url.endswith("/sign-in")


def test_caseworker_needs_totp(page: Page, live_server: LiveServer) -> None:
    accounts = live_server.accounts
    cw = accounts.user("caseworker")
    # Without the code, on the employers' form: refused with the one message.
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(cw.email or "")
    page.get_by_label("Password").fill(cw.password or "")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter a correct email")
    page.get_by_role("link", name="Sign in as barring authority staff").click()
    page.get_by_label("Email address").fill(cw.email or "")
    page.get_by_label("Password").fill(cw.password or "")
    page.get_by_label("Security code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "Enter a correct email address, password and security code"
    )
    axe_check(page, "staff sign-in with errors")
    sign_in(page, accounts, cw)
    expect(page.get_by_role("link", name="Reviews")).to_be_visible()


def test_sign_in_form_needs_its_csrf_token(live_server: LiveServer) -> None:
    employer = live_server.accounts.user("employer")
    with httpx.Client(base_url=live_server.url) as c:
        res = c.post("/sign-in", data={"email": employer.email, "password": employer.password})
        assert res.status_code == 400
        assert "vbs_session" not in res.cookies
        assert "timed out" in res.text


def test_not_found_page(page: Page, live_server: LiveServer) -> None:
    res = page.goto("/no-such-page")
    assert res is not None and res.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert res.headers["cache-control"] == "no-store"
    axe_check(page, "404")


def test_pages_run_under_the_content_security_policy(
    browser: Browser, live_server: LiveServer
) -> None:
    """Without bypassing the CSP: no violation, and GOV.UK Frontend's JavaScript runs (the
    error summary takes focus)."""
    ctx = browser.new_context(base_url=live_server.url)
    try:
        page = ctx.new_page()
        problems: list[str] = []
        # (A form sent back with errors answers 400, which the console notes: not a problem.)
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda e: problems.append(str(e)))
        res = page.goto("/sign-in")
        assert res is not None and "script-src 'self'" in res.headers["content-security-policy"]
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".govuk-error-summary")).to_be_focused()
        assert not problems, problems
    finally:
        ctx.close()
