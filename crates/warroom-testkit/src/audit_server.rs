//! A real HTTP/1.1 audit receiver for integration tests, on 127.0.0.1 and a free port.
//!
//! It is written by hand on a tokio `TcpListener` (not a framework) so that it can misbehave on
//! demand, switchable at runtime with [`AuditServer::set_mode`]:
//! * [`Mode::Ok`]: `200` + `{"id": <record id>}` (application/json), the record is accepted;
//! * [`Mode::Status`]: that status with a small JSON error body;
//! * [`Mode::Slow`]: waits (longer than the client timeout), then answers like `Ok`;
//! * [`Mode::CloseMidResponse`]: writes part of the status line and headers, then closes;
//! * [`Mode::NonJson`]: `200` with body `ok` as text/plain;
//! * [`Mode::Refuse`]: `200` + `{"accepted": false, "reason": ...}`;
//! * [`Mode::WrongId`]: `200` + `{"id": <some other id>}`;
//! * [`Mode::Redirect`]: `301` to `/redirected` on the same receiver, which answers any method
//!   (the GET a followed redirect turns the POST into) with `200 []`;
//! * [`Mode::Body`]: that status with that body as application/json (`[]`, `{"error":"x"}`, ...).
//!
//! Every request whose body was read is recorded ([`AuditServer::received`]) with its parsed JSON
//! body, its Authorization header and the mode that answered it; [`AuditServer::accepted`] keeps
//! those answered in `Mode::Ok`. [`AuditServer::stop`] closes the port (endpoint down). Each
//! connection gets one response and `Connection: close`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// How the receiver answers the next requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Status(u16),
    Slow(Duration),
    CloseMidResponse,
    NonJson,
    Refuse,
    WrongId,
    Redirect,
    Body(u16, String),
}

/// One request the receiver read completely.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
    pub raw_body: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The mode that answered it.
    pub mode: Mode,
}

impl Received {
    /// The record id in the body.
    pub fn id(&self) -> Option<&str> {
        self.body.get("id").and_then(Value::as_str)
    }

    /// Answered with `Mode::Ok`: the client was told the record is accepted.
    pub fn accepted(&self) -> bool {
        self.mode == Mode::Ok
    }
}

#[derive(Debug)]
struct State {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
}

/// The running receiver. Dropping it stops it.
#[derive(Debug)]
pub struct AuditServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AuditServer {
    /// Starts a receiver that accepts everything (`Mode::Ok`).
    pub async fn start() -> AuditServer {
        AuditServer::start_with(Mode::Ok).await
    }

    pub async fn start_with(mode: Mode) -> AuditServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the audit receiver on 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            received: Mutex::new(Vec::new()),
        });
        let (shutdown, mut shutdown_rx) = oneshot::channel::<()>();
        let task_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            // Dropping the JoinSet when the loop ends aborts connections still being served.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut shutdown_rx => break,
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            connections.spawn(serve(stream, Arc::clone(&task_state)));
                        }
                    }
                }
                while connections.try_join_next().is_some() {}
            }
        });
        AuditServer {
            addr,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL to configure: `http://127.0.0.1:<port>/audit`.
    pub fn url(&self) -> String {
        format!("http://{}/audit", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.state.mode) = mode;
    }

    pub fn mode(&self) -> Mode {
        lock(&self.state.mode).clone()
    }

    /// Every request read so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state.received).clone()
    }

    /// The requests answered with `Mode::Ok`, in arrival order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(Received::accepted)
            .collect()
    }

    /// Ids of the accepted records, in arrival order.
    pub fn accepted_ids(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .filter_map(|r| r.id().map(str::to_string))
            .collect()
    }

    pub fn clear(&self) {
        lock(&self.state.received).clear();
    }

    /// Closes the listening socket and every open connection: the endpoint is down.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub fn is_running(&self) -> bool {
        self.task.is_some()
    }
}

impl Drop for AuditServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A request as read off the socket.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let mode = lock(&state.mode).clone();
    let raw_body = String::from_utf8_lossy(&request.body).into_owned();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    lock(&state.received).push(Received {
        method: request.method.clone(),
        path: request.path.clone(),
        body,
        raw_body,
        authorization: request.header("authorization").map(str::to_string),
        content_type: request.header("content-type").map(str::to_string),
        mode: mode.clone(),
    });

    let id_body = serde_json::json!({ "id": id }).to_string();
    if request.path == "/redirected" {
        let _ = stream
            .write_all(response(200, "application/json", "[]").as_bytes())
            .await;
        let _ = stream.shutdown().await;
        return;
    }
    let response = match mode {
        Mode::Redirect => "HTTP/1.1 301 Moved Permanently\r\nLocation: /redirected\r\n\
                           Content-Length: 0\r\nConnection: close\r\n\r\n"
            .to_string(),
        Mode::Body(code, body) => response(code, "application/json", &body),
        Mode::Ok => response(200, "application/json", &id_body),
        Mode::Status(code) => response(
            code,
            "application/json",
            &serde_json::json!({ "error": format!("test receiver answers {code}") }).to_string(),
        ),
        Mode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            response(200, "application/json", &id_body)
        }
        Mode::CloseMidResponse => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: applic")
                .await;
            let _ = stream.flush().await;
            let _ = stream.shutdown().await;
            return;
        }
        Mode::NonJson => response(200, "text/plain", "ok"),
        Mode::Refuse => response(
            200,
            "application/json",
            &serde_json::json!({ "accepted": false, "reason": "policy: change freeze" })
                .to_string(),
        ),
        Mode::WrongId => response(
            200,
            "application/json",
            &serde_json::json!({ "id": "00000000-0000-4000-8000-000000000000" }).to_string(),
        ),
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

fn response(code: u16, content_type: &str, body: &str) -> String {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Reads into `buf` until it holds `delimiter`: where it starts. `None` when the client went
/// away or `buf` grew past `max`.
async fn read_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    delimiter: &[u8],
    max: usize,
) -> Option<usize> {
    loop {
        if let Some(pos) = find(buf, delimiter) {
            return Some(pos);
        }
        if buf.len() > max || !read_more(stream, buf).await {
            return None;
        }
    }
}

/// Reads one request (headers, then a Content-Length or chunked body). `None` if the client
/// went away or sent something that is not HTTP/1.1.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    const MAX: usize = 16 * 1024 * 1024;
    let mut buf: Vec<u8> = Vec::new();
    let header_end = read_until(stream, &mut buf, b"\r\n\r\n", MAX).await?;
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let mut rest = buf.split_off(header_end + 4);

    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        // Chunked: <hex size>\r\n<data>\r\n ... 0\r\n\r\n
        let mut body = Vec::new();
        loop {
            let line_end = read_until(stream, &mut rest, b"\r\n", MAX).await?;
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            while rest.len() < line_end + 2 + size + 2 {
                if rest.len() > MAX || !read_more(stream, &mut rest).await {
                    return None;
                }
            }
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
        request.body = body;
    } else {
        let len: usize = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if len > MAX {
            return None;
        }
        while rest.len() < len {
            if !read_more(stream, &mut rest).await {
                return None;
            }
        }
        rest.truncate(len);
        request.body = rest;
    }
    Some(request)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
