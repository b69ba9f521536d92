//! `GET /api/v1/stream`: committed events as Server-Sent Events. Catches up from the store
//! after `Last-Event-ID`, then follows the broadcast; a subscriber that falls behind is told
//! to re-sync from the snapshot rather than silently skipping events. Frames are built once
//! per event and shared; a subscriber that is behind gets its pending frames in one write.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast;

use super::api::{query_numbers, App, HttpError};
use super::hub::{sse_frame, Published, StreamSlot};
use super::writer::Caller;
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
    // Subscribe before reading the head: every event past the head then reaches us.
    let live = app.hub().subscribe();
    let head = app.hub().state().seq;
    let closing = app.inner.closing.subscribe();
    let samples = app.inner.telemetry.subscribe();
    let follower =
        Follower { app, live, samples, closing, next: after + 1, head, phase: Phase::Hello, _slot: slot };
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
            chunk.extend_from_slice(&sse_frame(row.seq, &row.kind, &row.body));
            self.next += 1;
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
        let mut batch: Vec<Arc<Published>> = Vec::new();
        loop {
            match item {
                Ok(p) if p.seq < self.next => {}
                Ok(p) if p.seq == self.next => {
                    self.next += 1;
                    batch.push(p);
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

/// Frames as one chunk (zero-copy for the common single-frame case).
fn concat(batch: &[Arc<Published>]) -> Bytes {
    match batch {
        [] => Bytes::new(),
        [one] => one.frame.clone(),
        many => {
            let mut chunk = Vec::with_capacity(many.iter().map(|p| p.frame.len()).sum());
            for p in many {
                chunk.extend_from_slice(&p.frame);
            }
            Bytes::from(chunk)
        }
    }
}

fn resync(reason: &str) -> Bytes {
    let data = serde_json::json!({ "reason": reason });
    Bytes::from(format!("event: {RESYNC_EVENT}\ndata: {data}\n\n"))
}
