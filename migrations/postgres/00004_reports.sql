-- +goose Up
-- Reports ask which cases were opened, closed or had a service running in a
-- period. The partial index answers "has this case a counting service in the
-- period" from the index alone.
CREATE INDEX cases_opened_on ON cases (opened_on);
CREATE INDEX cases_closed_on ON cases (closed_on) WHERE status = 'closed';
CREATE INDEX services_activity ON services (case_id, started_on, ended_on) WHERE status IN ('in_progress', 'completed');

-- +goose Down
DROP INDEX services_activity;
DROP INDEX cases_closed_on;
DROP INDEX cases_opened_on;
