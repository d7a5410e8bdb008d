//! Guarded actions whose call or record goes wrong, without a database (issue 10).
//!
//! Item 4: every destructive call runs under `[guard] action_timeout`. Servers that
//! accept a connection and never answer (a PostgreSQL port that never finishes the startup
//! handshake, a Kubernetes API server that never answers the DELETE/PATCH) must not hang the
//! action: it is cut off and recorded as outcome `unknown` (never success, never "not done"),
//! in the local file and at a real audit receiver on loopback.
//!
//! Item 5: an outcome that cannot be written is reported even when no endpoint is configured.

use warroom_testkit::audit_server;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use audit_server::AuditServer;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use warroom_core::audit::{AuditLog, AuditSettings, OnUnreachable, new_session_id, verify};
use warroom_core::backends::BoxFuture;
use warroom_core::backends::kafka::{KafkaAdmin, KafkaSpec, RealKafka};
use warroom_core::backends::kube::{KubeActor, RealKube};
use warroom_core::backends::postgres::{
    ConnectSpec, PgError, PgSignaller, RealPg, SignalOutcome, SignalRequest,
};
use warroom_core::guard::kafka::{KafkaAction, KafkaGroupTarget};
use warroom_core::guard::kube::{DeploymentTarget, KubeAction, PodTarget};
use warroom_core::guard::{
    ActionReport, ContextPolicy, Executor, GuardRequest, GuardedAction, Outcome, PgTarget, Policy,
    ReasonRules,
};

const CTX: &str = "hung";
const ACTION_TIMEOUT: Duration = Duration::from_secs(1);
/// Far beyond the action timeout: reaching it means the action hung.
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// A TCP server that accepts connections, reads what is sent, and never writes a byte.
async fn silent_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a silent server on 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    (addr, task)
}

fn executor(dir: &Path, audit: &AuditServer) -> (Executor, AuditSettings) {
    let settings = AuditSettings {
        file: dir.join("audit.jsonl"),
        endpoint: Some(audit.url()),
        token_env: None,
        timeout: Duration::from_secs(2),
        on_unreachable: OnUnreachable::Deny,
        identity: Some("sre@example.com".into()),
    };
    let executor = Executor::new(
        AuditLog::new(settings.clone(), new_session_id()),
        Policy {
            global_read_only: false,
            contexts: HashMap::from([(CTX.to_string(), ContextPolicy::default())]),
        },
        ReasonRules {
            min_len: 10,
            pattern: None,
        },
        Duration::from_millis(200),
    )
    .with_action_timeout(ACTION_TIMEOUT);
    (executor, settings)
}

/// Runs one action, failing the test if it hangs.
async fn run_one(executor: &Executor, action: GuardedAction) -> ActionReport {
    let started = Instant::now();
    let reports = tokio::time::timeout(
        HANG_LIMIT,
        executor.run(GuardRequest {
            actions: vec![action],
            reason: "INC-9 server stopped answering".into(),
            typed_context: None,
        }),
    )
    .await
    .expect("the action hung: no timeout on the destructive call");
    let took = started.elapsed();
    assert!(
        took < ACTION_TIMEOUT + Duration::from_secs(8),
        "took {took:?}"
    );
    assert!(
        took >= ACTION_TIMEOUT,
        "cut off before the timeout: {took:?}"
    );
    assert_eq!(reports.len(), 1);
    reports.into_iter().next().expect("one report")
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// The report and both trails say "unknown", never done and never "not done".
fn assert_unknown(report: &ActionReport, settings: &AuditSettings, audit: &AuditServer) {
    let summary = report.summary();
    eprintln!("report: {summary}");
    assert!(report.outcome == Outcome::Unknown, "{summary}");
    assert!(summary.contains("UNKNOWN"), "{summary}");
    assert!(!summary.contains("NOT DONE"), "{summary}");
    assert!(
        report.detail.contains("action timeout of 1s"),
        "{}",
        report.detail
    );
    let lines = json_lines(&settings.file);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1]["phase"], json!("outcome"));
    assert_eq!(lines[1]["outcome"]["ok"], json!(false));
    assert_eq!(lines[1]["outcome"]["unknown"], json!(true));
    assert_eq!(lines[1]["outcome"]["detail"], json!(report.detail));
    assert_eq!(verify(&settings.file).expect("chain").records, 2);
    let got = audit.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body["outcome"]["unknown"], json!(true));
}

