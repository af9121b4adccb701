"""Fixtures the service tests share: an audit log of their own, and the usual actors.

A test module that needs another audit log (the configured one, say) defines its own
``audit`` fixture, which takes precedence over this one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from tests.vbs.checks_support import Actors, make_actors
from vbs.audit import AuditLog


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(b"k" * 32, tmp_path / "checkpoint.json")


@pytest.fixture
def actors(db: ConnectionPool) -> Actors:
    return make_actors(db)
