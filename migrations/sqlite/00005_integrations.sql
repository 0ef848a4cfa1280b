-- +goose Up
-- Integrators' service accounts. The secret is stored only as a SHA-256 hash;
-- secret_id changes with every rotation and is carried in the account's
-- tokens, so a rotation refuses the tokens of the old secret. Deleted accounts
-- stay, without a secret, as tombstones for clients that sync the list.
CREATE TABLE service_accounts (
    id                 text PRIMARY KEY,
    organization_id    text NOT NULL REFERENCES organizations (id),
    name               text NOT NULL,
    roles              text NOT NULL,
    secret_id          text NOT NULL,
    secret_hash        text,
    secret_rotated_at  datetime NOT NULL,
    created_by         text NOT NULL,
    created_at         datetime NOT NULL,
    updated_at         datetime NOT NULL,
    deleted_at         datetime
);
CREATE INDEX service_accounts_org ON service_accounts (organization_id, id);

-- Webhooks: per organisation, the events it wants and where to post them.
-- The signing secret is sealed like identifying data (the server must read it
-- to sign).
CREATE TABLE webhooks (
    id               text PRIMARY KEY,
    organization_id  text NOT NULL REFERENCES organizations (id),
    url              text NOT NULL,
    events           text NOT NULL,
    secret_enc       text NOT NULL,
    data_kid         text NOT NULL,
    created_by       text NOT NULL,
    created_at       datetime NOT NULL,
    updated_at       datetime NOT NULL,
    deleted_at       datetime
);
CREATE INDEX webhooks_org ON webhooks (organization_id, id);

-- The outbox: one row per event and webhook, written in the transaction of
-- the change; the dispatcher leases due rows, posts them and records the
-- outcome. body holds ids and the event type only.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    webhook_id       text NOT NULL REFERENCES webhooks (id),
    organization_id  text NOT NULL,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    body             text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  datetime NOT NULL,
    leased_until     datetime,
    last_attempt_at  datetime,
    last_status      integer,
    last_error       text,
    delivered_at     datetime,
    created_at       datetime NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (webhook_id, event_id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE service_accounts;
