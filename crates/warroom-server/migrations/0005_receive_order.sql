-- Records are listed, paged and retained by the time the server received them, never by the
-- time a record claims: a record dated in the future neither hides the real ones at the top of
-- the list nor escapes retention.
DROP INDEX audit_records_time;
DROP INDEX audit_records_actor_time;
DROP INDEX audit_records_context_time;
DROP INDEX audit_records_action_time;
CREATE INDEX audit_records_received ON audit_records (received_at DESC, id DESC);
CREATE INDEX audit_records_actor_received ON audit_records (received_from, received_at DESC, id DESC);
-- The server's records are found by the person they were run for.
CREATE INDEX audit_records_actor_identity_received ON audit_records (actor_identity, received_at DESC, id DESC)
    WHERE received_from LIKE 'server:%';
CREATE INDEX audit_records_context_received ON audit_records (context_name, received_at DESC, id DESC);
CREATE INDEX audit_records_action_received ON audit_records (action, received_at DESC, id DESC);
