-- The barred lists (children, adults), their version and their history of changes.
--
-- list_state holds one row: the current list version. Every change to the list takes
--   INSERT ... ON CONFLICT (id) DO UPDATE SET version = list_state.version + 1 RETURNING version
-- which locks that row, so writers are serialised and versions commit in order: a reader
-- that sees version N committed also sees every change of versions below N.
--
-- Identity purge: the identity columns of a *removed* entry may later be erased
-- (identity_purged_at set, names and date of birth NULL); list_change rows carry ids only,
-- never names, so the history survives a purge intact.
SET LOCAL client_min_messages = warning;

CREATE TABLE list_state (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    version bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO list_state (id, version) VALUES (1, 0);

CREATE TABLE barred_entry (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The list file's own id for the entry (imports), unique among entries that have one.
    list_ref text UNIQUE CHECK (length(list_ref) BETWEEN 1 AND 100),
    forenames text CHECK (length(forenames) BETWEEN 1 AND 200),
    surname text CHECK (length(surname) BETWEEN 1 AND 200),
    -- ISO date, full or partial (YYYY, YYYY-MM, YYYY-MM-DD), or unknown.
    date_of_birth text CHECK (date_of_birth ~ '^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$'),
    -- Array of {"forenames": ..., "surname": ...}.
    previous_names jsonb NOT NULL DEFAULT '[]'::jsonb
        CHECK (jsonb_typeof(previous_names) = 'array'),
    gender text CHECK (gender IN ('female', 'male', 'unspecified')),
    -- Bitmask: 1 = children's list, 2 = adults' list.
    lists smallint NOT NULL CHECK (lists BETWEEN 1 AND 3),
    case_reference text,
    barred_on date NOT NULL,
    status text NOT NULL DEFAULT 'barred' CHECK (status IN ('barred', 'removed')),
    created_version bigint NOT NULL,
    removed_version bigint,
    removed_at timestamptz,
    identity_purged_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT barred_entry_removed_consistent CHECK (
        (status = 'barred' AND removed_version IS NULL AND removed_at IS NULL)
        OR (status = 'removed' AND removed_version > created_version AND removed_at IS NOT NULL)
    ),
    CONSTRAINT barred_entry_identity_present CHECK (
        (identity_purged_at IS NULL AND forenames IS NOT NULL AND surname IS NOT NULL)
        OR (identity_purged_at IS NOT NULL AND status = 'removed' AND forenames IS NULL
            AND surname IS NULL AND date_of_birth IS NULL AND gender IS NULL
            AND previous_names = '[]'::jsonb)
    )
);
CREATE INDEX barred_entry_active ON barred_entry (created_version) WHERE status = 'barred';
CREATE INDEX barred_entry_case_reference ON barred_entry (case_reference);

CREATE TABLE list_change (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version bigint NOT NULL CHECK (version > 0),
    entry_id uuid NOT NULL REFERENCES barred_entry (id),
    kind text NOT NULL CHECK (kind IN ('add', 'remove')),
    at timestamptz NOT NULL DEFAULT now(),
    by_user uuid,
    by_role text NOT NULL,
    case_id uuid,
    -- Why (free text from the caseworker or a fixed phrase); never names or dates of birth.
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    UNIQUE (entry_id, kind)
);
CREATE INDEX list_change_version ON list_change (version, id);

-- Likely duplicates found by the matcher when an entry was added, shown to caseworkers.
CREATE TABLE entry_duplicate (
    entry_id uuid NOT NULL REFERENCES barred_entry (id),
    duplicate_of uuid NOT NULL REFERENCES barred_entry (id),
    band text NOT NULL CHECK (band IN ('match', 'possible')),
    probability double precision NOT NULL CHECK (probability BETWEEN 0 AND 1),
    matcher_version text NOT NULL,
    found_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entry_id, duplicate_of)
);
