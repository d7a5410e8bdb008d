//! The service each connection calls: it marks the request in service until its response
//! body is dropped, bounds the time its body may take, and hands the handlers the
//! per-identity [`Streams`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use super::conn::Conn;
use super::registry::Registry;
use super::streams::Streams;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `inner` (the router, as a hyper service) on one connection.
#[derive(Clone)]
pub struct TrackedService<S> {
    inner: S,
    registry: Arc<Registry>,
    conn: Arc<Conn>,
    streams: Arc<Streams>,
    body_timeout: Duration,
}

impl<S> TrackedService<S> {
    pub fn new(
        inner: S,
        registry: Arc<Registry>,
        conn: Arc<Conn>,
        streams: Arc<Streams>,
        body_timeout: Duration,
    ) -> TrackedService<S> {
        TrackedService {
            inner,
            registry,
            conn,
            streams,
            body_timeout,
        }
    }
}

impl<S> hyper::service::Service<Request<Incoming>> for TrackedService<S>
where
    S: hyper::service::Service<
            Request<TimedBody<Incoming>>,
            Response = Response<Body>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = Response<InService<Body>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let in_service = RequestInService::start(&self.registry, &self.conn);
        request.extensions_mut().insert(Arc::clone(&self.streams));
        let timed_out = Arc::new(AtomicBool::new(false));
        let limit = self.body_timeout;
        let request = request.map(|body| TimedBody::new(body, limit, Arc::clone(&timed_out)));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let Ok(response) = answer.await;
            // The handler saw a failed read (and stored nothing); say why instead.
            let response = if timed_out.load(Ordering::Acquire) {
                body_timeout_answer(limit)
            } else {
                response
            };
            Ok(response.map(|body| InService {
                body,
                _in_service: in_service,
            }))
        })
    }
}

/// A 408 that closes the connection: the rest of the body may still be on its way.
fn body_timeout_answer(limit: Duration) -> Response<Body> {
    let mut response = crate::error::error(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "the request body did not arrive within {} (server.body_timeout)",
            humantime::format_duration(limit)
        ),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request in service on its connection, until dropped: with the service's future, then
/// with the response body (an event stream is in service as long as it is open).
struct RequestInService {
    registry: Arc<Registry>,
    conn: Arc<Conn>,
}

impl RequestInService {
    fn start(registry: &Arc<Registry>, conn: &Arc<Conn>) -> RequestInService {
        registry.start_request(conn);
        RequestInService {
            registry: Arc::clone(registry),
            conn: Arc::clone(conn),
        }
    }
}

impl Drop for RequestInService {
    fn drop(&mut self) {
        self.registry.end_request(&self.conn);
    }
}

/// A response body that keeps its request in service until hyper drops it.
pub struct InService<B> {
    body: B,
    _in_service: RequestInService,
}

impl<B: HttpBody + Unpin> HttpBody for InService<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
struct BodyTimeout(Duration);

/// A request body that fails once `limit` has passed since the head was read (a total
/// bound, so a body dripped byte by byte cannot hold the request either).
pub struct TimedBody<B> {
    body: B,
    deadline: Instant,
    limit: Duration,
    /// Made on the first wait only: a body that is already there costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl<B> TimedBody<B> {
    fn new(body: B, limit: Duration, timed_out: Arc<AtomicBool>) -> TimedBody<B> {
        TimedBody {
            body,
            deadline: Instant::now() + limit,
            limit,
            sleep: None,
            timed_out,
        }
    }
}

impl<B> HttpBody for TimedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.timed_out.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(BodyTimeout(this.limit).into())));
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Release);
                Poll::Ready(Some(Err(BodyTimeout(this.limit).into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
