//! The event store in PostgreSQL, shared by several servers: appends serialized by an advisory
//! lock with each server catching up inside it, `NOTIFY` for fan-out, and leases for side effects.
//!
//! The `postgres` crate is the blocking face of `tokio-postgres` (same maintainers, same wire
//! code): the store seam is blocking by design (the writer is a thread, readers run in
//! `spawn_blocking`), so it fits without a second runtime of ours. Its calls must never run
//! on an async worker thread; every caller here is already off them.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::{Client, Config, NoTls, Transaction};
use uuid::Uuid;

use super::{
    Appended, Batch, EventReader, EventStore, SeenCommand, StoreError, StoreResult, StoredEvent, Watcher,
};
use crate::model::{IncidentId, State, Window, FOLD_VERSION};

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

/// The channel `NOTIFY` announces a new head on; the payload is the head's seq.
const CHANNEL: &str = "warroom_log";
/// Advisory lock keys (one 64-bit space per database): the log's appends, and migrations.
const LOCK_APPEND: i64 = 0x7761_7272_6f6f_6d01;
const LOCK_MIGRATE: i64 = 0x7761_7272_6f6f_6d02;

/// Every schema this binary knows, oldest first; append only, like SQLite's.
const MIGRATIONS: &[(u32, &str)] = &[(
    1,
    "CREATE TABLE events (
         seq BIGINT PRIMARY KEY,
         command_id TEXT NOT NULL,
         at TEXT NOT NULL,
         actor TEXT NOT NULL,
         kind TEXT NOT NULL,
         body TEXT NOT NULL,
         audience TEXT NULL
     );
     CREATE TABLE commands (
         id TEXT PRIMARY KEY,
         digest TEXT NOT NULL,
         first_seq BIGINT NOT NULL,
         last_seq BIGINT NOT NULL
     );
     CREATE TABLE touches (
         incident BIGINT NOT NULL,
         seq BIGINT NOT NULL,
         PRIMARY KEY (incident, seq)
     );
     CREATE TABLE snapshots (
         seq BIGINT PRIMARY KEY,
         state TEXT NOT NULL
     );
     CREATE TABLE meta (
         key TEXT PRIMARY KEY,
         value TEXT NOT NULL
     );
     CREATE TABLE leases (
         name TEXT PRIMARY KEY,
         holder TEXT NOT NULL,
         expires_at TIMESTAMPTZ NOT NULL
     );",
)];

/// The newest schema this binary knows.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub use crate::config::{is_postgres_url as is_url, redact_url as redact};

/// How we connect: the URL's settings, with a bounded connect and TCP keepalives so a dead
/// database is noticed rather than waited on forever.
fn config(url: &str) -> StoreResult<Config> {
    let mut config = Config::from_str(url)
        .map_err(|e| StoreError::Backend(format!("store {}: {e}", redact(url)).into()))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    // A dead peer is noticed in about 20 s, not the kernel's two hours.
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(3))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(20));
    // The append lock is every server's: a server frozen inside its transaction (a paused VM,
    // SIGSTOP) must not hold it for good. The database ends such a session, which releases the
    // lock; a batch waiting longer than a few seconds for it fails (503) and is retried by
    // its client, instead of queueing every server's writes behind it without a word.
    let mut options = config.get_options().map(str::to_string).unwrap_or_default();
    options.push_str(&format!(
        " -c idle_in_transaction_session_timeout={} -c lock_timeout={} -c statement_timeout={}",
        IDLE_IN_TRANSACTION.as_millis(),
        LOCK_WAIT.as_millis(),
        STATEMENT.as_millis()
    ));
    config.options(options.trim());
    config.application_name("warroom");
    Ok(config)
}

/// How long a session may sit idle inside a transaction before the database ends it.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(10);
/// How long a batch waits for the append lock (other servers' batches take milliseconds).
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long one statement may run: a page of a year's log reads in well under this.
const STATEMENT: Duration = Duration::from_secs(60);

/// Most read connections one server keeps open: streams catching up after a restart all read
/// at once, and PostgreSQL's `max_connections` (100 by default) is shared by every server.
const MAX_READERS: usize = 8;

fn connect(config: &Config) -> StoreResult<Client> {
    Ok(config.connect(NoTls)?)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64, what: &str) -> StoreResult<u64> {
    u64::try_from(n)
        .map_err(|_| StoreError::Corrupt { what: what.into(), detail: format!("{n} is negative") })
}

