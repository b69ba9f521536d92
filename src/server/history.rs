//! `GET /api/v1/state?at=SEQ`: the state as of any seq, folded again from the log (from the
//! newest snapshot at or before it, if any) on a blocking thread, a bounded few at a time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::api::{App, HttpError};
use super::hub::View;
use super::store::{EventReader, StoreError, StoreResult};
use super::writer::Caller;
use crate::model::{State, Window};

/// Events read from the store at a time while folding: a page's bodies stay a few megabytes.
const PAGE: usize = 5_000;

/// Folds waiting for a turn beyond those running; past this the answer is 429.
pub const FOLDS_QUEUED: usize = 16;

/// Seconds a refused caller is told to wait (`Retry-After`).
const RETRY_AFTER_SECS: u64 = 1;

/// Bounds the history folds running at once. A fold keeps a core busy for about 1.3 µs per
/// event (measured: 252 ms for a seq 189,000 events in, from the first event, release build on
/// a 2-core VM), so a seq early in a year's log costs over a second: unbounded, a few callers
/// asking for old seqs could take every core from the writer and the live readers. Half the cores fold (at least
/// one), [`FOLDS_QUEUED`] more wait their turn, and anyone past that is told to come back.
pub struct History {
    folds: Arc<Semaphore>,
    queued: AtomicUsize,
}

impl Default for History {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        History::new((cores / 2).max(1))
    }
}

/// Counts a caller waiting for a fold until it gets its turn or goes away.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl History {
    /// `at_once` folds run together (at least one).
    pub fn new(at_once: usize) -> History {
        History { folds: Arc::new(Semaphore::new(at_once.max(1))), queued: AtomicUsize::new(0) }
    }

    /// A turn to fold: at once if one is free, else after waiting behind at most
    /// [`FOLDS_QUEUED`] others; 429 `history_busy` when more wait already. The permit goes
    /// with the fold onto its thread, so a caller that hangs up does not free it early.
    async fn turn(&self) -> Result<OwnedSemaphorePermit, Response> {
        if let Ok(permit) = self.folds.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= FOLDS_QUEUED {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            let mut busy = HttpError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "history_busy",
                format!(
                    "the server is folding as many past states as it allows ({FOLDS_QUEUED} more waiting): \
                     ask again in {RETRY_AFTER_SECS} s"
                ),
            )
            .into_response();
            busy.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            return Err(busy);
        }
        let _waiting = Waiting(&self.queued);
        self.folds
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HttpError::unavailable("the server is stopping").into_response())
    }
}

/// The state as of `at` (closed incidents as summaries, as the live snapshot has them), from
/// the newest snapshot at or before `at` if the store has one, else from the first event.
///
/// Folded as the writer folds (closed incidents keep their messages and checklist) and made
/// summaries at the end: a delivery or a tick that reaches an incident after it closed is
/// counted in its `elided` then, exactly as in the full fold (a fold that dropped messages at
/// closing would not find the message and would write no entry).
pub fn fold_at(reader: &dyn EventReader, at: u64) -> StoreResult<State> {
    let start = reader.snapshot_at_or_before(at)?.unwrap_or_default();
    let mut state = start.windowed(Window::Timelines);
    while state.seq < at {
        let rows = reader.read_events(state.seq + 1, at, PAGE)?;
        if rows.is_empty() {
            return Err(StoreError::Corrupt {
                what: format!("event {}", state.seq + 1),
                detail: format!("missing before {at} (the log must be gap-free)"),
            });
        }
        for row in rows {
            row.fold_into(&mut state)?;
        }
    }
    Ok(state.windowed(Window::Summaries))
}

