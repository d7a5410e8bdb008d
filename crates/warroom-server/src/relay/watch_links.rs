//! Short-lived signed watch links for a browser, and the identity they carry.

use super::*;
use warroom_core::protocol::WatchLink;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LinkClaims {
    sub: String,
    watcher: String,
    aud: String,
    exp: u64,
}

pub(super) async fn make_link(
    State(state): State<Arc<AppState>>,
    ShareCaller { identity, id }: ShareCaller,
) -> Response {
    // A link is only for someone who may watch; the stream checks its watcher again.
    match share_head(&state.store, &id).await {
        Ok(Some(head)) => {
            if let Some(refused) = head.refuses(&state.readers, &identity, &id) {
                return refused;
            }
        }
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no share {id}")),
        Err(e) => return store_error(e),
    }
    let key = match state.relay.link_key(&state.store).await {
        Ok(k) => k,
        Err(e) => return store_error(e),
    };
    let exp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + LINK_TTL.as_secs();
    let claims = LinkClaims {
        sub: id.clone(),
        watcher: identity.0.clone(),
        aud: LINK_AUDIENCE.into(),
        exp,
    };
    match jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    ) {
        Ok(token) => {
            tracing::info!(share = %id, watcher = %identity.0, "watch link issued");
            axum::Json(WatchLink {
                path: format!("/watch/{id}?link={token}"),
                expires_in_seconds: LINK_TTL.as_secs(),
            })
            .into_response()
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot sign a link: {e}"),
        ),
    }
}

/// The watcher named by a valid link for share `id`, else a 401.
pub async fn identity_from_link(
    state: &AppState,
    id: &str,
    link: &str,
) -> Result<Identity, Response> {
    let key = state
        .relay
        .link_key(&state.store)
        .await
        .map_err(store_error)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[LINK_AUDIENCE]);
    validation.leeway = 5;
    let refused = |why: &str| {
        tracing::info!(share = %id, reason = why, "watch refused: bad link");
        error(
            StatusCode::UNAUTHORIZED,
            format!("the watch link is not valid: {why}"),
        )
    };
    let data = jsonwebtoken::decode::<LinkClaims>(
        link,
        &jsonwebtoken::DecodingKey::from_secret(key),
        &validation,
    )
    .map_err(|e| refused(&e.to_string()))?;
    if data.claims.sub != id {
        return Err(refused("it is for another share"));
    }
    if let Some(r) = state.starting() {
        return Err(r);
    }
    Ok(Identity(data.claims.watcher, Vec::new()))
}
