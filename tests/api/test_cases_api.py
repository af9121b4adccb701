from __future__ import annotations

import uuid
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from api.app import AppState
from tests.api.conftest import Accounts

PERSON: dict[str, Any] = {
    "forenames": "Dana",
    "surname": "Whitcombe",
    "date_of_birth": "1990-04-02",
    "previous_names": ["Dana Smith"],
    "summary": "Concerns about conduct with pupils.",
}


def audit_rows(state: AppState) -> list[tuple[str, str | None, str]]:
    with state.pool.connection() as conn:
        rows = conn.execute(
            "SELECT action, object_id, detail::text FROM audit_event ORDER BY seq"
        ).fetchall()
        conn.rollback()
    return [(r[0], r[1], r[2]) for r in rows]


def move(c: TestClient, case_id: str, action: str, **extra: Any) -> dict[str, Any]:
    res = c.post(
        f"/v1/cases/{case_id}/transitions", json={"action": action, "reason": "noted", **extra}
    )
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def test_employer_referral_sees_only_id_and_status(accounts: Accounts, app_state: AppState) -> None:
    employer = accounts.client_as(accounts.user("employer"))
    res = employer.post("/v1/referrals", json=PERSON)
    assert res.status_code == 201, res.text
    body = res.json()
    assert set(body) == {"id", "status"} and body["status"] == "received"
    assert "no-store" in res.headers["cache-control"]
    assert employer.get(f"/v1/referrals/{body['id']}").json() == body
    # Another employer (even with an API key) does not find it; ids are random UUIDs.
    other = accounts.client_as(accounts.api_key(kind="employer"))
    assert other.get(f"/v1/referrals/{body['id']}").status_code == 404
    assert other.get(f"/v1/referrals/{uuid.uuid4()}").status_code == 404
    # A referral by API key works too.
    assert other.post("/v1/referrals", json=PERSON).status_code == 201
    # A registered body does not refer.
    rb = accounts.client_as(accounts.user("registered_body"))
    assert rb.post("/v1/referrals", json=PERSON).status_code == 403
    events = audit_rows(app_state)
    assert [a for a, _, _ in events].count("referral.create") == 2
    assert not any("Whitcombe" in d or "1990" in d for _, _, d in events)


