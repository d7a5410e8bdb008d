//! Who is calling: `Authorization: Bearer ...`, a static token (compared by SHA-256) or an OIDC
//! JWT. The identity that comes out of here is the only one the server trusts.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::config::{AuthConfig, StaticToken};
use super::oidc::Oidc;

/// The authenticated caller: the identity in its canonical form (see [`canonical_identity`])
/// and its groups (from `[[server.token]] groups` or the OIDC groups claim), for `group:NAME`
/// in policy rules. Groups are kept exactly as configured or claimed (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub String, pub Vec<String>);

impl Identity {
    /// Whether `other` (a stored requester, a declared actor) names this caller.
    pub fn is(&self, other: &str) -> bool {
        same_identity(&self.0, other)
    }
}

/// The one form of an identity the server compares: trimmed and lower-cased, so that
/// `Alice@Example.com` and `alice@example.com` are one person everywhere (four eyes, rules,
/// shares, records). Made at authentication and when the configuration is read.
pub fn canonical_identity(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// An entry naming callers (in `auditors`, `share_watchers`, a share's watchers) as they are
/// compared: an identity in its canonical form, a `group:NAME` exactly as groups are listed.
pub fn canonical_entry(entry: &str) -> String {
    let entry = entry.trim();
    match entry.strip_prefix("group:") {
        Some(_) => entry.to_string(),
        None => canonical_identity(entry),
    }
}

/// Whether two identities, in any form, name the same person.
pub fn same_identity(a: &str, b: &str) -> bool {
    canonical_identity(a) == canonical_identity(b)
}

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
            // Canonical since the configuration was read.
            return Ok(Identity(t.identity.clone(), t.groups.clone()));
        }
        let identity = match &self.oidc {
            Some(oidc) if token.matches('.').count() == 2 => oidc.verify(token).await?,
            _ => return Err(Unauthenticated("unknown token".into())),
        };
        // The server's own sender names are never a caller (static tokens are refused at load).
        if warroom_core::protocol::is_server_name(&identity.0) {
            return Err(Unauthenticated(format!(
                "OIDC token refused: identities starting with {:?} are the server's own",
                warroom_core::protocol::SERVER_PREFIX
            )));
        }
        Ok(identity)
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_trimmed_and_lower_cased() {
        assert_eq!(
            canonical_identity("  Alice@Example.COM\t"),
            "alice@example.com"
        );
        assert_eq!(
            canonical_identity("ÉLODIE@example.com"),
            "élodie@example.com"
        );
        assert!(same_identity("ALICE@EXAMPLE.COM", "alice@example.com"));
        assert!(!same_identity("alice@example.com", "bob@example.com"));
        let alice = Identity("alice@example.com".into(), Vec::new());
        assert!(alice.is("Alice@example.com"));
        assert!(!alice.is("bob"));
    }
}
