-- +goose Up
-- The audit trail is append-only and tamper-evident. audit_chain links every
-- event, in the order they were sealed, to its predecessor by a SHA-256 hash
-- of the event and the previous link; a changed, removed or reordered event
-- breaks the chain from there on (casework audit verify). Triggers refuse
-- any UPDATE or DELETE of events and links, whoever connects.
CREATE TABLE audit_chain (
    seq        bigint PRIMARY KEY,
    event_id   uuid NOT NULL UNIQUE REFERENCES audit_events (id),
    prev_hash  text NOT NULL,
    hash       text NOT NULL,
    sealed_at  timestamptz NOT NULL
);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);

-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- +goose Down
DROP TRIGGER audit_chain_no_truncate ON audit_chain;
DROP TRIGGER audit_chain_append_only ON audit_chain;
DROP TRIGGER audit_events_no_truncate ON audit_events;
DROP TRIGGER audit_events_append_only ON audit_events;
DROP FUNCTION audit_append_only();
DROP INDEX audit_events_occurred;
DROP TABLE audit_chain;
