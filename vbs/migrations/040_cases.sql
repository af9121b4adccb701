-- Barring cases and their timeline. The legal transitions live in vbs/services/cases.py;
-- the database keeps the states and the record of every move (who, when, why).
SET LOCAL client_min_messages = warning;

CREATE SEQUENCE barring_case_number;

CREATE TABLE barring_case (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reference text NOT NULL UNIQUE,
    route text NOT NULL CHECK (route IN (
        'discretionary', 'automatic_with_representations', 'automatic_without_representations'
    )),
    state text NOT NULL CHECK (state IN (
        'referral_received', 'initial_assessment', 'information_gathering', 'risk_assessment',
        'minded_to_bar', 'representations_received', 'representations_closed',
        'awaiting_approval', 'barred', 'no_further_action', 'appealed', 'remitted',
        'under_review', 'removed'
    )),
    -- The person referred (a full date of birth: the minimum barred period depends on age).
    forenames text NOT NULL CHECK (length(forenames) BETWEEN 1 AND 200),
    surname text NOT NULL CHECK (length(surname) BETWEEN 1 AND 200),
    date_of_birth date NOT NULL,
    previous_names jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(previous_names) = 'array'),
    gender text CHECK (gender IN ('female', 'male', 'unspecified')),
    summary text NOT NULL CHECK (length(summary) BETWEEN 1 AND 10000),
    -- Who referred: an employer's organisation and user, or a caseworker.
    referred_by_org uuid,
    referred_by_user uuid,
    opened_by_role text NOT NULL,
    representations_due timestamptz,
    decision_lists smallint CHECK (decision_lists BETWEEN 1 AND 3),
    decided_by uuid,
    decided_at timestamptz,
    approved_by uuid,
    approved_at timestamptz,
    entry_id uuid REFERENCES barred_entry (id),
    barred_on date,
    review_eligible_on date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT barring_case_maker_checker CHECK (approved_by IS NULL OR approved_by <> decided_by)
);
CREATE INDEX barring_case_state ON barring_case (state, created_at);
CREATE INDEX barring_case_due ON barring_case (representations_due) WHERE state = 'minded_to_bar';
CREATE INDEX barring_case_referrer ON barring_case (referred_by_org);

CREATE TABLE case_transition (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id uuid NOT NULL REFERENCES barring_case (id),
    action text NOT NULL,
    from_state text,
    to_state text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    by_user uuid,
    by_role text NOT NULL,
    reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000)
);
CREATE INDEX case_transition_case ON case_transition (case_id, id);

ALTER TABLE list_change
    ADD CONSTRAINT list_change_case FOREIGN KEY (case_id) REFERENCES barring_case (id);
