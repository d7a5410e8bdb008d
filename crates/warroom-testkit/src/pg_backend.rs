//! warroom's PostgreSQL backend on a test server: a `RealPg` for a role, and one session of a
//! snapshot by pid. It starts its servers with `crate::pg`.

use std::sync::Arc;

use warroom_core::backends::postgres::{ActivitySnapshot, ConnectSpec, PgSession, RealPg};

use crate::pg::PgServer;

/// The backend as `user` in database `postgres`.
pub fn real_pg(server: &PgServer, user: &str) -> Arc<RealPg> {
    real_pg_db(server, user, "postgres")
}

pub fn real_pg_db(server: &PgServer, user: &str, db: &str) -> Arc<RealPg> {
    let spec = ConnectSpec::resolve(&server.url(user, db), None)
        .unwrap_or_else(|e| panic!("resolve the test server's URL: {e}"));
    Arc::new(RealPg::new(spec))
}

/// The session of `pid`; it must be in the snapshot.
pub fn session(snapshot: &ActivitySnapshot, pid: i32) -> &PgSession {
    snapshot
        .sessions
        .iter()
        .find(|s| s.pid == pid)
        .unwrap_or_else(|| {
            panic!(
                "pid {pid} missing from the snapshot: {:#?}",
                snapshot.sessions
            )
        })
}
