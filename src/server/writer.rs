//! The single writer: orders commands into events. It drains every queued command into one
//! store transaction (group commit), then publishes the events and answers each caller.
//! It is supervised: a panic while deciding is contained to the command that caused it, and
//! whether writes are possible at all is kept in [`Health`] for `/healthz`.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::checkpoint;
use super::hub::Hub;
use super::library::Shared;
use super::store::{self, Appended, Batch, EventStore, StoreError};
use crate::model::{stamp, Context, Event, Library, Rejection, State, UserRole};
use crate::protocol::{Ack, Command};

/// Upper bound on commands per transaction: keeps one commit's latency bounded.
const MAX_BATCH: usize = 512;
/// While the store fails, how often the writer checks whether it can write again.
const STORE_RETRY: Duration = Duration::from_secs(1);

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
    /// A bug met while deciding this command: it was refused, nothing of it was written,
    /// and the writer went on with the next one.
    #[error("the server hit a bug deciding this command; nothing was written ({0})")]
    Internal(String),
}

/// Whether the writer can write, and if not why: what `/healthz` reports.
#[derive(Debug, Default)]
pub struct Health {
    /// The store failed the last write; cleared by the next one that works.
    store: Mutex<Option<String>>,
    /// The writer cannot go on (it stopped, or the served state is suspect) until restart.
    fatal: Mutex<Option<String>>,
    /// Test hooks: make the writer fail as a real fault would (see [`Failpoint`]).
    failpoints: Mutex<Vec<Failpoint>>,
    /// Whether any failpoint is set: the writer asks for every command, so the answer in
    /// production must cost one atomic load, not a lock.
    armed: std::sync::atomic::AtomicBool,
}

/// Faults a test can inject to see the writer's supervision work. Never set in production.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failpoint {
    /// Panic while deciding the command with this id.
    PanicOn(Uuid),
    /// Every write transaction fails as if the disk were gone, until removed.
    StoreDown,
    /// Other servers' notifications are ignored (as if lost): only a look asked for by a
    /// reader, or the periodic one, reads what they appended.
    Deaf,
}

