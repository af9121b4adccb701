"""`/v1/reviews`, `/v1/alerts` (caseworkers) and `/v1/notifications` (clients)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from api.app import AppState
from tests.api.conftest import Accounts, bar
from tests.vbs import checks_support
from vbs.services import screening


def body(**change: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "reference": "APP-100",
        "forenames": "Alice Mary",
        "surname": "Oyelaran",
        "date_of_birth": "1980-03-12",
        "workforce": "children",
        "eligibility_confirmed": True,
        "consent_confirmed": True,
    }
    b.update(change)
    return b


def audit_actions(state: AppState) -> list[tuple[str, str | None]]:
    with state.pool.connection() as conn:
        rows = conn.execute("SELECT action, object_id FROM audit_event ORDER BY seq").fetchall()
    return [(r[0], r[1]) for r in rows]


def test_a_possible_match_is_reviewed_side_by_side_and_decided(
    client: TestClient, accounts: Accounts, app_state: AppState
) -> None:
    entry = bar(app_state, "Alice", "Oyelaran", "1985-03-12")
    emp = accounts.client_as(accounts.user("employer"))
    check = emp.post("/v1/checks", json=body()).json()
    assert check["outcome"] == "under_review"

    cw = accounts.client_as(accounts.user("caseworker"))
    listed = cw.get("/v1/reviews")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(i["check_id"], i["kind"], i["status"]) for i in items] == [
        (check["id"], "possible_match", "pending")
    ]
    item_id = items[0]["id"]

    detail = cw.get(f"/v1/reviews/{item_id}")
    assert detail.status_code == 200, detail.text
    d = detail.json()
    assert d["check"]["identity"]["surname"] == "Oyelaran"
    assert d["check"]["identity"]["date_of_birth"] == "1980-03-12"
    cand = d["candidates"][0]
    assert cand["entry_id"] == str(entry) and cand["entry"]["date_of_birth"] == "1985-03-12"
    assert {f["field"] for f in cand["explanation"]["fields"]} >= {"surname", "date_of_birth"}
    assert cand["lists"] == ["children", "adults"]
    # Put on the list by the system, not by a case: no case to show.
    assert cand["case_reference"] is None and cand["case_id"] is None
    assert detail.headers["cache-control"] == "no-store"
    assert ("review.view", item_id) in audit_actions(app_state)

    alerts = cw.get("/v1/alerts").json()["alerts"]
    assert [(a["check_id"], a["kind"]) for a in alerts] == [(check["id"], "under_review")]

    bad = cw.post(f"/v1/reviews/{item_id}/decision", json={"decision": "maybe", "reason": ""})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"decision", "reason"}

    done = cw.post(
        f"/v1/reviews/{item_id}/decision", json={"decision": "no_match", "reason": "different"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["check_outcome"] == "clear"
    assert done.json()["item"]["status"] == "decided"
    assert emp.get(f"/v1/checks/{check['id']}").json()["outcome"] == "clear"
    again = cw.post(
        f"/v1/reviews/{item_id}/decision", json={"decision": "match", "reason": "changed mind"}
    )
    assert again.status_code == 409
    assert cw.get("/v1/reviews").json()["items"] == []
    assert cw.get(f"/v1/reviews/{uuid.uuid4()}").status_code == 404


def test_employers_and_api_keys_never_reach_caseworker_routes(
    client: TestClient, accounts: Accounts
) -> None:
    some = uuid.uuid4()
    for account in (accounts.user("employer"), accounts.api_key(), accounts.user("admin")):
        c = accounts.client_as(account)
        assert c.get("/v1/reviews").status_code == 403
        assert c.get(f"/v1/reviews/{some}").status_code == 403
        decision = {"decision": "match", "reason": "x"}
        assert c.post(f"/v1/reviews/{some}/decision", json=decision).status_code == 403
        assert c.get("/v1/alerts").status_code == 403
    cw = accounts.client_as(accounts.user("caseworker"))
    assert cw.get("/v1/notifications").status_code == 403
    anonymous = accounts.client()
    assert anonymous.get("/v1/reviews").status_code == 401


def test_screening_notifies_only_the_checking_organisation(
    client: TestClient, accounts: Accounts, app_state: AppState
) -> None:
    mine = accounts.client_as(accounts.user("employer"))
    theirs = accounts.client_as(accounts.user("employer"))
    check = mine.post("/v1/checks", json=body()).json()
    assert check["outcome"] == "clear"
    bar(app_state, "Alice Mary", "Oyelaran", "1980-03-12")
    with app_state.pool.connection() as conn:
        report = screening.screen_pending(conn, app_state.matcher, app_state.audit)
    assert [str(i) for i in report.moved_to_review] == [check["id"]]
    notes = mine.get("/v1/notifications")
    assert notes.status_code == 200
    got = notes.json()["notifications"]
    assert [(n["check_id"], n["reference"], n["outcome"]) for n in got] == [
        (check["id"], "APP-100", "under_review")
    ]
    assert theirs.get("/v1/notifications").json() == {"notifications": []}
    assert mine.get(f"/v1/checks/{check['id']}").json()["outcome"] == "under_review"
    cw = accounts.client_as(accounts.user("caseworker"))
    kinds = [i["kind"] for i in cw.get("/v1/reviews").json()["items"]]
    assert kinds == ["screening"]


def _bar_by_case(accounts: Accounts, forenames: str, surname: str, dob: str) -> dict[str, Any]:
    """Take a case to a bar on the children's list through the API; the barred case."""
    cw_account = accounts.user("caseworker")
    cw = accounts.client_as(cw_account)
    senior = accounts.client_as(accounts.user("senior_caseworker", cw_account.org_id))
    person = {"forenames": forenames, "surname": surname, "date_of_birth": dob}
    res = cw.post(
        "/v1/cases",
        json={**person, "route": "automatic_without_representations", "summary": "offence"},
    )
    assert res.status_code == 201, res.text
    case_id = res.json()["id"]
    for action, extra in (
        ("begin_assessment", {}),
        ("gather_information", {}),
        ("assess_risk", {}),
        ("decide_bar", {"lists": "children"}),
    ):
        res = cw.post(
            f"/v1/cases/{case_id}/transitions", json={"action": action, "reason": "x", **extra}
        )
        assert res.status_code == 200, res.text
    res = senior.post(f"/v1/cases/{case_id}/approval", json={"approve": True, "reason": "ok"})
    assert res.status_code == 200, res.text
    case: dict[str, Any] = res.json()
    assert case["state"] == "barred" and case["entry_id"] is not None
    return case