pub struct PgStore {
    config: Config,
    /// `None` after the connection broke: the next call connects again, so a restarted
    /// database is used as soon as it is back. A mutex because reads take `&self`; one
    /// thread owns the store, so it is never contended (writes use `get_mut`, no lock).
    client: Mutex<Option<Client>>,
}

/// Closes connections where that may block: a `postgres::Client` runs its own little runtime
/// to say goodbye, which panics on an async thread (an `App` is often dropped on one).
fn close_off_runtime<T: Send + 'static>(clients: T) {
    if tokio::runtime::Handle::try_current().is_ok() {
        let _ = std::thread::Builder::new().name("warroom-pg-close".into()).spawn(move || drop(clients));
    } else {
        drop(clients);
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        close_off_runtime(self.client.get_mut().unwrap_or_else(|p| p.into_inner()).take());
    }
}

/// The live connection in `slot`, connecting first if there is none or it broke.
fn live<'a>(slot: &'a mut Option<Client>, config: &Config) -> StoreResult<&'a mut Client> {
    if slot.as_ref().is_none_or(Client::is_closed) {
        *slot = None;
        *slot = Some(connect(config)?);
    }
    Ok(slot.as_mut().expect("connected above"))
}

/// Runs `f` on the connection in `slot`; a connection that broke meanwhile is dropped, so the
/// next call reconnects.
fn using<T>(
    slot: &mut Option<Client>,
    config: &Config,
    f: impl FnOnce(&mut Client) -> StoreResult<T>,
) -> StoreResult<T> {
    let result = f(live(slot, config)?);
    if slot.as_ref().is_some_and(Client::is_closed) {
        *slot = None;
    }
    result
}

impl PgStore {
    /// Connects to `url` and migrates its schema to [`SCHEMA_VERSION`].
    pub fn open(url: &str) -> StoreResult<PgStore> {
        let config = config(url)?;
        let client = connect(&config)?;
        let mut store = PgStore { config, client: Mutex::new(Some(client)) };
        store.migrate()?;
        Ok(store)
    }

    fn write<T>(&mut self, f: impl FnOnce(&mut Client) -> StoreResult<T>) -> StoreResult<T> {
        using(self.client.get_mut().unwrap_or_else(|p| p.into_inner()), &self.config, f)
    }

    /// A read; once more on a new connection if the old one turned out broken (a restarted
    /// database is noticed only by the first query after it), since reading twice is harmless.
    fn read<T>(&self, f: impl Fn(&mut Client) -> StoreResult<T>) -> StoreResult<T> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        match using(&mut slot, &self.config, &f) {
            Err(_) if slot.is_none() => using(&mut slot, &self.config, &f),
            result => result,
        }
    }
}

/// Brings the schema up to [`SCHEMA_VERSION`] in one transaction, under an advisory lock so
/// servers starting together migrate once.
fn migrate(client: &mut Client) -> StoreResult<u32> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_MIGRATE])?;
    let found = schema_version(&mut tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew { found, known: SCHEMA_VERSION });
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );",
    )?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        tx.batch_execute(sql).map_err(|e| StoreError::Corrupt {
            what: format!("schema migration {version}"),
            detail: e.to_string(),
        })?;
        tx.execute("INSERT INTO schema_version(version) VALUES ($1)", &[&(*version as i32)])?;
    }
    tx.execute(
        "INSERT INTO meta(key, value) VALUES ('log_id', $1) ON CONFLICT (key) DO NOTHING",
        &[&Uuid::new_v4().to_string()],
    )?;
    tx.commit()?;
    Ok(SCHEMA_VERSION)
}

fn schema_version(client: &mut impl postgres::GenericClient) -> StoreResult<u32> {
    let exists: bool = client.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?.get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i32> = client.query_one("SELECT MAX(version) FROM schema_version", &[])?.get(0);
    Ok(v.map_or(0, |v| u32::try_from(v).unwrap_or(0)))
}

fn log_id(client: &mut impl postgres::GenericClient) -> StoreResult<Uuid> {
    let text: String = client.query_one("SELECT value FROM meta WHERE key = 'log_id'", &[])?.get(0);
    Uuid::parse_str(&text)
        .map_err(|e| StoreError::Corrupt { what: "meta log_id".into(), detail: format!("{text:?}: {e}") })
}

