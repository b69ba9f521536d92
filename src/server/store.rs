//! The durable event log in SQLite: WAL, `synchronous=FULL`, events and idempotency keys
//! written in one transaction, and periodic state snapshots so start-up stays fast.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use uuid::Uuid;

use crate::model::{Event, State};

/// Write a snapshot after this many events, so a restart folds at most this many.
pub const SNAPSHOT_EVERY: u64 = 10_000;

pub struct Store {
    conn: Connection,
    path: std::path::PathBuf,
}

/// What the log remembers of a command it has seen.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenCommand {
    pub digest: String,
    pub first_seq: u64,
    pub last_seq: u64,
}

pub type StoreResult<T> = Result<T, rusqlite::Error>;

impl Store {
    pub fn open(path: &Path) -> StoreResult<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY,
                 command_id TEXT NOT NULL,
                 at TEXT NOT NULL,
                 actor TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 body TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS events_command ON events(command_id);
             CREATE TABLE IF NOT EXISTS commands (
                 id TEXT PRIMARY KEY,
                 digest TEXT NOT NULL,
                 first_seq INTEGER NOT NULL,
                 last_seq INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS snapshots (
                 seq INTEGER PRIMARY KEY,
                 state TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS meta (
                 key TEXT PRIMARY KEY,
                 value TEXT NOT NULL
             );",
        )?;
        // The log's identity, made once with the database.
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('log_id', ?1)",
            [Uuid::new_v4().to_string()],
        )?;
        Ok(Store { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The identity of this log, so clients never mix seqs of two different logs.
    pub fn log_id(&self) -> StoreResult<Uuid> {
        let text: String =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'log_id'", [], |r| r.get(0))?;
        Uuid::parse_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
    }

    /// A second connection for readers (event pages, stream catch-up); WAL lets it read
    /// while the writer writes.
    pub fn open_reader(path: &Path) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    /// Rebuilds the state: the newest snapshot, then every event after it.
    pub fn load_state(&self) -> Result<State, LoadError> {
        let snapshot: Option<(u64, String)> = self
            .conn
            .query_row("SELECT seq, state FROM snapshots ORDER BY seq DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let mut state = match snapshot {
            Some((seq, json)) => serde_json::from_str(&json).map_err(|e| LoadError::Corrupt {
                what: format!("snapshot at seq {seq}"),
                detail: e.to_string(),
            })?,
            None => State::default(),
        };
        let mut stmt = self.conn.prepare("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query([state.seq])?;
        while let Some(row) = rows.next()? {
            let seq: u64 = row.get(0)?;
            let body: String = row.get(1)?;
            let event: Event = serde_json::from_str(&body)
                .map_err(|e| LoadError::Corrupt { what: format!("event {seq}"), detail: e.to_string() })?;
            if event.seq != state.seq + 1 {
                return Err(LoadError::Corrupt {
                    what: format!("event {seq}"),
                    detail: format!("follows {} (the log must be gap-free)", state.seq),
                });
            }
            state.apply(&event);
        }
        Ok(state)
    }

    /// A write transaction from the start (BEGIN IMMEDIATE): a deferred one that reads first
    /// and upgrades later gets SQLITE_BUSY at once when another connection wrote in between,
    /// instead of waiting its turn.
    pub fn transaction(&mut self) -> StoreResult<Transaction<'_>> {
        self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
    }

    pub fn write_snapshot(&mut self, state: &State) -> StoreResult<()> {
        let json = serde_json::to_string(state).expect("state serializes");
        let tx = self.transaction()?;
        tx.execute("INSERT OR REPLACE INTO snapshots(seq, state) VALUES (?1, ?2)", params![state.seq, json])?;
        tx.execute("DELETE FROM snapshots WHERE seq < ?1", [state.seq])?;
        tx.commit()
    }

    /// The events a command wrote, for answering its replay.
    pub fn replay(&self, first_seq: u64, last_seq: u64) -> Result<Vec<Event>, LoadError> {
        event_bodies(&self.conn, first_seq, last_seq, (last_seq - first_seq + 1) as usize)?
            .into_iter()
            .map(|row| {
                serde_json::from_str(&row.body).map_err(|e| LoadError::Corrupt {
                    what: format!("event {}", row.seq),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    pub fn last_snapshot_seq(&self) -> StoreResult<u64> {
        self.conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM snapshots", [], |r| r.get(0))
    }
}

pub fn seen_command(tx: &Transaction<'_>, id: Uuid) -> StoreResult<Option<SeenCommand>> {
    tx.query_row("SELECT digest, first_seq, last_seq FROM commands WHERE id = ?1", [id.to_string()], |r| {
        Ok(SeenCommand { digest: r.get(0)?, first_seq: r.get(1)?, last_seq: r.get(2)? })
    })
    .optional()
}

/// Appends a command's events and its idempotency record; the caller commits.
pub fn append(tx: &Transaction<'_>, digest: &str, events: &[(Event, String)]) -> StoreResult<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO events(seq, command_id, at, actor, kind, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (e, json) in events {
        insert.execute(params![
            e.seq,
            e.command_id.to_string(),
            e.at.to_rfc3339(),
            e.actor,
            e.fact.kind(),
            json
        ])?;
    }
    if let (Some((first, _)), Some((last, _))) = (events.first(), events.last()) {
        tx.prepare_cached("INSERT INTO commands(id, digest, first_seq, last_seq) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![first.command_id.to_string(), digest, first.seq, last.seq])?;
    }
    Ok(())
}

/// One stored event: its JSON body as written, with the columns readers need.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub kind: String,
    pub body: String,
}

/// Stored events with `from <= seq <= to`, at most `limit`.
pub fn event_bodies(conn: &Connection, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, body FROM events WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![from, to, limit as i64], |r| {
        Ok(StoredEvent { seq: r.get(0)?, kind: r.get(1)?, body: r.get(2)? })
    })?;
    rows.collect()
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("event store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("event store is corrupt at {what}: {detail}")]
    Corrupt { what: String, detail: String },
}