def test_the_review_shows_the_case_that_put_each_entry_on_the_list(
    client: TestClient, accounts: Accounts, app_state: AppState
) -> None:
    case = _bar_by_case(accounts, "Alice", "Oyelaran", "1985-03-12")
    # Someone else, imported with a reference of the old list: no case here to link to.
    imported = checks_support.bar(
        app_state.pool,
        app_state.audit,
        "Tomasz",
        "Nowicki",
        "1966-02-20",
        "adults",
        case_reference="LEGACY-0042",
    )
    emp = accounts.client_as(accounts.user("employer"))
    first = emp.post("/v1/checks", json=body(workforce="both")).json()
    second = emp.post(
        "/v1/checks",
        json=body(
            reference="APP-101",
            forenames="Tomasz",
            surname="Nowicki",
            date_of_birth="1966-08-20",
            workforce="adults",
        ),
    ).json()
    assert first["outcome"] == second["outcome"] == "under_review"

    cw = accounts.client_as(accounts.user("caseworker"))
    items = {i["check_id"]: i["id"] for i in cw.get("/v1/reviews").json()["items"]}
    detail = cw.get(f"/v1/reviews/{items[first['id']]}")
    assert detail.status_code == 200, detail.text
    (listed,) = detail.json()["candidates"]
    assert listed["entry_id"] == case["entry_id"]
    assert listed["case_reference"] == case["reference"]
    assert listed["case_reference"].startswith("BC-")
    assert listed["case_id"] == case["id"]
    assert listed["lists"] == ["children"]
    # The case id leads to the case that listed the person.
    assert cw.get(f"/v1/cases/{case['id']}").json()["entry_id"] == case["entry_id"]

    (old,) = cw.get(f"/v1/reviews/{items[second['id']]}").json()["candidates"]
    assert (old["entry_id"], old["case_reference"], old["case_id"], old["lists"]) == (
        str(imported),
        "LEGACY-0042",
        None,
        ["adults"],
    )

    # The employer sees the outcome only: never the case.
    for check in (first, second):
        seen = emp.get(f"/v1/checks/{check['id']}")
        assert seen.status_code == 200
        assert case["reference"] not in seen.text and "LEGACY-0042" not in seen.text
    assert emp.get(f"/v1/reviews/{items[first['id']]}").status_code == 403
