-- +goose Up
-- A case's owner asks another organisation for services. While a referral is
-- accepted, the recipient reads the case and records services on it.
CREATE TABLE referrals (
    id                    text PRIMARY KEY,
    case_id               text NOT NULL REFERENCES cases (id),
    from_organization_id  text NOT NULL REFERENCES organizations (id),
    to_organization_id    text NOT NULL REFERENCES organizations (id),
    service_types         text NOT NULL,
    reason_enc            text,
    data_kid              text NOT NULL,
    status                text NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'withdrawn', 'revoked', 'completed')),
    ended_why             text,
    version               integer NOT NULL DEFAULT 1,
    created_by            text NOT NULL,
    responded_by          text,
    responded_at          datetime,
    ended_by              text,
    ended_at              datetime,
    created_at            datetime NOT NULL,
    updated_at            datetime NOT NULL,
    CHECK (from_organization_id <> to_organization_id)
);
CREATE INDEX referrals_from ON referrals (from_organization_id, id);
CREATE INDEX referrals_to ON referrals (to_organization_id, id);
-- The access check on every request by a recipient.
CREATE INDEX referrals_access ON referrals (case_id, to_organization_id, status);

-- +goose Down
DROP TABLE referrals;
