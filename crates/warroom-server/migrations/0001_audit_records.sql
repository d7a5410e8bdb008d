-- Audit records as the clients sent them, stamped with the authenticated identity.
-- Append-only for the API: rows are only ever inserted, and deleted by retention (whole days).
CREATE TABLE audit_records (
    id                text        PRIMARY KEY,
    time              timestamptz NOT NULL,           -- the record's own "time"
    received_at       timestamptz NOT NULL DEFAULT now(),
    received_from     text        NOT NULL,           -- authenticated identity (token or JWT)
    actor_identity    text,                           -- self-declared actor.identity
    identity_mismatch boolean     NOT NULL,           -- actor_identity set and != received_from
    phase             text        NOT NULL,
    action            text        NOT NULL,
    context_kind      text        NOT NULL,
    context_name      text        NOT NULL,
    session_id        text        NOT NULL,
    prev_hash         text        NOT NULL,
    hash              text        NOT NULL,
    hash_ok           boolean     NOT NULL,           -- hash = chain_hash(prev_hash, body)
    prev_seen         boolean     NOT NULL,           -- prev_hash was genesis or a stored hash on receipt
    record            text        NOT NULL            -- canonical JSON of the record as sent
);

-- Newest first, keyset pagination on (time, id), with or without one equality filter.
CREATE INDEX audit_records_time ON audit_records (time DESC, id DESC);
CREATE INDEX audit_records_actor_time ON audit_records (received_from, time DESC, id DESC);
CREATE INDEX audit_records_context_time ON audit_records (context_name, time DESC, id DESC);
CREATE INDEX audit_records_action_time ON audit_records (action, time DESC, id DESC);
-- Chain checks: the records of one session, and "is this prev_hash a record we hold".
CREATE INDEX audit_records_session ON audit_records (session_id, time, id);
CREATE INDEX audit_records_hash ON audit_records (hash);
