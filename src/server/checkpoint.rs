//! State snapshots for fast restarts, kept off the writer's path: a thread follows the
//! committed events' seqs and, every [`snapshot_every`] events, takes a copy of the shared
//! state and hands it to a second thread that writes it. The copy is cheap: incidents are
//! shared (`Arc`), so it costs a pointer per incident under the hub's read lock, and the
//! writer's next change to an incident copies only that incident. The writer never clones the
//! state or waits for the write, and no third copy of a year's state is kept to fold into.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::broadcast;

use super::hub::{Hub, Published};
use super::store::{snapshot_every, EventStore};
use crate::model::State;

/// Starts the snapshot threads; `store` is a second handle on the writer's store.
pub fn start(store: Box<dyn EventStore>, hub: Arc<Hub>) {
    let spawned = std::thread::Builder::new().name("warroom-checkpoint".into()).spawn(move || {
        let last = store.last_snapshot_seq().unwrap_or(0);
        let bytes = store.last_snapshot_bytes().unwrap_or(0);
        let live = hub.subscribe();
        let seq = hub.state().seq;
        // Weak, so the thread holds no sender: it ends when the server drops the hub.
        let writes = spawn_writes(store, bytes);
        Checkpoints { hub: Arc::downgrade(&hub), live, seq, last, writes }.run();
    });
    if let Err(e) = spawned {
        tracing::error!("no state snapshots will be written (thread: {e})");
    }
}

/// The thread that writes snapshots, one at a time; `None` if it could not start.
fn spawn_writes(mut store: Box<dyn EventStore>, last_bytes: u64) -> Option<Writes> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<State>(1);
    let busy = Arc::new(AtomicBool::new(false));
    let done = busy.clone();
    let bytes = Arc::new(AtomicU64::new(last_bytes));
    let written = bytes.clone();
    let spawned = std::thread::Builder::new().name("warroom-snapshot".into()).spawn(move || {
        // Nothing waits for a snapshot: a core an ack needs goes to the ack first.
        super::conn::lower_priority();
        while let Ok(state) = rx.recv() {
            let _idle = Idle(&done);
            // A failed snapshot only costs start-up time (the log is intact), but an operator
            // should know why restarts got slow.
            match store.write_snapshot(&state) {
                Ok(size) => written.store(size, Ordering::Release),
                Err(e) => {
                    tracing::error!(seq = state.seq, "writing the snapshot at seq {} failed: {e}", state.seq)
                }
            }
        }
    });
    match spawned {
        Ok(_) => Some(Writes { tx, busy, bytes }),
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
    /// The size of the last snapshot written (0 before the first): it spaces the next.
    bytes: Arc<AtomicU64>,
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
    /// The newest committed seq this thread heard of.
    seq: u64,
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
                Ok(p) => self.seq = self.seq.max(p.seq),
                // The server is stopping.
                Err(broadcast::error::RecvError::Closed) => return,
                // Only seqs are read here, and the next event brings the newest.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            }
            self.snapshot_if_due();
        }
    }

    /// Hands a copy of the shared state to the writing thread when [`snapshot_every`] events
    /// came since the last snapshot, unless it is still writing one (then after the next event).
    fn snapshot_if_due(&mut self) {
        let Some(writes) = &self.writes else { return };
        let every = snapshot_every(writes.bytes.load(Ordering::Acquire));
        if self.seq < self.last.saturating_add(every) {
            return;
        }
        let Some(hub) = self.hub.upgrade() else { return };
        if writes.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = hub.state().clone();
        let seq = state.seq;
        match writes.tx.try_send(state) {
            Ok(()) => self.last = seq,
            Err(_) => self.writes = None,
        }
    }
}
