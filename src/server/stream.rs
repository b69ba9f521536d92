//! `GET /api/v1/stream`: committed events as Server-Sent Events. Catches up from the store
//! after `Last-Event-ID`, then follows the broadcast; a subscriber that falls behind is told
//! to re-sync from the snapshot rather than silently skipping events. Frames are built once
//! per event and shared; a subscriber that is behind gets its pending frames in one write.
//! Each subscriber gets an event about a private incident it may not see as a `redacted`
//! placeholder, and is told to re-sync when what it may see changes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast;

use super::api::{query_numbers, App, HttpError};
use super::hub::{placeholder_json, sse_frame, Published, StreamSlot, View};
use super::writer::Caller;
use crate::model::Fact;
use crate::protocol::RESYNC_EVENT;

const CATCH_UP_PAGE: usize = 1000;
/// Most frames coalesced into one chunk for a subscriber that is behind.
const MAX_COALESCE: usize = 256;
pub const HEARTBEAT: Duration = Duration::from_secs(10);

pub async fn stream(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, HttpError> {
    let q = query_numbers(q.as_deref(), &["after"])?;
    let after = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| HttpError::bad_request("Last-Event-ID must be an event seq"))?,
        None => q.get("after").copied().unwrap_or(0),
    };
    super::api::check_after(after, app.hub().state().seq)?;
    let slot = app.hub().open_stream(&caller.name).map_err(|cap| {
        HttpError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!(
                "{} already has {cap} event streams open, the most one user may hold \
                 ([limits] streams_per_user): close one first",
                caller.name
            ),
        )
    })?;
    // Subscribe before reading the head: every event past the head then reaches us. The
    // view is read with the head: catch-up shows the past as the caller may see it now.
    let live = app.hub().subscribe();
    let (head, view) = {
        let state = app.hub().state();
        (state.seq, View::of(&state, &caller))
    };
    let closing = app.inner.closing.subscribe();
    let samples = app.inner.telemetry.subscribe();
    let follower = Follower {
        app,
        live,
        samples,
        closing,
        next: after + 1,
        head,
        phase: Phase::Hello,
        caller,
        view,
        _slot: slot,
    };
    // The body itself follows the broadcast: no task or channel per subscriber, and a
    // disconnect simply drops it.
    let body = futures_util::stream::unfold(follower, |mut f| async move {
        let chunk = f.step().await?;
        Some((Ok::<_, Infallible>(chunk), f))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

enum Phase {
    Hello,
    CatchUp,
    Live,
    Done,
}

struct Follower {
    app: App,
    live: broadcast::Receiver<Arc<Published>>,
    closing: tokio::sync::watch::Receiver<bool>,
    /// Probe samples: streamed, never logged, no seq.
    samples: broadcast::Receiver<Bytes>,
    /// The seq this subscriber needs next.
    next: u64,
    /// The newest seq when it subscribed: catch up to here from the store.
    head: u64,
    phase: Phase,
    caller: Caller,
    /// Which private incidents this subscriber sees; kept current as membership changes.
    view: View,
    /// Counts this stream against its user while the body lives.
    _slot: StreamSlot,
}

impl Follower {
    /// The next chunk to send, or `None` when the stream ends.
    async fn step(&mut self) -> Option<Bytes> {
        if *self.closing.borrow() {
            return None;
        }
        match self.phase {
            Phase::Hello => {
                let hello = Bytes::from(format!(
                    "event: hello\ndata: {{\"head\":{},\"log\":\"{}\"}}\n\n",
                    self.head,
                    self.app.hub().log
                ));
                // A client ahead of the log was refused before the stream opened (check_after).
                self.phase = if self.next <= self.head { Phase::CatchUp } else { Phase::Live };
                Some(hello)
            }
            Phase::CatchUp => Some(self.catch_up().await),
            Phase::Live => self.live().await,
            Phase::Done => None,
        }
    }

    /// The last chunk: what was still to send, then the resync notice.
    fn end(&mut self, before: Bytes, reason: &str) -> Bytes {
        self.phase = Phase::Done;
        let mut chunk = before.to_vec();
        chunk.extend_from_slice(&resync(reason));
        Bytes::from(chunk)
    }

    async fn catch_up(&mut self) -> Bytes {
        let Ok(page) = self.app.event_bodies(self.next, self.head, CATCH_UP_PAGE).await else {
            return self.end(Bytes::new(), "the event store could not be read");
        };
        let mut chunk = Vec::new();
        for row in page {
            if row.seq != self.next {
                return self.end(Bytes::from(chunk), "the event store has a gap");
            }
            if self.view.sees_stored(row.audience.as_deref()) {
                chunk.extend_from_slice(&sse_frame(row.seq, &row.kind, &row.body));
            } else {
                chunk.extend_from_slice(&sse_frame(
                    row.seq,
                    "redacted",
                    &placeholder_json(row.seq, &row.body),
                ));
            }
            self.next += 1;
            // The client's copy was built with what it saw before this event: after a change
            // to its own access it must reload (it may hold an incident it may no longer see,
            // or lack one it now may).
            let about_people =
                matches!(row.kind.as_str(), "member_added" | "member_removed" | "role_assigned");
            if about_people
                && row.audience.is_some()
                && self.view != View::All
                && names(&row.body, &self.caller.name)
            {
                return self.end(Bytes::from(chunk), ACCESS_CHANGED);
            }
        }
        if self.next > self.head {
            self.phase = Phase::Live;
        }
        Bytes::from(chunk)
    }

    /// Waits for the next event (or a heartbeat), then takes whatever else is already queued;
    /// `None` when the server is stopping.
    async fn live(&mut self) -> Option<Bytes> {
        let waited = tokio::select! {
            r = tokio::time::timeout(self.app.inner.heartbeat, self.live.recv()) => r,
            s = self.samples.recv() => match s {
                Ok(frame) => return Some(frame),
                // Telemetry is lossy by design: a lagging subscriber just misses samples.
                Err(_) => return Some(Bytes::new()),
            },
            _ = self.closing.changed() => return None,
        };
        let mut item = match waited {
            // Keeps proxies from closing an idle stream, tells the client it is still live,
            // and carries the head so a client that somehow missed an event notices.
            Err(_) => {
                return Some(Bytes::from(format!(
                    "event: heartbeat\ndata: {{\"head\":{}}}\n\n",
                    self.next - 1
                )));
            }
            Ok(r) => r,
        };
        let mut batch: Vec<Bytes> = Vec::new();
        loop {
            match item {
                Ok(p) if p.seq < self.next => {}
                Ok(p) if p.seq == self.next => {
                    self.next += 1;
                    let changed = self.follow_access(&p);
                    batch.push(if self.view.sees(p.audience) { p.frame.clone() } else { p.redacted.clone() });
                    if changed {
                        return Some(self.end(concat(&batch), ACCESS_CHANGED));
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some(self.end(concat(&batch), "the subscriber fell behind"));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.phase = Phase::Done;
                    return Some(concat(&batch));
                }
            }
            if batch.len() >= MAX_COALESCE {
                break;
            }
            item = match self.live.try_recv() {
                Ok(p) => Ok(p),
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Lagged(n)) => Err(broadcast::error::RecvError::Lagged(n)),
                Err(broadcast::error::TryRecvError::Closed) => Err(broadcast::error::RecvError::Closed),
            };
        }
        Some(concat(&batch))
    }
}

impl Follower {
    /// Keeps the view current with an event that may change who sees its private incident
    /// (judged on the hub's state, which is at or past the event). True when the client must
    /// reload: its access changed by anything but declaring (a declaration it now sees
    /// folds like any other event).
    fn follow_access(&mut self, p: &Published) -> bool {
        let Some(id) = p.audience else { return false };
        if self.view == View::All {
            return false;
        }
        let declared = match &p.event.fact {
            Fact::IncidentDeclared { .. } => true,
            Fact::MemberAdded { .. } | Fact::MemberRemoved { .. } | Fact::RoleAssigned { .. } => false,
            _ => return false,
        };
        let sees = {
            let state = self.app.hub().state();
            state.incidents.get(&id).is_some_and(|i| i.visible_to(&self.caller.name, self.caller.role))
        };
        self.view.set(id, sees) && !declared
    }
}

const ACCESS_CHANGED: &str = "what you may see of a private incident changed";

/// Whether a stored membership or role event names `person` (added, removed, assigned, or
/// relieved of a role). Other kinds are not decoded.
fn names(body: &str, person: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct People {
        kind: String,
        person: Option<String>,
        previous: Option<String>,
    }
    let Ok(p) = serde_json::from_str::<People>(body) else { return false };
    matches!(p.kind.as_str(), "member_added" | "member_removed" | "role_assigned")
        && (p.person.as_deref() == Some(person) || p.previous.as_deref() == Some(person))
}

/// Frames as one chunk (zero-copy for the common single-frame case).
fn concat(batch: &[Bytes]) -> Bytes {
    match batch {
        [] => Bytes::new(),
        [one] => one.clone(),
        many => {
            let mut chunk = Vec::with_capacity(many.iter().map(|f| f.len()).sum());
            for f in many {
                chunk.extend_from_slice(f);
            }
            Bytes::from(chunk)
        }
    }
}

fn resync(reason: &str) -> Bytes {
    let data = serde_json::json!({ "reason": reason });
    Bytes::from(format!("event: {RESYNC_EVENT}\ndata: {data}\n\n"))
}
