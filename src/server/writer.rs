//! The single writer: orders commands into events. It drains every queued command into one
//! SQLite transaction (group commit), then publishes the events and answers each caller.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::hub::Hub;
use super::library::Shared;
use super::store::{self, Store, SNAPSHOT_EVERY};
use crate::model::{stamp, Context, Event, Library, Rejection, State, UserRole};
use crate::protocol::{Ack, Command};

/// Upper bound on commands per transaction: keeps one commit's latency bounded.
const MAX_BATCH: usize = 512;

/// Who sent a command, as established by the bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: UserRole,
}

pub struct WriteRequest {
    pub command: Command,
    pub caller: Caller,
    pub reply: oneshot::Sender<Result<Ack, WriteError>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("command id {0} was already used for a different command")]
    KeyReused(Uuid),
    #[error("the event store failed: {0}")]
    Store(String),
}

/// Starts the writer thread. It owns the store; it stops when every sender is dropped.
pub fn spawn(store: Store, state: State, hub: Arc<Hub>, library: Arc<Shared>) -> mpsc::Sender<WriteRequest> {
    let (tx, rx) = mpsc::channel(4096);
    std::thread::Builder::new()
        .name("warroom-writer".into())
        .spawn(move || run(store, state, hub, library, rx))
        .expect("spawn writer thread");
    tx
}

fn run(
    mut store: Store,
    mut working: State,
    hub: Arc<Hub>,
    library: Arc<Shared>,
    mut rx: mpsc::Receiver<WriteRequest>,
) {
    let mut last_snapshot = store.last_snapshot_seq().unwrap_or(0);
    // Snapshots are written off the commit path: serializing and writing a large state took
    // tens of milliseconds, stalling every command queued behind it.
    let (snapshots, pending) = std::sync::mpsc::sync_channel::<State>(1);
    let path = store.path().to_path_buf();
    let _ = std::thread::Builder::new().name("warroom-snapshot".into()).spawn(move || {
        let Ok(mut store) = Store::open(&path) else { return };
        while let Ok(state) = pending.recv() {
            // A failed snapshot only costs start-up time; the log is intact.
            let _ = store.write_snapshot(&state);
        }
    });
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
        let lib = library.get();
        match write_batch(&mut store, &mut working, &lib.library, &batch) {
            Ok((outcomes, fresh)) => {
                hub.publish(&fresh);
                answer(&store, batch, outcomes);
                // One snapshot at a time; if the last is still being written, try next batch.
                if working.seq >= last_snapshot + SNAPSHOT_EVERY
                    && snapshots.try_send(working.clone()).is_ok()
                {
                    last_snapshot = working.seq;
                }
            }
            Err(e) => {
                // Nothing of this batch is durable: forget it and tell every caller.
                working = hub.state().clone();
                for req in batch {
                    let _ = req.reply.send(Err(WriteError::Store(e.to_string())));
                }
            }
        }
    }
}

/// An event with its JSON, serialized once for the store and every subscriber.
type Committed = (Event, Arc<str>);

enum Outcome {
    New(Vec<Event>),
    Replay { first_seq: u64, last_seq: u64 },
    Refused(WriteError),
}

/// Decides every command of the batch against the evolving state and appends the events,
/// all in one transaction. Returns each command's outcome and the new events with their JSON.
fn write_batch(
    store: &mut Store,
    working: &mut State,
    library: &Library,
    batch: &[WriteRequest],
) -> rusqlite::Result<(Vec<Outcome>, Vec<Committed>)> {
    (|| {
        let tx = store.transaction()?;
        let now = Utc::now();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut fresh: Vec<Committed> = Vec::new();
        let mut in_batch: HashMap<Uuid, (u64, u64, String)> = HashMap::new();
        for req in batch {
            let id = req.command.id;
            let digest = digest(&req.caller, &req.command);
            let seen = match in_batch.get(&id) {
                Some((first_seq, last_seq, d)) => Some((*first_seq, *last_seq, d.clone())),
                None => store::seen_command(&tx, id)?.map(|s| (s.first_seq, s.last_seq, s.digest)),
            };
            if let Some((first_seq, last_seq, seen_digest)) = seen {
                outcomes.push(if seen_digest == digest {
                    Outcome::Replay { first_seq, last_seq }
                } else {
                    Outcome::Refused(WriteError::KeyReused(id))
                });
                continue;
            }
            let cx = Context { library, now, command_id: id };
            match working.decide_with(&req.command.intent, &cx) {
                Err(r) => outcomes.push(Outcome::Refused(r.into())),
                Ok(facts) => {
                    let events = stamp(working.seq + 1, now, &req.caller.name, req.caller.role, id, facts);
                    let with_json: Vec<(Event, String)> = events
                        .iter()
                        .map(|e| (e.clone(), serde_json::to_string(e).expect("event serializes")))
                        .collect();
                    store::append(&tx, &digest, &with_json)?;
                    for e in &events {
                        working.apply(e);
                    }
                    if let (Some(f), Some(l)) = (events.first(), events.last()) {
                        in_batch.insert(id, (f.seq, l.seq, digest));
                    }
                    fresh.extend(with_json.into_iter().map(|(e, j)| (e, Arc::from(j))));
                    outcomes.push(Outcome::New(events));
                }
            }
        }
        tx.commit()?;
        Ok((outcomes, fresh))
    })()
}

fn answer(store: &Store, batch: Vec<WriteRequest>, outcomes: Vec<Outcome>) {
    for (req, outcome) in batch.into_iter().zip(outcomes) {
        let reply = match outcome {
            Outcome::New(events) => Ok(Ack { seq: events.last().map_or(0, |e| e.seq), events }),
            Outcome::Refused(e) => Err(e),
            Outcome::Replay { first_seq, last_seq } => store
                .replay(first_seq, last_seq)
                .map(|events| Ack { seq: last_seq, events })
                .map_err(|e| WriteError::Store(e.to_string())),
        };
        // The caller may have gone away (timeout, disconnect): the events stand regardless.
        let _ = req.reply.send(reply);
    }
}

/// A stable fingerprint of who asked for what, to tell a retry from a reused key.
/// FNV-1a: stable across Rust versions (unlike `DefaultHasher`), and collisions only matter
/// between two bodies sent under the same UUID.
fn digest(caller: &Caller, command: &Command) -> String {
    let body = serde_json::to_string(&(&caller.name, &command.intent)).expect("intent serializes");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
