//! The web dashboard (`dashboard_url`): one page that shows the domains and
//! their nodes, the workflows with their components and where they run,
//! event rates per function and recent events; it refreshes itself every
//! two seconds from two JSON endpoints (`/api/overview`, `/api/events`).
//!
//! It is read-only and shows no code, settings or secrets, and it has no
//! login: keep it on loopback (the default) or behind a proxy that
//! authenticates.

use axum::Router;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use edgeless_api::fanout::{Merge, merge};
use edgeless_api::proto;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::controller::Controller;

/// The page (HTML, CSS and a little JavaScript; no build step).
const PAGE: &str = include_str!("page.html");

/// How many recent events the page shows.
const SHOWN_EVENTS: usize = 50;

/// An event as the page reads it.
#[derive(serde::Serialize)]
struct EventRow {
    unix_ms: u64,
    kind: String,
    source: String,
    workflow_id: String,
    component: String,
    node_id: String,
    message: String,
}

impl From<proto::ClusterEvent> for EventRow {
    fn from(e: proto::ClusterEvent) -> Self {
        Self {
            unix_ms: e.unix_ms,
            kind: e.kind,
            source: e.source,
            workflow_id: e.workflow_id,
            component: e.component,
            node_id: e.node_id,
            message: e.message,
        }
    }
}

/// The most recent events of the controller and every domain.
async fn recent_events(controller: Controller) -> Vec<EventRow> {
    let request = proto::EventsRequest {
        tail: SHOWN_EVENTS as u32,
        ..Default::default()
    };
    let merged = merge(
        crate::feeds::ClusterEvents {
            controller,
            request: request.clone(),
        },
        Merge::from(&request),
    );
    merged
        .filter_map(|part| std::future::ready(part.ok()))
        .flat_map(|part| futures::stream::iter(part.events))
        .map(EventRow::from)
        .collect()
        .await
}

/// `value` as a JSON response.
fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// The dashboard's routes.
fn router(controller: Controller) -> Router {
    let events = controller.clone();
    Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/api/overview",
            get(move || {
                let controller = controller.clone();
                async move { json(&controller.overview().await) }
            }),
        )
        .route(
            "/api/events",
            get(move || {
                let controller = events.clone();
                async move { json(&recent_events(controller).await) }
            }),
        )
}

/// The dashboard at `url` (none when empty): its bound URL and the server.
pub async fn start(
    url: &str,
    controller: Controller,
    shutdown: CancellationToken,
) -> anyhow::Result<edgeless_api::telemetry::Served> {
    edgeless_api::telemetry::serve_http("dashboard_url", url, router(controller), shutdown).await
}
