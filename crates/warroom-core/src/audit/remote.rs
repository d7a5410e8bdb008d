//! The audit call: POST one record to the endpoint and decide whether it was accepted.
//!
//! The acceptance rule (README, "Audit endpoint"): the endpoint accepted the record only if it
//! answered a 2xx status, without redirect, whose body is a JSON object that either has
//! `"accepted": true` or has `"id"` equal to the record's id (and no field contradicting that: an
//! `"accepted"` other than `true` or a different `"id"` refuses). Redirects are never followed: a
//! 3xx is a refusal naming its Location (a 301/302/303 would turn the POST into a GET and drop the
//! record). Everything else (connection refused, timeout, non-2xx, connection closed mid-response,
//! non-JSON body, `[]`, `null`, `{"error": ...}`, `{"id": 123}`) is a refusal described in words,
//! with the endpoint's answer shown sanitized and cut.

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
    /// `with_token`: a bearer token will be sent, so plain http is only allowed to loopback.
    pub(crate) fn new(raw: &str, with_token: bool) -> Endpoint {
        let display = super::settings::redact_endpoint(raw);
        let url = match reqwest::Url::parse(raw) {
            Ok(url) if url.scheme() == "http" && with_token && !is_loopback(&url) => Err(format!(
                "uses http:// to a host that is not loopback ({}) while a bearer token is \
                 configured: the token would cross the network in clear text; use https://",
                url.host_str().unwrap_or("no host")
            )),
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
            Ok(url) => Err(format!(
                "uses scheme {:?} (expected http or https)",
                url.scheme()
            )),
            Err(e) => Err(format!("is not a valid URL ({e})")),
        };
        Endpoint { url, display }
    }

    /// A destination that is not an HTTP endpoint (a [`super::RecordSink`]): named only.
    pub(crate) fn named(display: String) -> Endpoint {
        Endpoint {
            url: Err("is not an HTTP endpoint".to_string()),
            display,
        }
    }
}

/// `localhost`, 127.0.0.0/8 or ::1.
pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The shared HTTP client, or why it could not be built (which fails every audit call).
pub(crate) type Client = Result<reqwest::Client, String>;

pub(crate) fn build_client() -> Client {
    reqwest::Client::builder()
        .user_agent(concat!("warroom/", env!("CARGO_PKG_VERSION")))
        // A redirect is a refusal, never followed (see the module doc).
        .redirect(reqwest::redirect::Policy::none())
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
    let response_location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
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

    if status.is_redirection() {
        let location = response_location.as_deref().map_or_else(
            || "no Location".to_string(),
            |l| format!("Location {}", snippet(l.as_bytes())),
        );
        return Err(format!(
            "answered {} (redirect to {location}); redirects are not followed: configure the \
             final URL of the endpoint",
            status_text(status)
        ));
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
    accepts(&value, record_id).map_err(|why| {
        format!(
            "{why}; it answered {} with {}",
            status_text(status),
            snippet(&bytes)
        )
    })
}

/// The acceptance rule for a 2xx JSON body (see the module doc). `Err` says what is missing.
fn accepts(value: &Value, record_id: &str) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "did not accept the record (the answer is not a JSON object with \"accepted\": true \
             or \"id\": \"{record_id}\")"
        ));
    };
    let accepted = map.get("accepted");
    let id = map.get("id");
    if let Some(a) = accepted
        && a != &Value::Bool(true)
    {
        let detail = ["reason", "error", "message"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .map(|s| format!(": {}", snippet(s.as_bytes())))
            .unwrap_or_default();
        return Err(format!("refused the record (accepted: {a}{detail})"));
    }
    if let Some(id) = id
        && id.as_str() != Some(record_id)
    {
        let shown = match id.as_str() {
            Some(text) => snippet(text.as_bytes()),
            None => snippet(id.to_string().as_bytes()),
        };
        return Err(format!(
            "acknowledged a different record (id {shown}, expected {record_id})"
        ));
    }
    if accepted.is_some() || id.is_some() {
        return Ok(());
    }
    Err(format!(
        "did not accept the record (no \"accepted\": true and no \"id\": \"{record_id}\" in \
         the answer)"
    ))
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

/// A short, printable excerpt of bytes from another system: cut to 80 characters, made safe by
/// the one sanitizer, quoted.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let out = crate::sanitize::sanitize(&text, 80);
    format!("\"{}\"", out.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_is_short_quoted_and_printable() {
        assert_eq!(snippet(b"ok"), "\"ok\"");
        assert_eq!(snippet(b"a\x1b[2Jb"), "\"ab\"");
        assert_eq!(snippet(b"a\"b"), "\"a\\\"b\"");
        assert!(snippet("x".repeat(500).as_bytes()).chars().count() < 90);
    }

    #[test]
    fn endpoint_rejects_bad_urls_and_hides_credentials() {
        assert!(Endpoint::new("not a url", false).url.is_err());
        assert!(Endpoint::new("ftp://x/y", false).url.is_err());
        let e = Endpoint::new("https://u:secret@audit.example/r", true);
        assert!(e.url.is_ok());
        assert_eq!(e.display, "https://audit.example/r");
    }

    #[test]
    fn plain_http_with_a_token_only_to_loopback() {
        assert!(Endpoint::new("http://audit.example/r", false).url.is_ok());
        let e = Endpoint::new("http://audit.example/r", true);
        assert!(
            e.url.as_ref().is_err_and(|m| m.contains("clear text")),
            "{e:?}"
        );
        assert!(Endpoint::new("http://10.1.2.3/r", true).url.is_err());
        for ok in [
            "http://127.0.0.1:9/r",
            "http://localhost/r",
            "http://[::1]:8/r",
            "https://a.example/r",
        ] {
            assert!(Endpoint::new(ok, true).url.is_ok(), "{ok}");
        }
    }

    #[test]
    fn acceptance_needs_accepted_true_or_the_same_id() {
        use serde_json::json;
        assert!(accepts(&json!({"accepted": true}), "r1").is_ok());
        assert!(accepts(&json!({"id": "r1"}), "r1").is_ok());
        assert!(accepts(&json!({"id": "r1", "accepted": true}), "r1").is_ok());
        for refused in [
            json!([]),
            json!(null),
            json!({}),
            json!({"error": "db down"}),
            json!({"id": 123}),
            json!({"id": "r2"}),
            json!({"accepted": false}),
            json!({"accepted": "yes"}),
            json!({"accepted": true, "id": "r2"}),
            json!({"id": "r1", "accepted": false}),
            json!("ok"),
        ] {
            assert!(accepts(&refused, "r1").is_err(), "{refused}");
        }
    }
}
