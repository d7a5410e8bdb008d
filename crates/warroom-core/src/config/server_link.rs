//! `[server]`: where this warroom finds `warroom server` (the audit trail, delegated actions,
//! approvals and shared sessions all go through it).

use serde::Deserialize;
use toml::Spanned;

/// `[server]` as written in the file.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub url: Option<Spanned<String>>,
    /// Name of the environment variable holding the bearer token (never the token itself).
    pub token_env: Option<String>,
    /// Stream this session's screen to the server (`warroom --share` does the same).
    #[serde(default)]
    pub share: bool,
}

/// The validated `[server]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLink {
    /// Base URL without a trailing slash, e.g. `https://warroom.internal`.
    pub url: String,
    pub token_env: Option<String>,
    pub share: bool,
}

impl ServerLink {
    /// `{url}/{path}` for an API path such as `v1/audit`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/{}", self.url, path.trim_start_matches('/'))
    }
}

/// Checks an http(s) URL that may carry a bearer token: the message for the offending span,
/// or `None` when it is fine.
pub fn url_problem(url: &str, with_token: bool) -> Option<String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Some("must be an http:// or https:// URL".into());
    }
    if with_token
        && let Ok(parsed) = reqwest::Url::parse(url)
        && parsed.scheme() == "http"
        && !crate::audit::is_loopback(&parsed)
    {
        return Some(
            "plain http:// to a host that is not loopback, with token_env set: the bearer token \
             would cross the network in clear text; use https://"
                .into(),
        );
    }
    None
}

impl ServerSection {
    /// `Ok(None)` when the section names no URL; `Err((span, message))` for a bad one.
    pub fn resolve(
        &self,
        section_span: std::ops::Range<usize>,
    ) -> Result<Option<ServerLink>, (std::ops::Range<usize>, String)> {
        let Some(url) = &self.url else {
            if self.token_env.is_some() || self.share {
                return Err((section_span, "[server] needs url = \"https://...\"".into()));
            }
            return Ok(None);
        };
        if let Some(problem) = url_problem(url.get_ref(), self.token_env.is_some()) {
            return Err((url.span(), problem));
        }
        Ok(Some(ServerLink {
            url: url.get_ref().trim_end_matches('/').to_string(),
            token_env: self.token_env.clone(),
            share: self.share,
        }))
    }
}
