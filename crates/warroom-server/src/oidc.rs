//! OIDC JWTs: verified against the issuer's JWKS (signature, `iss`, `aud`, `exp`; `nbf` and
//! `iat` not in the future; `email_verified` when the identity is the `email` claim), keys
//! cached and fetched again when a token names a key id we do not have (key rotation). Keys
//! come over https only (plain http on loopback, for tests and a local issuer).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::auth::{Identity, Unauthenticated, canonical_identity};
use super::config::OidcConfig;

/// Keys are fetched again at least this often.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// An unknown key id triggers a fetch at most this often (tokens with made-up key ids must not
/// turn the server into a JWKS hammer).
const MIN_REFETCH: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT: usize = 512 * 1024;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
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
        // Off by default in jsonwebtoken: a token not valid yet is refused too.
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation).map_err(|e| {
            deny(match e.kind() {
                ErrorKind::ExpiredSignature => "expired (exp is in the past)".into(),
                ErrorKind::ImmatureSignature => "not valid yet (nbf is in the future)".into(),
                _ => e.to_string(),
            })
        })?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        not_from_the_future(&data.claims, now).map_err(deny)?;
        identity_of(&data.claims, &self.config).map_err(deny)
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
                let uri = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{discovery} has no jwks_uri"))?;
                // The configured URLs were checked at load; this one comes from the network.
                let parsed = reqwest::Url::parse(uri)
                    .map_err(|e| format!("the jwks_uri {uri:?} of {discovery}: {e}"))?;
                secure_url(&parsed)
                    .map_err(|why| format!("the jwks_uri {uri:?} of {discovery} {why}"))?;
                uri.to_string()
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

/// Whether keys may be fetched from `url`: https, or plain http to this machine only.
pub fn secure_url(url: &reqwest::Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(
            "must be an https URL (plain http only to 127.0.0.1, ::1 or localhost): keys \
             fetched over http could be replaced on the way"
                .into(),
        ),
        _ => Err("must be an https URL".into()),
    }
}

/// `nbf` and `iat`, when present, must be numbers not later than `now` (plus the leeway):
/// a token from the future was minted by a skewed or compromised issuer.
fn not_from_the_future(claims: &Value, now: u64) -> Result<(), String> {
    for claim in ["nbf", "iat"] {
        let Some(value) = claims.get(claim) else {
            continue;
        };
        let Some(at) = value.as_f64() else {
            return Err(format!("{claim} is not a number of seconds"));
        };
        if at > (now + LEEWAY_SECS) as f64 {
            return Err(match claim {
                "nbf" => "not valid yet (nbf is in the future)".into(),
                _ => "issued in the future (iat is later than now)".into(),
            });
        }
    }
    Ok(())
}

/// The caller's canonical identity and groups from verified claims.
fn identity_of(claims: &Value, config: &OidcConfig) -> Result<Identity, String> {
    let claim = config.identity_claim.as_str();
    let id = match claims.get(claim) {
        Some(Value::String(id)) if !id.trim().is_empty() && !id.chars().any(char::is_control) => {
            canonical_identity(id)
        }
        _ => return Err(format!("no usable \"{claim}\" claim")),
    };
    // An email the issuer has not verified may belong to someone else (many issuers let a
    // user type any address).
    if claim == "email" && claims.get("email_verified") != Some(&Value::Bool(true)) {
        return Err("the email is not verified by the issuer (email_verified must be true)".into());
    }
    Ok(Identity(id, groups_of(claims, &config.groups_claim)))
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
    use super::*;
    use serde_json::json;

    fn config(identity_claim: &str) -> OidcConfig {
        OidcConfig {
            issuer: "https://idp.example".into(),
            audience: "warroom".into(),
            identity_claim: identity_claim.into(),
            groups_claim: "groups".into(),
            jwks_url: None,
        }
    }

    #[test]
    fn the_identity_is_canonical_and_an_email_must_be_verified() {
        let email = config("email");
        let verified = json!({"email": " Carol@Example.COM", "email_verified": true});
        assert_eq!(
            identity_of(&verified, &email).map(|i| i.0),
            Ok("carol@example.com".to_string())
        );
        for claims in [
            json!({"email": "carol@example.com", "email_verified": false}),
            json!({"email": "carol@example.com"}),
            json!({"email": "carol@example.com", "email_verified": "true"}),
        ] {
            let e = identity_of(&claims, &email).expect_err("unverified");
            assert!(e.contains("email_verified"), "{e}");
        }
        // Another identity claim does not need it.
        let sub = json!({"sub": "U-123", "email": "x@example.com"});
        assert_eq!(
            identity_of(&sub, &config("sub")).map(|i| i.0),
            Ok("u-123".to_string())
        );
        assert!(identity_of(&json!({"email": "  "}), &email).is_err());
    }

    #[test]
    fn nbf_and_iat_in_the_future_are_refused() {
        let now = 1_800_000_000;
        assert!(not_from_the_future(&json!({}), now).is_ok());
        assert!(not_from_the_future(&json!({"nbf": now, "iat": now + 30}), now).is_ok());
        let e = not_from_the_future(&json!({"nbf": now + 31}), now).expect_err("nbf");
        assert!(e.contains("nbf"), "{e}");
        let e = not_from_the_future(&json!({"iat": now + 3600}), now).expect_err("iat");
        assert!(e.contains("iat"), "{e}");
        assert!(not_from_the_future(&json!({"iat": "soon"}), now).is_err());
    }

    #[test]
    fn keys_come_over_https_or_from_loopback() {
        let check = |u: &str| secure_url(&reqwest::Url::parse(u).expect("url"));
        for ok in [
            "https://idp.example/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://[::1]:8080/jwks",
            "http://localhost/jwks",
            "http://LOCALHOST/jwks",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example/jwks",
            "http://0.0.0.0:8080/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.evil.example/jwks",
            "file:///etc/jwks",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_come_from_the_configured_claim_and_junk_is_dropped() {
        let claims = json!({"groups": ["sre", "", "ops\u{1b}[2J", 7, "dba"], "team": "sre"});
        assert_eq!(groups_of(&claims, "groups"), ["sre", "dba"]);
        assert_eq!(groups_of(&claims, "team"), ["sre"]);
        assert!(groups_of(&claims, "roles").is_empty());
        assert!(groups_of(&json!({"groups": {"sre": true}}), "groups").is_empty());
    }
}
