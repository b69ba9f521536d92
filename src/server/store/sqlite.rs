//! The event store in SQLite: WAL, `synchronous=FULL`, events and idempotency keys written
//! in one transaction, numbered schema migrations, and snapshots so start-up stays fast.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use uuid::Uuid;

use super::{Appended, Batch, EventReader, EventStore, SeenCommand, StoreError, StoreResult, StoredEvent};
use crate::model::{Event, IncidentId, State, Window, FOLD_VERSION};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// One step of the schema: applied once, in order, inside the opening transaction.
struct Migration {
    version: u32,
    sql: &'static str,
    /// What SQL cannot do, run after `sql` in the same transaction (e.g. folding the log).
    then: Option<fn(&Transaction<'_>) -> StoreResult<()>>,
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
        then: None,
    },
    // The visibility seam: who may see an event. NULL is public, which every event is until
    // private incidents and game-day villains write something else; reads ignore it for now.
    Migration { version: 2, sql: "ALTER TABLE events ADD COLUMN audience TEXT NULL;", then: None },
    // Which incidents each event writes to, so one incident's full fold reads only its events
    // (servers and clients keep closed incidents as summaries). Snapshots move to a file
    // beside the database, written without the log's write lock; the old rows go. The index
    // of events by command id was never read (replays use `commands`), yet every append paid
    // a random insert into it.
    Migration {
        version: 3,
        sql: "CREATE TABLE touches (
                  incident INTEGER NOT NULL,
                  seq INTEGER NOT NULL,
                  PRIMARY KEY (incident, seq)
              ) WITHOUT ROWID;
              DELETE FROM snapshots;
              DROP INDEX IF EXISTS events_command;",
        then: Some(index_touches),
    },
];

/// Fills `touches` for a log written before it existed, by folding it once.
fn index_touches(tx: &Transaction<'_>) -> StoreResult<()> {
    let mut state = State::default().windowed(Window::Timelines);
    let mut stmt = tx.prepare("SELECT seq, body FROM events ORDER BY seq")?;
    let mut insert = tx.prepare("INSERT OR IGNORE INTO touches(incident, seq) VALUES (?1, ?2)")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let seq: u64 = row.get(0)?;
        let body: String = row.get(1)?;
        let event: Event = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt { what: format!("event {seq}"), detail: e.to_string() })?;
        for id in state.touched(&event) {
            insert.execute(params![id.0, seq])?;
        }
        state.apply(&event);
    }
    Ok(())
}

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
        // A year's log has indexes of tens of megabytes; SQLite's default 2 MB cache made
        // every index insert read its pages again.
        conn.pragma_update(None, "cache_size", -32_768)?;
        // The writer checkpoints the WAL itself after its commits (SQLite's default): a
        // checkpoint run by another connection could never finish under sustained writes, so
        // the WAL was never restarted and grew to hundreds of megabytes, slowing every read.
        // Once restarted, the file is cut back to this size.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
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
            if let Some(then) = m.then {
                then(&tx)?;
            }
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

    fn load_state(&self, window: Window) -> StoreResult<State> {
        let log = self.log_id()?;
        let mut state = match read_snapshot(&self.path, log)? {
            Some(state) => state.windowed(window),
            None => State::default().windowed(window),
        };
        let mut stmt = self.conn.prepare("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query([state.seq])?;
        while let Some(row) = rows.next()? {
            let seq: u64 = row.get(0)?;
            let body: String = row.get(1)?;
            let event: Event = serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt { what: format!("event {seq}"), detail: e.to_string() })?;
            super::check_next(&state, &event, seq)?;
            state.apply(&event);
        }
        Ok(state)
    }

    fn write_snapshot(&mut self, state: &State) -> StoreResult<u64> {
        use std::io::Write;
        let path = snapshot_path(&self.path);
        let partial = path.with_extension("snapshot.partial");
        let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", partial.display()).into());
        let header = SnapshotHeader { log: self.log_id()?, seq: state.seq, fold: FOLD_VERSION };
        let file = std::fs::File::create(&partial).map_err(io)?;
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut out, &header).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
        serde_json::to_writer(&mut out, state).map_err(|e| io(e.into()))?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        // Durable before it replaces the last one, which stays whole if we crash meanwhile.
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        std::fs::rename(&partial, &path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(bytes)
    }

    fn last_snapshot_seq(&self) -> StoreResult<u64> {
        Ok(read_header(&snapshot_path(&self.path))?
            .filter(|h| Some(h.log) == self.log_id().ok() && h.fold == FOLD_VERSION)
            .map_or(0, |h| h.seq))
    }

    fn last_snapshot_bytes(&self) -> StoreResult<u64> {
        if self.last_snapshot_seq()? == 0 {
            return Ok(0);
        }
        Ok(std::fs::metadata(snapshot_path(&self.path)).map_or(0, |m| m.len()))
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

    fn append(&mut self, digest: &str, events: &[Appended]) -> StoreResult<()> {
        let mut insert = self.0.prepare_cached(
            "INSERT INTO events(seq, command_id, at, actor, kind, body, audience) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut touch =
            self.0.prepare_cached("INSERT OR IGNORE INTO touches(incident, seq) VALUES (?1, ?2)")?;
        for a in events {
            let e = &a.event;
            insert.execute(params![
                e.seq,
                e.command_id.to_string(),
                e.at.to_rfc3339(),
                e.actor,
                e.fact.kind(),
                a.json,
                a.audience
            ])?;
            for id in &a.touches {
                touch.execute(params![id.0, e.seq])?;
            }
        }
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            self.0
                .prepare_cached(
                    "INSERT INTO commands(id, digest, first_seq, last_seq) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![
                    first.event.command_id.to_string(),
                    digest,
                    first.event.seq,
                    last.event.seq
                ])?;
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

impl Readers {
    fn with<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.open()?,
        };
        let result = read(&conn);
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        result
    }
}

