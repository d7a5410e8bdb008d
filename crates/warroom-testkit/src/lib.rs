//! The servers and harnesses warroom's integration tests start, each on loopback with free
//! ports and temp dirs: PostgreSQL clusters, the tansu Kafka broker, the Kubernetes API
//! emulator, an audit receiver, `warroom server` processes and HAProxy in front of them, the
//! real binary in tmux, and the TUI drawn into a test backend. A dev-dependency only.

pub mod audit_server;
pub mod haproxy;
pub mod home;
pub mod kafka;
pub mod kube_emulator;
pub mod pg;
pub mod pg_backend;
pub mod prometheus;
pub mod server_process;
pub mod tmux;
pub mod ui;

use std::path::PathBuf;

/// The `warroom` binary of the test or bench that runs: cargo builds it beside the test's
/// own executable (`target/<profile>/deps/<test>` → `target/<profile>/warroom`).
/// `WARROOM_BIN` overrides.
pub fn warroom_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WARROOM_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("warroom{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "no warroom binary at {}: run the tests with `cargo test` from the repository root \
         (it builds the binary), or set WARROOM_BIN",
        bin.display()
    );
    bin
}
