//! A small shop to probe and break: `search`, `product-page`, `listing`, `payment` and
//! `stock`, each a real HTTP service on loopback. The listing and the product page read
//! prices through the search index, as in the first game day. An admin endpoint (admin
//! token) stops, starts and slows each service; the chaos controls will grow it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use color_eyre::eyre::{eyre, WrapErr};
use serde::Deserialize;
use serde_json::json;

pub const SERVICES: [&str; 5] = ["search", "product-page", "listing", "payment", "stock"];

#[derive(Clone, Debug, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Product {
    id: u32,
    name: String,
    price_cents: u64,
}

/// The shop's products, kept in `assets/` with the other data the program shows.
const CATALOG_JSON: &str = include_str!("../../assets/demo-shop/catalog.json");

/// The catalogue, read once. [`Shop::start`] refuses to start on a broken one, so the
/// handlers (which run only after it) can take it as read.
fn catalog() -> Result<&'static [Product], String> {
    static CATALOG: std::sync::OnceLock<Result<Vec<Product>, String>> = std::sync::OnceLock::new();
    CATALOG
        .get_or_init(|| {
            serde_json::from_str(CATALOG_JSON).map_err(|e| format!("assets/demo-shop/catalog.json: {e}"))
        })
        .as_deref()
        .map_err(Clone::clone)
}

struct Service {
    name: &'static str,
    addr: SocketAddr,
    latency_ms: Arc<AtomicU64>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The first listener, kept until the first start: reserving a port by binding and
    /// dropping it would let another process take it in between.
    first: Mutex<Option<tokio::net::TcpListener>>,
}

/// The running shop.
pub struct Shop {
    services: BTreeMap<&'static str, Arc<Service>>,
    pub admin_url: String,
    pub admin_token: String,
    http: reqwest::Client,
    admin_task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Ctx {
    http: reqwest::Client,
    search: String,
}

impl Shop {
    /// Starts every service and the admin endpoint on free loopback ports.
    pub async fn start() -> color_eyre::Result<Arc<Shop>> {
        catalog().map_err(|e| eyre!(e))?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
        let mut services = BTreeMap::new();
        for name in SERVICES {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let first = Mutex::new(Some(listener));
            services.insert(
                name,
                Arc::new(Service { name, addr, latency_ms: Arc::default(), task: Mutex::new(None), first }),
            );
        }
        let admin_token = format!("shop-{}", uuid::Uuid::new_v4().simple());
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let admin_url = format!("http://{}", admin.local_addr()?);
        let shop = Arc::new_cyclic(|weak: &std::sync::Weak<Shop>| {
            let router = Router::new()
                .route("/admin/services", get(list))
                .route("/admin/services/{name}/{action}", post(act))
                .route("/admin/services/{name}/latency/{ms}", post(slow))
                .with_state(weak.clone());
            let admin_task = tokio::spawn(async move {
                let _ = axum::serve(admin, router).await;
            });
            Shop { services, admin_url, admin_token, http, admin_task }
        });
        for name in SERVICES {
            shop.start_service(name).await?;
        }
        Ok(shop)
    }

    pub fn url(&self, name: &str) -> Option<String> {
        self.services.get(name).map(|s| format!("http://{}", s.addr))
    }

    fn ctx(&self) -> Ctx {
        Ctx { http: self.http.clone(), search: self.url("search").unwrap_or_default() }
    }

    pub async fn start_service(&self, name: &str) -> color_eyre::Result<()> {
        let svc = self.services.get(name).ok_or_else(|| eyre!("no service `{name}`"))?.clone();
        if svc.task.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        let first = svc.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        let listener = match first {
            Some(l) => l,
            None => tokio::net::TcpListener::bind(svc.addr)
                .await
                .wrap_err_with(|| format!("binding {} on {}", svc.name, svc.addr))?,
        };
        let latency = svc.latency_ms.clone();
        let router =
            routes(svc.name, self.ctx()).layer(axum::middleware::from_fn(move |req: Request, next: Next| {
                let latency = latency.clone();
                async move {
                    let ms = latency.load(Ordering::Relaxed);
                    if ms > 0 {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    next.run(req).await
                }
            }));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        *svc.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(())
    }

    /// Stops a service for real: its port refuses connections until started again.
    pub fn stop_service(&self, name: &str) -> color_eyre::Result<()> {
        let svc = self.services.get(name).ok_or_else(|| eyre!("no service `{name}`"))?;
        if let Some(task) = svc.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        Ok(())
    }

    pub fn set_latency(&self, name: &str, ms: u64) -> color_eyre::Result<()> {
        let svc = self.services.get(name).ok_or_else(|| eyre!("no service `{name}`"))?;
        svc.latency_ms.store(ms, Ordering::Relaxed);
        Ok(())
    }

    pub fn running(&self, name: &str) -> bool {
        self.services.get(name).is_some_and(|s| {
            s.task.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|t| !t.is_finished())
        })
    }

