//! What one refresh of the Kafka pane costs with many groups: requests on the wire (counted
//! by a proxy by API key) and wall time, for warroom's batched refresh and, in the same run,
//! a naive loop (per group one describe, one offset fetch and one end-offset lookup), on
//! loopback and through the same proxy adding `--delay-ms` each way.
//!
//! Starts its own tansu broker (warroom_testkit::kafka: $WARROOM_TANSU, else PATH, else
//! ~/.cache/warroom/tansu-pkg; scripts/test installs it), creates `--topics` topics of
//! `--partitions` partitions with one record each, and `--groups` groups, each committed on
//! every partition of one topic. Also reports the CPU time per refresh of the broker and of
//! this process (warroom's client), from /proc.
//!
//! ```sh
//! cargo run --release --example kafka_cost -- --groups 1000 --partitions 12
//! ```

use warroom_testkit::kafka;

use std::time::{Duration, Instant};

use kafka::{Proxy, Tansu, api, client_config, create_topic, free_port};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use warroom_core::backends::kafka::{KafkaSpec, RealKafka, RefreshCost};

struct Args {
    groups: usize,
    partitions: i32,
    topics: usize,
    delay_ms: u64,
    runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        groups: 1000,
        partitions: 12,
        topics: 100,
        delay_ms: 1,
        runs: 5,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        let n: u64 = value
            .parse()
            .unwrap_or_else(|_| panic!("{} needs a number", pair[0]));
        match pair[0].as_str() {
            "--groups" => a.groups = n as usize,
            "--partitions" => a.partitions = n as i32,
            "--topics" => a.topics = n as usize,
            "--delay-ms" => a.delay_ms = n,
            "--runs" => a.runs = n as usize,
            other => panic!("unknown argument {other}"),
        }
    }
    a.topics = a.topics.min(a.groups).max(1);
    a
}

fn setup(bootstrap: &str, a: &Args) {
    let started = Instant::now();
    for t in 0..a.topics {
        create_topic(bootstrap, &format!("topic-{t:03}"), a.partitions);
    }
    // One record per partition, one record per batch (tansu's watermarks are exact so).
    let producer: BaseProducer = client_config(bootstrap)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    for t in 0..a.topics {
        let topic = format!("topic-{t:03}");
        for p in 0..a.partitions {
            producer
                .send(BaseRecord::to(&topic).partition(p).payload("x").key("k"))
                .map_err(|(e, _)| e)
                .expect("enqueue");
            producer.flush(Duration::from_secs(10)).expect("delivered");
        }
    }
    // Groups commit in parallel (a client per group: commits are per group.id).
    let threads = 8;
    std::thread::scope(|s| {
        for w in 0..threads {
            let (bootstrap, groups, topics, partitions) =
                (bootstrap, a.groups, a.topics, a.partitions);
            s.spawn(move || {
                for g in (w..groups).step_by(threads) {
                    let c: BaseConsumer = client_config(bootstrap)
                        .set("group.id", format!("group-{g:04}"))
                        .set("enable.auto.commit", "false")
                        .create()
                        .expect("consumer");
                    let mut tpl = TopicPartitionList::new();
                    let topic = format!("topic-{:03}", g % topics);
                    for p in 0..partitions {
                        tpl.add_partition_offset(&topic, p, Offset::Offset(0))
                            .expect("tpl");
                    }
                    c.commit(&tpl, CommitMode::Sync).expect("commit");
                }
            });
        }
    });
    eprintln!(
        "setup: {} topics x {} partitions, {} groups in {:.1} s",
        a.topics,
        a.partitions,
        a.groups,
        started.elapsed().as_secs_f64()
    );
}

/// CPU seconds (user + system) of a process, from /proc (Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the file: 12 and 13 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

