//! `GET /api/v1/stream`: committed events as Server-Sent Events. Catches up from the store
//! after `Last-Event-ID`, then follows the broadcast; a subscriber that falls behind is told
//! to re-sync from the snapshot rather than silently skipping events. Frames are built once
//! per event and shared; a subscriber that is behind gets its pending frames in one write.
//! Each subscriber gets an event about a private incident it may not see as a `redacted`
//! placeholder, and is told to re-sync when what it may see changes. A stopping server ends
//! every stream with a `shutdown` event and a `retry` hint: come back soon, with Last-Event-ID.

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
use crate::protocol::{ShutdownNotice, RESYNC_EVENT, SHUTDOWN_EVENT};

const CATCH_UP_PAGE: usize = 1000;
/// Most frames, and about the most bytes, coalesced into one chunk for a subscriber that is
/// behind: one write carries them all, and a stalled peer holds at most about this much.
const MAX_COALESCE: usize = 256;
const MAX_CHUNK: usize = 64 * 1024;
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// When a stopping server tells its clients to come back (streams' `retry`, commands'
/// `Retry-After`): about what a restart takes. Clients add their own jitter.
pub const RECONNECT_AFTER: Duration = Duration::from_secs(1);

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
    super::api::check_after(after, super::api::head_reaching(&app, after).await)?;
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
    let live = app.hub().subscribe_stream();
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
        quiet: None,
        last_sent: tokio::time::Instant::now(),
        caller,
        view,
        _slot: slot,
    };
    // The body itself follows the broadcast: no task or channel per subscriber, and a
    // disconnect simply drops it. Its connection writes it (see `conn::Takeover`).
    let body = futures_util::stream::unfold(follower, |mut f| async move {
        let chunk = f.step().await?;
        Some((chunk, f))
    });
    let (handoff, body) = super::conn::Handoff::new(Box::pin(body));
    let mut response = sse_response(body);
    response.extensions_mut().insert(handoff);
    Ok(response)
}

/// An event stream's response: never cached, never buffered by a proxy (nginx honours
/// `X-Accel-Buffering`). The big-screen scoreboard's stream uses it too.
pub fn sse_response(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response()
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
    /// Wakes the subscriber to check for silence; reset only when it fires, not per event
    /// (a timer registration per event per subscriber was the fan-out's largest cost in
    /// user space).
    /// Made on the first live wait, so that it belongs to the fan-out runtime's timers.
    quiet: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// When this subscriber was last sent anything.
    last_sent: tokio::time::Instant,
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
            return self.shut_down().await;
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

    /// The server is stopping: the events committed before the stop that this subscriber
    /// lacks (read from the store, as a catch-up: the relay may not have handed them over yet),
    /// then the shutdown notice, so its client resumes from the head; `None` once sent.
    async fn shut_down(&mut self) -> Option<Bytes> {
        let mut chunk = Bytes::new();
        match self.phase {
            Phase::Done => return None,
            // Nothing sent yet, not even the hello: the client resumes from where it asked.
            Phase::Hello => {}
            Phase::CatchUp | Phase::Live => {
                self.head = self.app.hub().state().seq;
                if self.next <= self.head {
                    chunk = self.catch_up().await;
                    // Ended with a resync: the client must reload anyway.
                    if matches!(self.phase, Phase::Done) {
                        return Some(chunk);
                    }
                }
            }
        }
        self.phase = Phase::Done;
        Some(concat(&[chunk, shutdown_notice()]))
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
                && !self.view.is_all()
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
        let chunk = self.next_live().await;
        self.last_sent = tokio::time::Instant::now();
        chunk
    }

    async fn next_live(&mut self) -> Option<Bytes> {
        let heartbeat = self.app.inner.heartbeat;
        let last_sent = self.last_sent;
        let quiet =
            self.quiet.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(last_sent + heartbeat)));
        let first = loop {
            tokio::select! {
                r = self.live.recv() => break r,
                s = self.samples.recv() => return match s {
                    Ok(frame) => Some(frame),
                    // Telemetry is lossy by design: a lagging subscriber just misses samples.
                    Err(_) => Some(Bytes::new()),
                },
                _ = self.closing.changed() => return self.shut_down().await,
                () = quiet.as_mut() => {
                    let due = last_sent + heartbeat;
                    let now = tokio::time::Instant::now();
                    if now >= due {
                        quiet.as_mut().reset(now + heartbeat);
                        // Keeps proxies from closing an idle stream, tells the client it is
                        // still live, and carries the head so a client that somehow missed an
                        // event notices.
                        return Some(Bytes::from(format!(
                            "event: heartbeat\ndata: {{\"head\":{}}}\n\n",
                            self.next - 1
                        )));
                    }
                    quiet.as_mut().reset(due);
                }
            }
        };
        let next = &mut self.next;
        let (app, caller, view) = (&self.app, &self.caller, &mut self.view);
        let batch = coalesce(&mut self.live, first, next, |p| {
            let changed = follow_access(app, caller, view, p);
            (if view.sees(p.audience) { p.frame.clone() } else { p.redacted.clone() }, changed)
        });
        match batch {
            Batch::Frames(chunk) => Some(chunk),
            Batch::End(chunk, reason) => Some(self.end(chunk, reason)),
            Batch::Closed(chunk) => {
                self.phase = Phase::Done;
                Some(concat(&[chunk, shutdown_notice()]))
            }
        }
    }
}

