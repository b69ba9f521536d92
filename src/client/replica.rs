//! A replica: a local copy of the shared state kept current by [`super::sync::follow`].
//! The CLI's `--follow`, tests and benchmarks use it; the console keeps its own in `App`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::sync::{follow, SyncEvent};
use super::Client;
use crate::model::State;

pub struct Replica {
    state: Arc<Mutex<State>>,
    seq: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Replica {
    pub fn spawn(client: Client) -> Replica {
        let state = Arc::new(Mutex::new(State::default()));
        let (seq_tx, seq) = watch::channel(0);
        let (tx, mut rx) = mpsc::channel(1024);
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let follower = tokio::spawn(follow(client, tx));
            while let Some(ev) = rx.recv().await {
                let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                match ev {
                    SyncEvent::Snapshot(snap) => *s = snap.state,
                    SyncEvent::Event(e) => s.apply(&e),
                    SyncEvent::Online
                    | SyncEvent::Heartbeat
                    | SyncEvent::Sample(_)
                    | SyncEvent::Offline(_) => continue,
                }
                let _ = seq_tx.send(s.seq);
            }
            follower.abort();
        });
        Replica { state, seq, task }
    }

    pub fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until the replica has applied `seq`, or the deadline passes.
    pub async fn wait_for(&mut self, seq: u64, deadline: Duration) -> Result<(), u64> {
        let reached =
            matches!(tokio::time::timeout(deadline, self.seq.wait_for(|s| *s >= seq)).await, Ok(Ok(_)));
        if reached {
            Ok(())
        } else {
            Err(*self.seq.borrow())
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}
