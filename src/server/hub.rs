//! The hub: the committed state every reader sees, and the broadcast of committed events
//! that feeds every stream subscriber. Only the writer changes it.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use tokio::sync::broadcast;

use crate::model::{Event, State};

/// Subscribers further behind than this are told to re-sync instead of silently skipping.
pub const STREAM_BUFFER: usize = 16 * 1024;

/// A committed event, serialized once for every subscriber.
#[derive(Debug)]
pub struct Published {
    pub seq: u64,
    pub kind: &'static str,
    pub json: Arc<str>,
}

pub struct Hub {
    state: RwLock<State>,
    events: broadcast::Sender<Arc<Published>>,
}

impl Hub {
    pub fn new(state: State) -> Hub {
        let (events, _) = broadcast::channel(STREAM_BUFFER);
        Hub { state: RwLock::new(state), events }
    }

    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-applied in a way readers
        // could misuse more than a crash would, so poisoning is ignored.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.events.subscribe()
    }

    pub fn subscribers(&self) -> usize {
        self.events.receiver_count()
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
            let _ = self.events.send(Arc::new(Published {
                seq: event.seq,
                kind: event.fact.kind(),
                json: json.clone(),
            }));
        }
    }
}
