//! The audit call: POST one record to the endpoint and decide whether it was accepted.
//!
//! Only a 2xx response whose body is JSON counts. If that JSON is an object with an `"id"` string,
//! it must be the record's id; `"accepted": false` is a refusal. Everything else (connection refused,
//! timeout, non-2xx, connection closed mid-response, non-JSON body) is a failure described in words.

use std::error::Error as _;
use std::time::Duration;

use serde_json::Value;

/// Largest response body read from the endpoint; anything longer is a failure.
const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// A parsed, validated endpoint, or why it is unusable (which fails every audit call).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    url: Result<reqwest::Url, String>,
    /// The URL as shown to the user (no credentials).
    pub display: String,
}

impl Endpoint {
    pub(crate) fn new(raw: &str) -> Endpoint {
        let display = super::settings::redact_endpoint(raw);
        let url = match reqwest::Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
            Ok(url) => Err(format!(
                "uses scheme {:?} (expected http or https)",
                url.scheme()
            )),
            Err(e) => Err(format!("is not a valid URL ({e})")),
        };
        Endpoint { url, display }
    }
}

/// The shared HTTP client, or why it could not be built (which fails every audit call).
pub(crate) type Client = Result<reqwest::Client, String>;

pub(crate) fn build_client() -> Client {
    reqwest::Client::builder()
        .user_agent(concat!("warroom/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("could not be called: the HTTP client failed to start ({e})"))
}

/// Everything one POST needs.
pub(crate) struct Call<'a> {
    pub client: &'a Client,
    pub endpoint: &'a Endpoint,
    /// Name of the env var with the bearer token; read now, never echoed.
    pub token_env: Option<&'a str>,
    pub timeout: Duration,
}

/// POSTs `body` (one JSON record) and checks the answer. `Err` is a phrase that completes
/// "audit endpoint <url> ...", e.g. "answered 500 Internal Server Error".
pub(crate) async fn post_record(
    call: &Call<'_>,
    body: Vec<u8>,
    record_id: &str,
) -> Result<(), String> {
    let client = call.client.as_ref().map_err(Clone::clone)?;
    let url = call.endpoint.url.as_ref().map_err(Clone::clone)?;
    let mut request = client
        .post(url.clone())
        .timeout(call.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body);
    let token = bearer_token(call.token_env);
    if let Some(token) = &token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| {
                format!(
                    "could not be called: the token in ${} is not a valid header value",
                    call.token_env.unwrap_or_default()
                )
            })?;
        value.set_sensitive(true);
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }

    let mut response = request
        .send()
        .await
        .map_err(|e| describe_send_error(&e, call.timeout))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_RESPONSE_BODY {
                    return Err(format!(
                        "answered {} with a body larger than {} KiB",
                        status_text(status),
                        MAX_RESPONSE_BODY / 1024
                    ));
                }
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                return Err(format!(
                    "did not finish its answer within {}",
                    humantime::format_duration(call.timeout)
                ));
            }
            Err(e) => {
                return Err(format!(
                    "closed the connection in the middle of its answer ({})",
                    error_chain(&e)
                ));
            }
        }
    }

    if !status.is_success() {
        let mut why = format!("answered {}", status_text(status));
        if matches!(status.as_u16(), 401 | 403) {
            match (call.token_env, &token) {
                (Some(var), None) => {
                    why.push_str(&format!(" (the token variable ${var} is not set or empty)"))
                }
                (None, _) => why.push_str(" (no token_env is configured)"),
                _ => {}
            }
        }
        return Err(why);
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "answered {} with a body that is not JSON ({}: {})",
            status_text(status),
            content_type.as_deref().unwrap_or("no content-type"),
            snippet(&bytes)
        )
    })?;
    if let Value::Object(map) = &value {
        if map.get("accepted") == Some(&Value::Bool(false)) {
            let detail = ["reason", "error", "message"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str))
                .map(|s| format!(": {}", snippet(s.as_bytes())))
                .unwrap_or_default();
            return Err(format!("refused the record (accepted: false{detail})"));
        }
        if let Some(id) = map.get("id").and_then(Value::as_str)
            && id != record_id
        {
            return Err(format!(
                "acknowledged a different record (id {}, expected {record_id})",
                snippet(id.as_bytes())
            ));
        }
    }
    Ok(())
}

/// The token from the named env var, if set and non-empty.
fn bearer_token(token_env: Option<&str>) -> Option<String> {
    let name = token_env?;
    match std::env::var(name) {
        Ok(token) if !token.trim().is_empty() => Some(token.trim().to_string()),
        _ => None,
    }
}

fn status_text(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

fn describe_send_error(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!(
            "did not answer within {}",
            humantime::format_duration(timeout)
        );
    }
    let chain = error_chain(err);
    if err.is_connect() {
        return format!("is unreachable ({chain})");
    }
    let lower = chain.to_ascii_lowercase();
    if lower.contains("closed") || lower.contains("incomplete") || lower.contains("reset") {
        return format!("closed the connection before a complete answer ({chain})");
    }
    format!("could not be called ({chain})")
}

/// The causes of a reqwest error, innermost last, without the top level (which repeats the URL).
fn error_chain(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    // hyper-util wraps the real cause in "client error (Connect)" and the like: noise for users.
    if parts.len() > 1 {
        parts.retain(|p| !p.starts_with("client error ("));
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    parts.join(": ")
}

/// A short, printable excerpt of bytes from another system (control characters replaced).
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_is_short_quoted_and_printable() {
        assert_eq!(snippet(b"ok"), "\"ok\"");
        assert_eq!(snippet(b"a\x1b[2Jb"), "\"a?[2Jb\"");
        assert!(snippet("x".repeat(500).as_bytes()).chars().count() < 90);
    }

    #[test]
    fn endpoint_rejects_bad_urls_and_hides_credentials() {
        assert!(Endpoint::new("not a url").url.is_err());
        assert!(Endpoint::new("ftp://x/y").url.is_err());
        let e = Endpoint::new("https://u:secret@audit.example/r");
        assert!(e.url.is_ok());
        assert_eq!(e.display, "https://audit.example/r");
    }
}
