"""Registered body batch journey in a real browser: the upload form (format explained,
sample file), errors by the field, and the progress page whose counts rise to the totals
the API reports, without reloading, while a real worker (`vbs worker`) processes the file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.pages.conftest import LiveServer, axe_check, bar_person, sign_in, unique_surname

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROWS = 1200
BAD_ROWS = 3


def _batch_file(path: Path, barred_surname: str) -> Path:
    lines = ["reference,forenames,surname,date_of_birth,workforce"]
    for i in range(ROWS):
        lines.append(
            f"R{i:05d},Person{i % 97},Family{i % 89}x,19{50 + i % 50}-0{1 + i % 9}-1{i % 9},both"
        )
    lines.append(f"BARRED-1,Selina,{barred_surname},1966-06-06,children")
    for j in range(BAD_ROWS):
        lines.append(f"BAD-{j},Someone,Else,1999-02-3{j},both")  # 30/31 February: impossible
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def worker_env(live_server: LiveServer) -> dict[str, str]:
    s = live_server.settings
    env = dict(os.environ)
    env.update(
        {
            "VBS_DATABASE_URL": s.database_url or "",
            "VBS_REDIS_URL": s.redis_url or "",
            "VBS_DATA_DIR": str(s.data_dir),
            "VBS_APP_DB_ROLE": s.app_db_role,
            "VBS_BATCH_CHUNK_SIZE": "150",
        }
    )
    return env


@pytest.fixture
def start_worker(worker_env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_upload_and_watch_progress_rise_to_the_api_totals(
    page: Page,
    live_server: LiveServer,
    tmp_path: Path,
    worker_env: dict[str, str],
    start_worker: list[subprocess.Popen[bytes]],
) -> None:
    accounts = live_server.accounts
    surname = unique_surname("Marchetti")
    bar_person(live_server, "Selina", surname, "1966-06-06")
    body = accounts.user("registered_body")
    sign_in(page, accounts, body)
    expect(page.get_by_role("heading", level=1)).to_have_text("Batch checks")
    page.get_by_role("button", name="Upload a batch file").click()
    expect(page.locator("main")).to_contain_text("date_of_birth")
    sample = page.get_by_role("link", name="Download a sample file")
    with httpx.Client(base_url=live_server.url) as c:
        res = c.get(sample.get_attribute("href") or "")
        assert res.status_code == 200
        assert res.text.startswith("reference,forenames,surname,date_of_birth")

    # No file and no declarations: errors by each field.
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#file-error")).to_contain_text("Select a CSV file")
    expect(page.locator("#consent_confirmed-error")).to_be_visible()
    axe_check(page, "upload form with errors")
    # A file with a wrong header: the API's own check, shown by the file field.
    bad = tmp_path / "bad.csv"
    bad.write_text("ref,name\n1,x\n", encoding="utf-8")
    page.locator("#file").set_input_files(str(bad))
    page.get_by_label("I confirm every role").check()
    page.get_by_label("I confirm every person").check()
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#file-error")).to_be_visible()

    page.locator("#file").set_input_files(str(_batch_file(tmp_path / "batch.csv", surname)))
    page.get_by_label("I confirm every role").check()
    page.get_by_label("I confirm every person").check()
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("We have your file")
    batch_url = page.url.split("?")[0]
    batch_id = batch_url.rsplit("/", 1)[1]
    axe_check(page, "batch page")
    page.evaluate("window.__same_page = true")

    # Now a worker starts; the page's numbers must rise without a reload.
    start_worker.append(
        subprocess.Popen(
            [sys.executable, "-m", "vbs", "worker"],
            env=worker_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    seen: list[int] = []
    deadline = time.monotonic() + 120
    status = page.locator('#batch-progress td[data-field="rows_processed"]')
    while time.monotonic() < deadline:
        value = int(status.inner_text().replace(",", ""))
        if not seen or value != seen[-1]:
            seen.append(value)
        if page.locator("#batch-progress").get_attribute("data-status") in ("complete", "failed"):
            break
        page.wait_for_timeout(200)
    assert page.evaluate("window.__same_page") is True, "the page reloaded"
    assert page.locator("#batch-progress").get_attribute("data-status") == "complete", seen
    assert seen == sorted(seen) and len(seen) >= 2, seen

    total = ROWS + 1 + BAD_ROWS
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=live_server.url, cookies=cookies) as c:
        api = c.get(f"/v1/batches/{batch_id}").json()
    assert api["rows_total"] == total and api["rows_failed"] == BAD_ROWS
    shown = {
        name: int(
            page.locator(f'#batch-progress td[data-field="{name}"]').inner_text().replace(",", "")
        )
        for name in ("rows_total", "rows_processed", "rows_failed")
    }
    assert shown == {k: api[k] for k in shown}
    for outcome in ("clear", "barred", "under_review", "incomplete"):
        cell = page.locator(f'#batch-progress td[data-field="outcome_{outcome}"]')
        assert int(cell.inner_text().replace(",", "")) == api["outcomes"][outcome]
    assert api["outcomes"]["barred"] >= 1
    expect(page.locator("#progress-bar")).to_have_attribute("value", str(total))

    # Downloads: the API's CSVs, with the session cookie.
    with httpx.Client(base_url=live_server.url, cookies=cookies) as c:
        results = c.get(
            page.get_by_role("link", name="Download results (CSV)").get_attribute("href") or ""
        )
        errors = c.get(
            page.get_by_role("link", name="Download rows with errors (CSV)").get_attribute("href")
            or ""
        )
    assert results.status_code == 200 and "BARRED-1,barred" in results.text
    assert errors.status_code == 200 and errors.text.count("BAD-") == BAD_ROWS

    # Without JavaScript the page works too: a reload link and the numbers as they are.
    page.goto("/batches")
    expect(page.locator("tbody tr").first).to_contain_text("Complete")
