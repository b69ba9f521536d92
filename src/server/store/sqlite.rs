//! The event store in SQLite: WAL, `synchronous=FULL`, events and idempotency keys written
//! in one transaction, numbered schema migrations, and snapshots so start-up stays fast.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use uuid::Uuid;

use super::{Batch, EventReader, EventStore, SeenCommand, StoreError, StoreResult, StoredEvent};
use crate::model::{Event, State};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// One step of the schema: applied once, in order, inside the opening transaction.
struct Migration {
    version: u32,
    sql: &'static str,
}

/// Every schema this binary knows, oldest first. Append only: a released migration is never
/// edited, since databases out there already ran it.
const MIGRATIONS: &[Migration] = &[
    // Version 1 is the schema warroom had before migrations existed, exactly; databases made
    // then are recognised by their `events` table and recorded as version 1 untouched.
    Migration {
        version: 1,
        sql: "CREATE TABLE events (
                  seq INTEGER PRIMARY KEY,
                  command_id TEXT NOT NULL,
                  at TEXT NOT NULL,
                  actor TEXT NOT NULL,
                  kind TEXT NOT NULL,
                  body TEXT NOT NULL
              );
              CREATE INDEX events_command ON events(command_id);
              CREATE TABLE commands (
                  id TEXT PRIMARY KEY,
                  digest TEXT NOT NULL,
                  first_seq INTEGER NOT NULL,
                  last_seq INTEGER NOT NULL
              );
              CREATE TABLE snapshots (
                  seq INTEGER PRIMARY KEY,
                  state TEXT NOT NULL
              );
              CREATE TABLE meta (
                  key TEXT PRIMARY KEY,
                  value TEXT NOT NULL
              );",
    },
    // The visibility seam: who may see an event. NULL is public, which every event is until
    // private incidents and game-day villains write something else; reads ignore it for now.
    Migration { version: 2, sql: "ALTER TABLE events ADD COLUMN audience TEXT NULL;" },
];

/// The newest schema this binary knows.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and migrates it to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let mut store = SqliteStore::connect(path)?;
        store.migrate()?;
        Ok(store)
    }

    /// A connection with our settings, without touching the schema.
    fn connect(path: &Path) -> StoreResult<SqliteStore> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(SqliteStore { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the database (0 for an empty one).
    pub fn schema_version(&self) -> StoreResult<u32> {
        schema_version(&self.conn)
    }

    /// A write transaction from the start (BEGIN IMMEDIATE): a deferred one that reads first
    /// and upgrades later gets SQLITE_BUSY at once when another connection wrote in between,
    /// instead of waiting its turn.
    fn transaction(&mut self) -> StoreResult<Transaction<'_>> {
        Ok(self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }
}

/// The version a database is at: the newest row of `schema_version`; a database from before
/// migrations (it has `events` but no `schema_version`) is at 1; an empty one at 0.
fn schema_version(conn: &Connection) -> StoreResult<u32> {
    let has = |table: &str| -> StoreResult<bool> {
        Ok(conn
            .query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |_| Ok(()))
            .optional()?
            .is_some())
    };
    if has("schema_version")? {
        let v: Option<u32> = conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))?;
        return Ok(v.unwrap_or(0));
    }
    Ok(if has("events")? { 1 } else { 0 })
}

