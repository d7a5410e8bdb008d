-- Delegated actions (POST /v1/actions) and their approvals. The audit trail itself is in
-- audit_records (intent and outcome, written by the server's own guard executor); a row here is
-- the request's state: who asked, under which rule, who approved or denied it and why, when.
CREATE TABLE action_requests (
    id              text        PRIMARY KEY,          -- uuid: the request id users see
    created_at      timestamptz NOT NULL DEFAULT now(),
    requester       text        NOT NULL,             -- authenticated identity
    context_name    text        NOT NULL,
    action          text        NOT NULL,             -- e.g. pg.terminate
    request         text        NOT NULL,             -- the wire request as received (JSON)
    summary         text        NOT NULL,             -- the target in one line, for lists
    description     text        NOT NULL,             -- the exact effect, lines joined by \n
    reason          text        NOT NULL,             -- the requester's reason
    binding         text        NOT NULL,             -- sha256 of (id, target identity, reason)
    rule            text,                             -- the matching rule (NULL: none matched)
    status          text        NOT NULL,             -- refused | pending | running | done | failed
                                                      -- | unknown | denied | expired | withdrawn
    detail          text        NOT NULL DEFAULT '',
    approvers       text        NOT NULL DEFAULT '[]', -- JSON list of who may approve
    expires_at      timestamptz,
    decided_by      text,                             -- the approver or denier (authenticated)
    decided_reason  text,                             -- their own reason
    decided_binding text,                             -- the binding they approved
    decided_at      timestamptz,
    finished_at     timestamptz,
    reply           text                              -- the result as answered (JSON)
);

CREATE INDEX action_requests_open ON action_requests (created_at) WHERE status = 'pending';
CREATE INDEX action_requests_requester ON action_requests (requester, created_at DESC);
