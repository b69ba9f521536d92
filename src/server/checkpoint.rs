//! State snapshots for fast restarts, kept off the writer's path: a thread folds the
//! committed events into its own copy of the state and, every [`SNAPSHOT_EVERY`] events,
//! hands a copy to a second thread that writes it. The writer never clones the state or
//! waits for the write, and the follower never stops reading events for longer than a copy
//! takes (had it stopped for the write, it could fall behind the broadcast buffer and have to
//! copy the shared state under the lock the writer publishes through).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::broadcast;

use super::hub::{Hub, Published};
use super::store::{EventStore, SNAPSHOT_EVERY};
use crate::model::State;

/// Starts the snapshot threads; `store` is a second handle on the writer's store.
pub fn start(store: Box<dyn EventStore>, hub: Arc<Hub>) {
    let spawned = std::thread::Builder::new().name("warroom-checkpoint".into()).spawn(move || {
        let last = store.last_snapshot_seq().unwrap_or(0);
        // Subscribe before copying, so no event falls between the copy and the first one read.
        let live = hub.subscribe();
        let state = hub.state().clone();
        // Weak, so the thread holds no sender: it ends when the server drops the hub.
        let writes = spawn_writes(store);
        Checkpoints { hub: Arc::downgrade(&hub), live, state, last, writes }.run();
    });
    if let Err(e) = spawned {
        tracing::error!("no state snapshots will be written (thread: {e})");
    }
}

/// The thread that writes snapshots, one at a time; `None` if it could not start.
fn spawn_writes(mut store: Box<dyn EventStore>) -> Option<Writes> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<State>(1);
    let busy = Arc::new(AtomicBool::new(false));
    let done = busy.clone();
    let spawned = std::thread::Builder::new().name("warroom-snapshot".into()).spawn(move || {
        while let Ok(state) = rx.recv() {
            let _idle = Idle(&done);
            // A failed snapshot only costs start-up time (the log is intact), but an operator
            // should know why restarts got slow.
            if let Err(e) = store.write_snapshot(&state) {
                tracing::error!(seq = state.seq, "writing the snapshot at seq {} failed: {e}", state.seq);
            }
        }
    });
    match spawned {
        Ok(_) => Some(Writes { tx, busy }),
        Err(e) => {
            tracing::error!("no state snapshots will be written (thread: {e})");
            None
        }
    }
}

/// Where snapshots go, and whether one is being written (so a copy is made only when it can
/// be taken).
struct Writes {
    tx: std::sync::mpsc::SyncSender<State>,
    busy: Arc<AtomicBool>,
}

/// Marks the write thread idle when a write ends, however it ends.
struct Idle<'a>(&'a AtomicBool);

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

struct Checkpoints {
    hub: Weak<Hub>,
    live: broadcast::Receiver<Arc<Published>>,
    state: State,
    /// The seq of the newest snapshot written.
    last: u64,
    writes: Option<Writes>,
}

impl Checkpoints {
    fn run(mut self) {
        // A start that folded a long log (no snapshot yet, or an old one) snapshots at once,
        // so the next restart does not fold it all again.
        self.snapshot_if_due();
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
                    // Copying the state took longer than the buffer lasts (a starved thread):
                    // copy the shared state once (closed incidents hold no timelines), go on.
                    let Some(hub) = self.hub.upgrade() else { return };
                    self.live = hub.subscribe();
                    self.state = hub.state().clone();
                }
            }
            self.snapshot_if_due();
        }
    }

    /// Hands a copy of the state to the writing thread when [`SNAPSHOT_EVERY`] events came
    /// since the last snapshot, unless it is still writing one (then after the next event).
    fn snapshot_if_due(&mut self) {
        if self.state.seq < self.last.saturating_add(SNAPSHOT_EVERY) {
            return;
        }
        let Some(writes) = &self.writes else { return };
        if writes.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        match writes.tx.try_send(self.state.clone()) {
            Ok(()) => self.last = self.state.seq,
            Err(_) => self.writes = None,
        }
    }
}