impl EventStore for SqliteStore {
    fn migrate(&mut self) -> StoreResult<u32> {
        let tx = self.transaction()?;
        let found = schema_version(&tx)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found, known: SCHEMA_VERSION });
        }
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version INTEGER PRIMARY KEY,
                 applied_at TEXT NOT NULL
             );",
        )?;
        let now = chrono::Utc::now().to_rfc3339();
        if found == 1 {
            // A database from before migrations: record what it already has.
            tx.execute("INSERT OR IGNORE INTO schema_version(version, applied_at) VALUES (1, ?1)", [&now])?;
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > found) {
            tx.execute_batch(m.sql).map_err(|e| StoreError::Corrupt {
                what: format!("schema migration {}", m.version),
                detail: e.to_string(),
            })?;
            tx.execute(
                "INSERT INTO schema_version(version, applied_at) VALUES (?1, ?2)",
                params![m.version, now],
            )?;
        }
        // The log's identity, made once with the database.
        tx.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('log_id', ?1)",
            [Uuid::new_v4().to_string()],
        )?;
        tx.commit()?;
        Ok(SCHEMA_VERSION)
    }

    fn log_id(&self) -> StoreResult<Uuid> {
        let text: String =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'log_id'", [], |r| r.get(0))?;
        Uuid::parse_str(&text)
            .map_err(|e| StoreError::Corrupt { what: "meta log_id".into(), detail: format!("{text:?}: {e}") })
    }

    fn begin(&mut self) -> StoreResult<Box<dyn Batch + '_>> {
        Ok(Box::new(SqliteBatch(self.transaction()?)))
    }

    fn load_state(&self) -> StoreResult<State> {
        let snapshot: Option<(u64, String)> = self
            .conn
            .query_row("SELECT seq, state FROM snapshots ORDER BY seq DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let mut state = match snapshot {
            Some((seq, json)) => serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
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
                .map_err(|e| StoreError::Corrupt { what: format!("event {seq}"), detail: e.to_string() })?;
            if event.seq != state.seq + 1 {
                return Err(StoreError::Corrupt {
                    what: format!("event {seq}"),
                    detail: format!("follows {} (the log must be gap-free)", state.seq),
                });
            }
            state.apply(&event);
        }
        Ok(state)
    }

    fn write_snapshot(&mut self, state: &State) -> StoreResult<()> {
        let json = serde_json::to_string(state).expect("state serializes");
        let tx = self.transaction()?;
        tx.execute("INSERT OR REPLACE INTO snapshots(seq, state) VALUES (?1, ?2)", params![state.seq, json])?;
        tx.execute("DELETE FROM snapshots WHERE seq < ?1", [state.seq])?;
        Ok(tx.commit()?)
    }

    fn last_snapshot_seq(&self) -> StoreResult<u64> {
        Ok(self.conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM snapshots", [], |r| r.get(0))?)
    }

    fn read_events(&self, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        event_bodies(&self.conn, from, to, limit)
    }

    fn another(&self) -> StoreResult<Box<dyn EventStore>> {
        // The background thread's operator message needs the file.
        let store = SqliteStore::connect(&self.path)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", self.path.display()).into()))?;
        Ok(Box::new(store))
    }

    fn readers(&self) -> StoreResult<Arc<dyn EventReader>> {
        Ok(Arc::new(Readers { path: self.path.clone(), pool: Mutex::new(Vec::new()) }))
    }
}

struct SqliteBatch<'c>(Transaction<'c>);

