//! `GET /watch/{id}?link=...`: a shared session in a browser, played live by asciinema-player
//! (vendored from its npm package, embedded in the binary: no CDN at run time) over the
//! server-sent events of `/v1/shares/{id}/stream`. The page needs a valid short-lived link
//! (`warroom share link ID`), like the stream it opens; the player's files are public.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::api::AppState;
use warroom_core::percent::percent_encode;

const PLAYER_JS: &str = include_str!("../vendor/asciinema-player/asciinema-player.min.js");
const PLAYER_CSS: &str = include_str!("../vendor/asciinema-player/asciinema-player.css");
const PLAYER_LICENSE: &str = include_str!("../vendor/asciinema-player/LICENSE");

/// Starts the player on the page's stream (no inline script: the page's CSP forbids it).
const WATCH_JS: &str = r#"(function () {
  var el = document.getElementById("player");
  AsciinemaPlayer.create(
    { driver: "eventsource", url: el.getAttribute("data-src"), bufferTime: 0 },
    el,
    { autoPlay: true, fit: "width", controls: false }
  );
})();
"#;

/// Only this server's own files and stream; styles inline for the player's sizing; the
/// player's terminal emulator is WebAssembly (compiled from its own script: wasm-unsafe-eval).
/// `frame-ancestors 'none'` (and X-Frame-Options for older browsers): no other page may frame
/// the player and trick a watcher into clicks.
const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self' data:; font-src 'self' data:; \
                   frame-ancestors 'none'";

/// The player's files and the page's script, public: (path, body, content type).
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "/watch-assets/asciinema-player.min.js",
        PLAYER_JS,
        "text/javascript",
    ),
    ("/watch-assets/asciinema-player.css", PLAYER_CSS, "text/css"),
    (
        "/watch-assets/LICENSE.asciinema-player",
        PLAYER_LICENSE,
        "text/plain",
    ),
    ("/watch-assets/watch.js", WATCH_JS, "text/javascript"),
];

pub fn routes() -> Router<Arc<AppState>> {
    let page_route = Router::new().route("/watch/{id}", get(page));
    ASSETS
        .into_iter()
        .fold(page_route, |router, (path, body, content_type)| {
            router.route(path, get(move || asset(body, content_type)))
        })
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct PageParams {
    link: Option<String>,
}

fn html_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

async fn page(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    params: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let link = match params {
        Ok(Query(PageParams { link: Some(link) })) => link,
        _ => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "watching needs a link: run `warroom share link ID` and open the URL it prints\n",
            )
                .into_response();
        }
    };
    let watcher = match super::relay::identity_from_link(&state, &id, &link).await {
        Ok(identity) => identity,
        Err(r) => return r,
    };
    let src = format!(
        "/v1/shares/{}/stream?link={}",
        percent_encode(&id),
        percent_encode(&link)
    );
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>warroom · shared session {id}</title>
<link rel="stylesheet" href="/watch-assets/asciinema-player.css">
</head>
<body style="background:#121314;color:#ccc;font-family:sans-serif;margin:1em">
<p>warroom · shared session <code>{id}</code> · watching as {watcher} · read-only</p>
<div id="player" data-src="{src}"></div>
<script src="/watch-assets/asciinema-player.min.js"></script>
<script src="/watch-assets/watch.js"></script>
</body>
</html>
"#,
        id = html_escape(&id),
        watcher = html_escape(&watcher.0),
        src = html_escape(&src),
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}
