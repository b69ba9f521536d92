//! State snapshots for fast restarts, kept off the writer's path: a thread folds the
//! committed events into its own copy of the state and writes it every
//! [`SNAPSHOT_EVERY`] events. The writer never clones the state or waits for the write.

use std::sync::{Arc, Weak};

use tokio::sync::broadcast;

use super::hub::{Hub, Published};
use super::store::{EventStore, SNAPSHOT_EVERY};
use crate::model::State;

/// Starts the snapshot thread on `store` (a second handle on the writer's store), which also
/// does the store's housekeeping; false if it could not start (the writer then keeps it).
pub fn start(store: Box<dyn EventStore>, hub: Arc<Hub>) -> bool {
    let spawned = std::thread::Builder::new().name("warroom-checkpoint".into()).spawn(move || {
        let last = store.last_snapshot_seq().unwrap_or(0);
        // Subscribe before copying, so no event falls between the copy and the first one read.
        let live = hub.subscribe();
        let state = hub.state().clone();
        // Weak, so the thread holds no sender: it ends when the server drops the hub.
        let maintained = state.seq;
        Checkpoints { store, hub: Arc::downgrade(&hub), live, state, last, maintained }.run();
    });
    if let Err(e) = spawned {
        crate::stderr!("warroom: no state snapshots will be written (thread: {e})");
        return false;
    }
    true
}

struct Checkpoints {
    store: Box<dyn EventStore>,
    hub: Weak<Hub>,
    live: broadcast::Receiver<Arc<Published>>,
    state: State,
    /// The seq of the newest snapshot written.
    last: u64,
    /// The seq at the last housekeeping.
    maintained: u64,
}

/// Housekeeping (SQLite's WAL checkpoint) every this many events: about the WAL pages
/// SQLite's own default (1,000) would let a busy log write between checkpoints, times four.
const MAINTAIN_EVERY: u64 = 1024;

impl Checkpoints {
    fn run(mut self) {
        loop {
            match self.live.blocking_recv() {
                Ok(p) => {
                    if p.seq > self.state.seq {
                        self.state.apply(&p.event);
                    }
                }
                // The server is stopping.
                Err(broadcast::error::RecvError::Closed) => return,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Writing a snapshot took longer than the buffer lasts: copy the shared
                    // state once (closed incidents hold no timelines, so it is small) and go on.
                    let Some(hub) = self.hub.upgrade() else { return };
                    self.live = hub.subscribe();
                    self.state = hub.state().clone();
                }
            }
            if self.state.seq >= self.maintained.saturating_add(MAINTAIN_EVERY) {
                self.maintained = self.state.seq;
                if let Err(e) = self.store.maintain() {
                    crate::stderr!("warroom: store housekeeping at seq {} failed: {e}", self.state.seq);
                }
            }
            if self.state.seq >= self.last.saturating_add(SNAPSHOT_EVERY) {
                // A failed snapshot only costs start-up time (the log is intact), but an
                // operator should know why restarts got slow.
                match self.store.write_snapshot(&self.state) {
                    Ok(()) => self.last = self.state.seq,
                    Err(e) => {
                        crate::stderr!("warroom: writing the snapshot at seq {} failed: {e}", self.state.seq);
                        // Try again after as many events again, not after every one.
                        self.last = self.state.seq;
                    }
                }
            }
        }
    }
}
