-- Read scoping: the server's own records name the delegated request they belong to, so an
-- approver can read the records of the requests they may decide.
ALTER TABLE audit_records ADD COLUMN request_id text;
UPDATE audit_records SET request_id = record::jsonb #>> '{target,delegation,request_id}'
    WHERE received_from LIKE 'server:%';
CREATE INDEX audit_records_request ON audit_records (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX action_requests_decided_by ON action_requests (decided_by) WHERE decided_by IS NOT NULL;