fn stored(row: &postgres::Row) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        seq: to_u64(row.get(0), "events.seq")?,
        kind: row.get(1),
        body: row.get(2),
        audience: row.get(3),
    })
}

fn event_bodies(
    client: &mut impl postgres::GenericClient,
    from: u64,
    to: u64,
    limit: usize,
) -> StoreResult<Vec<StoredEvent>> {
    client
        .query(
            "SELECT seq, kind, body, audience FROM events WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            &[&to_i64(from), &to_i64(to), &to_i64(limit as u64)],
        )?
        .iter()
        .map(stored)
        .collect()
}

impl EventStore for PgStore {
    fn migrate(&mut self) -> StoreResult<u32> {
        self.write(migrate)
    }

    fn log_id(&self) -> StoreResult<Uuid> {
        self.read(log_id)
    }

    fn begin(&mut self) -> StoreResult<Box<dyn Batch + '_>> {
        let slot = self.client.get_mut().unwrap_or_else(|p| p.into_inner());
        let client = live(slot, &self.config)?;
        // READ COMMITTED whatever the database's default: each statement then sees what was
        // committed before it, so the catch-up after the lock sees the previous holder's batch.
        let mut tx =
            client.build_transaction().isolation_level(postgres::IsolationLevel::ReadCommitted).start()?;
        // Appends of every server, one at a time: whoever holds this decides against every
        // event before it (it catches up first, see `catch_up`). A broken connection is
        // noticed by `live` on the next call.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_APPEND])?;
        Ok(Box::new(PgBatch { tx, head: None, seen: Default::default(), rows: Rows::default() }))
    }

    fn load_state(&self, window: Window) -> StoreResult<State> {
        self.read(|client| {
            let snapshot =
                client.query_opt("SELECT seq, state FROM snapshots ORDER BY seq DESC LIMIT 1", &[])?;
            let mut state = match snapshot {
                Some(row) => {
                    let seq = to_u64(row.get(0), "snapshots.seq")?;
                    let text: String = row.get(1);
                    match read_snapshot(&text, seq) {
                        Ok(s) => s.windowed(window),
                        Err(why) => {
                            tracing::warn!("{why}");
                            State::default().windowed(window)
                        }
                    }
                }
                None => State::default().windowed(window),
            };
            // Streamed in pages: a year's log does not sit in memory twice.
            loop {
                let page = event_bodies(client, state.seq + 1, u64::MAX, 10_000)?;
                if page.is_empty() {
                    break;
                }
                for stored in &page {
                    stored.fold_into(&mut state)?;
                }
            }
            Ok(state)
        })
    }

    fn write_snapshot(&mut self, state: &State) -> StoreResult<u64> {
        let text = serde_json::to_string(state)
            .map(|json| format!("{}{json}", fold_line()))
            .map_err(|e| StoreError::Backend(format!("serializing the snapshot: {e}").into()))?;
        self.write(|client| {
            let mut tx = client.transaction()?;
            // Several servers may write the same seq's snapshot: they are equal, the first stays.
            tx.execute(
                "INSERT INTO snapshots(seq, state) VALUES ($1, $2) ON CONFLICT (seq) DO NOTHING",
                &[&to_i64(state.seq), &text],
            )?;
            tx.execute("DELETE FROM snapshots WHERE seq < $1", &[&to_i64(state.seq)])?;
            tx.commit()?;
            Ok(u64::try_from(text.len()).unwrap_or(u64::MAX))
        })
    }

    fn last_snapshot_seq(&self) -> StoreResult<u64> {
        self.read(|c| {
            // Only this fold's: after an upgrade, the first snapshot of the new fold is due.
            let seq: Option<i64> = c
                .query_one("SELECT MAX(seq) FROM snapshots WHERE starts_with(state, $1)", &[&fold_line()])?
                .get(0);
            seq.map_or(Ok(0), |s| to_u64(s, "snapshots.seq"))
        })
    }

    fn last_snapshot_bytes(&self) -> StoreResult<u64> {
        self.read(|c| {
            let bytes: Option<i32> = c
                .query_opt("SELECT octet_length(state) FROM snapshots ORDER BY seq DESC LIMIT 1", &[])?
                .map(|row| row.get(0));
            Ok(bytes.map_or(0, |b| u64::try_from(b).unwrap_or(0)))
        })
    }

    fn read_events(&self, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        self.read(|c| event_bodies(c, from, to, limit))
    }

    fn another(&self) -> StoreResult<Box<dyn EventStore>> {
        let client = connect(&self.config)?;
        Ok(Box::new(PgStore { config: self.config.clone(), client: Mutex::new(Some(client)) }))
    }

    fn readers(&self) -> StoreResult<Arc<dyn EventReader>> {
        Ok(Arc::new(Readers {
            config: self.config.clone(),
            pool: Mutex::new(Pool::default()),
            freed: std::sync::Condvar::new(),
        }))
    }

    fn shared(&self) -> bool {
        true
    }

    fn watcher(&self) -> StoreResult<Option<Box<dyn Watcher>>> {
        Ok(Some(Box::new(PgWatcher { config: self.config.clone(), client: None })))
    }

    fn lease(&mut self, name: &str, holder: Uuid, ttl: Duration) -> StoreResult<bool> {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.write(|client| {
            // The database's clock decides expiry: the servers' clocks may disagree.
            let row = client.query_opt(
                "INSERT INTO leases(name, holder, expires_at) \
                 VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond') \
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                 WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp() \
                 RETURNING holder",
                &[&name, &holder.to_string(), &(ms as f64)],
            )?;
            Ok(row.is_some())
        })
    }

    fn shared_value(&mut self, name: &str, fresh: &str) -> StoreResult<String> {
        let key = format!("shared:{name}");
        self.write(|client| {
            // First writer wins; a concurrent start reads the winner's value.
            client.execute(
                "INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &fresh],
            )?;
            Ok(client.query_one("SELECT value FROM meta WHERE key = $1", &[&key])?.get(0))
        })
    }

    fn release(&mut self, name: &str, holder: Uuid) -> StoreResult<()> {
        self.write(|client| {
            client.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder.to_string()],
            )?;
            Ok(())
        })
    }
}

