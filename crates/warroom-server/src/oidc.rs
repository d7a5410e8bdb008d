//! OIDC JWTs: verified against the issuer's JWKS (`iss`, `aud`, `exp`, signature), keys cached
//! and fetched again when a token names a key id we do not have (key rotation).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::auth::{Identity, Unauthenticated};
use super::config::OidcConfig;

/// Keys are fetched again at least this often.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// An unknown key id triggers a fetch at most this often (tokens with made-up key ids must not
/// turn the server into a JWKS hammer).
const MIN_REFETCH: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT: usize = 512 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

struct Key {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Key>,
    /// Keys without a `kid`, usable when the token has none.
    anonymous: Vec<Key>,
    fetched_at: Option<Instant>,
}

pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    cache: RwLock<Cache>,
    /// Serializes fetches; holds the time of the last attempt.
    fetching: Mutex<Option<Instant>>,
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Result<Oidc, String> {
        let http = warroom_core::protocol::http_client("warroom-server", Some(FETCH_TIMEOUT))
            .map_err(|e| format!("OIDC HTTP client: {e}"))?;
        Ok(Oidc {
            config,
            http,
            cache: RwLock::new(Cache::default()),
            fetching: Mutex::new(None),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, Unauthenticated> {
        let deny = |m: String| Unauthenticated(format!("OIDC token refused: {m}"));
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| deny(format!("bad header ({e})")))?;
        let kid = header.kid.clone();
        let stale = {
            let cache = self.cache.read().await;
            cache.fetched_at.is_none_or(|t| t.elapsed() > MAX_KEY_AGE)
                || !has_key(&cache, kid.as_deref())
        };
        if stale {
            self.refresh().await.map_err(deny)?;
        }
        let cache = self.cache.read().await;
        let key = match kid.as_deref() {
            Some(kid) => cache.keys.get(kid),
            None if cache.anonymous.len() == 1 => cache.anonymous.first(),
            None => None,
        }
        .ok_or_else(|| deny("signed by a key the issuer does not publish".into()))?;
        if !key.algorithms.contains(&header.alg) {
            return Err(deny(format!(
                "algorithm {:?} does not fit the issuer's key",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation)
            .map_err(|e| deny(e.to_string()))?;
        match data.claims.get(&self.config.identity_claim) {
            Some(Value::String(id)) if !id.is_empty() && !id.chars().any(char::is_control) => {
                Ok(Identity(
                    id.clone(),
                    groups_of(&data.claims, &self.config.groups_claim),
                ))
            }
            _ => Err(deny(format!(
                "no usable \"{}\" claim",
                self.config.identity_claim
            ))),
        }
    }

    /// Fetches the JWKS again unless another request just did (or is doing) it.
    async fn refresh(&self) -> Result<(), String> {
        let mut last = self.fetching.lock().await;
        if let Some(t) = *last
            && t.elapsed() < MIN_REFETCH
        {
            return Ok(());
        }
        *last = Some(Instant::now());
        let keys = self.fetch().await;
        match keys {
            Ok(cache) => {
                tracing::info!(
                    keys = cache.keys.len() + cache.anonymous.len(),
                    issuer = %self.config.issuer,
                    "OIDC signing keys fetched"
                );
                *self.cache.write().await = cache;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(issuer = %self.config.issuer, error = %e, "OIDC keys not fetched");
                Err(format!("the issuer's keys could not be fetched ({e})"))
            }
        }
    }

    async fn fetch(&self) -> Result<Cache, String> {
        let jwks_url = match &self.config.jwks_url {
            Some(u) => u.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    self.config.issuer.trim_end_matches('/')
                );
                let doc = self.get_json(&discovery).await?;
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{discovery} has no jwks_uri"))?
                    .to_string()
            }
        };
        let set: JwkSet = serde_json::from_value(self.get_json(&jwks_url).await?)
            .map_err(|e| format!("{jwks_url} is not a JWKS: {e}"))?;
        let mut cache = Cache {
            fetched_at: Some(Instant::now()),
            ..Cache::default()
        };
        for jwk in &set.keys {
            let algorithms = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ],
                AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                    EllipticCurve::P256 => vec![Algorithm::ES256],
                    EllipticCurve::P384 => vec![Algorithm::ES384],
                    _ => continue,
                },
                AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
                // A symmetric key in a public key set is never trusted.
                AlgorithmParameters::OctetKey(_) => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let key = Key { key, algorithms };
            match &jwk.common.key_id {
                Some(kid) => {
                    cache.keys.insert(kid.clone(), key);
                }
                None => cache.anonymous.push(key),
            }
        }
        Ok(cache)
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if body.len() > MAX_DOCUMENT {
            return Err(format!("{url} answered more than {MAX_DOCUMENT} bytes"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))
    }
}

fn has_key(cache: &Cache, kid: Option<&str>) -> bool {
    match kid {
        Some(kid) => cache.keys.contains_key(kid),
        None => cache.anonymous.len() == 1,
    }
}

/// The caller's groups from `claim`: a list of strings (or one string); anything else is none.
fn groups_of(claims: &Value, claim: &str) -> Vec<String> {
    let usable = |g: &str| !g.is_empty() && !g.chars().any(char::is_control);
    match claims.get(claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|g| usable(g))
            .map(str::to_string)
            .collect(),
        Some(Value::String(g)) if usable(g) => vec![g.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::groups_of;
    use serde_json::json;

    #[test]
    fn groups_come_from_the_configured_claim_and_junk_is_dropped() {
        let claims = json!({"groups": ["sre", "", "ops\u{1b}[2J", 7, "dba"], "team": "sre"});
        assert_eq!(groups_of(&claims, "groups"), ["sre", "dba"]);
        assert_eq!(groups_of(&claims, "team"), ["sre"]);
        assert!(groups_of(&claims, "roles").is_empty());
        assert!(groups_of(&json!({"groups": {"sre": true}}), "groups").is_empty());
    }
}
