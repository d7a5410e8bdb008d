-- Live shared sessions (warroom --share): the relay between sharers and watchers, across replicas.
-- A share's frames are its recording (asciicast v2 events), kept for retention_days; live
-- watchers start at the newest keyframe (a full-screen redraw), so a late joiner sees the
-- current screen at once. A NOTIFY on channel warroom_share (payload: the share id) rings the
-- doorbell of every replica when frames are committed.
CREATE TABLE shares (
    id            text        PRIMARY KEY,        -- the sharer's session id
    owner         text        NOT NULL,           -- authenticated identity of the sharer
    actor         text        NOT NULL,           -- shown name (the owner unless told otherwise)
    contexts      text[]      NOT NULL,
    width         integer     NOT NULL,
    height        integer     NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),  -- the sharer's last upload or heartbeat
    ended_at      timestamptz,
    next_seq      bigint      NOT NULL DEFAULT 0,
    keyframe_seq  bigint                              -- where a live watcher starts
);
CREATE INDEX shares_live ON shares (last_seen) WHERE ended_at IS NULL;
CREATE INDEX shares_started ON shares (started_at);

CREATE TABLE share_frames (
    share_id  text             NOT NULL REFERENCES shares (id) ON DELETE CASCADE,
    seq       bigint           NOT NULL,
    t         double precision NOT NULL,         -- seconds since the share started
    kind      text             NOT NULL CHECK (kind IN ('o', 'r', 'm')),
    data      text             NOT NULL,
    PRIMARY KEY (share_id, seq)
);

-- Who watches (presence): one row per open stream, refreshed while it is open.
CREATE TABLE share_watchers (
    watch_id   text        PRIMARY KEY,
    share_id   text        NOT NULL REFERENCES shares (id) ON DELETE CASCADE,
    identity   text        NOT NULL,
    last_seen  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX share_watchers_share ON share_watchers (share_id, last_seen);

-- The key that signs short-lived watch links, the same on every replica.
CREATE TABLE share_link_key (
    id      integer PRIMARY KEY CHECK (id = 1),
    secret  text    NOT NULL
);
