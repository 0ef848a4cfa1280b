-- +goose Up
-- A case's owner asks another organisation for services. While a referral is
-- accepted, the recipient reads the case and records services on it.
CREATE TABLE referrals (
    id                    uuid PRIMARY KEY,
    case_id               uuid NOT NULL REFERENCES cases (id),
    from_organization_id  uuid NOT NULL REFERENCES organizations (id),
    to_organization_id    uuid NOT NULL REFERENCES organizations (id),
    service_types         text NOT NULL,
    reason_enc            text,
    data_kid              text NOT NULL,
    status                text NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'withdrawn', 'revoked', 'completed')),
    ended_why             text,
    version               bigint NOT NULL DEFAULT 1,
    created_by            uuid NOT NULL,
    responded_by          uuid,
    responded_at          timestamptz,
    ended_by              uuid,
    ended_at              timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    CHECK (from_organization_id <> to_organization_id)
);
CREATE INDEX referrals_from ON referrals (from_organization_id, id);
CREATE INDEX referrals_to ON referrals (to_organization_id, id);
-- The access check on every request by a recipient.
CREATE INDEX referrals_access ON referrals (case_id, to_organization_id, status);

-- +goose Down
DROP TABLE referrals;