    /// The probes the demo server runs against this shop.
    pub fn probes(&self) -> Vec<crate::config::ProbeConfig> {
        SERVICES
            .iter()
            .map(|name| crate::config::ProbeConfig {
                name: name.to_string(),
                kind: crate::config::ProbeKind::Http,
                url: Some(format!("{}/health", self.url(name).unwrap_or_default())),
                address: None,
                interval: crate::model::probe::ProbeDuration::from_secs(2),
                timeout: crate::model::probe::ProbeDuration::from_secs(1),
                conditions: vec![
                    "[STATUS] == 200".into(),
                    "[RESPONSE_TIME] < 300".into(),
                    "[BODY].status == UP".into(),
                ],
                degraded: vec!["[RESPONSE_TIME] < 1000".into()],
                failure_threshold: 2,
                success_threshold: 2,
                auto_declare: match *name {
                    "payment" => Some(crate::model::Severity::Sev2),
                    "product-page" | "listing" => Some(crate::model::Severity::Sev3),
                    _ => None,
                },
                interval_ms: None,
                timeout_ms: None,
            })
            .collect()
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.admin_task.abort();
        for s in self.services.values() {
            if let Some(t) = s.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
                t.abort();
            }
        }
    }
}

fn routes(name: &'static str, ctx: Ctx) -> Router {
    let health_up = || async { Json(json!({ "status": "UP" })) };
    match name {
        "search" => Router::new()
            .route(
                "/health",
                get(|| async { Json(json!({ "status": "UP", "indexed": catalog().map_or(0, <[_]>::len) })) }),
            )
            .route("/search", get(search)),
        "listing" => {
            Router::new().route("/health", get(needs_search)).route("/listing", get(listing)).with_state(ctx)
        }
        "product-page" => Router::new()
            .route("/health", get(needs_search))
            .route("/product/{id}", get(product))
            .with_state(ctx),
        "payment" => Router::new()
            .route("/health", get(health_up))
            .route("/pay", post(|| async { Json(json!({ "ok": true })) })),
        _ => Router::new().route("/health", get(health_up)).route(
            "/stock/{id}",
            get(|Path(id): Path<u32>| async move { Json(json!({ "id": id, "available": 10 + id * 3 })) }),
        ),
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(Query(q): Query<SearchQuery>) -> Json<serde_json::Value> {
    let hits: Vec<&Product> = catalog()
        .unwrap_or_default()
        .iter()
        .filter(|p| {
            q.q.is_empty() || p.name.to_lowercase().contains(&q.q.to_lowercase()) || p.id.to_string() == q.q
        })
        .collect();
    Json(json!({ "hits": hits }))
}

async fn fetch_search(ctx: &Ctx, q: &str) -> Result<serde_json::Value, String> {
    let resp = ctx
        .http
        .get(format!("{}/search", ctx.search))
        .query(&[("q", q)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    resp.json().await.map_err(|e| e.to_string())
}

async fn needs_search(State(ctx): State<Ctx>) -> Response {
    match fetch_search(&ctx, "").await {
        Ok(_) => Json(json!({ "status": "UP" })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "DOWN", "reason": format!("search: {e}") })),
        )
            .into_response(),
    }
}

async fn listing(State(ctx): State<Ctx>) -> Response {
    match fetch_search(&ctx, "").await {
        Ok(v) => Json(json!({ "products": v["hits"] })).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({ "error": e }))).into_response(),
    }
}

async fn product(State(ctx): State<Ctx>, Path(id): Path<u32>) -> Response {
    match fetch_search(&ctx, &id.to_string()).await {
        Ok(v) => match v["hits"].get(0) {
            Some(p) => Json(json!({ "product": p })).into_response(),
            None => (StatusCode::NOT_FOUND, Json(json!({ "error": "no such product" }))).into_response(),
        },
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({ "error": e }))).into_response(),
    }
}

fn authorized(shop: &Shop, headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| t == shop.admin_token)
}

type ShopRef = State<std::sync::Weak<Shop>>;

async fn list(State(shop): ShopRef, headers: HeaderMap) -> Response {
    let Some(shop) = shop.upgrade() else { return StatusCode::GONE.into_response() };
    if !authorized(&shop, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "unauthorized" }))).into_response();
    }
    let list: Vec<_> = shop
        .services
        .values()
        .map(|s| json!({ "name": s.name, "url": format!("http://{}", s.addr), "running": shop.running(s.name), "latency_ms": s.latency_ms.load(Ordering::Relaxed) }))
        .collect();
    Json(json!({ "services": list })).into_response()
}

async fn act(
    State(shop): ShopRef,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    let Some(shop) = shop.upgrade() else { return StatusCode::GONE.into_response() };
    if !authorized(&shop, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "unauthorized" }))).into_response();
    }
    let result = match action.as_str() {
        "stop" => shop.stop_service(&name),
        "start" => shop.start_service(&name).await,
        other => Err(eyre!("unknown action `{other}` (stop, start)")),
    };
    match result {
        Ok(()) => Json(json!({ "service": name, "running": shop.running(&name) })).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

async fn slow(State(shop): ShopRef, headers: HeaderMap, Path((name, ms)): Path<(String, u64)>) -> Response {
    let Some(shop) = shop.upgrade() else { return StatusCode::GONE.into_response() };
    if !authorized(&shop, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "unauthorized" }))).into_response();
    }
    match shop.set_latency(&name, ms.min(60_000)) {
        Ok(()) => Json(json!({ "service": name, "latency_ms": ms })).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({ "error": e.to_string() }))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_in_assets_reads_with_unique_ids() {
        let products = catalog().unwrap_or_else(|e| panic!("{e}"));
        assert!(!products.is_empty());
        let ids: std::collections::BTreeSet<u32> = products.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), products.len(), "product ids repeat");
    }
}
