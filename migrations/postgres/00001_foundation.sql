-- +goose Up
CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    code        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('iom', 'ngo')),
    city        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX organizations_code_key ON organizations (code);
-- Exactly one IOM organisation.
CREATE UNIQUE INDEX organizations_one_iom ON organizations (kind) WHERE kind = 'iom';
CREATE INDEX organizations_updated_at ON organizations (updated_at, id);

CREATE TABLE users (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id),
    email            text NOT NULL,
    display_name     text NOT NULL,
    password_hash    text NOT NULL,
    roles            text NOT NULL,
    active           boolean NOT NULL DEFAULT true,
    locale           text NOT NULL DEFAULT 'en' CHECK (locale IN ('en', 'ru', 'kk')),
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_organization_id ON users (organization_id, id);
CREATE INDEX users_updated_at ON users (updated_at, id);

-- A session is one sign-in; its refresh tokens form a rotation chain.
CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    revoked_why text
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id),
    token_hash  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- One row: the authorization policy version, bumped in the same transaction as
-- any change to roles or to who is active, so every API instance can tell
-- when its in-memory policy is stale.
CREATE TABLE authz_policy (
    id       integer PRIMARY KEY CHECK (id = 1),
    version  bigint NOT NULL
);
INSERT INTO authz_policy (id, version) VALUES (1, 1);

-- +goose Down
DROP TABLE authz_policy;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE organizations;
