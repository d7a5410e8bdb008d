//! The one client module through which the CLI and the TUI talk to `warroom server` (besides the
//! audit call itself, which is `warroom_core::audit`): reading audit records back and checking a
//! session's chain.

pub mod actions;
pub mod share;

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use warroom_core::protocol::requests::ErrorBody;
use warroom_core::protocol::{AuditFilter, AuditPage, ServerRecord, SessionReport, TimeWindow};

const TIMEOUT: Duration = Duration::from_secs(10);
/// Page size used when reading many records.
const PAGE: usize = 1000;
/// Largest answer read from the server.
const MAX_BODY: usize = 64 * 1024 * 1024;

pub struct ServerClient {
    base: reqwest::Url,
    display: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ServerClient {
    /// `url` is the server's base URL (a trailing `/v1/audit` is accepted too); the bearer token
    /// is read from the environment variable `token_env`, and never shown.
    pub fn new(url: &str, token_env: Option<&str>) -> Result<ServerClient, String> {
        let trimmed = url.trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/v1/audit").unwrap_or(trimmed);
        let base = reqwest::Url::parse(&format!("{trimmed}/"))
            .map_err(|e| format!("server URL {url:?} is not valid: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("server URL {url:?} must be http(s)"));
        }
        let mut display = base.clone();
        let _ = display.set_password(None);
        let _ = display.set_username("");
        let token = match token_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                format!("the server token variable ${var} ([audit] token_env) is not set")
            })?),
            None => None,
        };
        let http = warroom_core::protocol::http_client("warroom", Some(TIMEOUT))
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(ServerClient {
            base,
            display: display.as_str().trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    /// The server URL as shown to people.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// A request for `path` (below the base URL) on `http`, with the bearer token if any.
    fn request_on(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::RequestBuilder, String> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| format!("{}: bad path {path}: {e}", self.display))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut request = http.request(method, url);
        if let Some(token) = &self.token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| "the server token is not a valid header value".to_string())?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        Ok(request)
    }

    /// Sends `request`; `Err` says whether it may have reached the server.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CallFailure> {
        request.send().await.map_err(|e| {
            let text = sanitize(&format!("{} could not be reached: {e}", self.display));
            if e.is_connect() || e.is_builder() {
                CallFailure::NotSent(text)
            } else {
                CallFailure::NoAnswer(text)
            }
        })
    }

    /// Sends `request` and reads the answer: its status and JSON body (at most [`MAX_BODY`]).
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Answer), CallFailure> {
        let mut response = self.send(request).await?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            CallFailure::NoAnswer(sanitize(&format!(
                "{}: reading the answer: {e}",
                self.display
            )))
        })? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                let text = format!("{}: the answer is too large", self.display);
                return Err(CallFailure::NoAnswer(text));
            }
        }
        if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
            return Err(CallFailure::NoAnswer(format!(
                "{} answered {status} with a body that is not JSON",
                self.display
            )));
        }
        Ok((status, Answer(body)))
    }

    /// A JSON answer read as a `T`.
    fn parse<T: DeserializeOwned>(&self, answer: &Answer) -> Result<T, String> {
        answer.parse().map_err(|e| format!("{}: {e}", self.display))
    }

    /// Why the server refused, from its JSON error answer.
    fn refusal(&self, status: reqwest::StatusCode, answer: &Answer) -> String {
        warroom_core::sanitize::cell(
            &format!("{} answered {status}: {}", self.display, answer.error()),
            500,
        )
    }

    /// `method path` with an optional JSON body: the JSON answer of a 2xx, else why not.
    async fn fetch<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<T, String> {
        let request = self.request_on(&self.http, method, path, query)?;
        let request = with_json(request.timeout(timeout), body)?;
        match self
            .exchange(request)
            .await
            .map_err(|failure| failure.text().to_string())?
        {
            (status, answer) if status.is_success() => self.parse(&answer),
            (status, answer) => Err(self.refusal(status, &answer)),
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, String> {
        self.fetch(reqwest::Method::GET, path, query, None::<&()>, TIMEOUT)
            .await
    }

    /// Any method with an optional JSON body: the status and the JSON answer. `Err` when no
    /// JSON answer came back, saying whether the request may have reached the server.
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<(u16, Answer), CallFailure> {
        let request = self
            .request_on(&self.http, method, path, &[])
            .map_err(CallFailure::NotSent)?;
        let request = with_json(request.timeout(timeout), body).map_err(CallFailure::NotSent)?;
        let (status, answer) = self.exchange(request).await?;
        Ok((status.as_u16(), answer))
    }

    async fn page(
        &self,
        query: &AuditFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<AuditPage, String> {
        let mut params: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        params.extend(query.query_pairs());
        if let Some(c) = cursor {
            params.push(("cursor", c.to_string()));
        }
        self.get("v1/audit", &params).await
    }

    /// Newest first, following the cursor, at most `max` records.
    pub async fn list(&self, query: &AuditFilter, max: usize) -> Result<Vec<ServerRecord>, String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        while out.len() < max {
            let page = self
                .page(query, PAGE.min(max - out.len()), cursor.as_deref())
                .await?;
            out.extend(page.records);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    /// The last `n` records, oldest first (like `audit::tail` for a file), with the server's
    /// stamps (who sent each).
    pub async fn tail(&self, n: usize) -> Result<Vec<ServerRecord>, String> {
        self.records_oldest_first(&AuditFilter::default(), n).await
    }

    /// Every record since `since` (all when `None`), oldest first, for the timeline.
    pub async fn records_since(
        &self,
        since: Option<SystemTime>,
    ) -> Result<Vec<ServerRecord>, String> {
        let query = AuditFilter {
            window: TimeWindow { since, until: None },
            ..AuditFilter::default()
        };
        self.records_oldest_first(&query, usize::MAX).await
    }

    /// Up to `max` records matching `query`, oldest first (the server pages newest first).
    async fn records_oldest_first(
        &self,
        query: &AuditFilter,
        max: usize,
    ) -> Result<Vec<ServerRecord>, String> {
        let mut records = self.list(query, max).await?;
        records.reverse();
        Ok(records)
    }

    pub async fn record(&self, id: &str) -> Result<ServerRecord, String> {
        self.get(&format!("v1/audit/{}", path_segment(id)), &[])
            .await
    }

    pub async fn verify_session(&self, session_id: &str) -> Result<SessionReport, String> {
        let path = format!("v1/sessions/{}/verify", path_segment(session_id));
        self.get(&path, &[]).await
    }
}

/// Why [`ServerClient::call`] has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// The request never left (connection refused, bad URL): nothing happened on the server.
    NotSent(String),
    /// Sent, but no usable answer (timeout, cut connection): it may have had its effect.
    NoAnswer(String),
}

impl CallFailure {
    pub fn text(&self) -> &str {
        match self {
            CallFailure::NotSent(t) | CallFailure::NoAnswer(t) => t,
        }
    }
}

/// A JSON answer of the server, as it came (valid JSON, at most [`MAX_BODY`] bytes): read as
/// the protocol type the call expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer(Vec<u8>);

impl Answer {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.0).map_err(|e| format!("unexpected answer: {e}"))
    }

    /// The reason of an error answer ([`ErrorBody`]), sanitized.
    pub fn error(&self) -> String {
        match self.parse::<ErrorBody>() {
            Ok(e) => warroom_core::sanitize::lines(&e.error, 500),
            Err(_) => "no reason given".into(),
        }
    }
}

fn with_json<B: Serialize + ?Sized>(
    request: reqwest::RequestBuilder,
    body: Option<&B>,
) -> Result<reqwest::RequestBuilder, String> {
    Ok(match body {
        Some(b) => request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_string(b).map_err(|e| format!("request body: {e}"))?),
        None => request,
    })
}

/// Percent-encodes everything but unreserved characters, for one path segment.
pub use warroom_core::percent::percent_encode as path_segment;

/// Text that quotes a server (addresses, errors) made safe for a terminal: the one sanitizer.
fn sanitize(text: &str) -> String {
    warroom_core::sanitize::cell(text, 2000)
}