struct PgBatch<'c> {
    tx: Transaction<'c>,
    /// The last seq this batch appended, announced at commit.
    head: Option<u64>,
    /// What the batch's commands' ids were seen as, read in one query ([`Batch::prefetch_seen`]).
    seen: std::collections::HashMap<String, Option<SeenCommand>>,
    /// Rows appended, written in one statement per table at commit: each statement is a
    /// round trip to the database, and a batch holds up to hundreds of commands.
    rows: Rows,
}

#[derive(Default)]
struct Rows {
    seq: Vec<i64>,
    command_id: Vec<String>,
    at: Vec<String>,
    actor: Vec<String>,
    kind: Vec<String>,
    body: Vec<String>,
    audience: Vec<Option<String>>,
    touch_incident: Vec<i64>,
    touch_seq: Vec<i64>,
    cmd_id: Vec<String>,
    cmd_digest: Vec<String>,
    cmd_first: Vec<i64>,
    cmd_last: Vec<i64>,
}

impl PgBatch<'_> {
    fn flush(&mut self) -> StoreResult<()> {
        let r = std::mem::take(&mut self.rows);
        if !r.seq.is_empty() {
            self.tx.execute(
                "INSERT INTO events(seq, command_id, at, actor, kind, body, audience) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])",
                &[&r.seq, &r.command_id, &r.at, &r.actor, &r.kind, &r.body, &r.audience],
            )?;
        }
        if !r.touch_seq.is_empty() {
            self.tx.execute(
                "INSERT INTO touches(incident, seq) SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
                &[&r.touch_incident, &r.touch_seq],
            )?;
        }
        if !r.cmd_id.is_empty() {
            self.tx.execute(
                "INSERT INTO commands(id, digest, first_seq, last_seq) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])",
                &[&r.cmd_id, &r.cmd_digest, &r.cmd_first, &r.cmd_last],
            )?;
        }
        Ok(())
    }
}

