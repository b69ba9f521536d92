//! `GET /api/v1/stream`: committed events as Server-Sent Events. Catches up from the store
//! after `Last-Event-ID`, then follows the broadcast; a subscriber that falls behind is told
//! to re-sync from the snapshot rather than silently skipping events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::api::{query_numbers, App, HttpError};
use super::writer::Caller;
use crate::protocol::RESYNC_EVENT;

const CATCH_UP_PAGE: usize = 1000;
pub const HEARTBEAT: Duration = Duration::from_secs(10);

type Out = mpsc::Sender<Result<SseEvent, Infallible>>;

pub async fn stream(
    State(app): State<App>,
    _caller: Caller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<impl axum::response::IntoResponse, HttpError> {
    let q = query_numbers(q.as_deref(), &["after"])?;
    let after = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| HttpError::bad_request("Last-Event-ID must be an event seq"))?,
        None => q.get("after").copied().unwrap_or(0),
    };
    // Subscribe before reading the head: every event past the head then reaches us.
    let live = app.hub().subscribe();
    let head = app.hub().state().seq;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        tokio::select! {
            _ = follow(&app, &tx, live, after, head) => {}
            _ = tx.closed() => {}
        }
    });
    Ok(Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}

async fn follow(
    app: &App,
    tx: &Out,
    mut live: broadcast::Receiver<std::sync::Arc<super::hub::Published>>,
    after: u64,
    head: u64,
) {
    let hello = SseEvent::default().event("hello").data(format!("{{\"head\":{head}}}"));
    if tx.send(Ok(hello)).await.is_err() {
        return;
    }
    if after > head {
        // The client knows events this log never had (a reset server): only a snapshot helps.
        let _ = tx.send(Ok(resync("the client is ahead of this server's log"))).await;
        return;
    }
    let mut next = after + 1;
    while next <= head {
        let Ok(page) = app.event_bodies(next, head, CATCH_UP_PAGE).await else {
            let _ = tx.send(Ok(resync("the event store could not be read"))).await;
            return;
        };
        for row in page {
            if row.seq != next || tx.send(Ok(event(row.seq, &row.kind, &row.body))).await.is_err() {
                return;
            }
            next += 1;
        }
    }
    loop {
        match live.recv().await {
            Ok(p) if p.seq < next => continue,
            Ok(p) if p.seq == next => {
                if tx.send(Ok(event(p.seq, p.kind, &p.json))).await.is_err() {
                    return;
                }
                next += 1;
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                let _ = tx.send(Ok(resync("the subscriber fell behind"))).await;
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn event(seq: u64, kind: &str, json: &str) -> SseEvent {
    SseEvent::default().id(seq.to_string()).event(kind).data(json)
}

fn resync(reason: &str) -> SseEvent {
    SseEvent::default().event(RESYNC_EVENT).data(serde_json::json!({ "reason": reason }).to_string())
}
