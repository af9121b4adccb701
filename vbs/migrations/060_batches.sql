-- Batch checks: an uploaded file, its parsed rows awaiting matching, the chunks the
-- workers match, and the rows refused with their line numbers.
--
-- PostgreSQL is the source of truth; Redis only carries job ids. A chunk is `pending`
-- until the transaction that writes its check results marks it `done`; the batch is
-- complete when no chunk is pending. The reconciler re-enqueues whatever is pending and
-- has no live job.
SET LOCAL client_min_messages = warning;

CREATE TABLE batch (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL REFERENCES organisation (id),
    user_id               uuid REFERENCES app_user (id),
    api_key_id            uuid REFERENCES api_key (id),
    status                text NOT NULL DEFAULT 'received' CHECK (
        status IN ('received', 'parsing', 'matching', 'complete', 'failed')
    ),
    file_bytes            bigint NOT NULL CHECK (file_bytes >= 0),
    file_sha256           bytea NOT NULL CHECK (length(file_sha256) = 32),
    -- Data rows in the file (accepted + refused), known once parsed.
    rows_total            integer NOT NULL DEFAULT 0 CHECK (rows_total >= 0),
    rows_failed           integer NOT NULL DEFAULT 0 CHECK (rows_failed >= 0),
    chunks_total          integer NOT NULL DEFAULT 0 CHECK (chunks_total >= 0),
    -- Why the whole batch failed (never personal data).
    failure_reason        text,
    -- The uploader's declarations, for the whole file (both required).
    eligibility_confirmed boolean NOT NULL CHECK (eligibility_confirmed),
    consent_confirmed     boolean NOT NULL CHECK (consent_confirmed),
    -- The ingest job (Redis carries the id only).
    ingest_job_id         text,
    ingest_attempts       integer NOT NULL DEFAULT 0,
    ingest_enqueued_at    timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    started_at            timestamptz,
    finished_at           timestamptz,
    file_purged_at        timestamptz,
    CHECK (user_id IS NOT NULL OR api_key_id IS NOT NULL)
);
CREATE INDEX batch_org_created_idx ON batch (org_id, created_at DESC);
CREATE INDEX batch_unfinished_idx ON batch (created_at)
    WHERE status IN ('received', 'parsing', 'matching');

-- The uploaded bytes, in parts of about 1 MiB, so that a worker on another machine can
-- read the file and no single value is large. Purged after retention.
CREATE TABLE batch_file (
    batch_id uuid NOT NULL REFERENCES batch (id) ON DELETE CASCADE,
    part_no  integer NOT NULL CHECK (part_no >= 0),
    data     bytea NOT NULL,
    PRIMARY KEY (batch_id, part_no)
);

-- Accepted rows awaiting matching. A chunk's rows are deleted in the transaction that
-- records their checks (the identity then lives in identity_check only).
CREATE TABLE batch_row (
    batch_id       uuid NOT NULL REFERENCES batch (id) ON DELETE CASCADE,
    row_no         integer NOT NULL CHECK (row_no >= 0),
    chunk_no       integer NOT NULL CHECK (chunk_no >= 0),
    line_no        integer NOT NULL CHECK (line_no >= 2),
    reference      text NOT NULL,
    forenames      text NOT NULL,
    surname        text NOT NULL,
    date_of_birth  date NOT NULL,
    previous_names jsonb NOT NULL DEFAULT '[]'::jsonb,
    gender         text CHECK (gender IS NULL OR gender IN ('female', 'male')),
    workforce      text NOT NULL CHECK (workforce IN ('children', 'adults', 'both')),
    PRIMARY KEY (batch_id, row_no)
);
CREATE INDEX batch_row_chunk_idx ON batch_row (batch_id, chunk_no);

CREATE TABLE batch_chunk (
    batch_id    uuid NOT NULL REFERENCES batch (id) ON DELETE CASCADE,
    chunk_no    integer NOT NULL CHECK (chunk_no >= 0),
    first_row   integer NOT NULL CHECK (first_row >= 0),
    row_count   integer NOT NULL CHECK (row_count > 0),
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    job_id      text,
    attempts    integer NOT NULL DEFAULT 0,
    enqueued_at timestamptz,
    done_at     timestamptz,
    PRIMARY KEY (batch_id, chunk_no)
);
CREATE INDEX batch_chunk_pending_idx ON batch_chunk (batch_id) WHERE status = 'pending';

-- Refused rows (line 1 is the header; a file-level problem found late is line 0).
CREATE TABLE batch_error (
    batch_id  uuid NOT NULL REFERENCES batch (id) ON DELETE CASCADE,
    line_no   integer NOT NULL CHECK (line_no >= 0),
    reference text,
    reason    text NOT NULL,
    PRIMARY KEY (batch_id, line_no)
);
