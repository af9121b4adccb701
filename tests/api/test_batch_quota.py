"""A batch upload's rows count against the daily volumes, and the upload counts as one
request against the per-minute rates: a file with more rows than a minute's rate
(600 by default) was refused with 429 for ever, however long the caller waited."""

from __future__ import annotations

import time
from typing import Any

import redis
from fastapi.testclient import TestClient

from tests.api.conftest import Accounts

DECLARED = {"eligibility_confirmed": "true", "consent_confirmed": "true"}


def _rows(n: int) -> bytes:
    lines = ["reference,forenames,surname,date_of_birth"]
    lines += [f"R-{i},Person{i}x,Unlisted{i}y,1980-01-0{1 + i % 9}" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def _upload(c: TestClient, n: int) -> Any:
    return c.post("/v1/batches", files={"file": ("a.csv", _rows(n), "text/csv")}, data=DECLARED)


def test_a_file_larger_than_a_minutes_rate_is_accepted(
    accounts: Accounts, app_state: Any, redis_conn: redis.Redis
) -> None:
    app_state.settings = app_state.settings.model_copy(
        update={"quota_rate_per_minute": 5, "quota_org_rate_per_minute": 5}
    )
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    if time.time() % 60 > 45:  # keep the six uploads inside one minute's window
        time.sleep(61 - time.time() % 60)
    res = _upload(c, 20)
    assert res.status_code == 202, res.text
    # The per-minute rate still counts requests: the sixth upload in the minute is refused.
    for _ in range(4):
        assert _upload(c, 20).status_code == 202
    res = _upload(c, 20)
    assert res.status_code == 429 and "retry-after" in res.headers


def test_the_rows_still_count_against_the_daily_volume(
    accounts: Accounts, app_state: Any, redis_conn: redis.Redis
) -> None:
    app_state.settings = app_state.settings.model_copy(update={"quota_daily_volume": 30})
    c = accounts.client_as(accounts.api_key(kind="registered_body"))
    assert _upload(c, 20).status_code == 202
    res = _upload(c, 20)  # 40 rows > 30 a day
    assert res.status_code == 429 and "retry-after" in res.headers
    assert _upload(c, 10).status_code == 202  # the refused upload used none of it