impl Batch for SqliteBatch<'_> {
    fn seen_command(&mut self, id: Uuid) -> StoreResult<Option<SeenCommand>> {
        Ok(self
            .0
            .prepare_cached("SELECT digest, first_seq, last_seq FROM commands WHERE id = ?1")?
            .query_row([id.to_string()], |r| {
                Ok(SeenCommand { digest: r.get(0)?, first_seq: r.get(1)?, last_seq: r.get(2)? })
            })
            .optional()?)
    }

    fn append(&mut self, digest: &str, events: &[(Event, String, Option<String>)]) -> StoreResult<()> {
        let mut insert = self.0.prepare_cached(
            "INSERT INTO events(seq, command_id, at, actor, kind, body, audience) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (e, json, audience) in events {
            insert.execute(params![
                e.seq,
                e.command_id.to_string(),
                e.at.to_rfc3339(),
                e.actor,
                e.fact.kind(),
                json,
                audience
            ])?;
        }
        if let (Some((first, _, _)), Some((last, _, _))) = (events.first(), events.last()) {
            self.0
                .prepare_cached(
                    "INSERT INTO commands(id, digest, first_seq, last_seq) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![first.command_id.to_string(), digest, first.seq, last.seq])?;
        }
        Ok(())
    }

    fn touch(&mut self) -> StoreResult<()> {
        self.0.execute("UPDATE meta SET value = value WHERE key = 'log_id'", [])?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> StoreResult<()> {
        Ok(self.0.commit()?)
    }
}

/// Read-only connections, pooled: WAL lets them read while the writer writes.
struct Readers {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Readers {
    fn open(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }
}

impl EventReader for Readers {
    fn read_events(&self, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.open()?,
        };
        let rows = event_bodies(&conn, from, to, limit);
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        rows
    }
}

/// Stored events with `from <= seq <= to`, at most `limit`.
fn event_bodies(conn: &Connection, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, body, audience FROM events WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
    )?;
    // SQLite integers are i64: seqs past that are none, not a conversion error.
    let (Ok(from), to) = (i64::try_from(from), i64::try_from(to).unwrap_or(i64::MAX)) else {
        return Ok(Vec::new());
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![from, to, limit], |r| {
        Ok(StoredEvent { seq: r.get(0)?, kind: r.get(1)?, body: r.get(2)?, audience: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{stamp, Fact, IncidentId, Severity, UserRole};

    fn columns(conn: &Connection, table: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})")).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(1)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn declared(seq: u64) -> (Event, String, Option<String>) {
        let fact = Fact::IncidentDeclared {
            incident: IncidentId(1),
            title: "db down".into(),
            severity: Severity::Sev2,
            impact: String::new(),
            drill: false,
            services: vec![],
            private: false,
        };
        let e = stamp(seq, chrono::Utc::now(), "alice", UserRole::Commander, Uuid::new_v4(), vec![fact])
            .remove(0);
        let json = serde_json::to_string(&e).unwrap();
        (e, json, None)
    }

    #[test]
    fn a_new_database_is_created_at_the_newest_version_with_public_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 2);
        assert!(columns(&store.conn, "events").contains(&"audience".to_string()));
        let mut batch = store.begin().unwrap();
        batch.append("d", &[declared(1)]).unwrap();
        batch.commit().unwrap();
        let audience: Option<String> =
            store.conn.query_row("SELECT audience FROM events WHERE seq = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(audience, None);
        assert_eq!(store.load_state().unwrap().seq, 1);
        // A narrower audience is stored and read back with the event.
        let (e, json, _) = declared(2);
        let mut batch = store.begin().unwrap();
        batch.append("e", &[(e, json, Some("INC-1".into()))]).unwrap();
        batch.commit().unwrap();
        let read = store.readers().unwrap().read_events(1, 2, 10).unwrap();
        let audiences: Vec<_> = read.iter().map(|r| r.audience.as_deref()).collect();
        assert_eq!(audiences, [None, Some("INC-1")]);
    }

    #[test]
    fn reopening_keeps_the_version_and_the_log_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let log = SqliteStore::open(&path).unwrap().log_id().unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.log_id().unwrap(), log);
        let rows: u32 =
            store.conn.query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, SCHEMA_VERSION);
    }

    #[test]
    fn a_database_from_before_migrations_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (event, json, _) = declared(1);
        {
            // What warroom wrote before `schema_version` existed: migration 1's tables, a log id.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0].sql).unwrap();
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('log_id', '6f0c5b8e-3f57-4b7e-9d8a-0c1d2e3f4a5b')",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO events(seq, command_id, at, actor, kind, body) VALUES (1, ?1, ?2, 'alice', ?3, ?4)",
                params![event.command_id.to_string(), event.at.to_rfc3339(), event.fact.kind(), json],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.log_id().unwrap().to_string(), "6f0c5b8e-3f57-4b7e-9d8a-0c1d2e3f4a5b");
        let rows = store.read_events(1, 10, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].body, json);
        assert_eq!(rows[0].decode().unwrap(), event);
        let versions: Vec<u32> = store
            .conn
            .prepare("SELECT version FROM schema_version ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(versions, [1, 2]);
    }

    #[test]
    fn a_database_from_a_newer_warroom_is_refused_naming_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        SqliteStore::open(&path).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute("INSERT INTO schema_version(version, applied_at) VALUES (7, 'later')", []).unwrap();
        }
        let err = SqliteStore::open(&path).err().expect("refused");
        assert!(matches!(err, StoreError::TooNew { found: 7, known: SCHEMA_VERSION }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("version 7") && text.contains(&format!("up to {SCHEMA_VERSION}")), "{text}");
    }

    #[test]
    fn a_failed_migration_leaves_the_database_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            // A v1 database that somehow has the column already: migration 2 fails.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0].sql).unwrap();
            conn.execute_batch("ALTER TABLE events ADD COLUMN audience TEXT").unwrap();
        }
        let err = SqliteStore::open(&path).err().expect("refused");
        assert!(err.to_string().contains("schema migration 2"), "{err}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), 1, "nothing of the failed upgrade stays");
    }
}