impl EventReader for Readers {
    fn read_events(&self, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        self.with(|conn| event_bodies(conn, from, to, limit))
    }

    fn incident_events(&self, id: IncidentId, upto: u64) -> StoreResult<Vec<StoredEvent>> {
        self.with(|conn| incident_bodies(conn, id, upto))
    }

    fn snapshot_at_or_before(&self, seq: u64) -> StoreResult<Option<State>> {
        // The header first: a snapshot past `seq` is not read (a large one takes a while).
        let path = snapshot_path(&self.path);
        let Some(header) = read_header(&path)?.filter(|h| h.seq <= seq) else { return Ok(None) };
        let log = self.with(|conn| {
            let text: String =
                conn.query_row("SELECT value FROM meta WHERE key = 'log_id'", [], |r| r.get(0))?;
            Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt {
                what: "meta log_id".into(),
                detail: format!("{text:?}: {e}"),
            })
        })?;
        if header.log != log {
            return Ok(None);
        }
        // The writer may have replaced the file since the header was read.
        Ok(read_snapshot(&self.path, log)?.filter(|s| s.seq <= seq))
    }
}

/// Where the SQLite store at `db` keeps its snapshot: beside it, so writing one never takes
/// the log's write lock (a large one wrote 15–21k WAL pages under it, stalling the writer).
pub fn snapshot_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".snapshot");
    db.with_file_name(name)
}

/// The snapshot file's first line: which log and seq the state on the second line is of, and
/// which fold made it ([`FOLD_VERSION`]; absent before it existed: 1).
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotHeader {
    log: Uuid,
    seq: u64,
    #[serde(default = "super::first_fold")]
    fold: u32,
}

fn read_header(path: &Path) -> StoreResult<Option<SnapshotHeader>> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::Backend(format!("{}: {e}", path.display()).into())),
    };
    let mut line = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut line)
        .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display()).into()))?;
    Ok(serde_json::from_str(&line).ok())
}

/// The snapshot of log `log`, if there is one for it. A snapshot of another log (a file
/// copied from elsewhere) or one that does not read back is ignored: the log alone is the
/// truth, the snapshot only saves folding it, so the cost is start-up time, said on stderr.
fn read_snapshot(db: &Path, log: Uuid) -> StoreResult<Option<State>> {
    use std::io::BufRead;
    let path = snapshot_path(db);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::Backend(format!("{}: {e}", path.display()).into())),
    };
    let mut lines = std::io::Cursor::new(text.as_bytes()).lines();
    let header: Option<SnapshotHeader> =
        lines.next().and_then(|l| l.ok()).and_then(|l| serde_json::from_str(&l).ok());
    let Some(header) = header.filter(|h| h.log == log) else {
        tracing::warn!("ignoring {}: not a snapshot of this log; folding the whole log", path.display());
        return Ok(None);
    };
    if header.fold != FOLD_VERSION {
        tracing::warn!("{}", super::other_fold(&path.display().to_string(), header.fold));
        return Ok(None);
    }
    let body = text.split_once('\n').map_or("", |(_, b)| b);
    match serde_json::from_str::<State>(body) {
        Ok(state) if state.seq == header.seq => Ok(Some(state)),
        Ok(_) | Err(_) => {
            tracing::warn!("ignoring {}: it does not read back; folding the whole log", path.display());
            Ok(None)
        }
    }
}

