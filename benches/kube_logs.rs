//! The Logs pane: ingest (lines per second through `LogsPane::apply`, sanitize + JSON parse +
//! byte-bounded buffer, with a regex filter on) and the frame time with 100,000 lines
//! buffered (following, filtered, wrapped). Aim: > 500,000 lines/s ingest, < 2 ms a frame.
//!
//! End to end too: 100,000 lines from the Kubernetes API emulator (tests/support) over HTTP,
//! through kube-rs, the log worker and the App's channel into the pane.
//!
//! `cargo bench --bench kube_logs` measures; `cargo test --all-targets` runs each benchmark
//! once (criterion's test mode).

use warroom_testkit::kube_emulator;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use warroom_core::backends::kube::{LogBatch, LogRequest, LogSource, PodKey, RawLogLine};
use warroom_tui::keymap::KeyAction;
use warroom_tui::panes::Pane;
use warroom_tui::panes::logs::LogsPane;
use warroom_tui::panes::pods::LogTarget;
use warroom_tui::theme::Theme;

const LINES: usize = 100_000;
const BATCH: usize = 512;

/// Realistic lines: two thirds plain access logs, one third JSON, a few errors.
fn lines() -> Vec<RawLogLine> {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    (0..LINES)
        .map(|i| {
            let text = match i % 3 {
                0 => format!(
                    "{{\"level\":\"{}\",\"msg\":\"GET /orders/{} done\",\"status\":{},\"duration_ms\":{},\"trace\":\"{:016x}\"}}",
                    if i % 50 == 0 { "error" } else { "info" },
                    i % 977,
                    if i % 50 == 0 { 503 } else { 200 },
                    i % 120,
                    i * 2_654_435_761
                ),
                _ => format!(
                    "10.1.{}.{} - - \"GET /api/v1/cart/{} HTTP/1.1\" {} {} \"-\" \"okhttp/4.12\" rt={}ms",
                    i % 7,
                    i % 250,
                    i % 5003,
                    if i % 61 == 0 { 500 } else { 200 },
                    512 + i % 4096,
                    i % 300
                ),
            };
            RawLogLine {
                time: Some(t0 + Duration::from_millis(i as u64)),
                text,
            }
        })
        .collect()
}

fn source(pod: &str) -> LogSource {
    LogSource {
        namespace: "shop".into(),
        pod: pod.into(),
        container: "app".into(),
    }
}

fn pane(cap: usize, filter: &str) -> (LogsPane, u64) {
    let mut pane = LogsPane::new(cap);
    let session = pane.open(&LogTarget {
        context: "bench".into(),
        title: "api (2 pods)".into(),
        requests: vec![
            LogRequest {
                pod: PodKey {
                    namespace: "shop".into(),
                    name: "api-1".into(),
                },
                container: Some("app".into()),
                previous: false,
                follow: true,
                since: None,
                tail_lines: None,
            };
            2
        ],
        termination: None,
    });
    pane.set_filter(filter);
    (pane, session)
}

fn batches(session: u64, lines: &[RawLogLine]) -> Vec<LogBatch> {
    lines
        .chunks(BATCH)
        .enumerate()
        .map(|(i, chunk)| LogBatch {
            session,
            source: source(if i % 2 == 0 { "api-1" } else { "api-2" }),
            lines: chunk.to_vec(),
            undelivered: 0,
            note: None,
        })
        .collect()
}

fn ingest(c: &mut Criterion) {
    let all = lines();
    let mut group = c.benchmark_group("logs_ingest");
    group.throughput(Throughput::Elements(LINES as u64));
    group.sample_size(10);
    for (name, filter, cap) in [
        ("100k_lines_filter_32MiB", "error|5[0-9][0-9] ", 32 << 20),
        (
            "100k_lines_filter_4MiB_evicting",
            "error|5[0-9][0-9] ",
            4 << 20,
        ),
        ("100k_lines_no_filter_32MiB", "", 32 << 20),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let (pane, session) = pane(cap, filter);
                    (pane, batches(session, &all))
                },
                |(mut pane, batches)| {
                    for batch in batches {
                        pane.apply(batch);
                    }
                    black_box(pane.buffer().visible_len())
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn frame(c: &mut Criterion) {
    let all = lines();
    let theme = Theme::builtin_default();
    let mut group = c.benchmark_group("logs_frame_100k_lines");
    for (name, filter, wrap, paused) in [
        ("follow", "", false, false),
        ("follow_filtered", "error|5[0-9][0-9] ", false, false),
        ("follow_wrapped", "", true, false),
        ("paused_scrolled_back", "", false, true),
    ] {
        let (mut pane, session) = pane(64 << 20, filter);
        for batch in batches(session, &all) {
            pane.apply(batch);
        }
        assert_eq!(pane.buffer().len(), LINES);
        if wrap {
            pane.on_action(KeyAction::LogsWrap);
        }
        pane.on_action(KeyAction::LogsTimestamps);
        if paused {
            pane.on_action(KeyAction::LogsFollow);
            for _ in 0..20 {
                pane.on_action(KeyAction::PageUp);
            }
        }
        let mut term = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
        group.bench_function(name, |b| {
            b.iter(|| {
                term.draw(|f| pane.render(f, f.area(), &warroom_tui::panes::Ctx::now(&theme)))
                    .expect("draw");
            });
        });
    }
    group.finish();
}

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let emu = rt.block_on(kube_emulator::KubeEmulator::start());
    emu.add_pod(kube_emulator::bare_pod(
        "shop",
        "api-1",
        &["app"],
        kube_emulator::running("app"),
    ));
    emu.add_log_lines(
        "shop",
        "api-1",
        "app",
        lines()
            .into_iter()
            .map(|l| kube_emulator::LogLine {
                time: l.time.unwrap_or(SystemTime::UNIX_EPOCH),
                text: l.text,
            })
            .collect(),
    );
    let kube = Arc::new(
        warroom_core::backends::kube::RealKube::new(Some("emulator".into()))
            .with_kubeconfig(emu.kubeconfig()),
    );
    let mut group = c.benchmark_group("logs_stream_e2e");
    group.throughput(Throughput::Elements(LINES as u64));
    group.sample_size(10);
    group.bench_function("100k_lines_http_worker_pane_filter", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (mut pane, session) = pane(32 << 20, "error|5[0-9][0-9] ");
                let (tx, mut rx) = tokio::sync::mpsc::channel(256);
                let request = LogRequest {
                    pod: PodKey {
                        namespace: "shop".into(),
                        name: "api-1".into(),
                    },
                    container: Some("app".into()),
                    previous: false,
                    follow: false,
                    since: None,
                    tail_lines: None,
                };
                let _task = warroom_tui::workers::kube::spawn_log(
                    session,
                    kube.clone(),
                    request,
                    "app".into(),
                    tx,
                );
                while let Some(msg) = rx.recv().await {
                    if let warroom_tui::workers::Event::KubeLogs(batch) = msg {
                        let end = batch.note.is_some();
                        pane.apply(batch);
                        if end {
                            break;
                        }
                    }
                }
                assert_eq!(
                    pane.buffer().total() as usize + pane.buffer().undelivered() as usize,
                    LINES + 1
                );
                black_box(pane.buffer().undelivered())
            })
        });
    });
    group.finish();
}

criterion_group!(benches, ingest, frame, end_to_end);
criterion_main!(benches);
