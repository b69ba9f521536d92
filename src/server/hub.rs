//! The hub: the committed state every reader sees, the broadcast of committed events that
//! feeds every stream subscriber, and who holds how many streams. Only the writer changes state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use axum::body::Bytes;
use tokio::sync::broadcast;

use crate::model::{Event, State};

/// Subscribers further behind than this are told to re-sync instead of silently skipping.
pub const STREAM_BUFFER: usize = 16 * 1024;

/// A committed event as one ready-to-send SSE frame, built once for every subscriber.
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    pub frame: Bytes,
    /// For the server's own observers (the notifier).
    pub event: Event,
}

/// `id: seq` / `event: kind` / `data: json`. Compact JSON never contains a raw newline,
/// so one `data:` line is always enough.
pub fn sse_frame(seq: u64, kind: &str, json: &str) -> Bytes {
    Bytes::from(format!("id: {seq}\nevent: {kind}\ndata: {json}\n\n"))
}

pub struct Hub {
    /// The log's identity (see `Store::log_id`).
    pub log: uuid::Uuid,
    state: RwLock<State>,
    events: broadcast::Sender<Arc<Published>>,
    streams: Arc<StreamCounts>,
}

/// Open event streams per user, so that no one user's streams can crowd out everyone else's.
struct StreamCounts {
    per_user: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream, counted against its user until dropped.
pub struct StreamSlot {
    counts: Arc<StreamCounts>,
    user: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

impl Hub {
    /// `streams_per_user`: how many event streams one user may hold open at once.
    pub fn new(log: uuid::Uuid, state: State, streams_per_user: usize) -> Hub {
        let (events, _) = broadcast::channel(STREAM_BUFFER);
        let streams = Arc::new(StreamCounts { per_user: streams_per_user, open: Mutex::default() });
        Hub { log, state: RwLock::new(state), events, streams }
    }

    /// Counts a new stream for `user`; `Err(cap)` when the user already holds `cap` of them.
    pub fn open_stream(&self, user: &str) -> Result<StreamSlot, usize> {
        // Counts only: a panic while holding the lock leaves nothing half-done to protect.
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(user.to_string()).or_insert(0);
        if *n >= self.streams.per_user {
            return Err(self.streams.per_user);
        }
        *n += 1;
        Ok(StreamSlot { counts: self.streams.clone(), user: user.to_string() })
    }

    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-applied in a way readers
        // could misuse more than a crash would, so poisoning is ignored.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.events.subscribe()
    }

    /// Applies committed events, then announces them: a subscriber that reads the state
    /// after subscribing never misses an event.
    pub fn publish(&self, committed: &[(Event, Arc<str>)]) {
        if committed.is_empty() {
            return;
        }
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            for (event, _) in committed {
                state.apply(event);
            }
        }
        for (event, json) in committed {
            // No subscribers is fine.
            let frame = sse_frame(event.seq, event.fact.kind(), json);
            let _ = self.events.send(Arc::new(Published { seq: event.seq, frame, event: event.clone() }));
        }
    }
}
