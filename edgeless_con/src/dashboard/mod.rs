//! The web dashboard (`dashboard_url`): one page that shows the domains and
//! their nodes, the workflows with their components and where they run,
//! event rates per function and recent events; it refreshes itself every
//! two seconds from two JSON endpoints (`/api/overview`, `/api/events`).
//!
//! It is read-only and shows no code, settings or secrets. On a controller
//! with a tokens file it asks for a token and shows a client only its own
//! tenant's workflows and events (see [`login`]); it answers requests for
//! its own address or name only (DNS rebinding).

mod login;

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

/// The most recent events of the controller and every domain that
/// `viewer` may see.
async fn recent_events(controller: Controller, viewer: login::Viewer) -> Vec<EventRow> {
    let own = viewer
        .0
        .as_deref()
        .map(|tenant| controller.workflow_ids_of(tenant));
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
        .filter(move |e| {
            std::future::ready(own.as_ref().is_none_or(|own| own.contains(&e.workflow_id)))
        })
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
            get(
                move |axum::Extension(viewer): axum::Extension<login::Viewer>| {
                    let controller = controller.clone();
                    async move {
                        let mut overview = controller.overview().await;
                        if let Some(tenant) = &viewer.0 {
                            let own = controller.workflow_ids_of(tenant);
                            overview.workflows.retain(|w| own.contains(&w.id));
                        }
                        json(&overview)
                    }
                },
            ),
        )
        .route(
            "/api/events",
            get(
                move |axum::Extension(viewer): axum::Extension<login::Viewer>| {
                    let controller = events.clone();
                    async move { json(&recent_events(controller, viewer).await) }
                },
            ),
        )
        .layer(axum::middleware::from_fn(login::require_viewer))
}

/// The dashboard at `url` (none when empty): its bound URL and the server.
pub async fn start(
    url: &str,
    controller: Controller,
    shutdown: CancellationToken,
) -> anyhow::Result<edgeless_api::telemetry::Served> {
    edgeless_api::telemetry::serve_http("dashboard_url", url, router(controller), shutdown).await
}
