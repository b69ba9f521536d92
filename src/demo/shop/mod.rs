//! A small shop to probe and break: `search`, `product-page`, `listing`, `payment` and
//! `stock`, each a real HTTP service on loopback over a real SQLite database and search index.
//!
//! The product page reads prices from the catalogue (the truth); the listing and search read
//! them from an index that an indexer keeps in step with a price updater. Faults (the first
//! game day's villains: table locks, latency, errors, degraded pages, corrupted stock, prices
//! out of step, services down) are real behaviour, injected and cleared through an admin API
//! (admin token): see `faults.rs` for the faults and `admin.rs` for the endpoints.

mod admin;
mod db;
mod faults;
mod prices;
mod rng;
mod services;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use color_eyre::eyre::{eyre, WrapErr};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

pub use db::Table;
pub use faults::{Fault, FaultError, FAULTS};

use prices::{Indexed, Prices};
use services::{Knobs, ShopState};

pub const SERVICES: [&str; 5] = ["search", "product-page", "listing", "payment", "stock"];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Product {
    id: u32,
    name: String,
    price_cents: u64,
    /// Units in stock before any order.
    stock: u32,
    #[serde(default)]
    reviews: Vec<Review>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    stars: u8,
    text: String,
}

/// The shop's products, kept in `assets/` with the other data the program shows.
const CATALOG_JSON: &str = include_str!("../../../assets/demo-shop/catalog.json");

/// The catalogue, read once. [`Shop::start`] refuses to start on a broken one.
fn catalog() -> Result<&'static [Product], String> {
    static CATALOG: std::sync::OnceLock<Result<Vec<Product>, String>> = std::sync::OnceLock::new();
    CATALOG
        .get_or_init(|| {
            let products: Vec<Product> = serde_json::from_str(CATALOG_JSON)
                .map_err(|e| format!("assets/demo-shop/catalog.json: {e}"))?;
            match products.iter().find(|p| p.price_cents < 100) {
                // The updater drifts prices ±20%: below a euro that rounds to nothing.
                Some(p) => {
                    Err(format!("assets/demo-shop/catalog.json: product {}: price_cents below 100", p.id))
                }
                None if products.is_empty() => Err("assets/demo-shop/catalog.json: no products".into()),
                None => Ok(products),
            }
        })
        .as_deref()
        .map_err(Clone::clone)
}

const DIR_PREFIX: &str = "warroom-shop-";
/// In each shop's dir: the pid of the process that owns it.
const OWNER_FILE: &str = "owner.pid";

/// Deletes the shop dirs in `tmp` whose owner died without dropping its shop (a SIGKILLed
/// `warroom serve --demo`), so killed servers do not pile databases up in the temp dir.
/// A dir without a readable owner is left alone: it may be a shop being created right now.
fn sweep_orphans(tmp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let owner = std::fs::read_to_string(entry.path().join(OWNER_FILE));
        let Some(pid) = owner.ok().and_then(|p| p.trim().parse::<i32>().ok()) else { continue };
        if !alive(pid) {
            // Another process may sweep the same orphan at the same moment: either removes it.
            std::fs::remove_dir_all(entry.path()).ok();
        }
    }
}

#[cfg(unix)]
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(not(unix))]
fn alive(_pid: i32) -> bool {
    true
}

struct Service {
    name: &'static str,
    addr: SocketAddr,
    knobs: Arc<Knobs>,
    running: Mutex<Option<Running>>,
    /// The first listener, kept until the first start: reserving a port by binding and
    /// dropping it would let another process take it in between.
    first: Mutex<Option<tokio::net::TcpListener>>,
}

/// A service's serving task and the signal that stops it.
struct Running {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

/// The running shop. Dropping it stops every service and background task and deletes its
/// database.
pub struct Shop {
    services: BTreeMap<&'static str, Arc<Service>>,
    pub admin_url: String,
    pub admin_token: String,
    state: Arc<ShopState>,
    /// The injected faults, in order; the async lock also serialises inject and clear.
    faults: tokio::sync::Mutex<Vec<faults::Active>>,
    /// The admin endpoint, the price updater and the indexer.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Shop {
    /// Creates the database and starts every service, the price updater, the indexer and
    /// the admin endpoint, on free loopback ports.
    pub async fn start() -> color_eyre::Result<Arc<Shop>> {
        let products = catalog().map_err(|e| eyre!(e))?;
        let tmp = std::env::temp_dir();
        sweep_orphans(&tmp);
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&tmp)
            .wrap_err("creating the demo shop's database dir")?;
        let owner = dir.path().join(OWNER_FILE);
        std::fs::write(&owner, std::process::id().to_string())
            .wrap_err_with(|| format!("writing {}", owner.display()))?;
        let path = dir.path().to_path_buf();
        let db = tokio::task::spawn_blocking(move || db::Db::create(&path, products))
            .await
            .wrap_err("creating the demo shop's database")?
            .map_err(|e| eyre!(e))?;
        let prices = Arc::new(Prices::new(products.iter().map(|p| Indexed {
            id: p.id,
            name: p.name.clone(),
            price_cents: p.price_cents,
        })));
        let mut services = BTreeMap::new();
        for name in SERVICES {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let first = Mutex::new(Some(listener));
            services.insert(
                name,
                Arc::new(Service { name, addr, knobs: Arc::default(), running: Mutex::new(None), first }),
            );
        }
        let url = |name: &str| services.get(name).map(|s: &Arc<Service>| format!("http://{}", s.addr));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
        let reviews = products.iter().map(|p| (p.id, p.reviews.clone())).collect();
        let state = Arc::new(ShopState::new(
            db.clone(),
            prices.clone(),
            http,
            url("search").unwrap_or_default(),
            url("stock").unwrap_or_default(),
            reviews,
        ));
        let admin_token = format!("shop-{}", uuid::Uuid::new_v4().simple());
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let admin_url = format!("http://{}", admin.local_addr()?);
        let shop = Arc::new_cyclic(|weak: &std::sync::Weak<Shop>| {
            let tasks = vec![
                tokio::spawn({
                    let router = admin::routes(weak.clone());
                    // axum 0.8's serve never ends (its listener retries failed accepts): the
                    // `io::Result` it returns is only there for compatibility.
                    async move {
                        axum::serve(admin, router).await.ok();
                    }
                }),
                prices::spawn_updater(db, prices.clone(), rng::Rng::fresh()),
                prices::spawn_indexer(prices),
            ];
            Shop {
                services,
                admin_url,
                admin_token,
                state,
                faults: tokio::sync::Mutex::default(),
                tasks,
                _dir: dir,
            }
        });
        for name in SERVICES {
            shop.start_service(name).await?;
        }
        Ok(shop)
    }

