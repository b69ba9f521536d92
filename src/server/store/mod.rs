//! The event store seam: what the writer, the API and the stream need from durable storage,
//! as traits with our own error type, so SQLite (today) and PostgreSQL (later) fit behind it.
//!
//! Blocking by design: the writer is a thread and readers run inside `spawn_blocking`. A
//! PostgreSQL store would hold a connection pool and a runtime handle and `block_on` its
//! async client inside these calls (the callers are already off the async threads), so no
//! caller changes when it comes. Each method says how Postgres would implement it.

pub mod postgres;
mod sqlite;

use std::sync::Arc;

use uuid::Uuid;

use crate::model::{Event, IncidentId, State, Window};

pub use sqlite::{snapshot_path, SqliteStore as Store, SCHEMA_VERSION};

/// The fold of a snapshot written before snapshots said which fold made them.
fn first_fold() -> u32 {
    1
}

/// Why a snapshot is not read: another fold made it ([`crate::model::FOLD_VERSION`]).
fn other_fold(what: &str, fold: u32) -> String {
    format!(
        "ignoring {what}: it was made by fold {fold} and this warroom folds as {} (the same events \
         give a different state); folding the whole log",
        crate::model::FOLD_VERSION
    )
}

/// Write a snapshot after at least this many events, so a restart folds few.
pub const SNAPSHOT_EVERY: u64 = 10_000;

/// Events between snapshots when the last one was `bytes` long: [`SNAPSHOT_EVERY`], or one
/// event per kilobyte of snapshot if that is more. Writing a snapshot costs about its size,
/// so spacing them by size keeps their cost per event the same however large the state grows
/// (a year's 43 MB snapshot every 43,000 events instead of every 10,000, where it took as much
/// CPU as the writer and doubled the ack tail), while the events a restart folds after
/// reading one stay about as quick to fold as the snapshot is to read.
pub fn snapshot_every(bytes: u64) -> u64 {
    SNAPSHOT_EVERY.max(bytes / 1_000)
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database itself failed (I/O, locking, a constraint): the backend's own words.
    #[error("{0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data that does not read back: which row, and why.
    #[error("event store is corrupt at {what}: {detail}")]
    Corrupt { what: String, detail: String },
    /// The database was written by a newer warroom; opening it could lose what that one knows.
    #[error(
        "the database is at schema version {found} but this warroom knows versions up to {known}: \
         run the newer warroom (or restore a backup made for this one)"
    )]
    TooNew { found: u32, known: u32 },
    /// A test hook made the store fail as if the disk were gone (see `writer::Failpoint`).
    #[error("disk I/O error (injected by a test)")]
    Injected,
}

/// What the log remembers of a command it has seen.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenCommand {
    pub digest: String,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// One stored event: its JSON body as written, with the columns readers need.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub kind: String,
    pub body: String,
    /// Who may read it: `None` for everyone, else the private incident (`INC-7`) whose
    /// members and admins may. Readers decide with the incident's membership as it is now.
    pub audience: Option<String>,
}

impl StoredEvent {
    /// The event the body encodes, or which seq does not read back.
    pub fn decode(&self) -> StoreResult<Event> {
        serde_json::from_str(&self.body)
            .map_err(|e| StoreError::Corrupt { what: format!("event {}", self.seq), detail: e.to_string() })
    }

    /// Decodes this event and applies it to `state`, whose next event it must be (the log is
    /// gap-free); the event applied. Nothing is applied when it is not.
    pub fn fold_into(&self, state: &mut State) -> StoreResult<Event> {
        let event = self.decode()?;
        check_next(state, &event, self.seq)?;
        state.apply(&event);
        Ok(event)
    }
}

/// Whether `event` (stored in row `row`) is the one that follows `state`: every fold of the
/// log checks it.
pub fn check_next(state: &State, event: &Event, row: u64) -> StoreResult<()> {
    if event.seq == state.seq + 1 {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        what: format!("event {row}"),
        detail: format!("follows {} (the log must be gap-free)", state.seq),
    })
}

/// One event as the writer appends it: its JSON (written as is, and sent to subscribers),
/// who may read it (see [`StoredEvent::audience`]), and the incidents whose timeline it
/// writes to ([`State::touched`]), for the per-incident index.
#[derive(Debug, Clone)]
pub struct Appended {
    pub event: Event,
    pub json: String,
    pub audience: Option<String>,
    pub touches: Vec<IncidentId>,
}

