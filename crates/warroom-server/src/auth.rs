//! Who is calling: `Authorization: Bearer ...`, a static token (compared by SHA-256) or an OIDC
//! JWT. The identity that comes out of here is the only one the server trusts.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::config::{AuthConfig, StaticToken};
use super::oidc::Oidc;

/// The authenticated caller: the identity and its groups (from `[[server.token]] groups` or
/// the OIDC groups claim), for `group:NAME` in policy rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub String, pub Vec<String>);

/// Why a request is not authenticated (answered with 401). Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unauthenticated(pub String);

pub struct Authenticator {
    tokens: Vec<StaticToken>,
    oidc: Option<Arc<Oidc>>,
}

impl Authenticator {
    pub fn new(config: &AuthConfig) -> Result<Authenticator, String> {
        let oidc = match &config.oidc {
            Some(o) => Some(Arc::new(Oidc::new(o.clone())?)),
            None => None,
        };
        Ok(Authenticator {
            tokens: config.tokens.clone(),
            oidc,
        })
    }

    /// Checks the value of the Authorization header.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Identity, Unauthenticated> {
        let Some(header) = header else {
            return Err(Unauthenticated(
                "missing Authorization: Bearer token".into(),
            ));
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Unauthenticated("the Authorization header is not a Bearer token".into())
            })?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Look at every entry so the time taken does not depend on which one matches.
        let mut found: Option<&StaticToken> = None;
        for candidate in &self.tokens {
            if constant_time_eq(&candidate.sha256, &digest) {
                found = Some(candidate);
            }
        }
        if let Some(t) = found {
            return Ok(Identity(t.identity.clone(), t.groups.clone()));
        }
        match &self.oidc {
            Some(oidc) if token.matches('.').count() == 2 => oidc.verify(token).await,
            _ => Err(Unauthenticated("unknown token".into())),
        }
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
