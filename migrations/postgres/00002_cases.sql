-- +goose Up
-- Cases: one assisted person each. Identifying fields are stored sealed
-- (AES-256-GCM, "<kid>.<base64>"); data_kid names the key of the row's
-- ciphertexts so rotation can find rows on old keys. Derived fields used by
-- filters and reports are kept in clear, computed by the server on write.
CREATE TABLE cases (
    id                       uuid PRIMARY KEY,
    organization_id          uuid NOT NULL REFERENCES organizations (id),
    case_number              text NOT NULL,
    assigned_to              uuid REFERENCES users (id),
    status                   text NOT NULL CHECK (status IN ('open', 'active', 'follow_up', 'closed')),
    opened_on                date NOT NULL,
    closed_on                date,
    closure_reason           text,
    given_name_enc           text,
    family_name_enc          text,
    other_names_enc          text,
    date_of_birth_enc        text,
    phone_enc                text,
    address_enc              text,
    documents_enc            text,
    data_kid                 text NOT NULL,
    name_dob_hash            text,
    sex                      text NOT NULL,
    gender                   text NOT NULL,
    birth_year               integer,
    citizenships             text NOT NULL,
    languages                text NOT NULL,
    trafficking_status       text NOT NULL,
    exploitation_types       text NOT NULL,
    labour_sector            text,
    means_of_control         text NOT NULL,
    recruiter_relationship   text NOT NULL,
    country_of_exploitation  text,
    identified_on            date,
    identified_by            text NOT NULL,
    age_at_identification    integer,
    age_group                text NOT NULL,
    version                  bigint NOT NULL DEFAULT 1,
    created_by               uuid NOT NULL,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL
);
CREATE UNIQUE INDEX cases_case_number_key ON cases (case_number);
CREATE INDEX cases_org_id ON cases (organization_id, id);
CREATE INDEX cases_org_updated ON cases (organization_id, updated_at, id);
CREATE INDEX cases_updated ON cases (updated_at, id);
CREATE INDEX cases_org_name_dob ON cases (organization_id, name_dob_hash);

-- One row per form of exploitation of a case, for filters and reports.
CREATE TABLE case_exploitations (
    case_id          uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    organization_id  uuid NOT NULL,
    type             text NOT NULL,
    PRIMARY KEY (case_id, type)
);
CREATE INDEX case_exploitations_type ON case_exploitations (type, case_id);

-- Keyed hashes of identity-document numbers, for duplicate checks.
CREATE TABLE case_documents (
    case_id          uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    organization_id  uuid NOT NULL,
    doc_hash         text NOT NULL,
    PRIMARY KEY (case_id, doc_hash)
);
CREATE INDEX case_documents_org_hash ON case_documents (organization_id, doc_hash);

-- Per organisation and year, the last case number handed out. Incremented in
-- the creating transaction, so concurrent creates never share a number; a
-- rolled-back create may leave a gap, which the format tolerates.
CREATE TABLE case_counters (
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    year             integer NOT NULL,
    last             integer NOT NULL,
    PRIMARY KEY (organization_id, year)
);

-- Consents are append-only: a consent row is never changed; a withdrawal is a
-- row of its own.
CREATE TABLE consents (
    id                         uuid PRIMARY KEY,
    case_id                    uuid NOT NULL REFERENCES cases (id),
    organization_id            uuid NOT NULL,
    type                       text NOT NULL,
    given                      boolean NOT NULL,
    recorded_on                date NOT NULL,
    recorded_by                uuid NOT NULL,
    recipient_organization_id  uuid REFERENCES organizations (id),
    scope                      text,
    created_at                 timestamptz NOT NULL
);
CREATE INDEX consents_case ON consents (case_id, id);

CREATE TABLE consent_withdrawals (
    consent_id    uuid PRIMARY KEY REFERENCES consents (id),
    withdrawn_on  date NOT NULL,
    withdrawn_by  uuid NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE TABLE services (
    id                        uuid PRIMARY KEY,
    case_id                   uuid NOT NULL REFERENCES cases (id),
    organization_id           uuid NOT NULL,
    provider_organization_id  uuid NOT NULL REFERENCES organizations (id),
    type                      text NOT NULL,
    status                    text NOT NULL CHECK (status IN ('planned', 'in_progress', 'completed', 'cancelled')),
    started_on                date,
    ended_on                  date,
    cost_amount               bigint,
    cost_currency             text,
    funding_project           text,
    notes_enc                 text,
    details                   text NOT NULL,
    details_enc               text,
    data_kid                  text NOT NULL,
    nights                    integer,
    version                   bigint NOT NULL DEFAULT 1,
    recorded_by               uuid NOT NULL,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL
);
CREATE INDEX services_case ON services (case_id, id);
CREATE INDEX services_org_type ON services (organization_id, type, case_id);
CREATE INDEX services_provider ON services (provider_organization_id, type);

CREATE TABLE notes (
    id               uuid PRIMARY KEY,
    case_id          uuid NOT NULL REFERENCES cases (id),
    organization_id  uuid NOT NULL,
    author_id        uuid NOT NULL,
    text_enc         text NOT NULL,
    data_kid         text NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX notes_case ON notes (case_id, id);

-- Who changed which field of a case. Values of identifying fields are never
-- stored here (old_value and new_value stay NULL; identifying is true).
CREATE TABLE case_history (
    id               uuid PRIMARY KEY,
    case_id          uuid NOT NULL REFERENCES cases (id),
    organization_id  uuid NOT NULL,
    actor_id         uuid NOT NULL,
    action           text NOT NULL,
    field            text NOT NULL,
    identifying      boolean NOT NULL,
    old_value        text,
    new_value        text,
    changed_at       timestamptz NOT NULL
);
CREATE INDEX case_history_case ON case_history (case_id, id);

-- Append-only: the API has no route that changes or deletes these.
CREATE TABLE audit_events (
    id               uuid PRIMARY KEY,
    occurred_at      timestamptz NOT NULL,
    actor_type       text NOT NULL,
    actor_id         uuid,
    organization_id  uuid,
    action           text NOT NULL,
    object_type      text NOT NULL,
    object_id        uuid,
    outcome          text NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
    ip               text,
    request_id       text
);
CREATE INDEX audit_events_org ON audit_events (organization_id, id);
CREATE INDEX audit_events_object ON audit_events (object_id);

-- Responses to creating POSTs, per caller and Idempotency-Key.
CREATE TABLE idempotency_keys (
    principal      text NOT NULL,
    idem_key       text NOT NULL,
    request_hash   text NOT NULL,
    state          text NOT NULL CHECK (state IN ('in_progress', 'done')),
    status_code    integer,
    content_type   text,
    location       text,
    etag           text,
    body           bytea,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (principal, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE audit_events;
DROP TABLE case_history;
DROP TABLE notes;
DROP TABLE services;
DROP TABLE consent_withdrawals;
DROP TABLE consents;
DROP TABLE case_counters;
DROP TABLE case_documents;
DROP TABLE case_exploitations;
DROP TABLE cases;
