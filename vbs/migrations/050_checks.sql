-- Checks, their explained match results, caseworker reviews, authority alerts, client
-- notifications and the continuous-screening cursor (owner: checks/reviews service).
SET LOCAL client_min_messages = warning;

CREATE TABLE identity_check (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id    uuid NOT NULL REFERENCES organisation (id),
    user_id            uuid REFERENCES app_user (id),
    api_key_id         uuid REFERENCES api_key (id),
    -- Batch rows (no foreign key: the batch tables come later, in 060).
    batch_id           uuid,
    batch_row          integer,
    reference          text NOT NULL CHECK (length(reference) BETWEEN 1 AND 100),
    -- The identity: nullable so that retention can purge it and keep the outcome.
    forenames          text,
    surname            text,
    date_of_birth      date,
    previous_names     jsonb,
    gender             text CHECK (gender IN ('female', 'male', 'unspecified')),
    workforce          text NOT NULL CHECK (workforce IN ('children', 'adults', 'both')),
    outcome            text NOT NULL
                       CHECK (outcome IN ('clear', 'barred', 'under_review', 'incomplete')),
    list_version       bigint,
    matcher_version    text,
    checked_at         timestamptz NOT NULL DEFAULT now(),
    settled_at         timestamptz,
    identity_purged_at timestamptz,
    CONSTRAINT identity_check_batch_row_key UNIQUE (batch_id, batch_row),
    CONSTRAINT identity_check_batch_pair CHECK ((batch_id IS NULL) = (batch_row IS NULL)),
    CONSTRAINT identity_check_identity_kept CHECK (
        identity_purged_at IS NOT NULL
        OR (forenames IS NOT NULL AND surname IS NOT NULL AND date_of_birth IS NOT NULL)
    ),
    -- A settled outcome (anything but incomplete) names the list version it was matched on.
    CONSTRAINT identity_check_version_known CHECK (outcome = 'incomplete' OR list_version IS NOT NULL)
);
CREATE INDEX identity_check_org_reference ON identity_check (organisation_id, reference);
CREATE INDEX identity_check_org_checked ON identity_check (organisation_id, checked_at DESC);
CREATE INDEX identity_check_incomplete ON identity_check (checked_at) WHERE outcome = 'incomplete';
CREATE INDEX identity_check_retained ON identity_check (list_version)
    WHERE identity_purged_at IS NULL;
CREATE INDEX identity_check_purge ON identity_check (checked_at)
    WHERE identity_purged_at IS NULL;

CREATE TABLE match_candidate (
    check_id      uuid NOT NULL REFERENCES identity_check (id) ON DELETE CASCADE,
    rank          integer NOT NULL CHECK (rank >= 1),
    entry_id      uuid NOT NULL REFERENCES barred_entry (id),
    probability   double precision NOT NULL CHECK (probability BETWEEN 0 AND 1),
    band          text NOT NULL CHECK (band IN ('match', 'possible', 'no_match')),
    explanation   jsonb,
    list_version  bigint NOT NULL,
    source        text NOT NULL DEFAULT 'check' CHECK (source IN ('check', 'screening')),
    PRIMARY KEY (check_id, rank)
);
CREATE INDEX match_candidate_entry ON match_candidate (entry_id);

CREATE TABLE review_item (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    check_id    uuid NOT NULL REFERENCES identity_check (id),
    kind        text NOT NULL CHECK (kind IN ('possible_match', 'dispute', 'screening')),
    -- The list entry a screening item is about (possible_match items cover every candidate).
    entry_id    uuid REFERENCES barred_entry (id),
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'decided')),
    -- Why it was raised (a dispute's reason, given by the employer).
    raised_reason text CHECK (length(raised_reason) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decision    text CHECK (decision IN ('match', 'no_match')),
    reason      text CHECK (length(reason) <= 2000),
    decided_by  uuid REFERENCES app_user (id),
    decided_at  timestamptz,
    CONSTRAINT review_item_decided CHECK (
        (status = 'pending' AND decision IS NULL AND decided_at IS NULL)
        OR (status = 'decided' AND decision IS NOT NULL AND decided_at IS NOT NULL
            AND reason IS NOT NULL)
    )
);
CREATE INDEX review_item_pending ON review_item (created_at) WHERE status = 'pending';
CREATE INDEX review_item_check ON review_item (check_id);
-- One pending dispute per check; one screening item per check and list entry.
CREATE UNIQUE INDEX review_item_one_pending_dispute ON review_item (check_id)
    WHERE kind = 'dispute' AND status = 'pending';
CREATE UNIQUE INDEX review_item_one_screening ON review_item (check_id, entry_id)
    WHERE kind = 'screening';
CREATE UNIQUE INDEX review_item_one_possible ON review_item (check_id)
    WHERE kind = 'possible_match';

CREATE TABLE alert (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    check_id        uuid NOT NULL REFERENCES identity_check (id),
    organisation_id uuid NOT NULL REFERENCES organisation (id),
    kind            text NOT NULL CHECK (kind IN ('barred', 'under_review')),
    source          text NOT NULL CHECK (source IN ('check', 'screening', 'review')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_created ON alert (created_at DESC);
CREATE UNIQUE INDEX alert_one_per_check_kind_source ON alert (check_id, kind, source);

CREATE TABLE notification (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL REFERENCES organisation (id),
    check_id        uuid NOT NULL REFERENCES identity_check (id),
    kind            text NOT NULL CHECK (kind IN ('screening')),
    outcome         text NOT NULL,
    list_version    bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_once UNIQUE (check_id, kind, list_version)
);
CREATE INDEX notification_org_created ON notification (organisation_id, created_at DESC);

-- One row: every list version up to `version` has been screened against retained checks.
CREATE TABLE screening_cursor (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    version     bigint NOT NULL,
    screened_at timestamptz NOT NULL DEFAULT now()
);
