//! Wire types shared by server and clients: commands, acks, snapshots, probe views, the library
//! page, event pages, errors. Facts and intents live in `model`; this is the HTTP envelope.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::library::Library;
use crate::model::probe::Sample;
pub use crate::model::{Event, Fact, Intent};
use crate::model::{Severity, State};

/// What a client sends: an intent with an idempotency key chosen by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub id: Uuid,
    #[serde(flatten)]
    pub intent: Intent,
}

impl Command {
    /// A command with a fresh id. Version 7 ids start with the time, so the server's
    /// idempotency index grows at its end instead of taking a random page per command
    /// (which, a year into a log, cost a page write for nearly every command).
    pub fn new(intent: Intent) -> Self {
        Command { id: Uuid::now_v7(), intent }
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
    pub probes: Vec<ProbeView>,
}

/// One incident in `GET /api/v1/incidents`: what a list row needs, whatever the incident's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub id: crate::model::IncidentId,
    pub title: String,
    pub severity: Severity,
    pub status: crate::model::Status,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commander: Option<String>,
    pub declared_by: String,
    pub declared_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub impact: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closure: Option<crate::model::ClosureReason>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Entries on its timeline (`GET /api/v1/incidents/{id}/timeline` pages through them).
    pub timeline_len: u64,
}

impl From<&crate::model::Incident> for IncidentSummary {
    fn from(i: &crate::model::Incident) -> Self {
        IncidentSummary {
            id: i.id,
            title: i.title.clone(),
            severity: i.severity,
            status: i.status,
            drill: i.drill,
            private: i.private,
            commander: i.commander().map(str::to_string),
            declared_by: i.declared_by.clone(),
            declared_at: i.declared_at(),
            updated_at: i.updated_at,
            impact: i.impact.clone(),
            closure: i.closure,
            services: i.services.clone(),
            timeline_len: i.timeline_len(),
        }
    }
}

/// `GET /api/v1/incidents`: one page of summaries, in the order a responder wants them (open
/// first, worst first, oldest first), as of `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentPage {
    pub log: Uuid,
    pub seq: u64,
    /// How many incidents match the filters, on every page.
    pub total: usize,
    pub offset: usize,
    pub incidents: Vec<IncidentSummary>,
}

/// `GET /api/v1/incidents/{id}`: the incident's full fold as of `seq`, everything included
/// however long ago it closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullIncident {
    pub log: Uuid,
    pub seq: u64,
    pub incident: crate::model::Incident,
}

/// `GET /api/v1/incidents/{id}/timeline`: entries `from..from + entries.len()` of `total`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelinePage {
    pub seq: u64,
    pub total: u64,
    pub from: u64,
    pub entries: Vec<crate::model::TimelineEntry>,
}

/// Samples per probe sent with a snapshot: enough for sparklines, small for a thousand probes.
pub const SNAPSHOT_SAMPLES: usize = 60;

/// What clients see of a probe: its definition and its recent samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeView {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub interval_ms: u64,
    pub conditions: Vec<String>,
    #[serde(default)]
    pub degraded: Vec<String>,
    #[serde(default)]
    pub auto_declare: Option<Severity>,
    pub samples: Vec<Sample>,
}

/// `GET /api/v1/library`: the server's playbooks and channels, and what failed to load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Loaded {
    #[serde(flatten)]
    pub library: Library,
    pub errors: Vec<String>,
}

/// `POST /api/v1/chaos/halt`: the emergency stop. The server rolls back first and records
/// after, so it answers even while the log cannot be written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HaltRequest {
    pub reason: String,
}

/// What a halt did: the runs rolled back, those whose rollback failed (retried until it
/// works), and whether the halt is in the log yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HaltReport {
    pub runs: Vec<crate::model::chaos::RunId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_back: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// The seq of the halt's record, when it was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<u64>,
    /// Why it is not recorded yet (the server keeps trying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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

/// SSE event name that ends every stream of a stopping server; its data is a [`ShutdownNotice`].
/// Not an error: reconnect after the wait it names, with `Last-Event-ID`.
pub const SHUTDOWN_EVENT: &str = "shutdown";

/// The data of a [`SHUTDOWN_EVENT`]. The same wait rides the frame's `retry` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownNotice {
    pub reconnect_after_ms: u64,
}