#[tokio::test]
async fn postgres_signal_to_a_server_that_never_answers_is_recorded_unknown() {
    let (addr, _server) = silent_server().await;
    let audit = AuditServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = ConnectSpec::resolve(
        &format!("postgres://warroom@{addr}/db?sslmode=disable"),
        None,
    )
    .expect("spec");
    let (executor, settings) = executor(dir.path(), &audit);
    let executor = executor.with_pg(CTX, Arc::new(RealPg::new(spec)) as Arc<dyn PgSignaller>);
    let target = PgTarget {
        context: CTX.into(),
        pid: 4242,
        backend_start: Some(SystemTime::now() - Duration::from_secs(60)),
        query_start: Some(SystemTime::now() - Duration::from_secs(5)),
        user: Some("app".into()),
        application: "api".into(),
        database: Some("db".into()),
        state: Some("active".into()),
        query: "SELECT 1".into(),
    };
    for action in [
        GuardedAction::pg_cancel(target.clone()),
        GuardedAction::pg_terminate(target),
    ] {
        std::fs::remove_file(&settings.file).ok();
        audit.clear();
        let report = run_one(&executor, action).await;
        assert_unknown(&report, &settings, &audit);
    }
}

#[tokio::test]
async fn kubernetes_delete_and_restart_to_an_api_that_never_answers_are_recorded_unknown() {
    let (addr, _server) = silent_server().await;
    let audit = AuditServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: hung\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: hung\n  context:\n    cluster: hung\n    user: u\ncurrent-context: hung\n\
             users:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .expect("kubeconfig");
    let kube = RealKube::new(Some("hung".into())).with_kubeconfig(kubeconfig);
    let (executor, settings) = executor(dir.path(), &audit);
    let executor = executor.with_kube(CTX, Arc::new(kube) as Arc<dyn KubeActor>);
    for action in [
        KubeAction::DeletePod(PodTarget {
            context: CTX.into(),
            namespace: "shop".into(),
            pod: "api-1".into(),
            uid: "uid-api-1".into(),
            grace_period: Some(30),
            status: "Running".into(),
            node: None,
            owner: None,
        }),
        KubeAction::RolloutRestart(DeploymentTarget {
            context: CTX.into(),
            namespace: "shop".into(),
            deployment: "api".into(),
            from_pod: None,
        }),
    ] {
        std::fs::remove_file(&settings.file).ok();
        audit.clear();
        let report = run_one(&executor, GuardedAction::Kube(action)).await;
        assert_unknown(&report, &settings, &audit);
    }
}

/// A signaller that "succeeds" after making the audit file unwritable (a directory takes its
/// place), so the outcome cannot be written.
struct BreaksTheAuditFile(std::path::PathBuf);

impl PgSignaller for BreaksTheAuditFile {
    fn signal(&self, _request: SignalRequest) -> BoxFuture<'_, Result<SignalOutcome, PgError>> {
        Box::pin(async move {
            std::fs::remove_file(&self.0).expect("remove the audit file");
            std::fs::create_dir(&self.0).expect("a directory in its place");
            Ok(SignalOutcome::Signalled { returned: true })
        })
    }
}

