-- Who runs a request, and proof that it still does: the replica process that claimed a running
-- request (approval-free: the one that received it; approved: the one whose UPDATE claimed it)
-- writes heartbeat_at while the action runs. A running request whose heartbeat is older than
-- the lease has lost its replica; any replica's sweep resolves it and closes its intent.
ALTER TABLE action_requests
    ADD COLUMN requester_groups text NOT NULL DEFAULT '[]', -- JSON list, as authenticated
    ADD COLUMN owner_replica    text,                       -- <replica>/<process uuid>
    ADD COLUMN heartbeat_at     timestamptz,
    ADD COLUMN intent_id        text;                       -- the audit intent of its action

CREATE INDEX action_requests_running ON action_requests (heartbeat_at) WHERE status = 'running';
-- An undo finds the request of the reset it reverses by that reset's intent.
CREATE INDEX action_requests_intent ON action_requests (intent_id) WHERE intent_id IS NOT NULL;
