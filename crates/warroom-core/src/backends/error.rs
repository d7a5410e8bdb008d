//! The one error shape workers hand to the UI: what kind of failure it was (classified where
//! the backend saw it: a SQLSTATE, a librdkafka code, an HTTP status, an io error) and the
//! words for the user. The kind decides the wording and how soon a poller tries again.

use std::time::Duration;

/// What went wrong, in the terms the user acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The server refused our credentials (wrong password, expired token, 401).
    AuthFailed,
    /// The credentials are fine but may not do this (403, a missing grant or ACL).
    PermissionDenied,
    /// No connection: refused, reset, no route, no such host.
    Unreachable,
    /// No answer in time.
    Timeout,
    Other,
}

impl ErrorKind {
    /// The words before the message; `None` for `Other` (the message says it all).
    pub fn label(self) -> Option<&'static str> {
        match self {
            ErrorKind::AuthFailed => Some("auth failed"),
            ErrorKind::PermissionDenied => Some("permission denied"),
            ErrorKind::Unreachable => Some("unreachable"),
            ErrorKind::Timeout => Some("timed out"),
            ErrorKind::Other => None,
        }
    }

    /// Retrying soon does not help: the credentials or grants must change first, and every
    /// failed login is logged by the server (and may count towards locking the account).
    pub fn needs_operator(self) -> bool {
        matches!(self, ErrorKind::AuthFailed | ErrorKind::PermissionDenied)
    }
}

/// How long a poller waits after a failure that `needs_operator` (showing the pane again or
/// changing its interval retries at once).
pub const OPERATOR_RETRY: Duration = Duration::from_secs(60);

/// A backend failure as workers report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", kind.label().map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct BackendError {
    pub kind: ErrorKind,
    pub message: String,
}

impl BackendError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> BackendError {
        BackendError {
            kind,
            message: message.into(),
        }
    }

    pub fn other(message: impl Into<String>) -> BackendError {
        BackendError::new(ErrorKind::Other, message)
    }
}

/// A plain text is an `Other` failure (a missing connection, a worker that died).
impl From<String> for BackendError {
    fn from(message: String) -> BackendError {
        BackendError::other(message)
    }
}

impl From<&str> for BackendError {
    fn from(message: &str) -> BackendError {
        BackendError::other(message)
    }
}

/// The io error somewhere in `e`'s chain of sources, if any: a connection that failed
/// below the protocol.
pub fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = err.source();
    }
    None
}

/// The kind of a connection that failed with `io`.
pub fn io_kind(io: &std::io::Error) -> ErrorKind {
    match io.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => ErrorKind::Timeout,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_leads_the_message_and_other_says_nothing_extra() {
        let e = BackendError::new(ErrorKind::AuthFailed, "password authentication failed");
        assert_eq!(e.to_string(), "auth failed: password authentication failed");
        assert_eq!(BackendError::from("down").to_string(), "down");
        assert!(ErrorKind::AuthFailed.needs_operator());
        assert!(ErrorKind::PermissionDenied.needs_operator());
        assert!(!ErrorKind::Unreachable.needs_operator());
    }

    #[test]
    fn an_io_error_under_other_errors_gives_the_kind() {
        #[derive(Debug, thiserror::Error)]
        #[error("connect failed")]
        struct Wrap(#[source] std::io::Error);
        let refused = Wrap(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let io = io_cause(&refused).expect("io error in the chain");
        assert_eq!(io_kind(io), ErrorKind::Unreachable);
        let slow = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(io_kind(&slow), ErrorKind::Timeout);
        let plain = BackendError::other("x");
        assert!(io_cause(&plain).is_none());
    }
}