impl Health {
    /// `None` while commands can be written; otherwise why not.
    pub fn problem(&self) -> Option<String> {
        let fatal = self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone();
        fatal.or_else(|| self.store.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    fn store_failing(&self) -> bool {
        self.store.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn set_store_problem(&self, problem: Option<String>) {
        *self.store.lock().unwrap_or_else(|p| p.into_inner()) = problem;
    }

    fn set_fatal(&self, why: String) {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(why);
    }

    #[doc(hidden)]
    pub fn set_failpoint(&self, failpoint: Failpoint, on: bool) {
        let mut list = self.failpoints.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|f| *f != failpoint);
        self.armed.store(on || !list.is_empty(), std::sync::atomic::Ordering::Release);
        if on {
            list.push(failpoint);
        }
    }

    fn failpoint(&self, failpoint: &Failpoint) -> bool {
        if !self.armed.load(std::sync::atomic::Ordering::Acquire) {
            return false;
        }
        self.failpoints.lock().unwrap_or_else(|p| p.into_inner()).contains(failpoint)
    }
}

/// The writer as the API sees it: where to send commands, and its health.
#[derive(Clone)]
pub struct Handle {
    pub tx: mpsc::Sender<WriteRequest>,
    pub health: Arc<Health>,
    /// On a shared store: wakes the writer to read what other servers appended.
    pub follow: Option<Arc<tokio::sync::Notify>>,
}

/// Starts the writer thread. It owns the store; it stops when every sender is dropped.
pub fn spawn(store: Box<dyn EventStore>, state: State, hub: Arc<Hub>, library: Arc<Shared>) -> Handle {
    let (tx, rx) = mpsc::channel(4096);
    let health = Arc::new(Health::default());
    let wake = Arc::new(tokio::sync::Notify::new());
    let follow = store.shared().then(|| wake.clone());
    let writer_health = health.clone();
    // Everything that may connect to the store happens on the writer's thread: a PostgreSQL
    // client blocks, and `spawn` is called from async code.
    std::thread::Builder::new()
        .name("warroom-writer".into())
        .spawn(move || {
            match store.watcher() {
                Ok(Some(watcher)) => watch(watcher, Arc::downgrade(&wake), writer_health.clone()),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!("other servers' events will be seen only when this one writes ({e})")
                }
            }
            Writer::new(store, state, hub, library, writer_health, wake).run(rx)
        })
        .expect("spawn writer thread");
    Handle { tx, health, follow }
}

/// How long the writer waits for a word from other servers before looking at the log anyway:
/// a notification lost with no broken connection still costs at most this.
const WATCH_POLL: Duration = Duration::from_secs(5);

/// Wakes the writer whenever another server appended to the shared log (and every
/// [`WATCH_POLL`] regardless), until the writer is gone.
fn watch(
    mut watcher: Box<dyn store::Watcher>,
    wake: std::sync::Weak<tokio::sync::Notify>,
    health: Arc<Health>,
) {
    let spawned = std::thread::Builder::new().name("warroom-watch".into()).spawn(move || {
        // Said once per outage, not once a second.
        let mut failing = false;
        loop {
            let result = watcher.wait(WATCH_POLL);
            let Some(wake) = wake.upgrade() else { return };
            match result {
                Ok(_) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("listening to the shared log again");
                    }
                    // Also on a timeout: a cheap look at the log's head.
                    if !health.failpoint(&Failpoint::Deaf) {
                        wake.notify_one();
                    }
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!("cannot listen to the shared log, retrying: {e}");
                    }
                    drop(wake);
                    std::thread::sleep(STORE_RETRY);
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("other servers' events will be seen only when this one writes ({e})");
    }
}

/// Marks the writer as gone when its thread ends, however it ends.
struct Gone(Arc<Health>);

impl Drop for Gone {
    fn drop(&mut self) {
        let why = if std::thread::panicking() { "the writer crashed" } else { "the writer stopped" };
        self.0.set_fatal(why.into());
    }
}

struct Writer {
    store: Box<dyn EventStore>,
    /// The state as of the last commit plus the batch being decided. Closed incidents are
    /// kept without their timelines ([`Window::Timelines`]): decide never reads them.
    working: State,
    hub: Arc<Hub>,
    library: Arc<Shared>,
    health: Arc<Health>,
    /// Notified when other servers appended to a shared log (see [`watch`]).
    wake: Arc<tokio::sync::Notify>,
}

impl Writer {
    fn new(
        store: Box<dyn EventStore>,
        working: State,
        hub: Arc<Hub>,
        library: Arc<Shared>,
        health: Arc<Health>,
        wake: Arc<tokio::sync::Notify>,
    ) -> Writer {
        match store.another() {
            Ok(other) => checkpoint::start(other, hub.clone()),
            Err(e) => tracing::error!("no state snapshots will be written ({e})"),
        }
        Writer { store, working, hub, library, health, wake }
    }

    fn run(mut self, mut rx: mpsc::Receiver<WriteRequest>) {
        let _gone = Gone(self.health.clone());
        // Only to wait with a timeout while the store fails; commands never run on it.
        let clock = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
            Ok(rt) => rt,
            Err(e) => {
                self.health.set_fatal(format!("the writer could not start its clock: {e}"));
                return;
            }
        };
        loop {
            let first = if self.health.store_failing() {
                match clock.block_on(async { tokio::time::timeout(STORE_RETRY, rx.recv()).await }) {
                    Err(_) => {
                        self.check_store();
                        continue;
                    }
                    Ok(None) => return,
                    Ok(Some(req)) => req,
                }
            } else if self.store.shared() {
                let wake = self.wake.clone();
                let next = clock.block_on(async {
                    tokio::select! {
                        req = rx.recv() => Some(req),
                        () = wake.notified() => None,
                    }
                });
                match next {
                    Some(None) => return,
                    Some(Some(req)) => req,
                    None => {
                        self.catch_up();
                        continue;
                    }
                }
            } else {
                match rx.blocking_recv() {
                    None => return,
                    Some(req) => req,
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            self.handle(batch);
        }
    }

    /// Decides, commits, publishes and answers one batch. A panic while deciding refuses
    /// only the command that caused it: the batch's transaction rolls back and each of its
    /// commands is tried again on its own.
    fn handle(&mut self, batch: Vec<WriteRequest>) {
        // Other servers' events read before the append lock, not under it: the batch then
        // reads under the lock only what was committed in the last moments.
        if self.store.shared() && !self.health.store_failing() {
            self.catch_up();
        }
        let library = self.library.get();
        let decided = catch_unwind(AssertUnwindSafe(|| {
            write_batch(self.store.as_mut(), &mut self.working, &library.library, &batch, &self.health)
        }));
        match decided {
            Ok(Ok((outcomes, fresh))) => {
                self.health.set_store_problem(None);
                self.publish(&fresh);
                answer(self.store.as_ref(), batch, outcomes);
            }
            Ok(Err(e)) => {
                // Nothing of this batch is durable: forget it and tell every caller.
                self.working = self.hub.state().clone();
                self.health.set_store_problem(Some(format!("the event store cannot write: {e}")));
                for req in batch {
                    let _ = req.reply.send(Err(WriteError::Store(e.to_string())));
                }
            }
            Err(panic) => {
                self.working = self.hub.state().clone();
                if batch.len() > 1 {
                    for req in batch {
                        self.handle(vec![req]);
                    }
                    return;
                }
                let why = panic_text(&panic);
                for req in batch {
                    tracing::error!(
                        "refused command {} ({} by {}): the writer panicked: {why}",
                        req.command.id,
                        req.command.intent.kind(),
                        req.caller.name
                    );
                    let _ = req.reply.send(Err(WriteError::Internal(why.clone())));
                }
            }
        }
    }

    /// Applies committed events to the shared state and announces them. They are durable
    /// already, so a panic here cannot be refused: the served state may now differ from the
    /// log, which only a restart (a fold of the log) repairs. Say so on `/healthz`.
    fn publish(&mut self, fresh: &[Committed]) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.hub.publish(fresh))) {
            let seq = fresh.first().map_or(0, |(e, _, _)| e.seq);
            let why = format!(
                "publishing the events from seq {seq} panicked ({}): the served state may differ from the log; restart the server",
                panic_text(&panic)
            );
            tracing::error!("{why}");
            self.health.set_fatal(why);
        }
    }