/// The error code (503, with `Retry-After`) of a command or new stream sent to a stopping
/// server, and `/healthz`'s status then.
pub const SHUTTING_DOWN: &str = "shutting_down";

pub const API_PREFIX: &str = "/api/v1";

/// How a warroom client names itself to the server: `User-Agent: warroom/<version>`.
pub const USER_AGENT: &str = concat!("warroom/", env!("CARGO_PKG_VERSION"));

/// The oldest client this server still speaks with. Raise it when a change to the wire would
/// make an older client misread what it gets; such a client is told to upgrade (426).
pub const MIN_CLIENT_VERSION: &str = "0.1.0";

/// `1.12.3` → `(1, 12, 3)`; `None` for anything else.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.trim().split('.').map(|p| p.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// The error code of a read that asks for events after this log's head (see `check_after`).
pub const AHEAD_OF_LOG: &str = "ahead_of_log";

/// What `GET /api/v1/gameday` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GamedayView {
    /// The newest game day, as the caller may see it (no plans before debrief for heroes).
    pub gameday: Option<crate::model::gameday::GameDay>,
    /// Its board as the caller may see it; `None` with `board_hidden` saying why.
    pub board: Option<crate::model::gameday::score::Board>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_hidden: Option<String>,
    /// The big-screen page with its share token (the game master's and villains' only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::library::ChannelInfo;
    use crate::model::probe::Health;
    use crate::model::Audience;

    #[test]
    fn versions_compare_as_numbers_and_anything_else_is_none() {
        assert_eq!(parse_version("0.10.2"), Some((0, 10, 2)));
        assert!(parse_version("0.10.2") > parse_version("0.9.9"));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
        assert_eq!(parse_version("1.x.3"), None);
        assert!(parse_version(env!("CARGO_PKG_VERSION")) >= parse_version(MIN_CLIENT_VERSION));
    }

    /// Pinned from the bytes the server sent before these types moved here from `server/`:
    /// clients of either side of that move must read each other.
    #[test]
    fn probe_views_and_the_library_page_keep_their_wire_json() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|e| panic!("{e}"));
        let view = ProbeView {
            name: "payment".into(),
            kind: "http".into(),
            target: "http://x/".into(),
            interval_ms: 500,
            conditions: vec!["[STATUS] == 200".into()],
            degraded: vec!["[RESPONSE_TIME] < 300".into()],
            auto_declare: Some(Severity::Sev2),
            samples: vec![Sample {
                probe: "payment".into(),
                at,
                scheduled: at,
                health: Health::Down,
                response_ms: 12,
                status: Some(503),
                failed: vec!["[STATUS] (503) == 200".into()],
                uptime_hour: 50.0,
            }],
        };
        let json = r#"{"name":"payment","kind":"http","target":"http://x/","interval_ms":500,"conditions":["[STATUS] == 200"],"degraded":["[RESPONSE_TIME] < 300"],"auto_declare":"SEV2","samples":[{"probe":"payment","at":"2026-11-22T10:00:00Z","scheduled":"2026-11-22T10:00:00Z","health":"down","response_ms":12,"status":503,"failed":["[STATUS] (503) == 200"],"uptime_hour":50.0}]}"#;
        assert_eq!(serde_json::to_string(&view).ok().as_deref(), Some(json));
        assert_eq!(serde_json::from_str::<ProbeView>(json).ok(), Some(view));

        let mut page = Loaded::default();
        page.library.channels.insert(
            "ops".into(),
            ChannelInfo { kind: "webhook".into(), audience: Audience::Staff, drills: false },
        );
        page.library.status_page_url = "https://s.example.com/status".into();
        page.library.components = vec!["payment".into()];
        page.errors = vec!["playbooks/x.toml: line 1: bad".into()];
        let json = r#"{"playbooks":[],"channels":{"ops":{"kind":"webhook","audience":"staff"}},"status_page_url":"https://s.example.com/status","components":["payment"],"errors":["playbooks/x.toml: line 1: bad"]}"#;
        assert_eq!(serde_json::to_string(&page).ok().as_deref(), Some(json));
        let back: Loaded = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((back.library, back.errors), (page.library, page.errors));
    }
}
