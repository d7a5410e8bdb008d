//! The API's errors and its JSON bodies: every error answer is `{"error": "...", "status": N}`
//! ([`ErrorBody`]) made by [`ApiError`], with one mapping of the store's errors; every JSON
//! body is read by [`JsonBody`], size-limited, its bad fields named by path.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use warroom_core::protocol::requests::ErrorBody;

use super::store::StoreError;

/// Bodies are small: an action request, a verdict, a share's frames.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug)]
pub enum ApiError {
    /// An answer of this status, with this message for the client.
    Status(StatusCode, String),
    /// The server's database: 503 when it is unreachable, 500 when a statement failed.
    Store(StoreError),
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::Status(status, message.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Status(status, message) => (status, message),
            ApiError::Store(StoreError::Unavailable(why)) => {
                tracing::warn!(error = %why, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the server's database is unavailable: nothing was stored by this call; \
                     retry later"
                        .to_string(),
                )
            }
            ApiError::Store(StoreError::Failed(why)) => {
                tracing::error!(error = %why, "database statement failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server's database failed: check the state of what you sent before \
                     retrying"
                        .to_string(),
                )
            }
        };
        let body = ErrorBody {
            error: message,
            status: status.as_u16(),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// A JSON error answer.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

/// The store's error as an answer.
pub fn store_error(e: StoreError) -> Response {
    ApiError::Store(e).into_response()
}

/// A JSON body of at most `LIMIT` bytes: 413 when larger, 400 naming the field that is not
/// valid (`action.target.backend_start: ...`), unknown fields refused by the types themselves.
pub struct JsonBody<T, const LIMIT: usize = DEFAULT_BODY_LIMIT>(pub T);

impl<S, T, const LIMIT: usize> FromRequest<S> for JsonBody<T, LIMIT>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(request.into_body(), LIMIT)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {LIMIT} bytes or unreadable"),
                )
            })?;
        warroom_core::guard::wire::from_json(&bytes)
            .map(JsonBody)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not valid: {e}"),
                )
            })
    }
}
