//! Following the server: snapshot, then the stream from the last seq; reconnect with backoff,
//! and reload the snapshot on a gap or when the server says the client fell behind. A server
//! that says it is stopping is a restart, not a failure: come back after its hint, from the
//! last seq, and say "server restarting" until it is back.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Client, StreamItem};
use crate::protocol::{Event, Snapshot};

/// Longer than the server's heartbeat: silence this long means the connection is dead.
const SILENCE: Duration = Duration::from_secs(25);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// After a server said it was stopping, how long failing to reach it still reads as its
/// restart rather than as the errors of connecting to a port nobody listens on.
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// What [`SyncEvent::Offline`] says while the server restarts: news, not an error.
pub const RESTARTING: &str = "server restarting";

#[derive(Debug, Clone)]
pub enum SyncEvent {
    Snapshot(Snapshot),
    Event(Event),
    Online,
    /// The server is alive and we are current.
    Heartbeat,
    Sample(crate::model::probe::Sample),
    Offline(String),
}

/// Runs until the receiver is dropped.
pub async fn follow(client: Client, tx: mpsc::Sender<SyncEvent>) {
    // Where we are: which log, and the last seq applied from it.
    let mut seq: Option<(uuid::Uuid, u64)> = None;
    let mut retry = Retry::new();
    loop {
        let (problem, wait) = match run_once(&client, &tx, &mut seq, &mut retry).await {
            Ok(()) => return,
            Err(Break::Problem(problem)) => retry.failed(problem, Instant::now()),
            Err(Break::Restarting(hint)) => retry.restarting(hint, Instant::now()),
        };
        if tx.send(SyncEvent::Offline(problem)).await.is_err() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Why a connection ended.
enum Break {
    /// Something went wrong: retry with backoff, saying what.
    Problem(String),
    /// The server said it is stopping: come back after this.
    Restarting(Duration),
}

/// When to reconnect and what to say meanwhile.
#[derive(Debug)]
struct Retry {
    backoff: Duration,
    attempt: u32,
    /// When the server last said it was stopping, until it is back.
    restarting: Option<Instant>,
}

impl Retry {
    fn new() -> Retry {
        Retry { backoff: FIRST_BACKOFF, attempt: 0, restarting: None }
    }

    /// Connected: the next problem starts the backoff afresh.
    fn online(&mut self) {
        self.backoff = FIRST_BACKOFF;
        self.restarting = None;
    }

    /// A connection failed: what to show, and how long to wait.
    fn failed(&mut self, problem: String, now: Instant) -> (String, Duration) {
        let restarting = self.restarting.is_some_and(|since| now.duration_since(since) < RESTART_WINDOW);
        if !restarting {
            self.restarting = None;
        }
        let wait = self.backoff + self.jitter();
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        (if restarting { RESTARTING.to_string() } else { problem }, wait)
    }

    /// The server is stopping and asked to come back after `hint`.
    fn restarting(&mut self, hint: Duration, now: Instant) -> (String, Duration) {
        self.restarting = Some(now);
        self.backoff = FIRST_BACKOFF;
        (RESTARTING.to_string(), hint + self.jitter())
    }

    /// Spreads a room full of consoles reconnecting after a server restart.
    fn jitter(&mut self) -> Duration {
        self.attempt = self.attempt.wrapping_add(1);
        Duration::from_millis(u64::from(self.attempt.wrapping_mul(2_654_435_761) % 200))
    }
}

/// One connection's life. `Ok` means the receiver went away; `Err` says why we must retry.
async fn run_once(
    client: &Client,
    tx: &mpsc::Sender<SyncEvent>,
    seq: &mut Option<(uuid::Uuid, u64)>,
    retry: &mut Retry,
) -> Result<(), Break> {
    let (log, after) = match *seq {
        Some(s) => s,
        None => {
            let snap = client.snapshot().await.map_err(|e| Break::Problem(e.to_string()))?;
            let s = (snap.log, snap.seq);
            if tx.send(SyncEvent::Snapshot(snap)).await.is_err() {
                return Ok(());
            }
            *seq = Some(s);
            s
        }
    };
    let mut stream = match client.stream(after).await {
        Ok(s) => s,
        // We hold events this log never had (the server was reset): start over from its snapshot.
        Err(super::ClientError::Rejected { error, detail, .. }) if error == crate::protocol::AHEAD_OF_LOG => {
            *seq = None;
            return Err(Break::Problem(format!("re-syncing: {detail}")));
        }
        Err(e) => return Err(Break::Problem(e.to_string())),
    };
    let mut current = after;
    loop {
        let item = match tokio::time::timeout(SILENCE, stream.next()).await {
            Err(_) => return Err(Break::Problem("no heartbeat from the server".into())),
            Ok(None) => return Err(Break::Problem("the server closed the stream".into())),
            Ok(Some(Err(e))) => return Err(Break::Problem(e.to_string())),
            Ok(Some(Ok(item))) => item,
        };
        match item {
            StreamItem::Hello { log: Some(other), .. } if other != log => {
                *seq = None;
                return Err(Break::Problem(
                    "the server's log changed (a reset or another server): reloading".into(),
                ));
            }
            StreamItem::Hello { .. } => {
                retry.online();
                if tx.send(SyncEvent::Online).await.is_err() {
                    return Ok(());
                }
            }
            StreamItem::Heartbeat { head } if head > current => {
                *seq = None;
                return Err(Break::Problem(format!("behind the server ({current} of {head}): reloading")));
            }
            StreamItem::Sample(s) => {
                if tx.send(SyncEvent::Sample(s)).await.is_err() {
                    return Ok(());
                }
            }
            StreamItem::Heartbeat { .. } => {
                if tx.send(SyncEvent::Heartbeat).await.is_err() {
                    return Ok(());
                }
            }
            StreamItem::Event(e) if e.seq <= current => {}
            StreamItem::Event(e) if e.seq == current + 1 => {
                current = e.seq;
                *seq = Some((log, current));
                if tx.send(SyncEvent::Event(e)).await.is_err() {
                    return Ok(());
                }
            }
            StreamItem::Event(e) => {
                *seq = None;
                return Err(Break::Problem(format!(
                    "gap in the stream ({} after {current}): reloading",
                    e.seq
                )));
            }
            StreamItem::Resync(reason) => {
                *seq = None;
                return Err(Break::Problem(format!("re-syncing: {reason}")));
            }
            // Keep `seq`: the restarted server streams on from it (Last-Event-ID).
            StreamItem::Shutdown { reconnect_after } => return Err(Break::Restarting(reconnect_after)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_says_it_restarts_is_shown_restarting_until_it_is_back_or_the_window_passes() {
        let t0 = Instant::now();
        let mut r = Retry::new();
        let refused = || "cannot reach http://w: connection refused".to_string();
        // An ordinary failure says what happened, and backs off.
        let (shown, first) = r.failed(refused(), t0);
        assert_eq!(shown, refused());
        assert!(first >= FIRST_BACKOFF);
        let (_, second) = r.failed(refused(), t0);
        assert!(second >= FIRST_BACKOFF * 2);
        // The server said it is stopping: come back after its hint, backoff afresh, and every
        // failure to reach it meanwhile reads as the restart.
        let (shown, wait) = r.restarting(Duration::from_secs(1), t0);
        assert_eq!(shown, RESTARTING);
        assert!(wait >= Duration::from_secs(1) && wait < Duration::from_millis(1200));
        let (shown, wait) = r.failed(refused(), t0 + Duration::from_secs(2));
        assert_eq!(shown, RESTARTING);
        assert!(wait < FIRST_BACKOFF * 2);
        // Past the window it is an outage again, said as such.
        let (shown, _) = r.failed(refused(), t0 + RESTART_WINDOW + Duration::from_secs(1));
        assert_eq!(shown, refused());
        // Back online, a later failure is news again too.
        r.restarting(Duration::from_secs(1), t0);
        r.online();
        assert_eq!(r.failed(refused(), t0).0, refused());
    }
}
