"""Browser tests of the web pages: a real uvicorn serving ``create_app`` on a free port, and
Debian's Chromium driven headless by Playwright (never ``playwright install``).

The live server gets its own freshly migrated database (so other tests emptying tables do
not pull the ground from under it) on the same PostgreSQL and Redis servers as the rest of
the suite. Accounts are made through the service with ``tests.api.conftest.Accounts``.

``axe_check(page)`` runs axe-core (from node_modules) on the page and fails on any serious or
critical violation.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

import psycopg
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from api.app import AppState, create_app
from tests.api.conftest import Account, Accounts
from tests.conftest import APP_ROLE, ROOT, _redis_url, _server_url, with_database
from vbs.config import Settings
from vbs.migrate import migrate
from vbs.repo import schema

AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _pages_redis_url() -> str:
    """The suite's Redis server, one database further on: other test sessions on this machine
    run their own RQ workers on the suite's database, and must not take this server's jobs."""
    parts = urlsplit(_redis_url())
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str((int(query.get("db", "0")) + 1) % 16)
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    db = int(parts.path.strip("/") or "0")
    return urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    state: AppState
    accounts: Accounts
    settings: Settings


@contextmanager
def fresh_database(prefix: str = "vbs_pages") -> Iterator[str]:
    """A database of its own on the suite's server, migrated from empty, dropped at the end."""
    server = _server_url()
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(server, autocommit=True) as conn:
        schema.create_database_if_missing(conn, name)
    url = with_database(server, name)
    migrate(url, APP_ROLE)
    try:
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            schema.drop_database(conn, name)


def live_settings(owner_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=owner_url,
        redis_url=_pages_redis_url(),
        data_dir=data_dir,
        app_db_role=APP_ROLE,
        cookie_secure=False,
        db_pool_min=1,
        db_pool_max=6,
        # Generous quotas: the tests check thousands of rows in a minute.
        quota_rate_per_minute=1_000_000,
        quota_org_rate_per_minute=1_000_000,
    )


@contextmanager
def running_server(settings: Settings) -> Iterator[LiveServer]:
    """``create_app(settings)`` served by uvicorn on a free port, in a thread."""
    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="pages-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    state: AppState = app.state.vbs
    accounts = Accounts(app, state.pool, state)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, state, accounts, settings)
    finally:
        accounts.close()
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # The pages' own Redis database starts empty (no jobs left from an earlier run).
    with redis.Redis.from_url(_pages_redis_url()) as r:
        r.flushdb()
    with (
        fresh_database() as url,
        running_server(live_settings(url, tmp_path_factory.mktemp("pages-data"))) as live,
    ):
        yield live


def launch_chromium(playwright: Playwright) -> Browser:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Chromium is not installed (apt-get install -y chromium; .ci/run does)")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = launch_chromium(playwright)
    yield b
    b.close()


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    # bypass_csp lets axe-core be injected into pages whose policy forbids inline scripts.
    ctx = browser.new_context(base_url=live_server.url, bypass_csp=True)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def axe_check(page: Page, label: str = "") -> None:
    """No serious or critical WCAG 2.2 AA violation on the page as it is now."""
    page.add_script_tag(path=str(AXE_JS))
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    bad = [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
    summary = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in bad
    ]
    assert not bad, f"axe on {label or page.url}: " + "; ".join(summary)
    assert result["passes"], "axe ran no rule"


def sign_in(page: Page, accounts: Accounts, account: Account) -> None:
    """Sign in through the sign-in page (the staff page with a TOTP code when needed)."""
    assert account.email is not None and account.password is not None
    if account.totp_secret:
        page.goto("/sign-in/staff")
        page.get_by_label("Email address").fill(account.email)
        page.get_by_label("Password").fill(account.password)
        page.get_by_label("Security code").fill(accounts.totp_code(account))
    else:
        page.goto("/sign-in")
        page.get_by_label("Email address").fill(account.email)
        page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/sign-in" not in page.url, page.url


def bar_person(
    live_server: LiveServer,
    forenames: str,
    surname: str,
    date_of_birth: str,
    lists: str = "children|adults",
) -> UUID:
    """Put someone on the barred list through the list service (the system acting)."""
    from vbs.principal import SYSTEM
    from vbs.services import barred_list

    with live_server.state.pool.connection() as conn, conn.transaction():
        result = barred_list.add_entry(
            conn,
            live_server.state.audit,
            SYSTEM,
            barred_list.EntryInput(
                forenames=forenames, surname=surname, date_of_birth=date_of_birth, lists=lists
            ),
            reason="test list entry",
        )
    return result.entry_id


def unique_surname(stem: str) -> str:
    """A surname no other test uses (tests share the live server's list)."""
    letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in secrets.token_hex(3))
    return f"{stem}{letters}"


def fill_check_form(
    page: Page,
    *,
    reference: str,
    forenames: str,
    surname: str,
    dob: str,
    workforce: str = "Children",
    declarations: bool = True,
    previous_names: str = "",
) -> None:
    """Fill the check form (dob as YYYY-MM-DD) and submit it."""
    page.goto("/checks/new")
    page.get_by_label("Your reference").fill(reference)
    page.get_by_label("First names").fill(forenames)
    page.get_by_label("Last name").fill(surname)
    if previous_names:
        page.get_by_label("Previous full names (optional)").fill(previous_names)
    year, month, day = dob.split("-")
    page.get_by_label("Day").fill(day)
    page.get_by_label("Month").fill(month)
    page.get_by_label("Year").fill(year)
    page.get_by_label(workforce, exact=True).check()
    if declarations:
        page.get_by_label("I confirm the role is regulated activity").check()
        page.get_by_label("I confirm the person has agreed").check()
    page.get_by_role("button", name="Check barred lists").click()
    page.wait_for_load_state()