impl Batch for PgBatch<'_> {
    fn catch_up(&mut self, after: u64) -> StoreResult<Vec<StoredEvent>> {
        // Under the append lock, READ COMMITTED sees every commit made before it was granted.
        self.tx
            .query(
                "SELECT seq, kind, body, audience FROM events WHERE seq > $1 ORDER BY seq",
                &[&to_i64(after)],
            )?
            .iter()
            .map(stored)
            .collect()
    }

    fn prefetch_seen(&mut self, ids: &[Uuid]) -> StoreResult<()> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let mut seen: std::collections::HashMap<String, Option<SeenCommand>> =
            ids.iter().map(|id| (id.clone(), None)).collect();
        for r in self
            .tx
            .query("SELECT id, digest, first_seq, last_seq FROM commands WHERE id = ANY($1)", &[&ids])?
        {
            let id: String = r.get(0);
            seen.insert(
                id,
                Some(SeenCommand {
                    digest: r.get(1),
                    first_seq: to_u64(r.get(2), "commands.first_seq")?,
                    last_seq: to_u64(r.get(3), "commands.last_seq")?,
                }),
            );
        }
        self.seen = seen;
        Ok(())
    }

    fn seen_command(&mut self, id: Uuid) -> StoreResult<Option<SeenCommand>> {
        let key = id.to_string();
        // Prefetched for the batch's ids (the writer remembers what this batch appended).
        if let Some(seen) = self.seen.get(&key) {
            return Ok(seen.clone());
        }
        let row =
            self.tx.query_opt("SELECT digest, first_seq, last_seq FROM commands WHERE id = $1", &[&key])?;
        row.map(|r| {
            Ok(SeenCommand {
                digest: r.get(0),
                first_seq: to_u64(r.get(1), "commands.first_seq")?,
                last_seq: to_u64(r.get(2), "commands.last_seq")?,
            })
        })
        .transpose()
    }

    fn append(&mut self, digest: &str, events: &[Appended]) -> StoreResult<()> {
        let r = &mut self.rows;
        for a in events {
            let e = &a.event;
            r.seq.push(to_i64(e.seq));
            r.command_id.push(e.command_id.to_string());
            r.at.push(e.at.to_rfc3339());
            r.actor.push(e.actor.clone());
            r.kind.push(e.fact.kind().to_string());
            r.body.push(a.json.clone());
            r.audience.push(a.audience.clone());
            for id in &a.touches {
                r.touch_incident.push(to_i64(id.0));
                r.touch_seq.push(to_i64(e.seq));
            }
        }
        if let (Some(first), Some(last)) = (events.first(), events.last()) {
            r.cmd_id.push(first.event.command_id.to_string());
            r.cmd_digest.push(digest.to_string());
            r.cmd_first.push(to_i64(first.event.seq));
            r.cmd_last.push(to_i64(last.event.seq));
            self.head = Some(last.event.seq);
        }
        Ok(())
    }

    fn touch(&mut self) -> StoreResult<()> {
        self.tx.execute("UPDATE meta SET value = value WHERE key = 'log_id'", &[])?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.flush()?;
        if let Some(head) = self.head {
            // Delivered to every listening server at commit, never before.
            self.tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &head.to_string()])?;
        }
        Ok(self.tx.commit()?)
    }
}

/// Pooled read connections, at most [`MAX_READERS`] open; a broken one is dropped, not
/// returned. A reader finding all of them busy waits for one.
struct Readers {
    config: Config,
    pool: Mutex<Pool>,
    freed: std::sync::Condvar,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Client>,
    /// Connections open, idle or lent out.
    open: usize,
}

impl Readers {
    /// A connection to read on: an idle one, a new one while under the cap, else the next
    /// one given back. `(client, fresh)`.
    fn take(&self) -> StoreResult<(Client, bool)> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            while let Some(c) = pool.idle.pop() {
                if !c.is_closed() {
                    return Ok((c, false));
                }
                pool.open -= 1;
                close_off_runtime(c);
            }
            if pool.open < MAX_READERS {
                pool.open += 1;
                drop(pool);
                return match connect(&self.config) {
                    Ok(c) => Ok((c, true)),
                    Err(e) => {
                        self.give_back(None);
                        Err(e)
                    }
                };
            }
            pool = self.freed.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Returns a connection to the pool, or (`None`, or a broken one) frees its place.
    fn give_back(&self, client: Option<Client>) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        match client.filter(|c| !c.is_closed()) {
            Some(c) => pool.idle.push(c),
            None => pool.open -= 1,
        }
        drop(pool);
        self.freed.notify_one();
    }

    /// A read on a pooled connection; once more on a new one if the pooled one turned out
    /// broken (after a database restart every pooled connection is).
    fn with<T>(&self, read: impl Fn(&mut Client) -> StoreResult<T>) -> StoreResult<T> {
        let (mut client, fresh) = self.take()?;
        let mut result = read(&mut client);
        if result.is_err() && client.is_closed() && !fresh {
            close_off_runtime(client);
            client = match connect(&self.config) {
                Ok(c) => c,
                Err(e) => {
                    self.give_back(None);
                    return Err(e);
                }
            };
            result = read(&mut client);
        }
        if client.is_closed() {
            close_off_runtime(client);
            self.give_back(None);
        } else {
            self.give_back(Some(client));
        }
        result
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        close_off_runtime(std::mem::take(&mut self.pool.get_mut().unwrap_or_else(|p| p.into_inner()).idle));
    }
}

