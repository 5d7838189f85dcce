//! Sends page requests to the setup page (no users yet) or the sign-in page (no session).

use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use crate::startup::AppState;

const NOT_PAGES: [&str; 9] = ["/api/", "/v1", "/v2", "/pkg/", "/healthz", "/readyz", "/metrics", "/favicon", "/assets/"];
const PUBLIC_PAGES: [&str; 2] = ["/login", "/invite/"];

fn is_page(path: &str) -> bool {
    !NOT_PAGES.iter().any(|p| path.starts_with(p))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != axum::http::Method::GET || !is_page(req.uri().path()) {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    if !state.setup_done.load(Ordering::Relaxed) {
        match trellis_core::auth::needs_setup(&state.core.db).await {
            Ok(true) => {
                return if path == "/setup" { next.run(req).await } else { Redirect::to("/setup").into_response() };
            }
            Ok(false) => state.setup_done.store(true, Ordering::Relaxed),
            Err(e) => {
                tracing::error!(error = %e, "checking whether setup is needed");
                return next.run(req).await;
            }
        }
    }
    if path == "/setup" {
        return Redirect::to("/login").into_response();
    }
    if PUBLIC_PAGES.iter().any(|p| path.starts_with(p)) {
        return next.run(req).await;
    }
    let signed_in = match req.extensions().get::<Session>() {
        Some(session) => session.get::<i64>(trellis_app::SESSION_USER_KEY).await.ok().flatten().is_some(),
        None => false,
    };
    if signed_in {
        return next.run(req).await;
    }
    let target = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let to = if target == "/" { "/login".to_string() } else { format!("/login?next={}", encode(&target)) };
    Redirect::to(&to).into_response()
}
