-- The append-only, hash-chained audit trail (see vbs/audit.py for the MAC and checkpoint).
-- UPDATE, DELETE and TRUNCATE are refused by statement triggers, so even the table's
-- owner is refused; the service's role may only SELECT and INSERT (vbs/repo/schema.py).
SET LOCAL client_min_messages = warning;

CREATE TABLE audit_event (
    seq              bigint PRIMARY KEY CHECK (seq > 0),
    occurred_at      timestamptz NOT NULL,
    actor_role       text NOT NULL,
    actor_user_id    uuid,
    actor_org_id     uuid,
    actor_api_key_id uuid,
    ip               text,
    action           text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    object_type      text,
    object_id        text,
    detail           jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_mac         bytea NOT NULL CHECK (length(prev_mac) = 32),
    mac              bytea NOT NULL CHECK (length(mac) = 32)
);
CREATE INDEX audit_event_occurred_idx ON audit_event (occurred_at);
CREATE INDEX audit_event_action_idx ON audit_event (action, seq);
CREATE INDEX audit_event_org_idx ON audit_event (actor_org_id, seq);
CREATE INDEX audit_event_object_idx ON audit_event (object_type, object_id);

CREATE FUNCTION audit_event_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_event_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
