//! The pod directory (src/links): address -> pod over every Kubernetes context, kept by the
//! Pods pane from the pod watch and handed to the PostgreSQL and Kafka panes after every
//! watch event (`PodsPane::links_news`: a copy in an `Arc`).
//!
//! At 100, 1,000 and 10,000 live pods (with the 4,096 remembered gone pods on top where it
//! says `gone_full`): building the directory from a listing, one watch event as the Pods pane
//! handles it (the change plus the copy for the other panes, while they still hold the last
//! one), and resolving an address. Aim: one event < 1 ms at 10,000 pods.
//!
//! `cargo bench --bench links_directory` measures; `cargo test --all-targets` runs each
//! benchmark once (criterion's test mode).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};

use warroom_core::backends::kube::{Owner, PodRow};
use warroom_core::pod_directory::PodDirectory;

const SIZES: [usize; 3] = [100, 1_000, 10_000];
/// The directory's cap on gone pods (src/links/mod.rs `GONE_KEPT`).
const GONE_KEPT: usize = 4096;

/// Live pods at 10.0.0.0/16, gone ones at 10.128.0.0/16.
fn ip(base: usize, i: usize) -> String {
    format!("10.{}.{}.{}", base + i / 65_536, (i / 256) % 256, i % 256)
}

/// A pod of Deployment `app-{i % 50}` as the watch delivers it.
fn pod(prefix: &str, i: usize, ip: String) -> PodRow {
    let app = format!("app-{}", i % 50);
    PodRow {
        uid: format!("uid-{prefix}-{i}"),
        resource_version: "1".into(),
        pod_ip: Some(ip),
        owner: Some(Owner {
            kind: "ReplicaSet".into(),
            name: format!("{app}-7f9c"),
        }),
        deployment: Some(app.clone()),
        containers: vec!["app".into(), "istio-proxy".into()],
        labels: [
            ("app".to_string(), app),
            ("pod-template-hash".to_string(), "7f9c".to_string()),
        ]
        .into(),
        ..PodRow::running(&format!("ns-{}", i % 20), &format!("{prefix}-{i}-x2k"))
    }
}

fn live(n: usize) -> Vec<PodRow> {
    (0..n).map(|i| pod("api", i, ip(0, i))).collect()
}

/// `n` live pods in context "prod" (and a few in "staging").
fn directory(n: usize) -> PodDirectory {
    let mut d = PodDirectory::default();
    d.listed("prod", None, &live(n));
    d.listed("staging", None, &live(10));
    d
}

/// The same with the gone pods at their cap: the next delete forgets the oldest.
fn directory_gone_full(n: usize) -> PodDirectory {
    let mut d = directory(n);
    for i in 0..GONE_KEPT {
        let p = pod("job", i, ip(128, i));
        d.upsert("prod", &p);
        d.deleted("prod", &p.key());
    }
    d
}

/// One watch event the way the Pods pane handles it: the change, then a copy for the other
/// panes; `held` is the copy they still hold from the previous event.
fn event(
    mut d: PodDirectory,
    held: Arc<PodDirectory>,
    change: impl Fn(&mut PodDirectory) -> bool,
) -> (PodDirectory, Arc<PodDirectory>, Arc<PodDirectory>) {
    let changed = change(&mut d);
    assert!(changed, "the event must change the directory");
    let news = Arc::new(d.clone());
    (d, held, news)
}

fn bench_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("links_directory/build");
    for n in SIZES {
        let pods = live(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &pods, |b, pods| {
            b.iter(|| {
                let mut d = PodDirectory::default();
                d.listed("prod", None, black_box(pods));
                d
            })
        });
    }
    g.finish();
}

fn bench_events(c: &mut Criterion) {
    for (gone_full, group) in [
        (false, "links_directory/event"),
        (true, "links_directory/event_gone_full"),
    ] {
        let mut g = c.benchmark_group(group);
        for n in SIZES {
            let base = if gone_full {
                directory_gone_full(n)
            } else {
                directory(n)
            };
            let setup = || (base.clone(), Arc::new(base.clone()));
            let added = pod("new", 0, ip(64, 0));
            let mut modified = pod("api", n / 2, ip(0, n / 2));
            modified.status = "CrashLoopBackOff".into();
            modified.restarts = 3;
            let deleted = pod("api", n / 3, ip(0, n / 3)).key();
            g.bench_function(BenchmarkId::new("add", n), |b| {
                b.iter_batched(
                    setup,
                    |(d, held)| event(d, held, |d| d.upsert("prod", &added)),
                    BatchSize::SmallInput,
                )
            });
            g.bench_function(BenchmarkId::new("modify", n), |b| {
                b.iter_batched(
                    setup,
                    |(d, held)| event(d, held, |d| d.upsert("prod", &modified)),
                    BatchSize::SmallInput,
                )
            });
            g.bench_function(BenchmarkId::new("delete", n), |b| {
                b.iter_batched(
                    setup,
                    |(d, held)| event(d, held, |d| d.deleted("prod", &deleted)),
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

fn bench_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("links_directory/lookup_gone_full");
    for n in SIZES {
        let d = directory_gone_full(n);
        let (live_at, gone_at) = (ip(0, n / 2), ip(128, GONE_KEPT - 1));
        assert!(d.find(&live_at).is_some_and(|p| !p.gone));
        assert!(d.find(&gone_at).is_some_and(|p| p.gone));
        g.bench_function(BenchmarkId::new("live", n), |b| {
            b.iter(|| d.find(black_box(&live_at)).map(|p| p.name.len()))
        });
        g.bench_function(BenchmarkId::new("gone", n), |b| {
            b.iter(|| d.find(black_box(&gone_at)).map(|p| p.name.len()))
        });
        g.bench_function(BenchmarkId::new("unknown", n), |b| {
            b.iter(|| d.find(black_box("192.168.7.7")).is_none())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_build, bench_events, bench_lookup);
criterion_main!(benches);
