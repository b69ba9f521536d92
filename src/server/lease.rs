//! Side effects on exactly one server: probes, notifiers, announcers and chaos drivers run
//! only while this server holds the store's lease, in a runtime of their own dropped with it.
//!
//! The lease lives in the store with the database's clock (see `EventStore::lease`): its
//! holder renews it every [`RENEW`]; another server takes it once [`TTL`] passed without a
//! renewal. A holder that cannot renew stops its side effects after half the TTL, so two
//! servers never act at once as long as the database's clock and ours run at the same rate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use uuid::Uuid;

use super::store::EventStore;

/// The one lease side effects run under.
pub const NAME: &str = "side-effects";
/// How long a lease lasts without renewal: a dead holder's side effects move within this.
pub const TTL: Duration = Duration::from_secs(6);
/// How often the holder renews, and others try to take it.
pub const RENEW: Duration = Duration::from_secs(1);

/// Until when this server may act on its lease: renewed with every renewal, and running out
/// by itself when renewals stop coming, even while a renewal hangs on a dead connection.
pub type Held = watch::Receiver<Option<Instant>>;

/// Whether `held` says this server holds the lease now.
pub fn holds(held: &Held) -> bool {
    held.borrow().is_some_and(|until| Instant::now() < until)
}

/// This server's claim on the lease: until when it may act on it, as a watch.
pub struct Lease {
    pub holder: Uuid,
    held: Held,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lease {
    /// A lease a store with one server always holds.
    pub fn always() -> Lease {
        // A century from now, or as far as the clock goes: never runs out.
        let forever = (1..=100u64)
            .rev()
            .find_map(|years| Instant::now().checked_add(Duration::from_secs(years * 365 * 86_400)));
        let (_never_changes, held) = watch::channel(forever);
        Lease { holder: Uuid::nil(), held, stop: Arc::new(AtomicBool::new(true)), thread: None }
    }

    /// Starts taking and renewing the lease on `store` (a handle of its own) on a thread.
    pub fn start(mut store: Box<dyn EventStore>) -> std::io::Result<Lease> {
        let holder = Uuid::new_v4();
        let (tx, held) = watch::channel(None);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new().name("warroom-lease".into()).spawn(move || {
            let mut failing = false;
            while !stopping.load(Ordering::SeqCst) {
                let asked = Instant::now();
                match store.lease(NAME, holder, TTL) {
                    Ok(ours) => {
                        if std::mem::take(&mut failing) {
                            tracing::info!("the side-effects lease is reachable again");
                        }
                        // Ours until half the TTL after we asked: the database's expiry is a
                        // full TTL after it answered, so we stop acting well before another
                        // server may take it, however long the next renewal hangs.
                        tx.send_replace(ours.then(|| asked + TTL / 2));
                    }
                    Err(e) => {
                        // What we had runs out by itself.
                        if !std::mem::replace(&mut failing, true) {
                            tracing::warn!("cannot renew the side-effects lease: {e}");
                        }
                    }
                }
                park_until(&stopping, asked + RENEW);
            }
            tx.send_replace(None);
            if let Err(e) = store.release(NAME, holder) {
                tracing::warn!(
                    "releasing the side-effects lease: {e} (another server takes it within {} s)",
                    TTL.as_secs()
                );
            }
        })?;
        Ok(Lease { holder, held, stop, thread: Some(thread) })
    }

    /// Until when this server holds the lease, and every renewal after.
    pub fn watch(&self) -> Held {
        self.held.clone()
    }

    /// Gives the lease up (another server takes it at once) and waits for that, bounded.
    pub fn release(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release();
    }
}

/// Sleeps until `until` or until asked to stop (an unpark wakes it early).
fn park_until(stop: &AtomicBool, until: Instant) {
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::park_timeout(until - now);
    }
}

/// Runs `start` (which spawns the side-effect tasks) whenever the lease is taken, in a runtime
/// of its own; when the lease is lost, runs `wind_down` there (bounded by [`WIND_DOWN`]) and
/// drops that runtime with every task in it. When the lease is always held the tasks run on
/// the caller's runtime, as always.
/// How long the side effects get to wind down (chaos rollbacks) when the lease is lost.
const WIND_DOWN: Duration = Duration::from_secs(3);

/// What winds the side effects down when the lease is lost, run on their own runtime.
pub type WindDown =
    Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

pub fn run_while_held(lease: &Lease, start: impl Fn() + Send + Sync + 'static, wind_down: WindDown) {
    if lease.thread.is_none() {
        start();
        return;
    }
    let mut held = lease.watch();
    tokio::spawn(async move {
        let mut running: Option<tokio::runtime::Runtime> = None;
        loop {
            let until = *held.borrow_and_update();
            let holding = until.is_some_and(|t| Instant::now() < t);
            match (holding, running.is_some()) {
                (true, false) => {
                    match tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .thread_name("warroom-effects")
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => {
                            tracing::info!("this server holds the side-effects lease: probes, messages and chaos run here");
                            let _entered = rt.enter();
                            start();
                            drop(_entered);
                            running = Some(rt);
                        }
                        Err(e) => tracing::error!("cannot start the side-effects runtime: {e}"),
                    }
                }
                (false, true) => {
                    tracing::warn!("this server no longer holds the side-effects lease");
                    if let Some(rt) = running.take() {
                        // Chaos acts first and records after: its faults are rolled back even
                        // when the database (and so the lease) is out of reach.
                        let _ = tokio::time::timeout(WIND_DOWN, rt.spawn(wind_down())).await;
                        rt.shutdown_background();
                    }
                }
                _ => {}
            }
            // A renewal, a loss, or the time we may act running out.
            let expiry = async {
                match until.filter(|_| holding) {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = held.changed() => if changed.is_err() {
                    if let Some(rt) = running.take() {
                        rt.shutdown_background();
                    }
                    return;
                },
                () = expiry => {}
            }
        }
    });
}
