from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from api.app import AppState
from tests.api.conftest import Accounts
from vbs.principal import Principal
from vbs.services import barred_list as bl

DOB = "1983-02-27"
CASEWORKER = Principal(role="caseworker", user_id=uuid.uuid4())

HEADER = "list_id,forenames,surname,date_of_birth,previous_names,lists\n"
LIST = (
    HEADER
    + "E1,Margaret Anne,Oyelaran,1971-09-14,Margaret Fenwick,children\n"
    + "E2,Thomas,Brightwater,1983-02-27,,adults\n"
    + "E3,Priya,Ramaswamy,1990,,children|adults\n"
)


def load(state: AppState, text: str = LIST) -> bl.ImportResult:
    with state.pool.connection() as conn, conn.transaction():
        return bl.import_csv(conn, state.audit, CASEWORKER, text.encode())


def caseworker(accounts: Accounts) -> TestClient:
    return accounts.client_as(accounts.user("caseworker"))


def search(c: TestClient, **body: Any) -> dict[str, Any]:
    res = c.post("/v1/list/search", json=body)
    assert res.status_code == 200, res.text
    out: dict[str, Any] = res.json()
    return out


def test_search_finds_a_listed_person_with_explanation(
    accounts: Accounts, app_state: AppState
) -> None:
    load(app_state)
    cw = caseworker(accounts)
    out = search(cw, forenames="Peggy", surname="Oyelaran", date_of_birth="1971-09-14")
    assert out["list_version"] == 1 and out["matcher_version"]
    assert out["results"], out
    top = out["results"][0]
    assert top["entry"]["list_ref"] == "E1"
    assert top["band"] in ("match", "possible") and 0 < top["probability"] <= 1
    assert top["explanation"]
    assert (
        "no-store"
        in cw.post("/v1/list/search", json={"forenames": "A", "surname": "B"}).headers[
            "cache-control"
        ]
    )
    # Only the lists asked for are searched: E2 is on the adults' list only.
    assert (
        search(cw, forenames="Thomas", surname="Brightwater", date_of_birth=DOB, lists="children")[
            "results"
        ]
        == []
    )
    found = search(
        cw, forenames="Thomas", surname="Brightwater", date_of_birth=DOB, lists="adults"
    )["results"]
    assert [r["entry"]["list_ref"] for r in found] == ["E2"]
    # The audit says a search happened and how many results: never the names.
    with app_state.pool.connection() as conn:
        rows = conn.execute(
            "SELECT detail::text FROM audit_event WHERE action = 'list.search' ORDER BY seq"
        ).fetchall()
        conn.rollback()
    assert len(rows) == 4
    assert '"results": 1' in rows[0][0] or '"results": 2' in rows[0][0]
    assert not any(
        name in r[0] for r in rows for name in ("Oyelaran", "Peggy", "Brightwater", "1971")
    )


def test_search_sees_a_change_committed_after_the_index_was_built(
    accounts: Accounts, app_state: AppState
) -> None:
    cw = caseworker(accounts)
    assert (
        search(cw, forenames="Ingrid", surname="Vasquez-Holt", date_of_birth="1979")["results"]
        == []
    )
    loaded = load(app_state, HEADER + "F1,Ingrid,Vasquez-Holt,1979-05-05,,children\n")
    out = search(cw, forenames="Ingrid", surname="Vasquez-Holt", date_of_birth="1979-05-05")
    assert [r["entry"]["id"] for r in out["results"]] == [str(loaded.entry_ids[0])]
    assert out["band"] == "match"
    with app_state.pool.connection() as conn, conn.transaction():
        bl.remove_entry(conn, app_state.audit, CASEWORKER, loaded.entry_ids[0], reason="appeal")
    out = search(cw, forenames="Ingrid", surname="Vasquez-Holt", date_of_birth="1979-05-05")
    assert out["results"] == [] and out["list_version"] == 2


