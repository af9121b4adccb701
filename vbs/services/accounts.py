"""Organisations, users, roles, passwords, TOTP and API keys: the account rules.

- A user's role must fit the organisation's kind (``vbs.principal.ROLES_FOR_KIND``).
- Passwords are hashed with argon2id; caseworkers, senior caseworkers and admins also get
  a TOTP secret (pyotp) and must give a code at every sign-in.
- API keys are random high-entropy tokens (``vbs_`` + 43 url-safe characters), shown once
  and stored only as SHA-256; each belongs to one employer or registered body and acts as
  that organisation's client. Revocation is immediate.

Functions take a connection inside the caller's transaction and record their audit event
last. Messages never carry the email address or any other personal data.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from uuid import UUID

import psycopg
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vbs.audit import AuditLog
from vbs.errors import Conflict, FieldError, NotFound, ValidationFailed
from vbs.principal import AUTHORITY_ROLES, ROLES_FOR_KIND, Principal
from vbs.repo import accounts as repo

ORG_KINDS = ("employer", "registered_body", "authority")
ROLES = ("employer", "registered_body", "caseworker", "senior_caseworker", "admin")
TOTP_ROLES = AUTHORITY_ROLES
API_KEY_PREFIX = "vbs_"
TOTP_ISSUER = "vbs"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


# --- secrets ------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def hash_token(token: str) -> bytes:
    """SHA-256 of an API key or session token (high-entropy: no slow hash needed)."""
    return hashlib.sha256(token.encode()).digest()


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def new_api_key_token() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


# --- validation ---------------------------------------------------------------------


def _validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            [FieldError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")]
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            [FieldError("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")]
        )


def normalise_email(email: str) -> str:
    e = email.strip()
    if len(e) > 254 or not _EMAIL.match(e):
        raise ValidationFailed([FieldError("email", "is not a valid email address")])
    return e


def _uuid(value: str | UUID, field: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(value)
    except ValueError:
        raise ValidationFailed([FieldError(field, "is not a valid id")]) from None


# --- organisations ------------------------------------------------------------------


def create_org(
    conn: psycopg.Connection,
    audit: AuditLog,
    actor: Principal | None,
    name: str,
    kind: str,
) -> repo.Organisation:
    errors: list[FieldError] = []
    clean = name.strip()
    if not clean:
        errors.append(FieldError("name", "must not be empty"))
    elif len(clean) > 200:
        errors.append(FieldError("name", "must be at most 200 characters"))
    if kind not in ORG_KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(ORG_KINDS)}"))
    if errors:
        raise ValidationFailed(errors)
    org = repo.insert_org(conn, clean, kind)
    audit.record(conn, actor, "org.create", "organisation", str(org.id), {"kind": kind})
    return org


def get_org(conn: psycopg.Connection, org_id: str | UUID) -> repo.Organisation:
    org = repo.get_org(conn, _uuid(org_id, "org_id"))
    if org is None:
        raise NotFound("no such organisation")
    return org


# --- users --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewUser:
    id: UUID
    org_id: UUID
    email: str
    role: str
    generated_password: str | None  # shown once when the service chose it
    totp_secret: str | None
    totp_uri: str | None


def create_user(
    conn: psycopg.Connection,
    audit: AuditLog,
    actor: Principal | None,
    org_id: str | UUID,
    email: str,
    role: str,
    password: str | None = None,
) -> NewUser:
    oid = _uuid(org_id, "org_id")
    clean_email = normalise_email(email)
    if role not in ROLES:
        raise ValidationFailed([FieldError("role", f"must be one of {', '.join(ROLES)}")])
    org = repo.get_org(conn, oid)
    if org is None:
        raise ValidationFailed([FieldError("org_id", "no such organisation")])
    if role not in ROLES_FOR_KIND[org.kind]:
        allowed = ", ".join(sorted(ROLES_FOR_KIND[org.kind]))
        raise ValidationFailed(
            [
                FieldError(
                    "role", f"does not fit an organisation of kind {org.kind} (allowed: {allowed})"
                )
            ]
        )
    generated = None
    if password is None:
        generated = password = generate_password()
    _validate_password(password)
    if repo.get_user_by_email(conn, clean_email) is not None:
        raise Conflict("a user with this email address already exists")
    secret = pyotp.random_base32() if role in TOTP_ROLES else None
    try:
        with conn.transaction():  # a savepoint: a lost race leaves the outer one usable
            user_id = repo.insert_user(
                conn, oid, clean_email, role, hash_password(password), secret
            )
    except psycopg.errors.UniqueViolation:
        raise Conflict("a user with this email address already exists") from None
    audit.record(conn, actor, "user.create", "user", str(user_id), {"role": role, "org": str(oid)})
    return NewUser(
        id=user_id,
        org_id=oid,
        email=clean_email,
        role=role,
        generated_password=generated,
        totp_secret=secret,
        totp_uri=totp_uri(secret, clean_email) if secret else None,
    )


def find_user(conn: psycopg.Connection, user: str | UUID) -> repo.User:
    """A user by id or by email address."""
    found: repo.User | None
    if isinstance(user, UUID):
        found = repo.get_user(conn, user)
    elif "@" in user:
        found = repo.get_user_by_email(conn, user.strip())
    else:
        found = repo.get_user(conn, _uuid(user, "user"))
    if found is None:
        raise NotFound("no such user")
    return found


def disable_user(
    conn: psycopg.Connection, audit: AuditLog, actor: Principal | None, user: str | UUID
) -> repo.User:
    """Disable at once: sessions end, API keys the user created are revoked."""
    found = find_user(conn, user)
    repo.disable_user(conn, found.id)
    audit.record(conn, actor, "user.disable", "user", str(found.id))
    return found


def set_password(
    conn: psycopg.Connection,
    audit: AuditLog,
    actor: Principal | None,
    user: str | UUID,
    password: str,
) -> None:
    _validate_password(password)
    found = find_user(conn, user)
    repo.update_password(conn, found.id, hash_password(password))
    audit.record(conn, actor, "user.password", "user", str(found.id))


# --- API keys -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewApiKey:
    id: UUID
    org_id: UUID
    key: str  # shown once, never stored


def create_api_key(
    conn: psycopg.Connection,
    audit: AuditLog,
    actor: Principal | None,
    org_id: str | UUID,
    label: str | None = None,
) -> NewApiKey:
    oid = _uuid(org_id, "org_id")
    org = repo.get_org(conn, oid)
    if org is None:
        raise ValidationFailed([FieldError("org_id", "no such organisation")])
    if org.kind not in ("employer", "registered_body"):
        raise ValidationFailed(
            [FieldError("org_id", "API keys belong to an employer or a registered body")]
        )
    if label is not None and len(label) > 200:
        raise ValidationFailed([FieldError("label", "must be at most 200 characters")])
    key = new_api_key_token()
    created_by = actor.user_id if actor is not None else None
    key_id = repo.insert_api_key(conn, oid, hash_token(key), label, created_by)
    audit.record(conn, actor, "apikey.create", "api_key", str(key_id), {"org": str(oid)})
    return NewApiKey(id=key_id, org_id=oid, key=key)


def revoke_api_key(
    conn: psycopg.Connection, audit: AuditLog, actor: Principal | None, key_id: str | UUID
) -> repo.ApiKey:
    kid = _uuid(key_id, "key_id")
    key = repo.get_api_key(conn, kid)
    if key is None:
        raise NotFound("no such API key")
    repo.revoke_api_key(conn, kid)
    audit.record(conn, actor, "apikey.revoke", "api_key", str(kid), {"org": str(key.org_id)})
    return key
