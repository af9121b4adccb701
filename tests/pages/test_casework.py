"""Caseworker journeys in a real browser: TOTP sign-in, settling a possible match that the
employer then sees; a case taken to a bar that a senior caseworker approves and a check at
once sees; markup typed by an employer shown as text on every caseworker page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.pages.conftest import (
    LiveServer,
    axe_check,
    bar_person,
    fill_check_form,
    sign_in,
    unique_surname,
)

pytestmark = pytest.mark.browser

XSS = '<script>window.__xss = 1</script><b id="injected">bold</b>'


def _no_injection(page: Page) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined"
    expect(page.locator("#injected")).to_have_count(0)


def test_caseworker_settles_a_possible_match_and_employer_sees_it(
    page: Page, live_server: LiveServer
) -> None:
    accounts = live_server.accounts
    surname = unique_surname("Whitfield")
    bar_person(live_server, "Margaret Eleanor", surname, "1975-03-14")
    employer = accounts.user("employer")
    sign_in(page, accounts, employer)
    fill_check_form(
        page, reference="POSS-1", forenames="Margaret", surname=surname, dob="1975-07-14"
    )
    expect(page.locator("[data-outcome=under_review]")).to_be_visible()
    axe_check(page, "under review outcome")
    outcome_url = page.url
    page.get_by_role("button", name="Sign out").click()

    caseworker = accounts.user("caseworker")
    sign_in(page, accounts, caseworker)
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    rows = page.locator("tbody tr")
    expect(rows.last).to_contain_text("Possible match")
    expect(rows.last).to_contain_text("under a minute")
    # The newest item is last (oldest first); it is ours.
    rows.last.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Is this the same person?")
    table = page.locator("table").first
    expect(table).to_contain_text(surname)
    expect(table).to_contain_text("Date of birth")
    # The differing date of birth is highlighted, the same surname is not.
    dob_row = table.locator("tr", has_text="Date of birth")
    expect(dob_row.locator(".vbs-diff")).to_have_count(2)
    surname_row = table.locator("tr", has_text="Last name")
    expect(surname_row.locator(".vbs-diff")).to_have_count(0)
    axe_check(page, "review page")
    # The reason is required.
    page.get_by_label("No, it is a different person").check()
    page.get_by_role("button", name="Save decision").click()
    expect(page.locator("#reason-error")).to_contain_text("Enter the reason")
    axe_check(page, "review page with errors")
    page.get_by_label("Why?").fill("Different date of birth, confirmed with the employer")
    page.get_by_role("button", name="Save decision").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, accounts, employer)
    page.goto(outcome_url)
    expect(page.locator(".govuk-panel__title")).to_have_text("Clear")


def test_senior_approves_a_bar_and_a_check_sees_it_at_once(
    page: Page, live_server: LiveServer
) -> None:
    accounts = live_server.accounts
    surname = unique_surname("Hartley")
    caseworker = accounts.user("caseworker")
    sign_in(page, accounts, caseworker)
    page.get_by_role("link", name="Cases").click()
    page.get_by_role("button", name="Open a case").click()
    page.get_by_role("button", name="Open case").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Select how the case came to us")
    axe_check(page, "new case with errors")
    page.get_by_label("Automatic barring offence, without representations").check()
    page.get_by_label("First names").fill("Dominic")
    page.get_by_label("Last name").fill(surname)
    page.get_by_label("Day").fill("9")
    page.get_by_label("Month").fill("10")
    page.get_by_label("Year").fill("1982")
    page.get_by_label("Summary").fill("Conviction for an automatic barring offence")
    page.get_by_role("button", name="Open case").click()
    expect(page.locator(".govuk-caption-l")).to_contain_text("Barring case")
    case_url = page.url
    steps = [
        "Begin the initial assessment",
        "Gather information",
        "Assess the risk",
        "Decide to bar",
    ]
    for step in steps:
        # Only the allowed next steps are offered.
        radios = page.locator("input[name=action]")
        assert radios.count() <= 3
        page.get_by_label(step).check()
        if step == "Decide to bar":
            page.get_by_label("Both lists").check()
        page.get_by_label("Reason").fill(f"{step}: done")
        page.get_by_role("button", name="Record next step").click()
        expect(page.locator(".govuk-notification-banner")).to_contain_text("recorded")
    expect(page.locator("main")).to_contain_text("Awaiting senior approval")
    expect(page.locator("main")).to_contain_text("waiting for a senior caseworker")
    timeline = page.locator("table").last
    expect(timeline.locator("tbody tr")).to_have_count(5)
    axe_check(page, "case page")
    page.get_by_role("button", name="Sign out").click()

    senior = accounts.user("senior_caseworker")
    sign_in(page, accounts, senior)
    page.get_by_role("link", name="Approvals").click()
    page.get_by_role("link", name=surname.split()[0], exact=False).count()
    page.goto(case_url)
    page.get_by_label("Yes, approve and bar").check()
    page.get_by_role("button", name="Save approval decision").click()
    expect(page.locator("#approval_reason-error")).to_be_visible()
    axe_check(page, "approval with errors")
    page.get_by_label("Yes, approve and bar").check()
    page.locator("#approval_reason").fill("Approved: the offence is on the automatic list")
    page.get_by_role("button", name="Save approval decision").click()
    expect(page.locator("main")).to_contain_text("Barred")
    page.get_by_role("button", name="Sign out").click()

    # At once, a check of that person is barred.
    sign_in(page, accounts, accounts.user("employer"))
    fill_check_form(
        page,
        reference="AFTER-BAR",
        forenames="Dominic",
        surname=surname,
        dob="1982-10-09",
        workforce="Vulnerable adults",
    )
    expect(page.locator("[data-outcome=barred]")).to_be_visible()


def test_markup_typed_by_an_employer_is_text_on_every_caseworker_page(
    page: Page, live_server: LiveServer
) -> None:
    accounts = live_server.accounts
    surname = unique_surname("Whitfield")
    bar_person(live_server, "Margaret Eleanor", surname, "1975-03-14")
    employer = accounts.user("employer")
    sign_in(page, accounts, employer)
    # A check with markup in the name (a possible match, so it reaches a caseworker).
    fill_check_form(
        page,
        reference=XSS[:90],
        forenames="Margaret",
        surname=surname,
        dob="1975-07-14",
        previous_names=f"Margaret {XSS}",
    )
    expect(page.locator("[data-outcome=under_review]")).to_be_visible()
    _no_injection(page)
    # A referral with markup in the name and summary (a case for a caseworker).
    page.goto("/referrals/new")
    page.get_by_label("First names").fill(XSS)
    page.get_by_label("Last name").fill(unique_surname("Quill"))
    page.get_by_label("Day").fill("1")
    page.get_by_label("Month").fill("2")
    page.get_by_label("Year").fill("1970")
    page.get_by_label("What happened?").fill(XSS)
    page.get_by_role("button", name="Send referral").click()
    expect(page.locator(".govuk-panel__title")).to_have_text("Referral sent")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, accounts, accounts.user("caseworker"))
    visited = []
    for path in ("/casework/reviews", "/casework/cases", "/casework/alerts", "/casework/disputes"):
        page.goto(path)
        _no_injection(page)
        visited.append(path)
    page.goto("/casework/reviews")
    page.locator("tbody tr").last.get_by_role("link").click()
    expect(page.locator("main")).to_contain_text("<script>window.__xss = 1</script>")
    _no_injection(page)
    page.goto("/casework/cases")
    expect(page.locator("main")).to_contain_text("<script>window.__xss = 1</script>")
    page.locator("tbody tr").filter(has_text="<script>").first.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("<script>window.__xss = 1</script>")
    _no_injection(page)
    # Markup typed in a list search is shown back as text.
    page.goto("/casework/list")
    page.get_by_label("First names").fill(XSS)
    page.get_by_label("Last name").fill(surname)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_label("First names")).to_have_value(XSS)
    _no_injection(page)
    axe_check(page, "list search results")
    assert len(visited) == 4


def _bar_by_case(
    live_server: LiveServer, forenames: str, surname: str, dob: str
) -> tuple[str, str, str]:
    """Take a case to a bar on the children's list through the case service (a caseworker
    decides, a senior caseworker approves): (case id, case reference, entry id)."""
    from vbs.principal import Principal
    from vbs.services import cases

    accounts = live_server.accounts
    cw = accounts.user("caseworker")
    senior = accounts.user("senior_caseworker", cw.org_id)
    decider = Principal(role="caseworker", org_id=cw.org_id, user_id=cw.user_id)
    approver = Principal(role="senior_caseworker", org_id=cw.org_id, user_id=senior.user_id)
    audit = live_server.state.audit
    with live_server.state.pool.connection() as conn, conn.transaction():
        case = cases.open_case(
            conn,
            audit,
            decider,
            cases.CaseInput(
                forenames=forenames,
                surname=surname,
                date_of_birth=dob,
                route="automatic_without_representations",
                summary="Conviction for an automatic barring offence",
            ),
        )
        for action in ("begin_assessment", "gather_information", "assess_risk"):
            cases.transition(conn, audit, decider, case.id, action, "done")
        cases.transition(conn, audit, decider, case.id, "decide_bar", "bar", lists="children")
        result = cases.decide_approval(conn, audit, approver, case.id, approve=True, reason="ok")
    assert result.entry_id is not None
    return str(case.id), case.reference, str(result.entry_id)


def test_the_review_page_shows_and_links_the_case_that_listed_the_entry(
    page: Page, live_server: LiveServer
) -> None:
    accounts = live_server.accounts
    surname = unique_surname("Ashdown")
    case_id, reference, _ = _bar_by_case(live_server, "Rosalind", surname, "1979-06-21")
    sign_in(page, accounts, accounts.user("employer"))
    fill_check_form(
        page, reference="CASE-REF-1", forenames="Rosalind", surname=surname, dob="1979-08-21"
    )
    expect(page.locator("[data-outcome=under_review]")).to_be_visible()
    # The employer's outcome never names the case.
    expect(page.locator("main")).not_to_contain_text(reference)
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, accounts, accounts.user("caseworker"))
    page.goto("/casework/reviews")
    page.locator("tbody tr").last.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Is this the same person?")
    expect(page.locator("table").first).to_contain_text(surname)
    entry = page.locator("[data-list-entry]")
    expect(entry).to_contain_text("The children’s list")
    expect(entry.locator("[data-case-reference]")).to_contain_text(reference)
    link = entry.get_by_role("link", name=reference)
    assert link.get_attribute("href") == f"/casework/cases/{case_id}"
    axe_check(page, "review page with the case reference")
    link.click()
    expect(page.locator(".govuk-caption-l")).to_have_text(f"Barring case {reference}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Rosalind {surname}")


def test_minded_to_bar_shows_the_representations_deadline_and_only_legal_steps(
    page: Page, live_server: LiveServer
) -> None:
    from datetime import UTC, datetime, timedelta

    accounts = live_server.accounts
    sign_in(page, accounts, accounts.user("caseworker"))
    page.goto("/casework/cases/new")
    page.get_by_label("Discretionary referral").check()
    page.get_by_label("First names").fill("Avery")
    page.get_by_label("Last name").fill(unique_surname("Cole"))
    page.get_by_label("Day").fill("12")
    page.get_by_label("Month").fill("12")
    page.get_by_label("Year").fill("1977")
    page.get_by_label("Summary").fill("Referral after a disciplinary hearing")
    page.get_by_role("button", name="Open case").click()
    # An illegal step is not offered at all.
    expect(page.get_by_label("Decide to bar")).to_have_count(0)
    for step in (
        "Begin the initial assessment",
        "Gather information",
        "Assess the risk",
        "Send a minded-to-bar letter",
    ):
        page.get_by_label(step).check()
        page.get_by_label("Reason").fill(step)
        page.get_by_role("button", name="Record next step").click()
    due = datetime.now(UTC) + timedelta(weeks=8)
    warning = page.locator(".govuk-warning-text")
    expect(warning).to_contain_text("Representations are due by")
    expect(warning).to_contain_text(f"{due.day} {due:%B %Y}")
    offered = page.locator("input[name=action]")
    values = {offered.nth(i).get_attribute("value") for i in range(offered.count())}
    # Before the deadline: representations can be received; closing them is not offered.
    assert "receive_representations" in values
    assert "close_representations" not in values and "decide_bar" not in values
    axe_check(page, "minded to bar")


def test_pages_work_without_javascript(browser: Browser, live_server: LiveServer) -> None:
    ctx = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = ctx.new_page()
        sign_in(page, live_server.accounts, live_server.accounts.user("employer"))
        fill_check_form(
            page,
            reference="NOJS-1",
            forenames="Iris",
            surname=unique_surname("Mann"),
            dob="1993-05-05",
        )
        expect(page.locator("[data-outcome=clear]")).to_be_visible()
        assert page.evaluate("document.body.className").find("js-enabled") == -1
    finally:
        ctx.close()
