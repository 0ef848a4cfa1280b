-- +goose Up
-- Reports ask which cases were opened, closed or had a service running in a
-- period. active_from and active_to bound the days a case had a counting
-- service (in progress or completed, started; 9999-12-31 while one runs);
-- the services store keeps them in step in the same transaction. They are a
-- cheap necessary condition: reports still check the services themselves,
-- since a case can have gaps between services.
ALTER TABLE cases ADD COLUMN active_from date;
ALTER TABLE cases ADD COLUMN active_to date;
UPDATE cases SET
    active_from = (SELECT min(s.started_on) FROM services s WHERE s.case_id = cases.id
        AND s.status IN ('in_progress', 'completed') AND s.started_on IS NOT NULL),
    active_to = (SELECT max(coalesce(s.ended_on, '9999-12-31 00:00:00+00:00')) FROM services s WHERE s.case_id = cases.id
        AND s.status IN ('in_progress', 'completed') AND s.started_on IS NOT NULL);
CREATE INDEX cases_opened_on ON cases (opened_on);
CREATE INDEX cases_active ON cases (active_to, active_from);
CREATE INDEX cases_closed_on ON cases (closed_on) WHERE status = 'closed';
CREATE INDEX services_activity ON services (case_id, started_on, ended_on) WHERE status IN ('in_progress', 'completed');

-- +goose Down
DROP INDEX services_activity;
DROP INDEX cases_closed_on;
DROP INDEX cases_active;
DROP INDEX cases_opened_on;
ALTER TABLE cases DROP COLUMN active_to;
ALTER TABLE cases DROP COLUMN active_from;
