-- Who may watch a share: NULL is any authenticated identity (shadowing a colleague needs no
-- setup); else identities and group:NAME entries the sharer named. The owner and the
-- auditors always may; [server] share_watchers restricts every share further.
ALTER TABLE shares ADD COLUMN watchers text[];
