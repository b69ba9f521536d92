//! The five services' routes: search and listing read the index, the product page reads the
//! catalogue, stock and payment the database; the knobs a fault turns bend every request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::db::{Db, DbError, PayError, Table, HEALTH_BUSY, REQUEST_BUSY};
use super::faults::DROPPED_SECTIONS;
use super::prices::{Prices, LAG_LIMIT};
use super::rng::Rng;
use super::Review;

/// The listing asks the search service's health for its own: under the probes' 1 s timeout.
const DEPENDENCY_TIMEOUT: Duration = Duration::from_millis(800);
/// A product page waits this long for its stock section before showing the page without it.
const STOCK_SECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// Most items one payment may take.
const MAX_QTY: u64 = 100;
/// How many other products a product page recommends.
const RECOMMENDATIONS: usize = 3;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the services share: the database, the index, and the product page's degradation.
pub(super) struct ShopState {
    pub db: Db,
    pub prices: Arc<Prices>,
    degraded_ms: Mutex<Option<u64>>,
    http: reqwest::Client,
    search_url: String,
    stock_url: String,
    reviews: BTreeMap<u32, Vec<Review>>,
}

impl ShopState {
    pub fn new(
        db: Db,
        prices: Arc<Prices>,
        http: reqwest::Client,
        search_url: String,
        stock_url: String,
        reviews: BTreeMap<u32, Vec<Review>>,
    ) -> ShopState {
        ShopState { db, prices, degraded_ms: Mutex::new(None), http, search_url, stock_url, reviews }
    }

    /// `Some(ms)` while product pages are degraded.
    pub fn degraded(&self) -> Option<u64> {
        *lock(&self.degraded_ms)
    }

    pub fn set_degraded(&self, ms: Option<u64>) {
        *lock(&self.degraded_ms) = ms;
    }
}

/// A service's fault knobs, read by every request before its handler runs.
#[derive(Debug, Default)]
pub(super) struct Knobs {
    latency_ms: AtomicU64,
    errors: Mutex<Option<ErrorRate>>,
}

#[derive(Debug)]
struct ErrorRate {
    status: u16,
    share: f64,
    rng: Rng,
}

impl Knobs {
    pub fn set_latency(&self, ms: u64) {
        self.latency_ms.store(ms, Ordering::Relaxed);
    }

    pub fn latency_ms(&self) -> u64 {
        self.latency_ms.load(Ordering::Relaxed)
    }

    /// `Some((status, share))` makes that share of requests answer `status`. Which ones is
    /// random, as real failures are: at 0.5 a probe sometimes sees two in a row and goes red.
    pub fn set_errors(&self, errors: Option<(u16, f64)>) {
        *lock(&self.errors) = errors.map(|(status, share)| ErrorRate { status, share, rng: Rng::fresh() });
    }

    fn roll_error(&self) -> Option<StatusCode> {
        let mut errors = lock(&self.errors);
        let e = errors.as_mut()?;
        if e.rng.chance(e.share) {
            StatusCode::from_u16(e.status).ok()
        } else {
            None
        }
    }
}

/// Latency first, then the error roll: a failing request is slow too, as through a sick proxy.
async fn misbehave(State(knobs): State<Arc<Knobs>>, req: Request, next: Next) -> Response {
    let ms = knobs.latency_ms();
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(status) = knobs.roll_error() {
        let reason = status.canonical_reason().unwrap_or("error");
        return (status, Json(json!({ "error": reason }))).into_response();
    }
    next.run(req).await
}

type St = State<Arc<ShopState>>;

/// The routes of one service, under its fault knobs.
pub(super) fn routes(name: &'static str, state: Arc<ShopState>, knobs: Arc<Knobs>) -> Router {
    let router = match name {
        "search" => Router::new().route("/health", get(search_health)).route("/search", get(search)),
        "listing" => Router::new().route("/health", get(listing_health)).route("/listing", get(listing)),
        "product-page" => {
            Router::new().route("/health", get(page_health)).route("/product/{id}", get(product))
        }
        "payment" => Router::new().route("/health", get(payment_health)).route("/pay", post(pay)),
        _ => Router::new().route("/health", get(stock_health)).route("/stock/{id}", get(stock)),
    };
    router.with_state(state).layer(axum::middleware::from_fn_with_state(knobs, misbehave))
}