#[tokio::test]
async fn lost_outcome_is_reported_without_an_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = AuditSettings::local(dir.path().join("audit.jsonl"));
    let executor = Executor::new(
        AuditLog::new(settings.clone(), new_session_id()),
        Policy {
            global_read_only: false,
            contexts: HashMap::from([(CTX.to_string(), ContextPolicy::default())]),
        },
        ReasonRules {
            min_len: 10,
            pattern: None,
        },
        Duration::from_millis(200),
    )
    .with_pg(
        CTX,
        Arc::new(BreaksTheAuditFile(settings.file.clone())) as Arc<dyn PgSignaller>,
    );
    let target = PgTarget {
        context: CTX.into(),
        pid: 4242,
        backend_start: Some(SystemTime::now()),
        query_start: None,
        user: None,
        application: String::new(),
        database: None,
        state: None,
        query: String::new(),
    };
    let report = run_one_quick(&executor, GuardedAction::pg_cancel(target)).await;
    assert!(report.outcome == Outcome::Done, "{}", report.summary());
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("audit outcome LOST")),
        "the lost outcome is not reported: {}",
        report.summary()
    );
    assert!(report.summary().contains("audit outcome LOST"));
}

async fn run_one_quick(executor: &Executor, action: GuardedAction) -> ActionReport {
    let reports = executor
        .run(GuardRequest {
            actions: vec![action],
            reason: "INC-10 the disk filled up".into(),
            typed_context: None,
        })
        .await;
    reports.into_iter().next().expect("one report")
}

/// Issue 10 item 10: a grace period the API cannot take is refused before any record, never
/// replaced by the server default.
#[tokio::test]
async fn out_of_range_grace_period_is_refused_before_any_record() {
    let (addr, _server) = silent_server().await;
    let audit = AuditServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: hung\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: hung\n  context:\n    cluster: hung\n    user: u\ncurrent-context: hung\n\
             users:\n- name: u\n  user:\n    token: t\n"
        ),
    )
    .expect("kubeconfig");
    let kube = RealKube::new(Some("hung".into())).with_kubeconfig(kubeconfig);
    let (executor, settings) = executor(dir.path(), &audit);
    let executor = executor.with_kube(CTX, Arc::new(kube) as Arc<dyn KubeActor>);
    for grace in [-1_i64, i64::from(u32::MAX) + 1] {
        let action = GuardedAction::Kube(KubeAction::DeletePod(PodTarget {
            context: CTX.into(),
            namespace: "shop".into(),
            pod: "api-1".into(),
            uid: "uid-api-1".into(),
            grace_period: Some(grace),
            status: "Running".into(),
            node: None,
            owner: None,
        }));
        let report = tokio::time::timeout(HANG_LIMIT, run_one_quick(&executor, action))
            .await
            .expect("refused at once, not sent");
        assert!(report.outcome == Outcome::Refused, "{}", report.summary());
        assert!(
            report
                .detail
                .contains(&format!("grace period {grace} s is out of range")),
            "{}",
            report.detail
        );
    }
    assert!(!settings.file.exists(), "nothing recorded");
    assert!(audit.received().is_empty());
}

/// Kafka: a broker that accepts connections and never answers. The delete (its emptiness
/// re-check and the DeleteGroups call) is cut off at the action timeout and recorded unknown,
/// instead of waiting for librdkafka's own 10 s timeout and calling that a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_delete_to_a_broker_that_never_answers_is_recorded_unknown() {
    let (addr, _server) = silent_server().await;
    let audit = AuditServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kafka = RealKafka::new(KafkaSpec::new(CTX, &addr.to_string())).expect("client");
    let (executor, settings) = executor(dir.path(), &audit);
    let executor = executor.with_kafka(CTX, Arc::new(kafka) as Arc<dyn KafkaAdmin>);
    let action = GuardedAction::Kafka(KafkaAction::DeleteGroup(KafkaGroupTarget {
        context: CTX.into(),
        group: "billing-old".into(),
        state: "Empty".into(),
        members: 0,
        topics: Vec::new(),
        total_lag: 0,
    }));
    let report = run_one(&executor, action).await;
    assert_unknown(&report, &settings, &audit);
}