    pub fn url(&self, name: &str) -> Option<String> {
        self.services.get(name).map(|s| format!("http://{}", s.addr))
    }

    /// Starts a service on its port (again); a no-op while it runs.
    async fn start_service(&self, name: &str) -> color_eyre::Result<()> {
        let svc = self.services.get(name).ok_or_else(|| eyre!("no service `{name}`"))?.clone();
        if svc
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|r| !r.task.is_finished())
        {
            return Ok(());
        }
        let first = svc.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        let listener = match first {
            Some(l) => l,
            None => tokio::net::TcpListener::bind(svc.addr)
                .await
                .wrap_err_with(|| format!("binding {} on {}", svc.name, svc.addr))?,
        };
        let router = services::routes(svc.name, self.state.clone(), svc.knobs.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(serve(listener, router, stopped));
        *svc.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running { task, stop });
        Ok(())
    }

    /// Stops a service for real: once this returns, its port refuses connections and every
    /// connection it had is closed, kept-alive ones and requests in flight included.
    async fn stop_service(&self, name: &str) -> color_eyre::Result<()> {
        let svc = self.services.get(name).ok_or_else(|| eyre!("no service `{name}`"))?;
        let running = svc.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(Running { task, stop }) = running {
            // A send that fails means the task already ended: then there is nothing to stop.
            stop.send(()).ok();
            task.await.wrap_err_with(|| format!("stopping {name}"))?;
        }
        Ok(())
    }

    pub fn running(&self, name: &str) -> bool {
        self.services.get(name).is_some_and(|s| {
            s.running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_some_and(|r| !r.task.is_finished())
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
        for t in &self.tasks {
            t.abort();
        }
        for s in self.services.values() {
            if let Some(r) = s.running.lock().unwrap_or_else(|p| p.into_inner()).take() {
                r.task.abort();
            }
        }
        // Active faults' workers (a lock holder, the corrupter) stop when their senders drop
        // with the register, right after this.
    }
}

/// Serves one listener until `stop`. Connections are served here rather than by
/// `axum::serve`: stopping must close them all before the port is said to be down (axum's
/// kept-alive connections shut down a moment after its server goes, and a probe's pooled
/// connection answered 200 from a "down" service in that moment).
async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut conns: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else {
                    // Out of descriptors, most likely: give the others a moment to close.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                // Small JSON answers: Nagle would hold them back behind a delayed ACK.
                if tcp.set_nodelay(true).is_err() {
                    continue;
                }
                let router = router.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    router.clone().oneshot(req.map(axum::body::Body::new))
                });
                conns.spawn(async move {
                    // A peer that hangs up or speaks garbage is that peer's business.
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await
                        .ok();
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    // Aborts every connection and waits until each is dropped, its socket closed.
    conns.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_dirs_of_dead_processes_are_swept_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        for (name, owner) in [("dead", Some(dead)), ("live", Some(std::process::id())), ("new", None)] {
            let dir = tmp.path().join(format!("{DIR_PREFIX}{name}"));
            std::fs::create_dir(&dir).unwrap();
            if let Some(pid) = owner {
                std::fs::write(dir.join(OWNER_FILE), pid.to_string()).unwrap();
            }
        }
        sweep_orphans(tmp.path());
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        left.sort();
        assert_eq!(left, [format!("{DIR_PREFIX}live"), format!("{DIR_PREFIX}new")]);
    }

    #[test]
    fn the_catalogue_in_assets_reads_with_unique_ids() {
        let products = catalog().unwrap_or_else(|e| panic!("{e}"));
        assert!(!products.is_empty());
        let ids: std::collections::BTreeSet<u32> = products.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), products.len(), "product ids repeat");
    }
}