    /// Folds and publishes what other servers appended since our last batch: the stream of
    /// this server's subscribers must not wait until this server writes. A failure is left
    /// to the next wake or the next batch, which catches up under the append lock anyway.
    fn catch_up(&mut self) {
        let result = catch_up_from_log(self);
        if let Err(e) = result {
            tracing::warn!("reading other servers' events: {e}");
        }
    }

    /// While the store fails, try a real write now and then so `/healthz` turns healthy as
    /// soon as writes work again, even when no command comes.
    fn check_store(&mut self) {
        let result = begin(self.store.as_mut(), &self.health).and_then(|mut tx| {
            tx.touch()?;
            tx.commit()
        });
        if result.is_ok() {
            self.health.set_store_problem(None);
        }
    }
}

fn catch_up_from_log(w: &mut Writer) -> Result<(), StoreError> {
    loop {
        let page = w.store.read_events(w.working.seq + 1, u64::MAX, 1000)?;
        if page.is_empty() {
            return Ok(());
        }
        let mut fresh = Vec::with_capacity(page.len());
        let mut failed = None;
        for stored in page {
            match fold_foreign(&mut w.working, stored) {
                Ok(c) => fresh.push(c),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // What was folded is published either way: the working state and the served one
        // must not part (the next batch catches up from the working state's seq).
        w.publish(&fresh);
        if let Some(e) = failed {
            return Err(e);
        }
    }
}

/// Applies an event another server committed to `working`, checking it is the next one.
fn fold_foreign(working: &mut State, stored: store::StoredEvent) -> Result<Committed, StoreError> {
    let event = stored.fold_into(working)?;
    let audience = super::hub::audience(working, &event);
    Ok((event, Arc::from(stored.body), audience))
}

/// A panic's message, for the refusal and the operator's log.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Starts a write transaction, unless a test made the store fail.
fn begin<'s>(store: &'s mut dyn EventStore, health: &Health) -> Result<Box<dyn Batch + 's>, StoreError> {
    if health.failpoint(&Failpoint::StoreDown) {
        return Err(StoreError::Injected);
    }
    store.begin()
}