/// Events that wrote to incident `id`'s timeline, up to `upto`.
fn incident_bodies(conn: &Connection, id: IncidentId, upto: u64) -> StoreResult<Vec<StoredEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.seq, e.kind, e.body, e.audience FROM touches t JOIN events e ON e.seq = t.seq \
         WHERE t.incident = ?1 AND t.seq <= ?2 ORDER BY t.seq",
    )?;
    let (Ok(id), upto) = (i64::try_from(id.0), i64::try_from(upto).unwrap_or(i64::MAX)) else {
        return Ok(Vec::new());
    };
    let rows = stmt.query_map(params![id, upto], |r| {
        Ok(StoredEvent { seq: r.get(0)?, kind: r.get(1)?, body: r.get(2)?, audience: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
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

    /// A store at `path` whose log holds one event: INC-1 declared.
    fn with_one_incident(path: &std::path::Path) -> SqliteStore {
        let mut store = SqliteStore::open(path).unwrap();
        let mut batch = store.begin().unwrap();
        batch.append("d", &[declared(1)]).unwrap();
        batch.commit().unwrap();
        store
    }

    fn declared(seq: u64) -> Appended {
        let fact = Fact::IncidentDeclared {
            incident: IncidentId(1),
            title: "db down".into(),
            severity: Severity::Sev2,
            impact: String::new(),
            drill: false,
            services: vec![],
            private: false,
            gameday: None,
            team: None,
        };
        let e = stamp(seq, chrono::Utc::now(), "alice", UserRole::Commander, Uuid::new_v4(), vec![fact])
            .remove(0);
        let json = serde_json::to_string(&e).unwrap();
        Appended { event: e, json, audience: None, touches: vec![IncidentId(1)] }
    }

    #[test]
    fn a_new_database_is_created_at_the_newest_version_with_public_events() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 3);
        assert!(columns(&store.conn, "events").contains(&"audience".to_string()));
        let mut batch = store.begin().unwrap();
        batch.append("d", &[declared(1)]).unwrap();
        batch.commit().unwrap();
        let audience: Option<String> =
            store.conn.query_row("SELECT audience FROM events WHERE seq = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(audience, None);
        assert_eq!(store.load_state(Window::Full).unwrap().seq, 1);
        // A narrower audience is stored and read back with the event.
        let mut batch = store.begin().unwrap();
        batch.append("e", &[Appended { audience: Some("INC-1".into()), ..declared(2) }]).unwrap();
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
        let Appended { event, json, .. } = declared(1);
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
        assert_eq!(versions, [1, 2, 3]);
        // The per-incident index was built by folding the old log.
        let touched = store.readers().unwrap().incident_events(IncidentId(1), u64::MAX).unwrap();
        assert_eq!(touched.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn snapshots_live_beside_the_log_and_only_count_for_their_own_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut store = with_one_incident(&path);
        let state = store.load_state(Window::Full).unwrap();
        assert_eq!(store.last_snapshot_seq().unwrap(), 0);
        assert_eq!(store.last_snapshot_bytes().unwrap(), 0);
        let bytes = store.write_snapshot(&state).unwrap();
        assert_eq!(store.last_snapshot_seq().unwrap(), 1);
        assert!(bytes > 0);
        assert_eq!(
            store.last_snapshot_bytes().unwrap(),
            bytes,
            "what spaces the next snapshot after a restart"
        );
        assert!(snapshot_path(&path).exists(), "beside the database");
        // A later event is folded on top of the snapshot.
        let mut batch = store.begin().unwrap();
        batch.append("e", &[Appended { touches: vec![], ..declared(2) }]).unwrap();
        batch.commit().unwrap();
        assert_eq!(store.load_state(Window::Full).unwrap().seq, 2);
        // Another log's snapshot (a file copied in) is not trusted: the log is folded instead.
        let other = dir.path().join("other");
        let mut elsewhere = SqliteStore::open(&other).unwrap();
        let mut forged = state.clone();
        forged.seq = 2;
        forged.incidents.clear();
        elsewhere.write_snapshot(&forged).unwrap();
        std::fs::copy(snapshot_path(&other), snapshot_path(&path)).unwrap();
        assert_eq!(store.last_snapshot_seq().unwrap(), 0);
        let loaded = store.load_state(Window::Full).unwrap();
        assert_eq!((loaded.seq, loaded.incidents.len()), (2, 1));
        // So is a damaged one.
        std::fs::write(snapshot_path(&path), "{\"log\":\"x\"").unwrap();
        assert_eq!(store.load_state(Window::Full).unwrap().seq, 2);
    }

    #[test]
    fn a_snapshot_made_by_another_fold_is_not_read_and_the_log_is_folded_instead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut store = with_one_incident(&path);
        // A snapshot that says less than the log, so which of the two was read shows.
        let mut thin = store.load_state(Window::Full).unwrap();
        thin.incidents.clear();
        store.write_snapshot(&thin).unwrap();
        assert_eq!(store.load_state(Window::Full).unwrap().incidents.len(), 0, "this fold's is read");
        assert_eq!(store.last_snapshot_seq().unwrap(), 1);
        let text = std::fs::read_to_string(snapshot_path(&path)).unwrap();
        let ours = format!(",\"fold\":{FOLD_VERSION}}}");
        assert!(text.lines().next().unwrap().ends_with(&ours), "{text}");
        // The same file as a build before fold numbers wrote it (fold 1), then as a later fold.
        for older_or_newer in ["}".to_string(), format!(",\"fold\":{}}}", FOLD_VERSION + 1)] {
            std::fs::write(snapshot_path(&path), text.replacen(&ours, &older_or_newer, 1)).unwrap();
            let loaded = store.load_state(Window::Full).unwrap();
            assert_eq!((loaded.seq, loaded.incidents.len()), (1, 1), "the log, folded");
            assert_eq!(store.last_snapshot_seq().unwrap(), 0, "a snapshot of this fold is due");
            assert!(store.readers().unwrap().snapshot_at_or_before(1).unwrap().is_none());
        }
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
