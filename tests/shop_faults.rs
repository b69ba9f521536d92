//! The demo shop's faults, seen where a customer and a probe would see them: each injected
//! through the admin API, its symptom observed, its health red, then cleared and the shop whole.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::eventually;
use serde_json::{json, Value};
use warroom::demo::shop::Shop;
use warroom::model::probe::{classify, parse_all, Health, Observation};

/// The shop's busy timeout is 2 s: a blocked request waited at least this long.
const BLOCKED_AT_LEAST: Duration = Duration::from_millis(1500);

struct Fixture {
    shop: Arc<Shop>,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    body: Value,
    took: Duration,
}

impl Fixture {
    async fn start() -> Fixture {
        let shop = Shop::start().await.unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        Fixture { shop, http }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let start = Instant::now();
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body, took: start.elapsed() }
    }

    async fn get(&self, service: &str, path: &str) -> Answer {
        let url = format!("{}{path}", self.shop.url(service).unwrap());
        self.send(self.http.get(url)).await
    }

    async fn pay(&self, product: u32, qty: u32) -> Answer {
        let url = format!("{}/pay", self.shop.url("payment").unwrap());
        self.send(self.http.post(url).json(&json!({ "product": product, "qty": qty }))).await
    }

    async fn inject(&self, fault: Value) -> Answer {
        let url = format!("{}/admin/faults", self.shop.admin_url);
        self.send(self.http.post(url).bearer_auth(&self.shop.admin_token).json(&fault)).await
    }

    async fn clear(&self, which: &str) -> Answer {
        let url = format!("{}/admin/faults{which}", self.shop.admin_url);
        self.send(self.http.delete(url).bearer_auth(&self.shop.admin_token)).await
    }

    async fn admin(&self, method: reqwest::Method, path: &str) -> Answer {
        let url = format!("{}{path}", self.shop.admin_url);
        self.send(self.http.request(method, url).bearer_auth(&self.shop.admin_token)).await
    }

    /// One sample of the probe the demo server runs on `service`, judged by its conditions.
    async fn probe(&self, service: &str) -> Health {
        let spec = self.shop.probes().into_iter().find(|p| p.name == service).unwrap();
        let url = spec.url.clone().unwrap();
        let start = Instant::now();
        let fresh = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
        let observed = async {
            let resp = fresh.get(&url).send().await?;
            let status = resp.status().as_u16();
            Ok::<_, reqwest::Error>((status, resp.text().await?))
        };
        let o = match observed.await {
            Ok((status, body)) => Observation {
                status: Some(status),
                response_ms: start.elapsed().as_millis() as u64,
                body: Some(body),
                connected: true,
                ..Default::default()
            },
            Err(e) => Observation {
                response_ms: start.elapsed().as_millis() as u64,
                error: Some(e.to_string()),
                ..Default::default()
            },
        };
        let (conds, degraded) = (parse_all(&spec.conditions).unwrap(), parse_all(&spec.degraded).unwrap());
        classify(&conds, &degraded, &o).health
    }

    /// Listing and product page prices, product by product: `(id, listing, page)`.
    async fn prices(&self) -> Vec<(u64, u64, u64)> {
        let listing = self.get("listing", "/listing").await;
        assert_eq!(listing.status, 200, "{}", listing.body);
        let mut out = Vec::new();
        for p in listing.body["products"].as_array().unwrap() {
            let id = p["id"].as_u64().unwrap();
            let page = self.get("product-page", &format!("/product/{id}")).await;
            assert_eq!(page.status, 200, "{}", page.body);
            out.push((
                id,
                p["price_cents"].as_u64().unwrap(),
                page.body["product"]["price_cents"].as_u64().unwrap(),
            ));
        }
        out
    }

    async fn stock(&self, id: u32) -> i64 {
        let a = self.get("stock", &format!("/stock/{id}")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["available"].as_i64().unwrap()
    }
}