fn up(mut body: Value) -> Response {
    body["status"] = json!("UP");
    Json(body).into_response()
}

fn down(reason: String, mut body: Value) -> Response {
    body["status"] = json!("DOWN");
    body["reason"] = json!(reason);
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

fn refuse(status: StatusCode, error: String) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// A database error as a customer sees it: a lock that did not come in time is 503.
fn db_refusal(e: &DbError) -> Response {
    let status = match e {
        DbError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        DbError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    refuse(status, e.to_string())
}

/// Database work runs on the blocking pool: a request waiting for a lock holds a thread
/// there, never an async worker, so the other services keep answering.
async fn off_thread<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, DbError> + Send + 'static,
) -> Result<R, DbError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(DbError::Other(format!("database task failed: {e}"))),
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

// ---- search and listing: the index ----

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

fn lag_fields(prices: &Prices) -> (Value, Option<String>) {
    let lag = prices.lag();
    let body = json!({
        "indexed": prices.len(),
        "queue_depth": lag.depth,
        "lag_ms": u64::try_from(lag.oldest.as_millis()).unwrap_or(u64::MAX),
    });
    let late = (lag.oldest > LAG_LIMIT).then(|| {
        format!(
            "search index {:.1} s behind the catalogue ({} price updates queued; limit {} s)",
            lag.oldest.as_secs_f64(),
            lag.depth,
            LAG_LIMIT.as_secs()
        )
    });
    (body, late)
}

async fn search_health(State(st): St) -> Response {
    let (mut body, late) = lag_fields(&st.prices);
    if let Some(e) = st.prices.updater_error() {
        body["updater_error"] = json!(e);
    }
    match late {
        Some(reason) => down(reason, body),
        None => up(body),
    }
}

async fn search(State(st): St, Query(q): Query<SearchQuery>) -> Json<Value> {
    Json(json!({ "hits": st.prices.search(&q.q) }))
}

/// The listing is only as healthy as the search service it lists from.
async fn listing_health(State(st): St) -> Response {
    let url = format!("{}/health", st.search_url);
    match st.http.get(url).timeout(DEPENDENCY_TIMEOUT).send().await {
        Ok(resp) => {
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let lag = json!({ "lag_ms": body["lag_ms"], "queue_depth": body["queue_depth"] });
            if status.is_success() && body["status"] == "UP" {
                up(lag)
            } else {
                let why =
                    body["reason"].as_str().map_or_else(|| format!("answered {status}"), str::to_string);
                down(format!("search: {why}"), lag)
            }
        }
        Err(e) => down(format!("search: {}", root_cause(&e)), json!({})),
    }
}

async fn listing(State(st): St) -> Response {
    let url = format!("{}/search", st.search_url);
    let fetched = async {
        let resp = st.http.get(url).send().await?.error_for_status()?;
        resp.json::<Value>().await
    };
    match fetched.await {
        Ok(v) => Json(json!({ "products": v["hits"] })).into_response(),
        Err(e) => refuse(StatusCode::BAD_GATEWAY, format!("search: {}", root_cause(&e))),
    }
}

// ---- product page: the catalogue ----

async fn page_health(State(st): St) -> Response {
    let degraded = st.degraded();
    if let Some(ms) = degraded {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let db = st.db.clone();
    match off_thread(move || db.catalog(HEALTH_BUSY)).await {
        Ok(catalog) => {
            let mut body = json!({ "products": catalog.len() });
            if degraded.is_some() {
                body["degraded"] = json!(DROPPED_SECTIONS);
            }
            up(body)
        }
        Err(e) => down(e.to_string(), json!({})),
    }
}

async fn product(State(st): St, Path(id): Path<u32>) -> Response {
    let degraded = st.degraded();
    if let Some(ms) = degraded {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let db = st.db.clone();
    let catalog = match off_thread(move || db.catalog(REQUEST_BUSY)).await {
        Ok(c) => c,
        Err(e) => return db_refusal(&e),
    };
    let Some(p) = catalog.iter().find(|p| p.id == id) else {
        return refuse(StatusCode::NOT_FOUND, format!("no product {id}"));
    };
    let mut page = json!({ "product": { "id": p.id, "name": p.name, "price_cents": p.price_cents } });
    if degraded.is_none() {
        let others: Vec<Value> = catalog
            .iter()
            .filter(|o| o.id != id)
            .take(RECOMMENDATIONS)
            .map(|o| json!({ "id": o.id, "name": o.name, "price_cents": o.price_cents }))
            .collect();
        page["recommendations"] = json!(others);
        page["reviews"] = json!(st.reviews.get(&id).cloned().unwrap_or_default());
        page["stock"] = stock_section(&st, id).await;
    }
    Json(page).into_response()
}

/// The page's stock, from the stock service: the page shows without it rather than wait.
async fn stock_section(st: &ShopState, id: u32) -> Value {
    let url = format!("{}/stock/{id}", st.stock_url);
    let fetched = async {
        let resp = st.http.get(url).timeout(STOCK_SECTION_TIMEOUT).send().await?.error_for_status()?;
        resp.json::<Value>().await
    };
    match fetched.await {
        Ok(v) => json!({ "available": v["available"] }),
        Err(e) => json!({ "error": format!("stock: {}", root_cause(&e)) }),
    }
}

// ---- payment and stock: the database ----

async fn payment_health(State(st): St) -> Response {
    let db = st.db.clone();
    match off_thread(move || db.check_writable(&[Table::Stock, Table::Orders], HEALTH_BUSY)).await {
        Ok(()) => up(json!({})),
        Err(e) => down(e.to_string(), json!({})),
    }
}

async fn pay(State(st): St, body: Bytes) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("body: not JSON ({e})")),
    };
    let bad = |field: &str, why: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": format!("{field}: {why}"), "field": field })),
        )
            .into_response()
    };
    let Some(product) = req.get("product").and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok()) else {
        return bad("product", "missing or not a product id".into());
    };
    let qty = match req.get("qty") {
        None => 1,
        Some(v) => match v.as_u64().filter(|q| (1..=MAX_QTY).contains(q)) {
            Some(q) => q as u32,
            None => return bad("qty", format!("must be a whole number from 1 to {MAX_QTY}")),
        },
    };
    let db = st.db.clone();
    let paid = off_thread(move || {
        let price = db.catalog(REQUEST_BUSY)?.into_iter().find(|p| p.id == product).map(|p| p.price_cents);
        Ok(match price {
            None => Err(PayError::NoProduct),
            Some(price) => db.pay(product, qty, price),
        })
    })
    .await
    .map_err(PayError::Db)
    .and_then(|r| r);
    match paid {
        Ok(order) => Json(
            json!({ "order": order.id, "product": product, "qty": qty, "total_cents": order.total_cents }),
        )
        .into_response(),
        Err(PayError::NoProduct) => refuse(StatusCode::NOT_FOUND, format!("no product {product}")),
        Err(PayError::OutOfStock { available }) => {
            refuse(StatusCode::CONFLICT, format!("out of stock: {available} left, {qty} asked"))
        }
        Err(PayError::Db(e)) => db_refusal(&e),
    }
}

/// Stock is healthy when its table takes a write and agrees with the orders.
async fn stock_health(State(st): St) -> Response {
    let db = st.db.clone();
    let checked = off_thread(move || {
        db.check_writable(&[Table::Stock], HEALTH_BUSY)?;
        db.reconcile(HEALTH_BUSY)
    })
    .await;
    match checked {
        Ok(drifted) if drifted.is_empty() => up(json!({ "reconciled": true })),
        Ok(drifted) => {
            let ids: Vec<String> = drifted.iter().map(|d| d.product.to_string()).collect();
            down(
                format!("stock differs from the orders for products {}", ids.join(", ")),
                json!({ "reconciled": false, "drifted": drifted }),
            )
        }
        Err(e) => down(e.to_string(), json!({})),
    }
}

async fn stock(State(st): St, Path(id): Path<u32>) -> Response {
    let db = st.db.clone();
    match off_thread(move || db.stock(id)).await {
        Ok(Some(n)) => Json(json!({ "id": id, "available": n })).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, format!("no product {id}")),
        Err(e) => db_refusal(&e),
    }
}
