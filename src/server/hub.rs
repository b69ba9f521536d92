//! The hub: the committed state every reader sees, and the broadcast of committed events
//! that feeds every stream subscriber. Only the writer changes it.

use std::sync::{Arc, RwLock, RwLockReadGuard};

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
}

impl Hub {
    pub fn new(log: uuid::Uuid, state: State) -> Hub {
        let (events, _) = broadcast::channel(STREAM_BUFFER);
        Hub { log, state: RwLock::new(state), events }
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