def test_search_validation(accounts: Accounts) -> None:
    cw = caseworker(accounts)
    res = cw.post(
        "/v1/list/search", json={"forenames": "A", "surname": "B", "date_of_birth": "1990-13"}
    )
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == "date_of_birth"
    res = cw.post("/v1/list/search", json={"forenames": "", "surname": "B", "extra": 1})
    assert res.status_code == 422
    assert {e["field"] for e in res.json()["errors"]} == {"forenames", "extra"}
    res = cw.post("/v1/list/search", json={"forenames": "A\x00", "surname": "B"})
    assert res.status_code == 422 and res.json()["errors"][0]["field"] == "forenames"
    res = cw.post(
        "/v1/list/search", json={"forenames": "A", "surname": "B", "previous_names": [" "]}
    )
    assert res.status_code == 422
    assert res.json()["errors"][0]["field"] == "previous_names[0]"
    res = cw.post("/v1/list/search", json={"forenames": "A", "surname": "B", "lists": "pets"})
    assert res.status_code == 422


def test_list_routes_are_for_caseworkers_only(accounts: Accounts) -> None:
    employer = accounts.client_as(accounts.user("employer"))
    key = accounts.client_as(accounts.api_key())
    for c in (employer, key):
        assert c.post("/v1/list/search", json={"forenames": "A", "surname": "B"}).status_code == 403
        assert c.get(f"/v1/list/entries/{uuid.uuid4()}").status_code == 403
        assert c.get("/v1/list/history").status_code == 403


def test_entry_and_history(accounts: Accounts, app_state: AppState) -> None:
    first = load(app_state)
    with app_state.pool.connection() as conn, conn.transaction():
        bl.remove_entry(conn, app_state.audit, CASEWORKER, first.entry_ids[1], reason="review")
    cw = caseworker(accounts)
    res = cw.get(f"/v1/list/entries/{first.entry_ids[1]}")
    assert res.status_code == 200
    body = res.json()
    assert body["entry"]["status"] == "removed" and body["entry"]["removed_version"] == 2
    assert [(h["version"], h["kind"]) for h in body["history"]] == [(1, "add"), (2, "remove")]
    assert cw.get(f"/v1/list/entries/{uuid.uuid4()}").status_code == 404

    page = cw.get("/v1/list/history", params={"limit": 2}).json()
    assert page["current_version"] == 2
    assert [(i["version"], i["kind"]) for i in page["items"]] == [(1, "add"), (1, "add")]
    rest = cw.get("/v1/list/history", params={"limit": 2, "after_id": page["next_after_id"]}).json()
    assert [(i["version"], i["kind"]) for i in rest["items"]] == [(1, "add"), (2, "remove")]
    assert rest["items"][1]["reason"] == "review"
    later = cw.get("/v1/list/history", params={"after_version": 1}).json()
    assert [i["kind"] for i in later["items"]] == ["remove"] and later["next_after_id"] is None


def test_a_bar_from_a_case_shows_likely_duplicates(accounts: Accounts, app_state: AppState) -> None:
    """A new entry that matches someone already listed is flagged for the caseworker."""
    first = load(app_state)
    cw_account = accounts.user("caseworker")
    cw = accounts.client_as(cw_account)
    senior = accounts.client_as(accounts.user("senior_caseworker", cw_account.org_id))
    person = {
        "forenames": "Margaret Anne",
        "surname": "Oyelaran",
        "date_of_birth": "1971-09-14",
        "summary": "Conviction notified by the court.",
        "route": "automatic_without_representations",
    }
    case_id = cw.post("/v1/cases", json=person).json()["id"]
    for action in ("begin_assessment", "gather_information", "assess_risk"):
        cw.post(f"/v1/cases/{case_id}/transitions", json={"action": action, "reason": "x"})
    cw.post(
        f"/v1/cases/{case_id}/transitions",
        json={"action": "decide_bar", "reason": "x", "lists": "children"},
    )
    res = senior.post(f"/v1/cases/{case_id}/approval", json={"approve": True, "reason": "ok"})
    assert res.status_code == 200, res.text
    detail = res.json()
    assert detail["duplicates"], detail
    assert detail["duplicates"][0]["entry_id"] == str(first.entry_ids[0])
    assert detail["duplicates"][0]["band"] in ("match", "possible")
    entry = cw.get(f"/v1/list/entries/{detail['entry_id']}").json()
    assert entry["duplicates"] == detail["duplicates"]
