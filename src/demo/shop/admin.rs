//! The shop's admin API (bearer admin token): faults injected, listed and cleared for the
//! chaos runner's `demo` driver, and the older per-service stop/start/latency endpoints.

use std::sync::{Arc, Weak};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::faults::FaultError;
use super::{Shop, SERVICES};

type ShopRef = State<Weak<Shop>>;

pub(super) fn routes(shop: Weak<Shop>) -> Router {
    Router::new()
        .route("/admin/faults", get(list_faults).post(inject).delete(clear_all))
        .route("/admin/faults/{fault}", delete(clear_one))
        .route("/admin/services", get(list_services))
        .route("/admin/services/{name}/{action}", post(act))
        .route("/admin/services/{name}/latency/{ms}", post(slow))
        .with_state(shop)
}

/// The shop, if it still runs and the caller holds its admin token.
fn admit(shop: &Weak<Shop>, headers: &HeaderMap) -> Result<Arc<Shop>, Refused> {
    let shop = shop.upgrade().ok_or(Refused(StatusCode::GONE, "the shop has stopped".into()))?;
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    if token != Some(shop.admin_token.as_str()) {
        return Err(Refused(StatusCode::UNAUTHORIZED, "unauthorized".into()));
    }
    Ok(shop)
}

/// A request turned away before it reached the shop.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn answer(fault: &str, result: Result<String, FaultError>) -> Response {
    match result {
        Ok(detail) => Json(json!({ "fault": fault, "detail": detail })).into_response(),
        Err(e) => {
            let (status, mut body) = match &e {
                FaultError::Invalid { field, .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, json!({ "field": field }))
                }
                FaultError::Conflict(_) => (StatusCode::CONFLICT, json!({})),
                FaultError::Failed(_) => (StatusCode::INTERNAL_SERVER_ERROR, json!({})),
            };
            body["error"] = json!(e.to_string());
            (status, Json(body)).into_response()
        }
    }
}

async fn inject(State(shop): ShopRef, headers: HeaderMap, body: Bytes) -> Response {
    let shop = match admit(&shop, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let fault: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": format!("body: not JSON ({e})") })))
                .into_response()
        }
    };
    let name = fault.get("fault").and_then(Value::as_str).unwrap_or_default().to_string();
    answer(&name, shop.inject(fault).await)
}

async fn list_faults(State(shop): ShopRef, headers: HeaderMap) -> Response {
    match admit(&shop, &headers) {
        Ok(shop) => Json(json!({ "faults": shop.faults().await })).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn clear_all(State(shop): ShopRef, headers: HeaderMap) -> Response {
    match admit(&shop, &headers) {
        Ok(shop) => answer("clear", shop.clear(None).await),
        Err(r) => r.into_response(),
    }
}

async fn clear_one(State(shop): ShopRef, headers: HeaderMap, Path(fault): Path<String>) -> Response {
    match admit(&shop, &headers) {
        Ok(shop) => answer(&fault, shop.clear(Some(&fault)).await),
        Err(r) => r.into_response(),
    }
}

async fn list_services(State(shop): ShopRef, headers: HeaderMap) -> Response {
    let shop = match admit(&shop, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let list: Vec<_> = shop
        .services
        .values()
        .map(|s| {
            json!({
                "name": s.name,
                "url": format!("http://{}", s.addr),
                "running": shop.running(s.name),
                "latency_ms": s.knobs.latency_ms(),
            })
        })
        .collect();
    Json(json!({ "services": list })).into_response()
}

fn service(name: &str) -> Result<&'static str, Refused> {
    SERVICES
        .iter()
        .copied()
        .find(|s| *s == name)
        .ok_or_else(|| Refused(StatusCode::NOT_FOUND, format!("no service `{name}`")))
}

/// `POST /admin/services/NAME/stop|start`: the same as injecting and clearing `down`.
async fn act(
    State(shop): ShopRef,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let shop = match admit(&shop, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let name = match service(&name) {
        Ok(n) => n,
        Err(r) => return r.into_response(),
    };
    let result = match action.as_str() {
        "stop" => shop.set_down(name, true).await,
        "start" => shop.set_down(name, false).await,
        other => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({ "error": format!("unknown action `{other}` (stop, start)") })),
            )
                .into_response()
        }
    };
    match result {
        Ok(_) => Json(json!({ "service": name, "running": shop.running(name) })).into_response(),
        Err(e) => answer("down", Err(e)),
    }
}

/// `POST /admin/services/NAME/latency/MS`: the `latency` fault (0 clears it).
async fn slow(State(shop): ShopRef, headers: HeaderMap, Path((name, ms)): Path<(String, u64)>) -> Response {
    let shop = match admit(&shop, &headers) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let name = match service(&name) {
        Ok(n) => n,
        Err(r) => return r.into_response(),
    };
    match shop.set_latency(name, ms).await {
        Ok(_) => {
            let ms = shop.services.get(name).map_or(0, |s| s.knobs.latency_ms());
            Json(json!({ "service": name, "latency_ms": ms })).into_response()
        }
        Err(e) => answer("latency", Err(e)),
    }
}