struct Measured {
    wall: Vec<Duration>,
    /// CPU ms per refresh: (broker, warroom's process).
    cpu_ms: (f64, f64),
    requests: f64,
    by_key: Vec<(i16, f64)>,
    reported: Option<RefreshCost>,
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

async fn measure_batched(
    kafka: &RealKafka,
    proxy: &Proxy,
    runs: usize,
    groups: usize,
    broker_pid: &str,
) -> Measured {
    let k = kafka.clone();
    let warm = tokio::task::spawn_blocking(move || k.snapshot_blocking())
        .await
        .expect("join")
        .expect("warm-up");
    assert_eq!(warm.groups.len(), groups, "every group listed");
    proxy.reset();
    let cpu_before = (cpu_seconds(broker_pid), cpu_seconds("self"));
    let mut wall = Vec::new();
    let mut reported = None;
    for _ in 0..runs {
        let k = kafka.clone();
        let t = Instant::now();
        let snap = tokio::task::spawn_blocking(move || k.snapshot_blocking())
            .await
            .expect("join")
            .expect("refresh");
        wall.push(t.elapsed());
        assert_eq!(snap.groups.len(), groups);
        assert!(
            snap.groups
                .iter()
                .all(|g| g.error.is_none() && g.total_lag() > 0)
        );
        reported = Some(snap.cost);
    }
    let cpu_ms = (
        (cpu_seconds(broker_pid) - cpu_before.0) * 1000.0 / runs as f64,
        (cpu_seconds("self") - cpu_before.1) * 1000.0 / runs as f64,
    );
    Measured {
        cpu_ms,
        ..summarize(proxy, wall, runs, reported)
    }
}

async fn measure_naive(
    kafka: &RealKafka,
    proxy: &Proxy,
    runs: usize,
    broker_pid: &str,
) -> Measured {
    let k = kafka.clone();
    tokio::task::spawn_blocking(move || k.naive_refresh_blocking())
        .await
        .expect("join")
        .expect("warm-up");
    proxy.reset();
    let cpu_before = (cpu_seconds(broker_pid), cpu_seconds("self"));
    let mut wall = Vec::new();
    for _ in 0..runs {
        let k = kafka.clone();
        let t = Instant::now();
        tokio::task::spawn_blocking(move || k.naive_refresh_blocking())
            .await
            .expect("join")
            .expect("naive");
        wall.push(t.elapsed());
    }
    let cpu_ms = (
        (cpu_seconds(broker_pid) - cpu_before.0) * 1000.0 / runs as f64,
        (cpu_seconds("self") - cpu_before.1) * 1000.0 / runs as f64,
    );
    Measured {
        cpu_ms,
        ..summarize(proxy, wall, runs, None)
    }
}

fn summarize(
    proxy: &Proxy,
    wall: Vec<Duration>,
    runs: usize,
    reported: Option<RefreshCost>,
) -> Measured {
    let mut by_key: Vec<(i16, f64)> = proxy
        .counts()
        .into_iter()
        .map(|(k, n)| (k, n as f64 / runs as f64))
        .collect();
    by_key.sort_by_key(|(k, _)| *k);
    Measured {
        cpu_ms: (0.0, 0.0),
        requests: proxy.total() as f64 / runs as f64,
        wall,
        by_key,
        reported,
    }
}

fn name(key: i16) -> &'static str {
    match key {
        api::LIST_OFFSETS => "ListOffsets",
        api::METADATA => "Metadata",
        api::OFFSET_FETCH => "OffsetFetch",
        api::FIND_COORDINATOR => "FindCoordinator",
        api::DESCRIBE_GROUPS => "DescribeGroups",
        api::LIST_GROUPS => "ListGroups",
        18 => "ApiVersions",
        _ => "other",
    }
}

fn row(label: &str, m: &Measured) {
    let detail: Vec<String> = m
        .by_key
        .iter()
        .map(|(k, n)| format!("{} {n:.0}", name(*k)))
        .collect();
    println!(
        "| {label} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {} |",
        m.requests,
        median(&m.wall).as_secs_f64() * 1000.0,
        m.wall
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0,
        m.cpu_ms.0,
        m.cpu_ms.1,
        detail.join(", ")
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    let (broker_port, proxy_port) = (free_port(), free_port());
    let broker = Tansu::start_on(broker_port, proxy_port);
    let proxy = Proxy::start(proxy_port, broker_port, Duration::ZERO);
    setup(&broker.bootstrap(), &a);
    let mut spec = KafkaSpec::new("bench", &broker.bootstrap());
    spec.timeout = Duration::from_secs(60);
    let kafka = RealKafka::new(spec).expect("client");
    println!(
        "{} groups x {} partitions ({} topics), {} refreshes each, median and max wall time\n",
        a.groups, a.partitions, a.topics, a.runs
    );
    println!(
        "| refresh | requests | median wall | max wall | broker CPU | warroom CPU | requests by kind |"
    );
    println!("|---|---|---|---|---|---|---|");
    let broker_pid = broker.pid().map(|p| p.to_string()).unwrap_or_default();
    for delay in [Duration::ZERO, Duration::from_millis(a.delay_ms)] {
        proxy.set_delay(delay);
        let where_ = if delay.is_zero() {
            "loopback".to_string()
        } else {
            format!("+{} ms each way", delay.as_millis())
        };
        let batched = measure_batched(&kafka, &proxy, a.runs, a.groups, &broker_pid).await;
        row(&format!("warroom, {where_}"), &batched);
        let naive = measure_naive(&kafka, &proxy, 1, &broker_pid).await;
        row(&format!("naive loop, {where_}"), &naive);
        if let Some(c) = &batched.reported {
            eprintln!("warroom's own debug line: {}", c.debug_line());
        }
    }
    drop(proxy);
    drop(broker);
}
