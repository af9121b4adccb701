"""Settings for every part of the service, read from the environment (prefix ``VBS_``).

Settings come from :func:`get_settings`, never from a patched module global: tests build
their own :class:`Settings` and pass it down.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VBS_", extra="ignore")

    # Servers. Unset means: start (or re-attach to) the embedded server under data_dir.
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".vbs")
    # The service connects as this restricted role; migrations run as the URL's own user.
    app_db_role: str = "vbs_app"
    db_pool_min: int = 2
    db_pool_max: int = 10

    # Matcher bands (match probability thresholds).
    match_threshold: float = Field(default=0.995, ge=0.0, le=1.0)
    possible_threshold: float = Field(default=0.15, ge=0.0, le=1.0)

    # Batch limits.
    batch_max_rows: int = 100_000
    batch_max_bytes: int = 20 * 1024 * 1024
    batch_chunk_size: int = 500

    # Retention of check identities and stored batch files.
    retention_days: int = 90

    # Audit chain: the MAC key is a secret the database does not hold.
    audit_key: SecretStr | None = None
    audit_checkpoint_path: Path | None = None

    # Web sessions.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    cookie_secure: bool = True

    # Quotas (per API key, per user session and per organisation).
    quota_rate_per_minute: int = 600
    quota_daily_volume: int = 200_000
    quota_org_rate_per_minute: int = 3_000
    quota_org_daily_volume: int = 1_000_000

    # Login throttling.
    login_max_failures: int = 5
    login_lockout_seconds: int = 900

    # HTTP server.
    host: str = "127.0.0.1"
    port: int = 8000

    # Client side (`vbs batch submit`).
    api_url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None

    @property
    def run_dir(self) -> Path:
        return self.data_dir.resolve() / "run"

    def audit_checkpoint_file(self) -> Path:
        if self.audit_checkpoint_path is not None:
            return self.audit_checkpoint_path
        return self.data_dir.resolve() / "audit-checkpoint.json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings from the environment (cached: the environment is read once)."""
    return Settings()