/// An event with its JSON, serialized once for the store and every subscriber, and its
/// audience (the private incident it is about, if any).
type Committed = (Event, Arc<str>, super::hub::Readers);

enum Outcome {
    New(Vec<Event>),
    Replay { first_seq: u64, last_seq: u64 },
    Refused(WriteError),
}

/// Decides every command of the batch against the evolving state and appends the events,
/// all in one transaction. Returns each command's outcome and the new events with their JSON.
fn write_batch(
    store: &mut dyn EventStore,
    working: &mut State,
    library: &Library,
    batch: &[WriteRequest],
    health: &Health,
) -> Result<(Vec<Outcome>, Vec<Committed>), StoreError> {
    (|| {
        let mut tx = begin(store, health)?;
        let now = Utc::now();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut fresh: Vec<Committed> = Vec::new();
        // Other servers' events first (a shared log): decide sees every earlier event.
        for stored in tx.catch_up(working.seq)? {
            fresh.push(fold_foreign(working, stored)?);
        }
        tx.prefetch_seen(&batch.iter().map(|r| r.command.id).collect::<Vec<_>>())?;
        let mut in_batch: HashMap<Uuid, (u64, u64, String)> = HashMap::new();
        for req in batch {
            let id = req.command.id;
            let digest = digest(&req.caller, &req.command);
            let seen = match in_batch.get(&id) {
                Some((first_seq, last_seq, d)) => Some((*first_seq, *last_seq, d.clone())),
                None => tx.seen_command(id)?.map(|s| (s.first_seq, s.last_seq, s.digest)),
            };
            if let Some((first_seq, last_seq, seen_digest)) = seen {
                outcomes.push(if seen_digest == digest {
                    Outcome::Replay { first_seq, last_seq }
                } else {
                    Outcome::Refused(WriteError::KeyReused(id))
                });
                continue;
            }
            if health.failpoint(&Failpoint::PanicOn(id)) {
                panic!("injected by a test for command {id}");
            }
            let cx = Context { library, now, command_id: id, role: req.caller.role, actor: &req.caller.name };
            match working.decide_with(&req.command.intent, &cx) {
                Err(r) => outcomes.push(Outcome::Refused(r.into())),
                Ok(facts) => {
                    let events = stamp(working.seq + 1, now, &req.caller.name, req.caller.role, id, facts);
                    // The audience is known once the event is applied (a declaration makes the
                    // incident it is about); whether an incident is private never changes.
                    let mut appended: Vec<Appended> = Vec::with_capacity(events.len());
                    let mut audiences = Vec::with_capacity(events.len());
                    for e in &events {
                        let touches = working.touched(e);
                        working.apply(e);
                        let audience = super::hub::audience(working, e);
                        audiences.push(audience);
                        let json = serde_json::to_string(e).expect("event serializes");
                        appended.push(Appended {
                            event: e.clone(),
                            json,
                            audience: audience.stored(),
                            touches,
                        });
                    }
                    tx.append(&digest, &appended)?;
                    if let (Some(f), Some(l)) = (events.first(), events.last()) {
                        in_batch.insert(id, (f.seq, l.seq, digest));
                    }
                    fresh.extend(
                        appended.into_iter().zip(audiences).map(|(a, aud)| (a.event, Arc::from(a.json), aud)),
                    );
                    outcomes.push(Outcome::New(events));
                }
            }
        }
        tx.commit()?;
        Ok((outcomes, fresh))
    })()
}

fn answer(store: &dyn EventStore, batch: Vec<WriteRequest>, outcomes: Vec<Outcome>) {
    for (req, outcome) in batch.into_iter().zip(outcomes) {
        let reply = match outcome {
            Outcome::New(events) => Ok(Ack { seq: events.last().map_or(0, |e| e.seq), events }),
            Outcome::Refused(e) => Err(e),
            Outcome::Replay { first_seq, last_seq } => store::replay(store, first_seq, last_seq)
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