/// The writer's side of the store: one owner, on one thread.
pub trait EventStore: Send {
    /// Brings the schema up to this binary's version, all in one transaction; refuses a
    /// database from a newer warroom ([`StoreError::TooNew`]). Returns the version now.
    /// Postgres: the same numbered migrations in one transaction under an advisory lock.
    fn migrate(&mut self) -> StoreResult<u32>;

    /// The identity of this log, so clients never mix seqs of two different logs.
    /// Postgres: a row in a `meta` table, as here.
    fn log_id(&self) -> StoreResult<Uuid>;

    /// Starts the write transaction of one batch (the writer's group commit). Nothing is
    /// visible to readers until [`Batch::commit`]; dropping the batch rolls it back.
    /// Postgres: `BEGIN` on a dedicated connection, with `SERIALIZABLE` or a table lock
    /// since one writer orders seqs.
    fn begin(&mut self) -> StoreResult<Box<dyn Batch + '_>>;

    /// The newest snapshot and every event after it, folded into a state that keeps to
    /// `window`: the state to serve on start.
    /// Postgres: the same two queries, the events streamed with a cursor.
    fn load_state(&self, window: Window) -> StoreResult<State>;

    /// Keeps `state` as the newest snapshot (and drops older ones), without holding up the
    /// writer: SQLite writes it to a file beside the database, never under the log's lock.
    /// Postgres: `INSERT … ON CONFLICT DO UPDATE` plus `DELETE` in a table of its own.
    /// Returns the snapshot's size in bytes.
    fn write_snapshot(&mut self, state: &State) -> StoreResult<u64>;

    /// The seq of the newest snapshot, 0 if none.
    fn last_snapshot_seq(&self) -> StoreResult<u64>;

    /// The size in bytes of the newest snapshot, 0 if none.
    fn last_snapshot_bytes(&self) -> StoreResult<u64>;

    /// Stored events with `from <= seq <= to`, at most `limit`, on the writer's connection
    /// (to answer a replayed command). Postgres: the same `SELECT`.
    fn read_events(&self, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>>;

    /// A second handle on the same store for a background thread (snapshots), so it never
    /// waits behind the writer's connection. Postgres: another connection from the pool.
    fn another(&self) -> StoreResult<Box<dyn EventStore>>;

    /// Readers for event pages and stream catch-up, shareable across request threads.
    /// Postgres: a pool of read connections (a replica, once there are replicas).
    fn readers(&self) -> StoreResult<Arc<dyn EventReader>>;

    /// Whether other servers append to this log too: then each batch catches up first
    /// ([`Batch::catch_up`]), side effects run under a lease, and a [`Watcher`] wakes the
    /// writer for their events. SQLite's file has one server (`server.lock`).
    fn shared(&self) -> bool {
        false
    }

    /// What tells this server that another one appended; `None` when no other one can.
    fn watcher(&self) -> StoreResult<Option<Box<dyn Watcher>>> {
        Ok(None)
    }

    /// A value every server on this store shares, set once: the first `fresh` offered under
    /// `name` is kept, and every caller after gets it back. A store one server holds alone
    /// (SQLite) keeps nothing and returns `fresh`.
    fn shared_value(&mut self, _name: &str, fresh: &str) -> StoreResult<String> {
        Ok(fresh.to_string())
    }

    /// Takes lease `name` for `holder`, or renews it, until `ttl` from now by the store's
    /// clock; whether `holder` holds it now. A lease held by another and not expired is
    /// theirs. A store with one server holds every lease.
    fn lease(&mut self, _name: &str, _holder: Uuid, _ttl: std::time::Duration) -> StoreResult<bool> {
        Ok(true)
    }

    /// Gives lease `name` up now if `holder` has it, so another server takes it at once.
    fn release(&mut self, _name: &str, _holder: Uuid) -> StoreResult<()> {
        Ok(())
    }
}

/// Wakes a server when other servers appended to the shared log (PostgreSQL's `LISTEN`).
pub trait Watcher: Send {
    /// Blocks until another server may have appended (true) or `timeout` passed (false).
    /// True also after a reconnect: what was announced meanwhile is only in the table.
    fn wait(&mut self, timeout: std::time::Duration) -> StoreResult<bool>;
}

/// One batch's write transaction.
pub trait Batch {
    /// Events other servers committed after `after`, read under this transaction's append
    /// lock so that deciding sees every earlier event. Postgres: `SELECT … WHERE seq > $1`
    /// after `pg_advisory_xact_lock`. A store only this server writes has none.
    fn catch_up(&mut self, _after: u64) -> StoreResult<Vec<StoredEvent>> {
        Ok(Vec::new())
    }

