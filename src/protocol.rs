//! Wire types shared by server and clients: commands, acks, snapshots, event pages, errors.
//! Facts and intents themselves live in `model`; this file is the HTTP envelope around them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::State;
pub use crate::model::{Event, Fact, Intent};

/// What a client sends: an intent with an idempotency key chosen by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub id: Uuid,
    #[serde(flatten)]
    pub intent: Intent,
}

impl Command {
    pub fn new(intent: Intent) -> Self {
        Command { id: Uuid::new_v4(), intent }
    }
}

/// The answer to a command, sent once its events are durable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// The seq of the command's last event.
    pub seq: u64,
    pub events: Vec<Event>,
}

/// `GET /api/v1/state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Which log this is: seqs from different logs mean nothing to each other.
    pub log: Uuid,
    pub seq: u64,
    pub state: State,
    /// Each probe's definition and recent samples (telemetry: not in the log).
    #[serde(default)]
    pub probes: Vec<crate::server::probes::ProbeView>,
}

/// `GET /api/v1/events`: a page of events after a seq, and the newest seq there is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub head: u64,
}

/// `GET /api/v1/whoami`: who the bearer token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whoami {
    pub name: String,
    pub role: crate::model::UserRole,
}

/// Every 4xx/5xx body: a stable machine code and a sentence for the human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
    pub detail: String,
}

/// SSE event name the server sends when a subscriber fell behind and must reload the snapshot.
pub const RESYNC_EVENT: &str = "resync";

pub const API_PREFIX: &str = "/api/v1";

/// The error code of a read that asks for events after this log's head (see `check_after`).
pub const AHEAD_OF_LOG: &str = "ahead_of_log";
