//! `warroom kube ...` (the binary) against the API emulator, with the audit receiver:
//! the same backend and guard executor as the TUI, from a shell.

use warroom_testkit::audit_server;
use warroom_testkit::kube_emulator;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};

use audit_server::AuditServer;
use kube_emulator::{KubeEmulator, bare_pod, crash_looping};
use serde_json::{Value, json};

const NS: &str = "shop";

fn config(dir: &Path, audit: &AuditServer) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        "[[kubernetes]]\nname = \"emu\"\nkube_context = \"emulator\"\nnamespaces = [\"{NS}\"]\n\n\
[audit]\nfile = \"{}\"\nendpoint = \"{}\"\nidentity = \"sre@example.com\"\n",
        dir.join("audit.jsonl").display(),
        audit.url()
    );
    std::fs::write(&path, text).expect("config");
    path
}

async fn warroom(emu: &KubeEmulator, cfg: &Path, args: &[&str]) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"));
    c.env("KUBECONFIG", emu.kubeconfig())
        .env("XDG_STATE_HOME", emu.home())
        .arg("--config")
        .arg(cfg)
        .args(args);
    tokio::task::spawn_blocking(move || c.output())
        .await
        .expect("join")
        .expect("run warroom")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_subcommands_list_read_logs_delete_and_restart_through_the_guard() {
    let emu = KubeEmulator::start().await;
    let api = emu.add_deployment(NS, "api", 1);
    emu.add_pod(bare_pod(
        NS,
        "worker-0",
        &["worker"],
        crash_looping("worker", 3, "OOMKilled", 137),
    ));
    let t = SystemTime::now() - Duration::from_secs(90);
    emu.add_logs(
        NS,
        "worker-0",
        "worker",
        true,
        &[(t, "allocating 3 GiB"), (t, "killed\u{1b}[2J")],
    );
    let audit = AuditServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &audit);

    let out = ok(&warroom(
        &emu,
        &cfg,
        &["kube", "pods", "--context", "emu", "-o", "json"],
    )
    .await);
    let pods: Value = serde_json::from_str(&out).expect("json");
    let w = pods
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == "worker-0"))
        .expect("worker");
    assert_eq!(w["status"], json!("CrashLoopBackOff"));
    assert_eq!(w["last_termination"]["reason"], json!("OOMKilled"));
    assert_eq!(w["last_termination"]["exit_code"], json!(137));

    let table = ok(&warroom(
        &emu,
        &cfg,
        &["kube", "pods", "-n", NS, "-l", "app=worker-0"],
    )
    .await);
    assert!(
        table.contains("worker-0") && table.contains("OOMKilled (exit 137)"),
        "{table}"
    );
    assert!(!table.contains(&api[0]), "the selector applies: {table}");

    let logs = ok(&warroom(
        &emu,
        &cfg,
        &["kube", "logs", "--context", "emu", "worker-0", "--previous"],
    )
    .await);
    assert_eq!(logs, "allocating 3 GiB\nkilled\n", "sanitized too");

    let out = warroom(
        &emu,
        &cfg,
        &[
            "kube",
            "delete-pod",
            "--context",
            "emu",
            "worker-0",
            "--reason",
            "short",
        ],
    )
    .await;
    assert!(!out.status.success(), "a short reason is refused");
    assert!(emu.pod(NS, "worker-0").is_some());
    assert!(audit.received().is_empty());

    // A pod that is not there: logs and delete-pod say where they looked; nothing is audited.
    let delete_ghost = [
        "kube",
        "delete-pod",
        "--context",
        "emu",
        "ghost-0",
        "--reason",
        "INC-9 a pod that is gone",
    ];
    for args in [
        &["kube", "logs", "--context", "emu", "ghost-0"][..],
        &delete_ghost,
    ] {
        let out = warroom(&emu, &cfg, args).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains(&format!("pod \"ghost-0\" not found in namespace {NS}")),
            "{err}"
        );
    }
    assert!(audit.received().is_empty());

    ok(&warroom(
        &emu,
        &cfg,
        &[
            "kube",
            "delete-pod",
            "--context",
            "emu",
            "worker-0",
            "--reason",
            "INC-9 OOM loop, recreate",
        ],
    )
    .await);
    assert!(emu.pod(NS, "worker-0").is_none());
    assert_eq!(
        emu.deletes()
            .last()
            .map(|d| d["gracePeriodSeconds"].clone()),
        Some(json!(30))
    );

    ok(&warroom(
        &emu,
        &cfg,
        &[
            "kube",
            "rollout-restart",
            "--context",
            "emu",
            "api",
            "--reason",
            "INC-9 reload config",
        ],
    )
    .await);
    let (_, patch) = emu.patches().pop().expect("patch");
    assert_eq!(
        patch["spec"]["template"]["metadata"]["annotations"]["warroom.dev/restart-reason"],
        json!("INC-9 reload config")
    );
    let actions: Vec<Value> = audit
        .accepted()
        .iter()
        .map(|r| r.body["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            json!("kube.delete_pod"),
            json!("kube.delete_pod"),
            json!("kube.rollout_restart"),
            json!("kube.rollout_restart")
        ]
    );
}

/// Issue 10 item 10: `--grace-period` out of range is an error, not a silent default.
#[test]
fn grace_period_out_of_range_is_an_error() {
    for bad in ["--grace-period=-1", "--grace-period=4294967296"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
            .args([
                "kube",
                "delete-pod",
                "--context",
                "c",
                "p",
                "--reason",
                "INC-1 x",
            ])
            .arg(bad)
            .output()
            .expect("run warroom");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--grace-period"), "{err}");
    }
}
