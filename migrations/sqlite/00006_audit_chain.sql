-- +goose Up
-- The audit trail is append-only and tamper-evident. audit_chain links every
-- event, in the order they were sealed, to its predecessor by a SHA-256 hash
-- of the event and the previous link; a changed, removed or reordered event
-- breaks the chain from there on (casework audit verify). Triggers refuse
-- any UPDATE or DELETE of events and links.
CREATE TABLE audit_chain (
    seq        integer PRIMARY KEY,
    event_id   text NOT NULL UNIQUE REFERENCES audit_events (id),
    prev_hash  text NOT NULL,
    hash       text NOT NULL,
    sealed_at  datetime NOT NULL
);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);

-- +goose StatementBegin
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on audit_events refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on audit_events refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on audit_chain refused'); END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on audit_chain refused'); END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_chain_no_delete;
DROP TRIGGER audit_chain_no_update;
DROP TRIGGER audit_events_no_delete;
DROP TRIGGER audit_events_no_update;
DROP INDEX audit_events_occurred;
DROP TABLE audit_chain;
