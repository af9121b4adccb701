"""Screenshots of the main pages for docs/screenshots/ (run by ``scripts/screenshots``).

Starts the app on a fresh database of its own (the suite's PostgreSQL and Redis: the
machine's servers when ``VBS_TEST_DATABASE_URL``/``VBS_TEST_REDIS_URL`` are set, else the
embedded ones), fills it with made-up demo people through the services and the pages, and
photographs each page in Debian's Chromium. Nothing here is a real person.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.conftest import ROOT
from tests.pages.conftest import (
    LiveServer,
    bar_person,
    fill_check_form,
    fresh_database,
    launch_chromium,
    live_settings,
    running_server,
    sign_in,
)

OUT = ROOT / "docs" / "screenshots"


def shot(page: Page, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path.relative_to(ROOT)}")


def _batch_file(path: Path) -> Path:
    rows = ["reference,forenames,surname,date_of_birth,workforce"]
    firsts = ["Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Leo"]
    lasts = ["Hughes", "Bennett", "Patel", "Clarke", "Osei", "Walsh", "Nowak", "Reid"]
    for i in range(400):
        rows.append(
            f"APP-{i:04d},{firsts[i % 8]},{lasts[(i // 8) % 8]},"
            f"19{60 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d},both"
        )
    rows.append("APP-0400,Margaret,Whitfield,1975-03-14,children")
    rows.append("APP-0401,Bad,Date,1990-02-30,both")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def take(live: LiveServer, out: Path) -> None:
    accounts = live.accounts
    bar_person(live, "Margaret Eleanor", "Whitfield", "1975-03-14")
    bar_person(live, "Dominic", "Hartley", "1982-10-09", "adults")
    employer = accounts.user("employer")
    body = accounts.user("registered_body")
    caseworker = accounts.user("caseworker")
    admin = accounts.user("admin")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(base_url=live.url, viewport={"width": 1100, "height": 800})
        page = context.new_page()

        page.goto("/sign-in")
        shot(page, out, "sign-in")

        sign_in(page, accounts, employer)
        page.get_by_role("button", name="Check barred lists").click()
        shot(page, out, "check-form-errors")
        fill_check_form(
            page, reference="APP-1001", forenames="Margaret", surname="Whitfield", dob="1975-03-14"
        )
        shot(page, out, "outcome-barred")
        fill_check_form(
            page, reference="APP-1002", forenames="Oliver", surname="Bennett", dob="1984-11-23"
        )
        shot(page, out, "outcome-clear")
        fill_check_form(
            page, reference="APP-1003", forenames="Margaret", surname="Whitfield", dob="1975-07-14"
        )
        shot(page, out, "outcome-under-review")
        page.goto("/checks")
        shot(page, out, "check-history")
        page.get_by_role("button", name="Sign out").click()

        sign_in(page, accounts, body)
        page.goto("/batches/new")
        shot(page, out, "batch-upload")
        page.locator("#file").set_input_files(str(_batch_file(out.parent / "_demo-batch.csv")))
        page.get_by_label("I confirm every role").check()
        page.get_by_label("I confirm every person").check()
        page.get_by_role("button", name="Upload and check").click()
        (out.parent / "_demo-batch.csv").unlink()
        env = dict(os.environ)
        s = live.settings
        env.update(
            {
                "VBS_DATABASE_URL": s.database_url or "",
                "VBS_REDIS_URL": s.redis_url or "",
                "VBS_DATA_DIR": str(s.data_dir),
                "VBS_APP_DB_ROLE": s.app_db_role,
                "VBS_BATCH_CHUNK_SIZE": "100",
            }
        )
        subprocess.run(
            [sys.executable, "-m", "vbs", "worker", "--burst"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
        )
        page.locator('#batch-progress[data-status="complete"]').wait_for(timeout=60_000)
        shot(page, out, "batch-progress")
        page.get_by_role("button", name="Sign out").click()

        sign_in(page, accounts, caseworker)
        shot(page, out, "review-queue")
        page.locator("tbody tr").last.get_by_role("link").click()
        shot(page, out, "review")
        page.goto("/casework/cases/new")
        page.get_by_label("Discretionary referral").check()
        page.get_by_label("First names").fill("Terry")
        page.get_by_label("Last name").fill("Dunn")
        page.get_by_label("Day").fill("4")
        page.get_by_label("Month").fill("9")
        page.get_by_label("Year").fill("1980")
        page.get_by_label("Summary").fill("Dismissed after a safeguarding investigation.")
        page.get_by_role("button", name="Open case").click()
        for step in ("Begin the initial assessment", "Gather information"):
            page.get_by_label(step).check()
            page.get_by_label("Reason").fill(f"{step}.")
            page.get_by_role("button", name="Record next step").click()
        shot(page, out, "case")
        page.get_by_role("button", name="Sign out").click()

        sign_in(page, accounts, admin)
        shot(page, out, "dashboard")
        page.goto("/admin/audit")
        shot(page, out, "audit-log")
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the main pages.")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="vbs-screens-") as data,
        fresh_database("vbs_screens") as url,
        running_server(live_settings(url, Path(data))) as live,
    ):
        take(live, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