    /// Reads what the log remembers of all these ids at once, so that [`Batch::seen_command`]
    /// on them costs no further query. Postgres: one `WHERE id = ANY($1)` per batch instead of a
    /// round trip per command. A store whose lookups are local (SQLite) needs nothing.
    fn prefetch_seen(&mut self, _ids: &[Uuid]) -> StoreResult<()> {
        Ok(())
    }

    /// What the log remembers of command `id`, as of this transaction.
    /// Postgres: `SELECT … FROM commands WHERE id = $1` in the same transaction.
    fn seen_command(&mut self, id: Uuid) -> StoreResult<Option<SeenCommand>>;

    /// Appends one command's events, their per-incident index, and its idempotency record.
    /// Postgres: `INSERT`s, or one `COPY` per batch if that ever matters.
    fn append(&mut self, digest: &str, events: &[Appended]) -> StoreResult<()>;

    /// A write that changes nothing, to learn whether writes work again after a failure.
    fn touch(&mut self) -> StoreResult<()>;

    /// Makes the batch durable. Postgres: `COMMIT` (with `synchronous_commit = on`).
    fn commit(self: Box<Self>) -> StoreResult<()>;
}

/// Reads of committed events, callable from any thread (the API runs them in
/// `spawn_blocking`). Postgres: a pooled connection per call.
pub trait EventReader: Send + Sync {
    /// Stored events with `from <= seq <= to`, in order, at most `limit`.
    fn read_events(&self, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>>;

    /// Every event that wrote to incident `id`'s timeline with `seq <= upto`, in order: what
    /// [`crate::model::window::fold_incident`] needs. Postgres: the same join.
    fn incident_events(&self, id: IncidentId, upto: u64) -> StoreResult<Vec<StoredEvent>>;

    /// The newest snapshot if it is of this log and at or before `seq`, else `None`: where a
    /// fold of the state as of `seq` can start (`GET /api/v1/state?at=`). A store without
    /// snapshots answers `None` and the fold starts from the first event.
    /// Postgres: `SELECT … FROM snapshots WHERE seq <= $1 ORDER BY seq DESC LIMIT 1`.
    fn snapshot_at_or_before(&self, _seq: u64) -> StoreResult<Option<State>> {
        Ok(None)
    }
}

/// The full fold of incident `id` as of `upto`, from the log; `None` if it has no events.
pub fn fold_incident(
    reader: &dyn EventReader,
    id: IncidentId,
    upto: u64,
) -> StoreResult<Option<crate::model::Incident>> {
    let events =
        reader.incident_events(id, upto)?.iter().map(StoredEvent::decode).collect::<StoreResult<Vec<_>>>()?;
    Ok(crate::model::window::fold_incident(id, &events))
}

/// The events a command wrote, decoded, for answering its replay.
pub fn replay(store: &dyn EventStore, first_seq: u64, last_seq: u64) -> StoreResult<Vec<Event>> {
    let count = last_seq.saturating_sub(first_seq).saturating_add(1);
    store
        .read_events(first_seq, last_seq, usize::try_from(count).unwrap_or(usize::MAX))?
        .iter()
        .map(StoredEvent::decode)
        .collect()
}

#[cfg(test)]
mod snapshot_cadence {
    use super::*;

    #[test]
    fn snapshots_are_spaced_by_their_size() {
        assert_eq!(snapshot_every(0), SNAPSHOT_EVERY);
        assert_eq!(snapshot_every(500_000), SNAPSHOT_EVERY, "a small state keeps the floor");
        assert_eq!(snapshot_every(43_000_000), 43_000, "a year's 43 MB: one per 43,000 events");
        assert_eq!(snapshot_every(u64::MAX), u64::MAX / 1_000);
    }
}
