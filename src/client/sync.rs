//! Following the server: snapshot, then the stream from the last seq; reconnect with backoff,
//! and reload the snapshot on a gap or when the server says the client fell behind.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{Client, StreamItem};
use crate::protocol::{Event, Snapshot};

/// Longer than the server's heartbeat: silence this long means the connection is dead.
const SILENCE: Duration = Duration::from_secs(25);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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
    let mut backoff = Duration::from_millis(200);
    let mut attempt: u32 = 0;
    loop {
        let problem = match run_once(&client, &tx, &mut seq, &mut backoff).await {
            Ok(()) => return,
            Err(problem) => problem,
        };
        if tx.send(SyncEvent::Offline(problem)).await.is_err() {
            return;
        }
        // Jitter spreads a room full of consoles reconnecting after a server restart.
        attempt = attempt.wrapping_add(1);
        let jitter = Duration::from_millis(u64::from(attempt.wrapping_mul(2_654_435_761) % 200));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life. `Ok` means the receiver went away; `Err` says why we must retry.
async fn run_once(
    client: &Client,
    tx: &mpsc::Sender<SyncEvent>,
    seq: &mut Option<(uuid::Uuid, u64)>,
    backoff: &mut Duration,
) -> Result<(), String> {
    let (log, after) = match *seq {
        Some(s) => s,
        None => {
            let snap = client.snapshot().await.map_err(|e| e.to_string())?;
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
            return Err(format!("re-syncing: {detail}"));
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut current = after;
    loop {
        let item = match tokio::time::timeout(SILENCE, stream.next()).await {
            Err(_) => return Err("no heartbeat from the server".into()),
            Ok(None) => return Err("the server closed the stream".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(item))) => item,
        };
        match item {
            StreamItem::Hello { log: Some(other), .. } if other != log => {
                *seq = None;
                return Err("the server's log changed (a reset or another server): reloading".into());
            }
            StreamItem::Hello { .. } => {
                *backoff = Duration::from_millis(200);
                if tx.send(SyncEvent::Online).await.is_err() {
                    return Ok(());
                }
            }
            StreamItem::Heartbeat { head } if head > current => {
                *seq = None;
                return Err(format!("behind the server ({current} of {head}): reloading"));
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
                return Err(format!("gap in the stream ({} after {current}): reloading", e.seq));
            }
            StreamItem::Resync(reason) => {
                *seq = None;
                return Err(format!("re-syncing: {reason}"));
            }
        }
    }
}
