-- Organisations, their users, API keys and web sessions.
-- A user's role must fit the organisation's kind (checked by the trigger below as well
-- as by vbs.services.accounts). Secrets are stored only as hashes: argon2id for
-- passwords, SHA-256 for API keys and session tokens (high-entropy random tokens).
SET LOCAL client_min_messages = warning;

CREATE TABLE organisation (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('employer', 'registered_body', 'authority')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);

CREATE TABLE app_user (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         uuid NOT NULL REFERENCES organisation (id),
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role           text NOT NULL CHECK (
        role IN ('employer', 'registered_body', 'caseworker', 'senior_caseworker', 'admin')
    ),
    password_hash  text NOT NULL,
    -- Base32 TOTP secret; required for the authority's roles.
    totp_secret    text,
    -- The time step of the last TOTP code accepted: a code is never accepted twice.
    totp_last_step bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,
    CHECK (role NOT IN ('caseworker', 'senior_caseworker', 'admin') OR totp_secret IS NOT NULL)
);
CREATE UNIQUE INDEX app_user_email_key ON app_user (lower(email));
CREATE INDEX app_user_org_idx ON app_user (org_id);

CREATE FUNCTION app_user_role_fits_org() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    org_kind text;
BEGIN
    SELECT kind INTO org_kind FROM organisation WHERE id = NEW.org_id;
    IF NOT (
        (org_kind = 'employer' AND NEW.role = 'employer')
        OR (org_kind = 'registered_body' AND NEW.role = 'registered_body')
        OR (org_kind = 'authority' AND NEW.role IN ('caseworker', 'senior_caseworker', 'admin'))
    ) THEN
        RAISE EXCEPTION 'role does not fit the organisation kind'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER app_user_role_fits_org
    BEFORE INSERT OR UPDATE OF role, org_id ON app_user
    FOR EACH ROW EXECUTE FUNCTION app_user_role_fits_org();

CREATE TABLE api_key (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organisation (id),
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    label        text CHECK (label IS NULL OR length(label) <= 200),
    created_by   uuid REFERENCES app_user (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_key_org_idx ON api_key (org_id);

CREATE TABLE web_session (
    -- SHA-256 of the session token held in the cookie; the token itself is never stored.
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    user_id      uuid NOT NULL REFERENCES app_user (id),
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ip           text,
    revoked_at   timestamptz
);
CREATE INDEX web_session_user_idx ON web_session (user_id);
