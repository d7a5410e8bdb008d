//! Operating `warroom server`: TLS with rustls (certificate made here with the openssl command),
//! and retention deleting the whole days received more than `retention_days` ago, once across
//! two replicas (by receive time, never by a record's own claimed time).

use warroom_testkit::pg;
use warroom_testkit::server_process;

use std::process::Command;
use std::time::{Duration, SystemTime};

use pg::PgServer;
use serde_json::json;
use server_process::{
    ALICE, ALICE_TOKEN, Api, ServerProcess, client_record, config_text, free_port,
};
use warroom_core::audit::GENESIS_HASH;

fn record(id: &str, time: SystemTime) -> String {
    let time = humantime::format_rfc3339_millis(time).to_string();
    let mut r = client_record(id, &format!("session-{id}"), &time, Some(ALICE));
    r.seal(GENESIS_HASH).expect("seal")
}

fn db_url(pg: &PgServer) -> String {
    format!("{}?sslmode=disable", pg.url("postgres", "postgres"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_and_refuses_plain_http() {
    let pg = PgServer::start();
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("the openssl command (apt-get install openssl)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // A CA, and a server certificate it signs for 127.0.0.1.
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "1",
                "-subj",
                "/CN=warroom test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.path().join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    ]);
    let port = free_port();
    let extra = format!(
        "tls = {{ cert = \"{}\", key = \"{}\" }}",
        cert.display(),
        key.display()
    );
    let server = ServerProcess::spawn(port, &config_text(port, &db_url(&pg), &extra));

    let ca = std::fs::read(dir.path().join("ca.crt")).expect("ca");
    let root = reqwest::Certificate::from_pem(&ca).expect("pem");
    let https = reqwest::Client::builder()
        .add_root_certificate(root)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let base = format!("https://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = https.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = https
        .post(format!("{base}/v1/audit"))
        .bearer_auth(ALICE_TOKEN)
        .body(record("tls-1", SystemTime::now()))
        .send()
        .await
        .expect("POST over TLS");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json_or_panic().await;
    assert_eq!(body, json!({"id": "tls-1", "accepted": true}));
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let r = plain
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(r.is_err() || r.is_ok_and(|r| r.status() != 200));
}

trait JsonOrPanic {
    async fn json_or_panic(self) -> serde_json::Value;
}

impl JsonOrPanic for reqwest::Response {
    async fn json_or_panic(self) -> serde_json::Value {
        let text = self.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_whole_old_days_once_across_replicas() {
    let pg = PgServer::start();
    // First without retention: store records of today, 2 days ago, and 10 days ago.
    let plain = ServerProcess::start_replica(&db_url(&pg), "").await;
    let api = Api::new(&plain.url(), Some(ALICE_TOKEN));
    let day = Duration::from_secs(86_400);
    let now = SystemTime::now();
    // (id, the record's own time, when the server received it)
    let future = now + 1000 * day;
    let records = [
        ("today", now, now),
        ("two-days-ago", now - 2 * day, now - 2 * day),
        ("ten-days-ago", now - 10 * day, now - 10 * day),
        ("eleven-days-ago", now - 11 * day, now - 11 * day),
        // Dated in the future: kept or deleted by when it arrived, never by what it says.
        ("dated-future-received-long-ago", future, now - 12 * day),
        (
            "dated-future-received-today",
            future,
            now - Duration::from_secs(1),
        ),
    ];
    let state = pg.connect("postgres", "test-receive-time").await;
    for (id, time, received) in records {
        assert_eq!(api.post(record(id, time)).await.0, 200);
        state
            .execute(
                "UPDATE audit_records SET received_at = $2 WHERE id = $1",
                &[&id, &received],
            )
            .await
            .expect("backdate the receipt");
    }
    // Listed by receive time: the future-dated record does not sit on top of the one received
    // after it.
    let (_, page) = api.get("/v1/audit?limit=2").await;
    let newest: Vec<&str> = page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["record"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(newest, ["today", "dated-future-received-today"]);
    drop(plain);

    // Two replicas with retention_days = 5 start together: the old days go, once.
    let (pa, pb) = (free_port(), free_port());
    let a = ServerProcess::spawn(pa, &config_text(pa, &db_url(&pg), "retention_days = 5"));
    let b = ServerProcess::spawn(pb, &config_text(pb, &db_url(&pg), "retention_days = 5"));
    a.wait_ready(Duration::from_secs(30)).await;
    b.wait_ready(Duration::from_secs(30)).await;
    let api = Api::new(&a.url(), Some(ALICE_TOKEN));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let ids = loop {
        let (_, page) = api.get("/v1/audit").await;
        let ids: Vec<String> = page["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["record"]["id"].as_str().expect("id").to_string())
            .collect();
        if ids.len() == 3 || std::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        ids,
        ["today", "dated-future-received-today", "two-days-ago"]
    );
    // Logged with the count, by the replica that did it; the other deleted nothing.
    let deleted: Vec<u64> = [a.log(), b.log()]
        .iter()
        .flat_map(|log| {
            log.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| {
                    v["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("retention: deleted"))
                })
                .filter_map(|v| v["fields"]["deleted"].as_u64())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(deleted.iter().sum::<u64>(), 3, "{deleted:?}");
}