/// What one wake-up of a subscriber sends.
#[derive(Debug, PartialEq)]
enum Batch {
    /// Every frame that was ready, in seq order, as one chunk: one write for the lot.
    Frames(Bytes),
    /// These frames, then the stream ends with a resync notice for this reason.
    End(Bytes, &'static str),
    /// These frames, then the stream ends: the server is going away.
    Closed(Bytes),
}

/// Takes `first` and whatever else is already queued on `live` (up to [`MAX_COALESCE`]
/// frames), advancing `next`. `frame_for` picks an event's frame for this subscriber and says
/// whether its access changed (the stream then ends after that frame). An event already sent
/// is skipped; a gap (the subscriber fell behind the broadcast) ends the stream.
fn coalesce(
    live: &mut broadcast::Receiver<Arc<Published>>,
    first: Result<Arc<Published>, broadcast::error::RecvError>,
    next: &mut u64,
    mut frame_for: impl FnMut(&Published) -> (Bytes, bool),
) -> Batch {
    use broadcast::error::{RecvError, TryRecvError};
    let mut batch: Vec<Bytes> = Vec::new();
    let mut bytes = 0;
    let mut item = first;
    loop {
        match item {
            Ok(p) if p.seq < *next => {}
            Ok(p) if p.seq == *next => {
                *next += 1;
                let (frame, changed) = frame_for(&p);
                bytes += frame.len();
                batch.push(frame);
                if changed {
                    return Batch::End(concat(&batch), ACCESS_CHANGED);
                }
            }
            Ok(_) | Err(RecvError::Lagged(_)) => return Batch::End(concat(&batch), FELL_BEHIND),
            Err(RecvError::Closed) => return Batch::Closed(concat(&batch)),
        }
        if batch.len() >= MAX_COALESCE || bytes >= MAX_CHUNK {
            return Batch::Frames(concat(&batch));
        }
        item = match live.try_recv() {
            Ok(p) => Ok(p),
            Err(TryRecvError::Empty) => return Batch::Frames(concat(&batch)),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
        };
    }
}

const FELL_BEHIND: &str = "the subscriber fell behind";

/// Keeps `view` current with an event that may change who sees its private incident
/// (judged on the hub's state, which is at or past the event). True when the client must
/// reload: its access changed by anything but declaring (a declaration it now sees
/// folds like any other event).
fn follow_access(app: &App, caller: &Caller, view: &mut View, p: &Published) -> bool {
    if view.is_all() {
        return false;
    }
    match &p.event.fact {
        // A new game day's plot is kept from heroes from the start (nothing of it is known
        // yet: no reload).
        Fact::GamedayCreated { gameday, .. } if !super::hub::knows_plots(caller.role) => {
            view.set_hidden(*gameday, true);
            return false;
        }
        // The debrief reveals it all: the hero's copy lacks what it was kept from.
        Fact::GamedayEnded { gameday } => return view.set_hidden(*gameday, false),
        _ => {}
    }
    let Some(id) = p.audience.incident else { return false };
    let declared = match &p.event.fact {
        Fact::IncidentDeclared { .. } => true,
        Fact::MemberAdded { .. } | Fact::MemberRemoved { .. } | Fact::RoleAssigned { .. } => false,
        _ => return false,
    };
    let sees = {
        let state = app.hub().state();
        state.incidents.get(&id).is_some_and(|i| i.visible_to(&caller.name, caller.role))
    };
    view.set(id, sees) && !declared
}

const ACCESS_CHANGED: &str =
    "what you may see changed (a private incident's people, or a game day's debrief)";

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

/// The end of a stream whose server is stopping: `retry` for generic EventSource clients,
/// and an event naming the same wait for ours (`client::StreamItem::Shutdown`).
fn shutdown_notice() -> Bytes {
    let ms = u64::try_from(RECONNECT_AFTER.as_millis()).unwrap_or(u64::MAX);
    let data = serde_json::to_string(&ShutdownNotice { reconnect_after_ms: ms }).unwrap_or_default();
    Bytes::from(format!("retry: {ms}\nevent: {SHUTDOWN_EVENT}\ndata: {data}\n\n"))
}

fn resync(reason: &str) -> Bytes {
    let data = serde_json::json!({ "reason": reason });
    Bytes::from(format!("event: {RESYNC_EVENT}\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, UserRole};

    fn published(seq: u64) -> Arc<Published> {
        let event = Event {
            seq,
            at: chrono::DateTime::UNIX_EPOCH,
            actor: "alice".into(),
            role: UserRole::Responder,
            command_id: uuid::Uuid::nil(),
            fact: Fact::Redacted,
        };
        let frame = sse_frame(seq, "note_added", &format!("{{\"seq\":{seq}}}"));
        Arc::new(Published {
            seq,
            frame,
            event,
            audience: crate::server::hub::Readers::EVERYONE,
            redacted: Bytes::new(),
        })
    }

    fn frames(from: u64, to: u64) -> Bytes {
        concat(&(from..=to).map(|s| published(s).frame.clone()).collect::<Vec<_>>())
    }

    #[test]
    fn events_queued_before_a_subscriber_wakes_leave_in_one_chunk_in_order_exactly_once() {
        let (tx, mut rx) = broadcast::channel(64);
        // Seq 3 again (already sent in catch-up) and 4..=8 queued before the subscriber polls.
        for seq in [3, 4, 5, 6, 7, 8] {
            tx.send(published(seq)).unwrap();
        }
        let mut next = 4;
        let first = rx.try_recv().map_err(|_| broadcast::error::RecvError::Closed);
        let batch = coalesce(&mut rx, first, &mut next, |p| (p.frame.clone(), false));
        assert_eq!(batch, Batch::Frames(frames(4, 8)));
        assert_eq!(next, 9);
        // Nothing is left to send twice.
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Empty)));
    }