/// `GET /api/v1/state?at=SEQ` for `caller`: `{log, seq, state, probes}` like the live
/// snapshot, `probes` empty (samples are live only), filtered by what the caller may see
/// *now* (a hero during a hiding game day learns no plan by asking for an old seq).
pub(super) async fn state_at(app: &App, caller: &Caller, at: u64) -> Result<Response, Response> {
    let (head, view) = {
        let state = app.hub().state();
        (state.seq, View::of(&state, caller))
    };
    if at > head {
        return Err(HttpError::bad_request(format!("`at` {at} is beyond this log's newest event ({head})"))
            .into_response());
    }
    let turn = if at == 0 { None } else { Some(app.history().turn().await?) };
    let reader = app.event_reader();
    let log = app.hub().log;
    let built = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, HttpError> {
        let _turn = turn;
        let state = if at == 0 {
            State::default()
        } else {
            fold_at(reader.as_ref(), at).map_err(|e| HttpError::unavailable(e.to_string()))?
        };
        let json = serde_json::to_vec(&view.filter(&state)).map_err(|e| {
            tracing::error!(seq = at, "serializing the state at seq {at} failed: {e}");
            HttpError::unavailable("the state could not be serialized; see the server's log")
        })?;
        let head = format!("{{\"log\":\"{log}\",\"seq\":{},\"state\":", state.seq);
        let mut body = Vec::with_capacity(head.len() + json.len() + 16);
        body.extend_from_slice(head.as_bytes());
        body.extend_from_slice(&json);
        body.extend_from_slice(b",\"probes\":[]}");
        Ok(body)
    })
    .await
    .map_err(|e| HttpError::unavailable(e.to_string()).into_response())?
    .map_err(IntoResponse::into_response)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], built).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{stamp, Fact, Intent, Severity, Status, UserRole};
    use crate::server::store::{Appended, EventStore, Store};

    /// A store holding an incident declared, noted on and closed, and a second one declared.
    fn a_log(dir: &std::path::Path) -> (Store, Vec<crate::model::Event>) {
        let mut store = Store::open(&dir.join("db")).unwrap();
        let mut state = State::default();
        let mut log = Vec::new();
        let declare = |title: &str| Intent::DeclareIncident {
            title: title.into(),
            severity: Severity::Sev3,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: false,
        };
        let one = crate::model::IncidentId(1);
        let script = [
            declare("one"),
            Intent::AddNote { incident: one, text: "looking".into() },
            Intent::SetStatus { incident: one, status: Status::Closed, reason: Some("duplicate".into()) },
            Intent::AddNote { incident: one, text: "after closing".into() },
            declare("two"),
        ];
        for intent in script {
            let facts: Vec<Fact> = state.decide(&intent).unwrap();
            let at = chrono::DateTime::UNIX_EPOCH + chrono::Duration::minutes(state.seq as i64 + 1);
            let events = stamp(state.seq + 1, at, "ann", UserRole::Admin, uuid::Uuid::new_v4(), facts);
            let appended: Vec<Appended> = events
                .iter()
                .map(|e| {
                    let touches = state.touched(e);
                    state.apply(e);
                    Appended {
                        event: e.clone(),
                        json: serde_json::to_string(e).unwrap(),
                        audience: None,
                        touches,
                    }
                })
                .collect();
            let mut batch = store.begin().unwrap();
            batch.append("d", &appended).unwrap();
            batch.commit().unwrap();
            log.extend(events);
        }
        (store, log)
    }

    /// The whole fold up to `at`, closed incidents then made summaries.
    fn folded(log: &[crate::model::Event], at: u64) -> State {
        let mut s = State::default();
        for e in log.iter().filter(|e| e.seq <= at) {
            s.apply(e);
        }
        s.windowed(Window::Summaries)
    }

    #[test]
    fn a_past_state_is_the_fold_up_to_its_seq_from_the_snapshot_at_or_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, log) = a_log(dir.path());
        let readers = store.readers().unwrap();
        for at in 0..=log.len() as u64 {
            assert_eq!(fold_at(readers.as_ref(), at).unwrap(), folded(&log, at), "at {at}");
        }
        // A snapshot at 3, marked so that a fold that starts from it shows: used from 3 on only.
        let mut marked = folded(&log, 3);
        marked
            .incidents
            .values_mut()
            .for_each(|i| std::sync::Arc::make_mut(i).title = "from the snapshot".into());
        store.write_snapshot(&marked).unwrap();
        let title = |at: u64| {
            fold_at(readers.as_ref(), at).unwrap().incidents[&crate::model::IncidentId(1)].title.clone()
        };
        assert_eq!(title(2), "one");
        assert_eq!(title(3), "from the snapshot");
        assert_eq!(title(5), "from the snapshot");
        // Past the head, the log is short: said, not folded to a wrong seq.
        let err = fold_at(readers.as_ref(), 9).unwrap_err().to_string();
        assert!(err.contains("event 6") && err.contains("missing"), "{err}");
    }

    #[tokio::test]
    async fn folds_past_the_queue_are_refused_with_retry_after_and_a_turn_frees_on_drop() {
        let history = History::new(1);
        let running = history.turn().await.expect("a free turn");
        let mut waiting = Vec::new();
        for _ in 0..FOLDS_QUEUED {
            let h = &history;
            waiting.push(Box::pin(h.turn()));
        }
        // Poll each once so it registers as waiting.
        for w in &mut waiting {
            assert!(futures_util::poll!(w.as_mut()).is_pending());
        }
        let refused = history.turn().await.expect_err("the queue is full");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers().get(header::RETRY_AFTER).map(|v| v.as_bytes()), Some(&b"1"[..]));
        // A waiter that hangs up leaves room for another.
        waiting.pop();
        let mut another = Box::pin(history.turn());
        assert!(futures_util::poll!(another.as_mut()).is_pending());
        // The running fold ends: the first waiter gets the turn.
        drop(running);
        let first = waiting.remove(0).await;
        assert!(first.is_ok());
    }
}