impl EventReader for Readers {
    fn read_events(&self, from: u64, to: u64, limit: usize) -> StoreResult<Vec<StoredEvent>> {
        self.with(|c| event_bodies(c, from, to, limit))
    }

    fn incident_events(&self, id: IncidentId, upto: u64) -> StoreResult<Vec<StoredEvent>> {
        self.with(|c| {
            c.query(
                "SELECT e.seq, e.kind, e.body, e.audience FROM touches t JOIN events e ON e.seq = t.seq \
                 WHERE t.incident = $1 AND t.seq <= $2 ORDER BY t.seq",
                &[&to_i64(id.0), &to_i64(upto)],
            )?
            .iter()
            .map(stored)
            .collect()
        })
    }

    fn snapshot_at_or_before(&self, seq: u64) -> StoreResult<Option<State>> {
        self.with(|c| {
            let Some(row) = c.query_opt(
                "SELECT seq, state FROM snapshots WHERE seq <= $1 ORDER BY seq DESC LIMIT 1",
                &[&to_i64(seq)],
            )?
            else {
                return Ok(None);
            };
            let at = to_u64(row.get(0), "snapshots.seq")?;
            let text: String = row.get(1);
            Ok(read_snapshot(&text, at).ok())
        })
    }
}

/// A snapshot row's first line: the fold that made it ([`FOLD_VERSION`]). A row written
/// before folds were numbered is the state alone, fold 1; an older warroom cannot read a row
/// with this line and folds the log instead, which is right, as it is not its fold.
fn fold_line() -> String {
    format!("{{\"fold\":{FOLD_VERSION}}}\n")
}

/// The state of the snapshot row at `seq`, or why it is not read (said on stderr: the cost is
/// a fold of the whole log at start).
fn read_snapshot(text: &str, seq: u64) -> Result<State, String> {
    #[derive(serde::Deserialize)]
    struct Head {
        fold: u32,
    }
    // The state's JSON has no raw newline: a first line is the fold's.
    let (fold, body) = match text.split_once('\n') {
        Some((head, body)) => match serde_json::from_str::<Head>(head) {
            Ok(h) => (h.fold, body),
            Err(_) => (super::first_fold(), text),
        },
        None => (super::first_fold(), text),
    };
    let what = format!("the snapshot at seq {seq}");
    if fold != FOLD_VERSION {
        return Err(super::other_fold(&what, fold));
    }
    match serde_json::from_str::<State>(body) {
        Ok(state) if state.seq == seq => Ok(state),
        _ => Err(format!("ignoring {what}: it does not read back; folding the whole log")),
    }
}

/// `LISTEN`s for other servers' appends on a connection of its own.
struct PgWatcher {
    config: Config,
    client: Option<Client>,
}

impl Watcher for PgWatcher {
    fn wait(&mut self, timeout: Duration) -> StoreResult<bool> {
        use postgres::fallible_iterator::FallibleIterator;
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let mut client = connect(&self.config)?;
            client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            self.client = Some(client);
            // Whatever was announced while we were not listening is in the table: look.
            return Ok(true);
        }
        let client = self.client.as_mut().expect("connected above");
        let (waited, rest) = {
            let mut notifications = client.notifications();
            let waited = notifications.timeout_iter(timeout).next().map(|n| n.is_some());
            // Several commits announce themselves at once: one look serves them all.
            let mut pending = notifications.iter();
            let mut rest = false;
            while let Ok(Some(_)) = pending.next() {
                rest = true;
            }
            (waited, rest)
        };
        match waited {
            Ok(first) => Ok(first || rest),
            Err(e) => {
                self.client = None;
                Err(e.into())
            }
        }
    }
}