    #[test]
    fn a_long_backlog_is_sent_in_bounded_chunks_and_a_gap_ends_the_stream_with_a_resync() {
        let (tx, mut rx) = broadcast::channel(1024);
        let last = MAX_COALESCE as u64 + 10;
        for seq in 1..=last {
            tx.send(published(seq)).unwrap();
        }
        let mut next = 1;
        let first = rx.try_recv().map_err(|_| broadcast::error::RecvError::Closed);
        assert_eq!(
            coalesce(&mut rx, first, &mut next, |p| (p.frame.clone(), false)),
            Batch::Frames(frames(1, MAX_COALESCE as u64))
        );
        let first = rx.try_recv().map_err(|_| broadcast::error::RecvError::Closed);
        assert_eq!(
            coalesce(&mut rx, first, &mut next, |p| (p.frame.clone(), false)),
            Batch::Frames(frames(MAX_COALESCE as u64 + 1, last))
        );
        // An event missing from the broadcast is never skipped silently.
        tx.send(published(last + 2)).unwrap();
        let first = rx.try_recv().map_err(|_| broadcast::error::RecvError::Closed);
        assert_eq!(
            coalesce(&mut rx, first, &mut next, |p| (p.frame.clone(), false)),
            Batch::End(Bytes::new(), FELL_BEHIND)
        );
    }

    #[test]
    fn a_subscriber_whose_access_changed_gets_the_frames_up_to_that_event_then_the_end() {
        let (tx, mut rx) = broadcast::channel(64);
        for seq in 1..=4 {
            tx.send(published(seq)).unwrap();
        }
        let mut next = 1;
        let first = rx.try_recv().map_err(|_| broadcast::error::RecvError::Closed);
        let batch = coalesce(&mut rx, first, &mut next, |p| (p.frame.clone(), p.seq == 2));
        assert_eq!(batch, Batch::End(frames(1, 2), ACCESS_CHANGED));
    }

    #[test]
    fn a_backlog_of_large_events_is_cut_into_chunks_of_about_the_byte_bound() {
        let (tx, mut rx) = broadcast::channel(64);
        let big = |seq: u64| {
            let p = published(seq);
            let frame = sse_frame(seq, "note_added", &"x".repeat(20_000));
            Arc::new(Published {
                seq,
                frame,
                event: p.event.clone(),
                audience: crate::server::hub::Readers::EVERYONE,
                redacted: Bytes::new(),
            })
        };
        for seq in 1..=10 {
            tx.send(big(seq)).unwrap();
        }
        let mut next = 1;
        let first = rx.try_recv().map_err(|_| broadcast::error::RecvError::Closed);
        let Batch::Frames(chunk) = coalesce(&mut rx, first, &mut next, |p| (p.frame.clone(), false)) else {
            panic!("a plain batch")
        };
        // Four frames reach the bound: the chunk ends there, the rest waits for the next write.
        assert_eq!(next, 5);
        assert_eq!(chunk, concat(&(1..=4).map(|s| big(s).frame.clone()).collect::<Vec<_>>()));
    }
}
