//! `warroom kafka consumer-groups ...` as a user runs it, against a real Kafka-protocol
//! broker (tansu): list and describe (table and JSON), a reset previewed (nothing changes)
//! then executed with a reason (audit records written), delete.

use warroom_testkit::kafka;

use std::process::{Command, Output};

use kafka::{Tansu, commit, create_topic, high_watermark, produce};
use serde_json::Value;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new(bootstrap: &str) -> Cli {
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = dir.path().join("audit.jsonl");
        std::fs::write(
            dir.path().join("config.toml"),
            format!(
                "[[kafka]]\nname = \"k1\"\nbrokers = \"{bootstrap}\"\nproperties = {{ \"socket.timeout.ms\" = 5000 }}\n[audit]\nfile = \"{}\"\n",
                audit.display()
            ),
        )
        .expect("config");
        Cli { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_warroom"))
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .arg("--log-file")
            .arg(self.dir.path().join("warroom.log"))
            .args(args)
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .output()
            .expect("run warroom")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "warroom {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An action that ran with no audit endpoint configured (issue 10 item 5): exit status 3
    /// and the warning on stderr, even though it worked.
    fn acted_locally(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(3), "warroom {args:?}: {err}");
        assert!(
            err.contains("warning: no audit endpoint: this record stays on this machine"),
            "{err}"
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect()
    }
}

/// `kafka consumer-groups SUB --cluster k1 ARGS..`: the words of a command on the test cluster.
fn groups<'a>(sub: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["kafka", "consumer-groups", sub, "--cluster", "k1"];
    all.extend_from_slice(args);
    all
}

/// The `-o json` answer of `groups(sub, args)`.
fn json_of(cli: &Cli, sub: &str, args: &[&str]) -> Value {
    let mut words = groups(sub, args);
    words.extend(["-o", "json"]);
    serde_json::from_str(&cli.ok(&words)).expect("JSON")
}

fn lag_of(cli: &Cli, group: &str) -> i64 {
    let json = json_of(cli, "describe", &["--group", group]);
    json["total_lag"].as_i64().expect("total_lag")
}

#[test]
fn list_describe_reset_and_delete_from_the_command_line() {
    let broker = Tansu::start();
    let b = broker.bootstrap();
    create_topic(&b, "orders", 2);
    produce(&b, "orders", 0, 8);
    produce(&b, "orders", 1, 4);
    assert_eq!(
        (
            high_watermark(&b, "orders", 0),
            high_watermark(&b, "orders", 1)
        ),
        (8, 4)
    );
    commit(&b, "billing", &[("orders", 0, 2), ("orders", 1, 1)]);
    let cli = Cli::new(&b);

    let table = cli.ok(&groups("list", &[]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("billing") && l.contains("Empty") && l.contains(" 9 ")),
        "{table}"
    );
    let json = json_of(&cli, "list", &[]);
    assert_eq!(json["groups"][0]["group"], "billing");
    assert_eq!(json["groups"][0]["partitions"][0]["lag"], 6);
    assert_eq!(json["cost"]["list_groups_requests"], 1);

    let described = cli.ok(&groups("describe", &["--group", "billing"]));
    assert!(described.contains("orders"), "{described}");

    // Without --execute: the preview only, nothing changes, no audit record.
    let preview = cli.ok(&groups(
        "reset-offsets",
        &["--group", "billing", "--to-latest"],
    ));
    assert!(
        preview.contains("orders[0]  2 -> 8  (skips 6 messages)"),
        "{preview}"
    );
    assert_eq!(lag_of(&cli, "billing"), 9);
    assert!(cli.audit().is_empty());

    // --execute without a reason is refused.
    let out = cli.run(&groups(
        "reset-offsets",
        &["--group", "billing", "--shift-by", "-1", "--execute"],
    ));
    assert!(!out.status.success());
    assert_eq!(lag_of(&cli, "billing"), 9);

    cli.acted_locally(&groups(
        "reset-offsets",
        &[
            "--group",
            "billing",
            "--topic",
            "orders",
            "--to-offset",
            "3",
            "--execute",
            "--reason",
            "INC-9 replay from offset 3",
        ],
    ));
    // orders-0: 2 -> 3 (lag 5), orders-1: 1 -> 3 (lag 1).
    assert_eq!(lag_of(&cli, "billing"), 6);
    let records = cli.audit();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["action"], "kafka.reset_offsets");
    assert_eq!(records[0]["target"]["partitions"][0]["previous"], 2);
    assert_eq!(records[0]["reason"], "INC-9 replay from offset 3");
    assert_eq!(records[1]["outcome"]["ok"], true);

    cli.acted_locally(&groups(
        "delete",
        &[
            "--group",
            "billing",
            "--reason",
            "INC-9 retire the billing group",
        ],
    ));
    let json = json_of(&cli, "list", &[]);
    assert_eq!(json["groups"].as_array().map(Vec::len), Some(0), "{json}");
    // A group that is not there: describe fails, delete refuses and records nothing.
    let out = cli.run(&groups("describe", &["--group", "billing"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no consumer group \"billing\" on k1"), "{err}");
    let records = cli.audit().len();
    let out = cli.run(&groups(
        "delete",
        &["--group", "billing", "--reason", "INC-9 retire it again"],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let refusal = "refused: no consumer group \"billing\" on k1 (nothing was done)";
    assert!(err.contains(refusal), "{err}");
    assert_eq!(cli.audit().len(), records);
    let out = cli.run(&["kafka", "consumer-groups", "list", "--cluster", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown Kafka context \"nope\""));
}
