//! Prices as the listing and search show them: the search index, the queue of price updates
//! that feeds it, the indexer that consumes the queue and the updater that keeps filling it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::db::{Db, REQUEST_BUSY};
use super::rng::Rng;

/// The search service answers DOWN when its oldest unconsumed update is older than this.
pub(super) const LAG_LIMIT: Duration = Duration::from_secs(3);
/// How often the updater changes a price.
const UPDATE_EVERY: Duration = Duration::from_millis(500);
/// The indexer also looks at the queue this often, in case a wake-up was missed.
const INDEX_POLL: Duration = Duration::from_millis(250);
/// Prices drift at most this share (in percent) away from the catalogue's original price.
const DRIFT_PERCENT: u64 = 20;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct Indexed {
    pub id: u32,
    pub name: String,
    pub price_cents: u64,
}

#[derive(Debug)]
struct Update {
    product: u32,
    price_cents: u64,
    queued: Instant,
}

/// How far behind the index is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lag {
    /// Age of the oldest unconsumed update (zero when the queue is empty).
    pub oldest: Duration,
    pub depth: usize,
}

#[derive(Debug, Default)]
pub(super) struct Prices {
    index: Mutex<BTreeMap<u32, Indexed>>,
    queue: Mutex<VecDeque<Update>>,
    paused: AtomicBool,
    wake: Notify,
    /// The updater's last failure, shown by the search service's health so it is not lost.
    updater_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Prices {
    /// An index that starts in step with the catalogue.
    pub fn new(products: impl IntoIterator<Item = Indexed>) -> Prices {
        let prices = Prices::default();
        *lock(&prices.index) = products.into_iter().map(|p| (p.id, p)).collect();
        prices
    }

    /// Products whose name contains `q` (any case) or whose id is `q`; all for an empty `q`.
    pub fn search(&self, q: &str) -> Vec<Indexed> {
        let q = q.trim().to_lowercase();
        lock(&self.index)
            .values()
            .filter(|p| q.is_empty() || p.name.to_lowercase().contains(&q) || p.id.to_string() == q)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.index).len()
    }

    pub fn lag(&self) -> Lag {
        let queue = lock(&self.queue);
        Lag { oldest: queue.front().map_or(Duration::ZERO, |u| u.queued.elapsed()), depth: queue.len() }
    }

    pub fn updater_error(&self) -> Option<String> {
        lock(&self.updater_error).clone()
    }

    fn publish(&self, product: u32, price_cents: u64) {
        lock(&self.queue).push_back(Update { product, price_cents, queued: Instant::now() });
        self.wake.notify_one();
    }

    /// Applies every queued update to the index, oldest first; returns how many.
    pub fn consume(&self) -> usize {
        let updates: Vec<Update> = lock(&self.queue).drain(..).collect();
        let mut index = lock(&self.index);
        for u in &updates {
            if let Some(p) = index.get_mut(&u.product) {
                p.price_cents = u.price_cents;
            }
        }
        updates.len()
    }

    /// Stops the indexer (the fault `price_desync`): updates pile up in the queue.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Lets the indexer consume again; returns how many updates it has to catch up on.
    pub fn resume(&self) -> usize {
        self.paused.store(false, Ordering::SeqCst);
        self.wake.notify_one();
        self.lag().depth
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

/// The next price of a product listed at `list`: within ±[`DRIFT_PERCENT`] of it, and never
/// `current` (so every update is a change a customer could notice).
pub(super) fn next_price(list: u64, current: u64, roll: u64) -> u64 {
    let lo = list - list * DRIFT_PERCENT / 100;
    let hi = list + list * DRIFT_PERCENT / 100;
    let price = lo + roll % (hi - lo + 1);
    match price == current {
        false => price,
        true if price < hi => price + 1,
        true => price.saturating_sub(1).max(lo),
    }
}

/// The indexer: consumes the queue whenever woken (or every [`INDEX_POLL`]), unless paused.
pub(super) fn spawn_indexer(prices: Arc<Prices>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if !prices.paused() {
                prices.consume();
            }
            tokio::select! {
                _ = prices.wake.notified() => {}
                _ = tokio::time::sleep(INDEX_POLL) => {}
            }
        }
    })
}

/// The price updater: every [`UPDATE_EVERY`], the next product (in turn) gets a new price in
/// the catalogue, then the update is queued for the index.
pub(super) fn spawn_updater(db: Db, prices: Arc<Prices>, mut rng: Rng) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPDATE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for turn in 0usize.. {
            tick.tick().await;
            let roll = rng.next_u64();
            let db = db.clone();
            let changed = tokio::task::spawn_blocking(move || {
                let catalog = db.catalog(REQUEST_BUSY)?;
                let Some(p) = catalog.get(turn % catalog.len().max(1)) else { return Ok(None) };
                let price = next_price(p.list_cents, p.price_cents, roll);
                db.set_price(p.id, price).map(|()| Some((p.id, price)))
            })
            .await;
            match changed {
                Ok(Ok(Some((id, price)))) => {
                    prices.publish(id, price);
                    *lock(&prices.updater_error) = None;
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => *lock(&prices.updater_error) = Some(e.to_string()),
                Err(e) => *lock(&prices.updater_error) = Some(format!("price update task: {e}")),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_drift_within_twenty_percent_and_always_change() {
        let mut rng = Rng::seeded(7);
        let mut current = 2200;
        for _ in 0..10_000 {
            let next = next_price(2200, current, rng.next_u64());
            assert!((1760..=2640).contains(&next), "{next}");
            assert_ne!(next, current);
            current = next;
        }
        // The edges: a roll that lands on the current price at the top or bottom moves inward.
        assert_eq!(next_price(100, 120, 40), 119);
        assert_eq!(next_price(100, 80, 0), 81);
    }

    #[test]
    fn a_paused_indexer_lets_the_queue_age_and_resuming_catches_up() {
        let prices = Prices::new([Indexed { id: 1, name: "Milk jug".into(), price_cents: 1450 }]);
        prices.publish(1, 1500);
        prices.pause();
        assert_eq!(prices.lag().depth, 1);
        prices.publish(1, 1510);
        assert_eq!(prices.search("milk")[0].price_cents, 1450, "nothing consumed yet");
        assert_eq!(prices.resume(), 2);
        assert_eq!(prices.consume(), 2);
        assert_eq!(prices.search("1")[0].price_cents, 1510, "the latest update wins");
        assert_eq!(prices.lag(), Lag { oldest: Duration::ZERO, depth: 0 });
    }
}
