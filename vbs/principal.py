"""Who is acting: a signed-in user, an organisation's API key, or the system itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

Role = Literal["employer", "registered_body", "caseworker", "senior_caseworker", "admin", "system"]
OrgKind = Literal["employer", "registered_body", "authority"]

AUTHORITY_ROLES: frozenset[str] = frozenset({"caseworker", "senior_caseworker", "admin"})
CLIENT_ROLES: frozenset[str] = frozenset({"employer", "registered_body"})
ROLES_FOR_KIND: dict[str, frozenset[str]] = {
    "employer": frozenset({"employer"}),
    "registered_body": frozenset({"registered_body"}),
    "authority": AUTHORITY_ROLES,
}


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    org_id: UUID | None = None
    org_kind: OrgKind | None = None
    user_id: UUID | None = None
    api_key_id: UUID | None = None
    session_id: str | None = None  # a hash of the session token, never the token
    ip: str | None = None

    @property
    def is_client(self) -> bool:
        """An employer or registered body (user or API key)."""
        return self.role in CLIENT_ROLES

    @property
    def is_authority(self) -> bool:
        return self.role in AUTHORITY_ROLES


SYSTEM = Principal(role="system")
