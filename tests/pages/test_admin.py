"""Administrator pages in a real browser: dashboard charts (server-side SVG), organisations,
users (password and TOTP secret shown once), API keys (shown once, revocable), audit log
filters."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.pages.conftest import LiveServer, axe_check, sign_in, unique_surname

pytestmark = pytest.mark.browser


def test_admin_pages(page: Page, live_server: LiveServer) -> None:
    accounts = live_server.accounts
    admin = accounts.user("admin")
    sign_in(page, accounts, admin)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    charts = page.locator("svg.vbs-chart")
    expect(charts).to_have_count(3)
    # The counts come from the database: one more check shows at once.
    shown = page.locator(".govuk-heading-l.govuk-\\!-margin-bottom-0").first
    before = int(shown.inner_text().replace(",", ""))
    key = accounts.api_key()
    with httpx.Client(base_url=live_server.url) as c:
        made = c.post(
            "/v1/checks",
            headers={"Authorization": f"Bearer {key.api_key}"},
            json={
                "reference": "DASH-1",
                "forenames": "Nia",
                "surname": unique_surname("Parry"),
                "date_of_birth": "1991-01-01",
                "workforce": "adults",
                "eligibility_confirmed": True,
                "consent_confirmed": True,
            },
        )
        assert made.status_code == 201, made.text
    page.reload()
    assert int(shown.inner_text().replace(",", "")) == before + 1
    expect(charts.first.locator("title").first).to_contain_text("Checks per day by outcome")

    # Organisations: an error, then one added.
    page.get_by_role("link", name="Organisations").click()
    page.get_by_role("button", name="Add organisation").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter the organisation’s name")
    axe_check(page, "organisations with errors")
    name = f"Care Homes {unique_surname('Ltd')}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Employer", exact=True).check()
    page.get_by_role("button", name="Add organisation").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Organisation added")
    expect(page.locator("tbody")).to_contain_text(name)

    # Users: a caseworker's password and TOTP secret are shown once.
    page.get_by_role("link", name="Users", exact=True).click()
    email = f"cw.{unique_surname('x')}@example.test"
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Organisation").select_option(label=f"{name} (employer)")
    page.get_by_label("Role").select_option("caseworker")
    page.get_by_role("button", name="Add user").click()
    # A caseworker does not fit an employer: the service's rule, shown by the field.
    expect(page.locator("#role-error")).to_be_visible()
    axe_check(page, "users with errors")
    page.get_by_label("Email address").fill(email)
    authority = [
        t for t in page.locator("#org_id option").all_inner_texts() if t.endswith("(authority)")
    ]
    page.get_by_label("Organisation").select_option(label=authority[0])
    page.get_by_label("Role").select_option("caseworker")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#new-password")).to_be_visible()
    expect(page.locator("#new-totp")).to_be_visible()
    page.reload()
    expect(page.locator("#new-password")).to_have_count(0)
    expect(page.locator("tbody")).to_contain_text(email)
    page.locator("tbody tr", has_text=email).get_by_role("button", name="Disable").click()
    expect(page.locator("tbody tr", has_text=email)).to_contain_text("Disabled")

    # API keys: shown once, then revoked.
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Organisation").select_option(label=f"{name} (employer)")
    page.get_by_label("Label (optional)").fill("HR system")
    page.get_by_role("button", name="Create API key").click()
    key = page.locator("#new-key").inner_text().strip()
    assert len(key) > 20
    axe_check(page, "API key shown once")
    with httpx.Client(base_url=live_server.url) as c:
        ok = c.get("/v1/notifications", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
    page.goto("/admin/api-keys")
    expect(page.locator("#new-key")).to_have_count(0)
    row = page.locator("tbody tr", has_text="HR system")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tbody tr", has_text="HR system")).to_contain_text("Revoked")
    with httpx.Client(base_url=live_server.url) as c:
        refused = c.get("/v1/notifications", headers={"Authorization": f"Bearer {key}"})
        assert refused.status_code == 401

    # Audit log: filtered by action; a bad id is an error by its field.
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").fill("apikey.revoke")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows.first).to_contain_text("apikey.revoke")
    assert all("apikey.revoke" in r.inner_text() for r in rows.all())
    axe_check(page, "audit log")
    page.get_by_label("User id").fill("not-an-id")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#user_id-error")).to_be_visible()
    axe_check(page, "audit log with errors")


def test_roles_are_kept_apart(page: Page, live_server: LiveServer) -> None:
    accounts = live_server.accounts
    sign_in(page, accounts, accounts.user("employer"))
    for path in ("/admin", "/casework/reviews", "/casework/cases"):
        res = page.goto(path)
        assert res is not None and res.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
    axe_check(page, "403")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, accounts, accounts.user("caseworker"))
    res = page.goto("/casework/approvals")
    assert res is not None and res.status == 403
    res = page.goto("/checks/new")
    assert res is not None and res.status == 403
