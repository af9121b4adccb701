"""Employer journeys in a real browser: a barred person and a clear one, the error states
of the check form, history search by reference, a dispute, a referral, notifications."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.pages.conftest import (
    LiveServer,
    axe_check,
    bar_person,
    fill_check_form,
    sign_in,
    unique_surname,
)

pytestmark = pytest.mark.browser


def test_employer_checks_a_barred_person_and_a_clear_one(
    page: Page, live_server: LiveServer
) -> None:
    surname = unique_surname("Whitfield")
    bar_person(live_server, "Margaret Eleanor", surname, "1975-03-14")
    employer = live_server.accounts.user("employer")
    sign_in(page, live_server.accounts, employer)

    fill_check_form(
        page, reference="APP-BAR-1", forenames="Margaret", surname=surname, dob="1975-03-14"
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Barred")
    expect(page.locator("[data-outcome=barred]")).to_be_visible()
    expect(page.get_by_text("Do not let this person start regulated activity")).to_be_visible()
    body = page.locator("main").inner_text()
    # Never a score, the matched person or a reason.
    assert "%" not in body and "Eleanor" not in body and "probability" not in body.lower()
    assert re.search(r"/checks/[0-9a-f-]{36}$", page.url)
    axe_check(page, "barred outcome")

    fill_check_form(
        page,
        reference="APP-CLEAR-1",
        forenames="Oliver",
        surname=unique_surname("Bennett"),
        dob="1984-11-23",
    )
    expect(page.locator(".govuk-panel__title")).to_have_text("Clear")
    expect(page.locator("[data-outcome=clear]")).to_be_visible()
    axe_check(page, "clear outcome")

    # History: both checks, newest first; search by reference finds one.
    page.get_by_role("link", name="Check history").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("APP-CLEAR-1")
    expect(rows.nth(1)).to_contain_text("Barred")
    page.get_by_label("Search by your reference").fill("APP-BAR-1")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("Barred")


def test_check_form_errors(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server.accounts, live_server.accounts.user("employer"))
    page.goto("/checks/new")
    page.get_by_label("Day").fill("31")
    page.get_by_label("Month").fill("2")
    page.get_by_label("Year").fill("1990")
    page.get_by_role("button", name="Check barred lists").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Enter your reference for this check")
    expect(summary).to_contain_text("Enter their last name")
    expect(summary).to_contain_text("Date of birth must be a real date")
    expect(summary).to_contain_text("Select who they will work with")
    expect(summary).to_contain_text("Confirm the person has agreed")
    expect(page.locator("#surname-error")).to_contain_text("Enter their last name")
    expect(page.locator("#date_of_birth-error")).to_contain_text("must be a real date")
    assert page.title().startswith("Error: ")
    expect(page.locator("[aria-current=page]")).to_have_text("Check a person")
    axe_check(page, "check form with errors")
    # A future date is refused by the API's own rule.
    fill_check_form(page, reference="X", forenames="Ann", surname="Lee", dob="2999-01-01")
    expect(page.locator("#date_of_birth-error")).to_contain_text("must be in the past")
    # Over-long and malformed values: the API model's rules, in plain words by each field.
    fill_check_form(
        page,
        reference="R" * 101,
        forenames="Ann",
        surname="Lee",
        dob="1990-01-01",
        previous_names="Solo",
    )
    expect(page.locator("#reference-error")).to_contain_text(
        "Your reference must be 100 characters or fewer"
    )
    expect(page.locator("#previous_names-error")).to_contain_text("must be a full name")


def test_outcome_of_another_organisation_is_not_found(page: Page, live_server: LiveServer) -> None:
    first = live_server.accounts.user("employer")
    sign_in(page, live_server.accounts, first)
    fill_check_form(
        page, reference="MINE", forenames="Ruth", surname=unique_surname("Ng"), dob="1991-02-03"
    )
    own_url = page.url
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.accounts, live_server.accounts.user("employer"))
    res = page.goto(own_url)
    assert res is not None and res.status == 404
    res = page.goto("/checks/not-an-id")
    assert res is not None and res.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")


def test_pages_are_no_store_and_refuse_api_keys(live_server: LiveServer) -> None:
    key = live_server.accounts.api_key()
    with httpx.Client(base_url=live_server.url) as c:
        res = c.get("/checks/new", headers={"Authorization": f"Bearer {key.api_key}"})
        # An API key never reaches a page: refused with the HTML "cannot see" page.
        assert res.status_code == 403
        assert "You cannot see this page" in res.text
        assert res.headers["cache-control"] == "no-store"
        res = c.get("/sign-in")
        assert res.headers["cache-control"] == "no-store"


def test_dispute_referral_and_notifications(page: Page, live_server: LiveServer) -> None:
    surname = unique_surname("Okafor")
    bar_person(live_server, "Chidi", surname, "1969-07-30")
    employer = live_server.accounts.user("employer")
    sign_in(page, live_server.accounts, employer)
    fill_check_form(page, reference="D-1", forenames="Chidi", surname=surname, dob="1969-07-30")
    expect(page.locator("[data-outcome=barred]")).to_be_visible()
    page.get_by_role("button", name="Send to a caseworker").click()
    expect(page.locator("#reason-error")).to_be_visible()
    axe_check(page, "dispute with errors")
    page.get_by_label("Why does the applicant say this is wrong?").fill(
        "They have never lived in the UK before 2020"
    )
    page.get_by_role("button", name="Send to a caseworker").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("caseworker")

    page.get_by_role("link", name="Make a referral").click()
    page.get_by_role("button", name="Send referral").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter what happened")
    axe_check(page, "referral form with errors")
    page.get_by_label("First names").fill("Terry")
    page.get_by_label("Last name").fill(unique_surname("Dunn"))
    page.get_by_label("Day").fill("4")
    page.get_by_label("Month").fill("9")
    page.get_by_label("Year").fill("1980")
    page.get_by_label("What happened?").fill("Dismissed after a safeguarding investigation.")
    page.get_by_role("button", name="Send referral").click()
    expect(page.locator(".govuk-panel__title")).to_have_text("Referral sent")
    axe_check(page, "referral sent")

    page.get_by_role("link", name="Notifications").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")


def test_form_posts_need_the_session_csrf_token(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server.accounts, live_server.accounts.user("employer"))
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    form = {"reference": "CSRF-1", "forenames": "Ann", "surname": "Lee"}
    with httpx.Client(base_url=live_server.url, cookies=cookies) as c:
        refused = c.post("/checks", data=form)
        assert refused.status_code == 403
        assert "You cannot see this page" in refused.text
        wrong = c.post("/checks", data={**form, "csrf_token": "x" * 40})
        assert wrong.status_code == 403
        # With the token the form is read (and, incomplete, comes back with its errors).
        accepted = c.post("/checks", data={**form, "csrf_token": token})
        assert accepted.status_code == 400
        assert "Enter the date of birth" in accepted.text


def test_notification_from_continuous_screening(page: Page, live_server: LiveServer) -> None:
    from vbs.services import screening

    surname = unique_surname("Lindqvist")
    employer = live_server.accounts.user("employer")
    sign_in(page, live_server.accounts, employer)
    fill_check_form(
        page, reference="SCREEN-1", forenames="Freya", surname=surname, dob="1988-08-08"
    )
    expect(page.locator("[data-outcome=clear]")).to_be_visible()
    outcome_url = page.url
    # The next day, the same person is barred; the screening job finds the earlier check.
    bar_person(live_server, "Freya", surname, "1988-08-08")
    with live_server.state.pool.connection() as conn:
        screening.screen_pending(conn, live_server.state.matcher, live_server.state.audit)
    page.get_by_role("link", name="Notifications").click()
    row = page.locator("tbody tr", has_text="SCREEN-1")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Under review")
    axe_check(page, "notifications with a row")
    row.get_by_role("link").click()
    assert page.url == outcome_url
    expect(page.locator("[data-outcome=under_review]")).to_be_visible()