fn ok(a: &Answer) -> &Value {
    assert_eq!(a.status, 200, "{}", a.body);
    &a.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_stock_table_blocks_customers_until_the_busy_timeout_then_answers_503() {
    let f = Fixture::start().await;
    assert_eq!(f.pay(1, 1).await.status, 200);
    let detail = ok(&f.inject(json!({"fault": "table_lock", "table": "stock"})).await)["detail"].clone();
    assert!(detail.as_str().unwrap().contains("stock table locked"), "{detail}");

    let (read, paid) = tokio::join!(f.get("stock", "/stock/1"), f.pay(1, 1));
    for a in [&read, &paid] {
        assert_eq!(a.status, 503, "{}", a.body);
        assert!(a.took >= BLOCKED_AT_LEAST, "answered after {:?}: not blocked", a.took);
        assert!(a.body["error"].as_str().unwrap().contains("locked"), "{}", a.body);
    }
    let health = f.get("stock", "/health").await;
    assert_eq!((health.status, health.body["status"].as_str()), (503, Some("DOWN")), "{}", health.body);
    assert_eq!(f.probe("stock").await, Health::Down);
    assert_eq!(f.probe("payment").await, Health::Down, "payments need the stock table");
    // The rest of the shop reads other tables and keeps answering.
    assert_eq!(f.get("product-page", "/health").await.status, 200);
    assert_eq!(f.get("search", "/search?q=milk").await.status, 200);

    let listed = f.admin(reqwest::Method::GET, "/admin/faults").await;
    let faults = ok(&listed)["faults"].as_array().unwrap().clone();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(
        (faults[0]["fault"].as_str(), faults[0]["table"].as_str()),
        (Some("table_lock"), Some("stock"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(faults[0]["since"].as_str().unwrap()).is_ok());
    assert_eq!(f.inject(json!({"fault": "table_lock", "table": "stock"})).await.status, 409);

    let cleared = f.clear("/table_lock").await;
    assert!(ok(&cleared)["detail"].as_str().unwrap().contains("unlocked"), "{}", cleared.body);
    assert_eq!(f.stock(1).await, ok(&f.get("stock", "/stock/1").await)["available"].as_i64().unwrap());
    assert_eq!(f.pay(1, 1).await.status, 200);
    assert_eq!(ok(&f.get("stock", "/health").await)["status"], "UP");
    assert_eq!(ok(&f.get("payment", "/health").await)["status"], "UP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_orders_table_stops_payments_but_not_stock_reads() {
    let f = Fixture::start().await;
    ok(&f.inject(json!({"fault": "table_lock", "table": "orders"})).await);
    let paid = f.pay(2, 1).await;
    assert_eq!(paid.status, 503, "{}", paid.body);
    assert!(paid.took >= BLOCKED_AT_LEAST, "answered after {:?}: not blocked", paid.took);
    assert_eq!(f.get("payment", "/health").await.status, 503);
    assert_eq!(f.get("stock", "/stock/2").await.status, 200);
    assert_eq!(ok(&f.get("stock", "/health").await)["status"], "UP", "the reconciliation reads a snapshot");
    ok(&f.clear("").await);
    assert_eq!(f.pay(2, 1).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_answer_502_while_the_error_rate_fault_holds() {
    let f = Fixture::start().await;
    let injected =
        f.inject(json!({"fault": "error_rate", "service": "payment", "status": 502, "share": 1.0})).await;
    assert!(ok(&injected)["detail"].as_str().unwrap().contains("502"), "{}", injected.body);
    for _ in 0..3 {
        assert_eq!(f.pay(3, 1).await.status, 502);
    }
    assert_eq!(f.get("payment", "/health").await.status, 502);
    assert_eq!(f.probe("payment").await, Health::Down);
    assert_eq!(f.get("stock", "/stock/3").await.status, 200, "only payment fails");

    ok(&f.clear("/error_rate").await);
    assert_eq!(ok(&f.pay(3, 1).await)["qty"], 1);
    assert_eq!(ok(&f.get("payment", "/health").await)["status"], "UP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_stock_differs_from_the_orders_until_cleared() {
    let f = Fixture::start().await;
    let before = f.stock(2).await;
    ok(&f.pay(2, 3).await);
    let truth = before - 3;
    assert_eq!(f.stock(2).await, truth);

    ok(&f.inject(json!({"fault": "stock_corruption"})).await);
    assert_ne!(f.stock(2).await, truth, "the customer sees a wrong count");
    let health = f.get("stock", "/health").await;
    assert_eq!((health.status, health.body["status"].as_str()), (503, Some("DOWN")), "{}", health.body);
    assert!(health.body["reason"].as_str().unwrap().contains('2'), "{}", health.body);
    let drift =
        health.body["drifted"].as_array().unwrap().iter().find(|d| d["product"] == 2).cloned().unwrap();
    assert_eq!(drift["truth"], truth, "{drift}");
    assert_eq!(f.probe("stock").await, Health::Down);
    // Orders keep coming in while the counts are wrong; the truth follows the orders.
    ok(&f.pay(2, 1).await);

    let cleared = f.clear("/stock_corruption").await;
    assert!(ok(&cleared)["detail"].as_str().unwrap().contains("repaired"), "{}", cleared.body);
    assert_eq!(f.stock(2).await, truth - 1);
    assert_eq!(ok(&f.get("stock", "/health").await)["status"], "UP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_and_product_page_prices_part_while_the_indexer_stalls_and_agree_after_clear() {
    let f = Fixture::start().await;
    eventually("listing and product page to agree", || all_agree(&f)).await;

    ok(&f.inject(json!({"fault": "price_desync"})).await);
    eventually("a listing price to differ from its product page", || async {
        f.prices().await.iter().any(|(_, listing, page)| listing != page)
    })
    .await;
    eventually("search to report its lag as DOWN", || async {
        let h = f.get("search", "/health").await;
        h.status == 503 && h.body["reason"].as_str().is_some_and(|r| r.contains("behind"))
    })
    .await;
    let listing = f.get("listing", "/health").await;
    assert_eq!(listing.status, 503, "{}", listing.body);
    assert!(listing.body["reason"].as_str().unwrap().starts_with("search:"), "{}", listing.body);
    assert_eq!(f.probe("search").await, Health::Down);
    assert_eq!(f.probe("listing").await, Health::Down);

    let cleared = f.clear("/price_desync").await;
    assert!(ok(&cleared)["detail"].as_str().unwrap().contains("catching up"), "{}", cleared.body);
    eventually("listing and product page to agree again", || all_agree(&f)).await;
    eventually("search healthy again", || async { f.get("search", "/health").await.status == 200 }).await;
}

async fn all_agree(f: &Fixture) -> bool {
    f.prices().await.iter().all(|(_, listing, page)| listing == page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_product_page_is_slow_and_missing_its_sections() {
    let f = Fixture::start().await;
    let whole = f.get("product-page", "/product/1").await;
    for section in ["recommendations", "reviews", "stock"] {
        assert!(ok(&whole).get(section).is_some(), "{section} missing: {}", whole.body);
    }

    ok(&f.inject(json!({"fault": "degraded_page"})).await);
    let page = f.get("product-page", "/product/1").await;
    assert!(page.took >= Duration::from_millis(700), "answered after {:?}", page.took);
    assert_eq!(ok(&page)["product"]["id"], 1);
    for section in ["recommendations", "reviews", "stock"] {
        assert!(page.body.get(section).is_none(), "{section} still there: {}", page.body);
    }
    let health = f.get("product-page", "/health").await;
    assert!(health.took >= Duration::from_millis(700), "health answered after {:?}", health.took);
    assert_eq!(ok(&health)["status"], "UP", "slow, not failing: the probe's time condition catches it");
    assert_eq!(health.body["degraded"], json!(["recommendations", "reviews", "stock"]));
    // Degraded when it answers within the probe's 1 s, down past it: never up.
    assert_ne!(f.probe("product-page").await, Health::Up);

    ok(&f.clear("/degraded_page").await);
    let again = f.get("product-page", "/product/1").await;
    assert!(ok(&again).get("reviews").is_some(), "{}", again.body);
    assert!(again.body["stock"]["available"].is_i64(), "{}", again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_down_refuses_connections_even_kept_alive_ones_and_comes_back() {
    let f = Fixture::start().await;
    let search = f.shop.url("search").unwrap();
    // A connection kept alive from before the fault must not keep answering.
    assert_eq!(f.get("search", "/health").await.status, 200);

    let injected = f.inject(json!({"fault": "down", "service": "search"})).await;
    assert!(ok(&injected)["detail"].as_str().unwrap().contains("refuses connections"), "{}", injected.body);
    let err = f.http.get(format!("{search}/health")).send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    assert!(tokio::net::TcpStream::connect(search.trim_start_matches("http://")).await.is_err());
    let listing = f.get("listing", "/health").await;
    assert_eq!(listing.status, 503, "{}", listing.body);
    assert_eq!(f.probe("search").await, Health::Down);
    assert_eq!(f.probe("listing").await, Health::Down);
    assert_eq!(f.inject(json!({"fault": "down", "service": "search"})).await.status, 409);

    ok(&f.clear("/down").await);
    assert_eq!(ok(&f.get("search", "/health").await)["status"], "UP");
    assert_eq!(ok(&f.get("listing", "/health").await)["status"], "UP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_names_the_bad_field_needs_the_token_and_keeps_the_old_endpoints() {
    let f = Fixture::start().await;
    let anon =
        f.http.post(format!("{}/admin/faults", f.shop.admin_url)).json(&json!({"fault": "price_desync"}));
    assert_eq!(f.send(anon).await.status, 401);
    for (fault, field) in [
        (json!({"fault": "table_lock"}), "table"),
        (json!({"fault": "meteor"}), "fault"),
        (json!({"fault": "latency", "service": "checkout", "ms": 10}), "service"),
        (json!({"fault": "error_rate", "service": "payment", "status": 502, "share": 2}), "share"),
    ] {
        let a = f.inject(fault.clone()).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some(field)), "{fault}: {}", a.body);
    }
    let garbage =
        f.http.post(format!("{}/admin/faults", f.shop.admin_url)).bearer_auth(&f.shop.admin_token).body("{");
    assert_eq!(f.send(garbage).await.status, 400);
    assert_eq!(f.clear("/meteor").await.status, 422);
    assert!(ok(&f.clear("/latency").await)["detail"].as_str().unwrap().contains("nothing to clear"));

    // The old endpoints act through the same register.
    let stopped = f.admin(reqwest::Method::POST, "/admin/services/payment/stop").await;
    assert_eq!(ok(&stopped)["running"], false);
    let slowed = f.admin(reqwest::Method::POST, "/admin/services/stock/latency/250").await;
    assert_eq!(ok(&slowed)["latency_ms"], 250);
    let listed = f.admin(reqwest::Method::GET, "/admin/faults").await;
    let names: Vec<String> = ok(&listed)["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{} {}", v["fault"].as_str().unwrap(), v["service"].as_str().unwrap()))
        .collect();
    assert_eq!(names, ["down payment", "latency stock"]);
    let started = f.admin(reqwest::Method::POST, "/admin/services/payment/start").await;
    assert_eq!(ok(&started)["running"], true);
    assert_eq!(f.admin(reqwest::Method::POST, "/admin/services/nope/stop").await.status, 404);

    let cleared = f.inject(json!({"fault": "clear"})).await;
    assert!(ok(&cleared)["detail"].as_str().unwrap().contains("stock latency removed"), "{}", cleared.body);
    assert_eq!(ok(&f.admin(reqwest::Method::GET, "/admin/faults").await)["faults"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clear_undoes_every_fault_at_once_and_leaves_the_shop_whole() {
    let f = Fixture::start().await;
    for fault in [
        json!({"fault": "table_lock", "table": "stock"}),
        json!({"fault": "price_desync"}),
        json!({"fault": "down", "service": "listing"}),
        json!({"fault": "error_rate", "service": "search", "status": 503, "share": 0.5}),
        json!({"fault": "latency", "service": "payment", "ms": 400}),
        json!({"fault": "degraded_page", "ms": 100}),
    ] {
        ok(&f.inject(fault).await);
    }
    // Corruption needs the stock table: injecting it now waits for the lock and fails.
    let refused = f.inject(json!({"fault": "stock_corruption"})).await;
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert!(refused.body["error"].as_str().unwrap().contains("locked"), "{}", refused.body);
    ok(&f.clear("/table_lock").await);
    ok(&f.inject(json!({"fault": "stock_corruption"})).await);
    ok(&f.inject(json!({"fault": "table_lock", "table": "stock"})).await);
    assert_eq!(
        ok(&f.admin(reqwest::Method::GET, "/admin/faults").await)["faults"].as_array().unwrap().len(),
        7
    );

    let cleared = f.clear("").await;
    assert_eq!(ok(&cleared)["fault"], "clear");
    assert_eq!(ok(&f.admin(reqwest::Method::GET, "/admin/faults").await)["faults"], json!([]));
    for service in warroom::demo::shop::SERVICES {
        eventually(&format!("{service} UP"), || async {
            let h = f.get(service, "/health").await;
            h.status == 200 && h.body["status"] == "UP"
        })
        .await;
    }
    eventually("prices to agree", || all_agree(&f)).await;
}
