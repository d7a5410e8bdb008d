//! The polling loop every polled pane shares: at most one refresh in flight, nothing at all
//! while the pane is hidden, backoff while the server is away, and an immediate refresh when
//! the App changes the control (pane shown, interval changed).

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use warroom_core::backends::BackendError;
use warroom_core::backends::error::OPERATOR_RETRY;

/// What the App wants from a poller right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollControl {
    pub active: bool,
    pub interval: Duration,
}

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The wait after a failure: doubling from `BACKOFF_START` while the server is away, but a
/// full `OPERATOR_RETRY` when it refused our credentials or grants (retrying soon cannot
/// help and each failed login is logged, perhaps counted towards a lockout).
pub fn retry_after(error: &BackendError, backoff: &mut Duration) -> Duration {
    if error.kind.needs_operator() {
        *backoff = BACKOFF_START;
        return OPERATOR_RETRY;
    }
    let wait = *backoff;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    wait
}

/// Poll with `fetch`, wrap each `Update` with `to_msg` and send it
/// (the message type is the caller's: an `Event` for the App). The task ends when the control sender or the App's receiver is dropped.
pub fn spawn<T, F, Fut, M>(
    context: String,
    what: &'static str,
    tx: mpsc::Sender<M>,
    mut control: watch::Receiver<PollControl>,
    fetch: F,
    to_msg: fn(super::Update<T>) -> M,
) -> tokio::task::JoinHandle<()>
where
    T: Send + 'static,
    M: Send + 'static,
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, BackendError>> + Send,
{
    tokio::spawn(async move {
        let mut backoff = BACKOFF_START;
        loop {
            let ctl = *control.borrow_and_update();
            if !ctl.active {
                // Hidden pane: no request reaches the server until it is shown again.
                if control.changed().await.is_err() {
                    return;
                }
                continue;
            }
            let result = fetch().await;
            let wait = match &result {
                Ok(_) => {
                    backoff = BACKOFF_START;
                    ctl.interval
                }
                Err(e) => {
                    let wait = retry_after(e, &mut backoff);
                    tracing::warn!(%context, error = %e, retry_in = ?wait, "{what} refresh failed");
                    wait
                }
            };
            let retry_in = result.is_err().then_some(wait);
            if tx
                .send(to_msg(super::Update {
                    context: context.clone(),
                    result,
                    retry_in,
                }))
                .await
                .is_err()
            {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = control.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warroom_core::backends::ErrorKind;

    #[test]
    fn an_away_server_backs_off_doubling_refused_credentials_wait_long() {
        let mut backoff = BACKOFF_START;
        let away = BackendError::new(ErrorKind::Unreachable, "refused");
        assert_eq!(retry_after(&away, &mut backoff), BACKOFF_START);
        assert_eq!(retry_after(&away, &mut backoff), BACKOFF_START * 2);
        let denied = BackendError::new(ErrorKind::AuthFailed, "wrong password");
        assert_eq!(retry_after(&denied, &mut backoff), OPERATOR_RETRY);
        assert_eq!(retry_after(&away, &mut backoff), BACKOFF_START);
    }
}