def test_referral_validation(accounts: Accounts) -> None:
    employer = accounts.client_as(accounts.user("employer"))
    res = employer.post(
        "/v1/referrals",
        json={**PERSON, "date_of_birth": "1990-02-30", "surname": "", "colour": "red"},
    )
    assert res.status_code == 422
    fields = {e["field"] for e in res.json()["errors"]}
    assert {"date_of_birth", "surname", "colour"} <= fields
    assert "Dana" not in res.text
    nul = employer.post("/v1/referrals", json={**PERSON, "summary": "bad\x00byte"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "summary"
    future = employer.post("/v1/referrals", json={**PERSON, "date_of_birth": "2999-01-01"})
    assert future.status_code == 422
    assert future.json()["errors"][0]["field"] == "date_of_birth"


def test_employers_and_keys_never_reach_case_routes(accounts: Accounts) -> None:
    employer = accounts.client_as(accounts.user("employer"))
    key = accounts.client_as(accounts.api_key())
    admin = accounts.client_as(accounts.user("admin"))
    some = uuid.uuid4()
    for c in (employer, key, admin):
        assert c.get("/v1/cases").status_code == 403
        assert c.post("/v1/cases", json=PERSON).status_code == 403
        assert c.get(f"/v1/cases/{some}").status_code == 403
        body = {"action": "begin_assessment", "reason": "x"}
        assert c.post(f"/v1/cases/{some}/transitions", json=body).status_code == 403
        body2 = {"approve": True, "reason": "x"}
        assert c.post(f"/v1/cases/{some}/approval", json=body2).status_code == 403
    assert accounts.client().get("/v1/cases").status_code == 401


def test_case_lifecycle_through_the_api(accounts: Accounts, app_state: AppState) -> None:
    cw_account = accounts.user("caseworker")
    org = cw_account.org_id
    cw = accounts.client_as(cw_account)
    senior1 = accounts.client_as(accounts.user("senior_caseworker", org))
    senior2_account = accounts.user("senior_caseworker", org)
    senior2 = accounts.client_as(senior2_account)
    employer = accounts.client_as(accounts.user("employer"))
    referral_id = employer.post("/v1/referrals", json=PERSON).json()["id"]

    listed = cw.get("/v1/cases", params={"state": "referral_received"}).json()
    assert [c["id"] for c in listed["cases"]] == [referral_id]
    detail = cw.get(f"/v1/cases/{referral_id}").json()
    assert detail["allowed_actions"] == ["begin_assessment"]
    assert detail["timeline"][0]["action"] == "open"
    assert detail["previous_names"] == [{"forenames": "Dana", "surname": "Smith"}]

    # An illegal move is a conflict; unknown actions and approvals here are 422.
    res = cw.post(
        f"/v1/cases/{referral_id}/transitions", json={"action": "assess_risk", "reason": "x"}
    )
    assert res.status_code == 409
    res = cw.post(
        f"/v1/cases/{referral_id}/transitions",
        json={"action": "begin_assessment", "reason": "nul\x00"},
    )
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "reason"
    res = cw.post(f"/v1/cases/{referral_id}/transitions", json={"action": "fly", "reason": "x"})
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "action"
    res = cw.post(
        f"/v1/cases/{referral_id}/transitions", json={"action": "approve_bar", "reason": "x"}
    )
    assert res.status_code == 422
    res = cw.post(f"/v1/cases/{uuid.uuid4()}/transitions", json={"action": "x", "reason": "x"})
    assert res.status_code in (404, 422)

    for action in (
        "begin_assessment",
        "gather_information",
        "assess_risk",
        "send_minded_to_bar",
        "receive_representations",
    ):
        detail = move(cw, referral_id, action)
    assert detail["state"] == "representations_received"
    assert detail["representations_due"] is not None
    res = senior1.post(
        f"/v1/cases/{referral_id}/transitions", json={"action": "decide_bar", "reason": "x"}
    )
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "lists"
    detail = move(senior1, referral_id, "decide_bar", lists="both")
    assert detail["state"] == "awaiting_approval"
    assert detail["decision_lists"] == ["children", "adults"]

    # Maker-checker: the decider cannot approve, a plain caseworker cannot either.
    res = senior1.post(f"/v1/cases/{referral_id}/approval", json={"approve": True, "reason": "x"})
    assert res.status_code == 403
    res = cw.post(f"/v1/cases/{referral_id}/approval", json={"approve": True, "reason": "x"})
    assert res.status_code == 403
    res = senior2.post(f"/v1/cases/{referral_id}/approval", json={"approve": True, "reason": "ok"})
    assert res.status_code == 200, res.text
    detail = res.json()
    assert detail["state"] == "barred" and detail["entry_id"] is not None
    assert detail["approved_by"] == str(senior2_account.user_id)
    assert detail["list_version"] == 1
    assert detail["allowed_actions"] == ["lodge_appeal"]

    entry = cw.get(f"/v1/list/entries/{detail['entry_id']}").json()
    assert entry["entry"]["lists"] == ["children", "adults"]
    assert entry["entry"]["case_reference"] == detail["reference"]
    assert employer.get(f"/v1/referrals/{referral_id}").json()["status"] == "closed"

    # Appeal: the tribunal orders removal, the entry is removed at the next version.
    move(cw, referral_id, "lodge_appeal")
    detail = move(cw, referral_id, "tribunal_remove")
    assert detail["state"] == "removed" and detail["list_version"] == 2
    assert cw.get(f"/v1/list/entries/{detail['entry_id']}").json()["entry"]["status"] == "removed"
    actions = [t["action"] for t in detail["timeline"]]
    assert actions[-3:] == ["approve_bar", "lodge_appeal", "tribunal_remove"]

    events = audit_rows(app_state)
    transitions = [e for e in events if e[0] == "case.transition" and e[1] == referral_id]
    assert len(transitions) == 9
    assert not any("Whitcombe" in d for _, _, d in events)


def test_caseworker_opens_an_automatic_case(accounts: Accounts) -> None:
    cw = accounts.client_as(accounts.user("caseworker"))
    res = cw.post("/v1/cases", json={**PERSON, "route": "automatic_without_representations"})
    assert res.status_code == 201, res.text
    case = res.json()
    assert case["route"] == "automatic_without_representations"
    assert case["reference"].startswith("BC-")
    for action in ("begin_assessment", "gather_information", "assess_risk"):
        case = move(cw, case["id"], action)
    assert "send_minded_to_bar" not in case["allowed_actions"]
    assert "decide_bar" in case["allowed_actions"]
    bad = cw.post("/v1/cases", json={**PERSON, "route": "whim"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "route"
    assert cw.get(f"/v1/cases/{uuid.uuid4()}").status_code == 404
    assert cw.get("/v1/cases/not-a-uuid").status_code == 422


def test_returned_decision_writes_nothing_to_the_list(
    accounts: Accounts, app_state: AppState
) -> None:
    cw_account = accounts.user("caseworker")
    cw = accounts.client_as(cw_account)
    senior = accounts.client_as(accounts.user("senior_caseworker", cw_account.org_id))
    case = cw.post("/v1/cases", json={**PERSON, "route": "automatic_without_representations"})
    case_id = case.json()["id"]
    for action in ("begin_assessment", "gather_information", "assess_risk"):
        move(cw, case_id, action)
    move(cw, case_id, "decide_bar", lists="children")
    res = senior.post(f"/v1/cases/{case_id}/approval", json={"approve": False, "reason": "redo"})
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "risk_assessment" and res.json()["entry_id"] is None
    with psycopg.connect(app_state.pool.conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM barred_entry").fetchone() == (0,)
        assert conn.execute("SELECT version FROM list_state").fetchone() in (None, (0,))


def test_paging_cases_sharing_a_created_at_skips_and_repeats_none(
    accounts: Accounts, owner_url: str
) -> None:
    cw = accounts.client_as(accounts.user("caseworker"))
    opened = {cw.post("/v1/cases", json=PERSON).json()["id"] for _ in range(7)}
    with psycopg.connect(owner_url) as conn:
        # Five share one instant (as cases opened in one transaction do); two are older.
        conn.execute(
            "UPDATE barring_case SET created_at = CASE WHEN reference <= "
            "(SELECT reference FROM barring_case ORDER BY reference LIMIT 1 OFFSET 1) "
            "THEN '2026-01-01T09:00:00Z'::timestamptz ELSE '2026-01-02T09:00:00Z' END"
        )
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(10):
        page = cw.get("/v1/cases", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [c["id"] for c in body["cases"]]
        if body["next_before"] is None:
            assert body["next_before_id"] is None
            break
        params = {"limit": 2, "before": body["next_before"], "before_id": body["next_before_id"]}
    assert sorted(seen) == sorted(opened)  # every case exactly once
    assert len(seen) == len(set(seen)) == 7
    # `before` alone keeps its old meaning: strictly older than that time.
    older = cw.get("/v1/cases", params={"before": "2026-01-02T09:00:00Z"}).json()
    assert len(older["cases"]) == 2
    bad = cw.get("/v1/cases", params={"before_id": seen[0]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "before"
