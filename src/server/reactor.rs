//! Reactors: the server's own actors (notifier, probes, chaos drivers next) that observe the
//! committed log and issue commands like any client, so everything they do is logged and replayable.
//!
//! One mechanism for what each of them needs: pick up unfinished work from the state at start
//! and after a lag (exactly once), keep one task per piece of work, issue commands as the server
//! with deterministic ids (a retried record is idempotent), and back off by an injectable policy.

use std::collections::HashSet;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::api::App;
use super::hub::{Hub, Published};
use super::writer::{Caller, WriteError};
use crate::model::{Event, Rejection, State, UserRole};
use crate::protocol::{Ack, Command};

/// Who a reactor's commands come from: the server itself, as an admin.
pub fn system() -> Caller {
    Caller { name: "warroom".into(), role: UserRole::Admin }
}

/// A server-side actor driven by the log.
pub trait Reactor: Send + Sync + 'static {
    /// What identifies one piece of work (a message, a run): at most one task per key.
    type Key: Eq + Hash + Clone + Send + 'static;
    type Job: Send + 'static;
    /// The work a newly committed event starts, if any.
    fn observe(&self, event: &Event) -> Option<(Self::Key, Self::Job)>;
    /// Every piece of work the state says is unfinished: what to pick up at start and after a lag.
    fn pending(&self, state: &State) -> Vec<(Self::Key, Self::Job)>;
    /// Carries one job to its end (its retries included).
    fn work(self: Arc<Self>, job: Self::Job) -> impl Future<Output = ()> + Send;
}

/// Runs a reactor over the hub's log until the hub goes away.
pub fn spawn<R: Reactor>(hub: Arc<Hub>, reactor: R) {
    // Subscribe before reading the state, so no event falls between the two.
    let rx = hub.subscribe();
    let runner = Runner::new(reactor);
    tokio::spawn(async move {
        runner
            .drive(rx, |r| {
                let state = hub.state();
                (state.seq, r.pending(&state))
            })
            .await
    });
}

/// The in-flight bookkeeping around one reactor.
pub struct Runner<R: Reactor> {
    reactor: Arc<R>,
    in_flight: Arc<Mutex<HashSet<R::Key>>>,
}

impl<R: Reactor> Runner<R> {
    pub fn new(reactor: R) -> Runner<R> {
        Runner { reactor: Arc::new(reactor), in_flight: Arc::default() }
    }

    /// Feeds committed events from `rx` to the reactor. `resync` reads the state: its seq and
    /// the work pending in it; it runs first (`rx` must be subscribed before) and after a lag.
    pub async fn drive(
        &self,
        mut rx: broadcast::Receiver<Arc<Published>>,
        resync: impl Fn(&R) -> (u64, Vec<(R::Key, R::Job)>),
    ) {
        let mut covered = self.resync(&resync);
        loop {
            match rx.recv().await {
                // Already in the state we resumed from: its work was started then, and may
                // even have finished since — starting it again would do it twice.
                Ok(p) if p.seq <= covered => {}
                Ok(p) => {
                    covered = p.seq;
                    if let Some((key, job)) = self.reactor.observe(&p.event) {
                        self.start(key, job);
                    }
                }
                // Events were skipped: the state says what they left unfinished.
                Err(RecvError::Lagged(_)) => covered = self.resync(&resync),
                Err(RecvError::Closed) => return,
            }
        }
    }

    fn resync(&self, resync: &impl Fn(&R) -> (u64, Vec<(R::Key, R::Job)>)) -> u64 {
        let (seq, pending) = resync(&self.reactor);
        for (key, job) in pending {
            self.start(key, job);
        }
        seq
    }

    /// Starts `job` unless work for `key` is already running.
    fn start(&self, key: R::Key, job: R::Job) {
        if !lock(&self.in_flight).insert(key.clone()) {
            return;
        }
        let (reactor, in_flight) = (self.reactor.clone(), self.in_flight.clone());
        tokio::spawn(async move {
            // Released even if the work panics, so a later resync can pick the key up again.
            let _done = Release { in_flight, key };
            reactor.work(job).await;
        });
    }
}

struct Release<K: Eq + Hash> {
    in_flight: Arc<Mutex<HashSet<K>>>,
    key: K,
}

impl<K: Eq + Hash> Drop for Release<K> {
    fn drop(&mut self) {
        lock(&self.in_flight).remove(&self.key);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A set of keys: a panic while holding it leaves nothing half-done.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long to wait between attempts, and how many to make. No jitter: retries must be
/// deterministic, and reactors are few.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt; it doubles after each further one …
    pub first: Duration,
    /// … up to this.
    pub max: Duration,
    /// Attempts in all before giving up.
    pub attempts: u32,
}

impl Backoff {
    /// No waiting: for tests.
    pub const fn immediate(attempts: u32) -> Backoff {
        Backoff { first: Duration::ZERO, max: Duration::ZERO, attempts }
    }

    /// The wait after failed attempt number `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.first.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(self.max)
    }

    /// Whether attempt number `attempt` (from 1) is the last one.
    pub fn is_last(&self, attempt: u32) -> bool {
        attempt >= self.attempts
    }

    /// Waits out the delay after failed attempt number `attempt`.
    pub async fn wait(&self, attempt: u32) {
        let delay = self.delay(attempt);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

/// The id of step `step` of the work `base`: the same inputs give the same id, so a step
/// recorded again after a crash or a lost answer is recognised by the writer and kept once.
/// `salt` keeps different reactors' ids for the same base apart.
pub fn step_id(base: Uuid, step: u32, salt: u64) -> Uuid {
    Uuid::from_u128(base.as_u128() ^ (u128::from(step) << 64 | u128::from(salt)))
}

/// A deterministic id from names (FNV-1a, 128 bits), for work that has no id of its own, such
/// as a probe's change of health. Stable across builds, unlike `std`'s hasher.
pub fn name_id(parts: &[&str]) -> Uuid {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let mut h = OFFSET;
    for part in parts {
        // The length first, so ("ab", "c") and ("a", "bc") differ.
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.as_bytes()) {
            h ^= u128::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    }
    Uuid::from_u128(h)
}

/// What became of a command a reactor issued.
#[derive(Debug)]
pub enum Issued {
    /// Written now.
    Recorded(Ack),
    /// Its id was written before with a different body: an earlier run recorded this step.
    AlreadyRecorded,
    /// The log no longer lets it apply: someone (an earlier run, a human) settled it.
    Settled(String),
    /// Not written, for a reason an operator should hear: the caller says what was lost.
    Failed(WriteError),
}

/// Submits `command` as the server; a repeated id answers as the first time did.
pub async fn issue(app: &App, command: Command) -> Issued {
    match app.submit(system(), command).await {
        Ok(ack) => Issued::Recorded(ack),
        Err(WriteError::KeyReused(_)) => Issued::AlreadyRecorded,
        Err(WriteError::Rejected(Rejection::Conflict(why))) => Issued::Settled(why),
        Err(e) => Issued::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::probe::{Health, ProbeState};
    use crate::model::{Fact, Intent};
    use tokio::sync::mpsc;

    const DEADLINE: Duration = Duration::from_secs(20);

    fn changed(seq: u64, probe: &str) -> Arc<Published> {
        let event = Event {
            seq,
            at: chrono::Utc::now(),
            actor: "warroom".into(),
            role: UserRole::Admin,
            command_id: Uuid::from_u128(u128::from(seq)),
            fact: Fact::ProbeChanged {
                probe: probe.into(),
                from: Health::Up,
                to: Health::Down,
                failed: Vec::new(),
            },
        };
        Arc::new(Published {
            seq,
            frame: Default::default(),
            event,
            audience: crate::server::hub::Readers::EVERYONE,
            redacted: Default::default(),
        })
    }

    fn down(state: &mut State, probe: &str) {
        let since = chrono::Utc::now();
        state.probes.insert(probe.into(), ProbeState { health: Health::Down, since, failed: Vec::new() });
    }

    /// Work: a probe that is down. Each job reports its start, then waits for the test's go.
    struct Watcher {
        started: mpsc::UnboundedSender<String>,
        finished: mpsc::UnboundedSender<String>,
        gate: Arc<tokio::sync::Semaphore>,
    }

    impl Reactor for Watcher {
        type Key = String;
        type Job = String;
        fn observe(&self, event: &Event) -> Option<(String, String)> {
            match &event.fact {
                Fact::ProbeChanged { probe, to: Health::Down, .. } => Some((probe.clone(), probe.clone())),
                _ => None,
            }
        }
        fn pending(&self, state: &State) -> Vec<(String, String)> {
            state
                .probes
                .iter()
                .filter(|(_, p)| p.health == Health::Down)
                .map(|(n, _)| (n.clone(), n.clone()))
                .collect()
        }
        async fn work(self: Arc<Self>, job: String) {
            self.started.send(job.clone()).expect("the test listens");
            let permit = self.gate.acquire().await.expect("the gate stays open");
            permit.forget();
            self.finished.send(job).expect("the test listens");
        }
    }

    struct Probe {
        started: mpsc::UnboundedReceiver<String>,
        finished: mpsc::UnboundedReceiver<String>,
        gate: Arc<tokio::sync::Semaphore>,
    }

    fn watcher() -> (Watcher, Probe) {
        let (started, started_rx) = mpsc::unbounded_channel();
        let (finished, finished_rx) = mpsc::unbounded_channel();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        (
            Watcher { started, finished, gate: gate.clone() },
            Probe { started: started_rx, finished: finished_rx, gate },
        )
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(DEADLINE, rx.recv()).await.expect("in time").expect("still running")
    }

    #[tokio::test]
    async fn after_a_lag_pending_work_is_rederived_once_and_news_still_start() {
        let (w, mut probe) = watcher();
        // A buffer of two: five events sent before the reactor reads are a lag.
        let (tx, rx) = broadcast::channel(2);
        let mut state = State { seq: 5, ..State::default() };
        for (seq, name) in [(1, "db"), (2, "api"), (3, "db"), (4, "api"), (5, "api")] {
            tx.send(changed(seq, name)).expect("the reactor subscribed");
            down(&mut state, name);
        }
        tx.send(changed(6, "cache")).expect("the reactor subscribed");
        let runner = Runner::new(w);
        let resyncs = Arc::new(Mutex::new(0));
        let count = resyncs.clone();
        let drive = tokio::spawn(async move {
            runner
                .drive(rx, move |r| {
                    *lock(&count) += 1;
                    (state.seq, r.pending(&state))
                })
                .await
        });
        let mut started = Vec::new();
        for _ in 0..3 {
            started.push(next(&mut probe.started).await);
        }
        drop(tx);
        tokio::time::timeout(DEADLINE, drive).await.expect("in time").expect("no panic");
        // The start and the lag both read the state; the running work was not started twice.
        assert_eq!(*lock(&resyncs), 2);
        started.sort();
        assert_eq!(started, ["api", "cache", "db"]);
        probe.gate.add_permits(3);
        for _ in 0..3 {
            next(&mut probe.finished).await;
        }
        assert!(probe.started.try_recv().is_err(), "nothing started twice");
    }

    #[tokio::test]
    async fn an_event_already_in_the_resumed_state_does_not_redo_finished_work() {
        let (w, mut probe) = watcher();
        probe.gate.add_permits(10);
        let (tx, rx) = broadcast::channel(16);
        let mut state = State { seq: 1, ..State::default() };
        down(&mut state, "db");
        let runner = Runner::new(w);
        let drive =
            tokio::spawn(async move { runner.drive(rx, move |r| (state.seq, r.pending(&state))).await });
        assert_eq!(next(&mut probe.started).await, "db");
        assert_eq!(next(&mut probe.finished).await, "db");
        // The event the state was built from arrives after its work is done (it was in the
        // broadcast buffer when the state was read); then a new one.
        tx.send(changed(1, "db")).expect("the reactor listens");
        tx.send(changed(2, "api")).expect("the reactor listens");
        assert_eq!(next(&mut probe.started).await, "api");
        drop(tx);
        tokio::time::timeout(DEADLINE, drive).await.expect("in time").expect("no panic");
        assert_eq!(next(&mut probe.finished).await, "api");
        assert!(probe.started.try_recv().is_err(), "db was delivered once");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_counts_attempts() {
        let b = Backoff { first: Duration::from_millis(250), max: Duration::from_secs(1), attempts: 4 };
        let delays: Vec<u64> = (1..=5).map(|a| b.delay(a).as_millis() as u64).collect();
        assert_eq!(delays, [250, 500, 1000, 1000, 1000]);
        assert!(!b.is_last(3) && b.is_last(4));
        assert_eq!(Backoff::immediate(3).delay(2), Duration::ZERO);
        // Far past the shift's range it stays capped instead of overflowing.
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn an_injected_backoff_retries_without_waiting_and_gives_up_on_time() {
        // A job that always fails, retried as a reactor does: attempt, then wait or give up.
        let policy = Backoff::immediate(5);
        let mut ids = Vec::new();
        let base = Uuid::from_u128(42);
        for attempt in 1.. {
            ids.push(step_id(base, attempt, 0xd311));
            if policy.is_last(attempt) {
                break;
            }
            policy.wait(attempt).await;
        }
        assert_eq!(ids.len(), 5);
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 5, "each attempt is its own record");
        assert_eq!(step_id(base, 3, 0xd311), ids[2], "the same attempt keeps its id");
    }

    #[test]
    fn name_ids_are_stable_and_tell_their_parts_apart() {
        assert_eq!(name_id(&["db", "down"]), name_id(&["db", "down"]));
        assert_ne!(name_id(&["ab", "c"]), name_id(&["a", "bc"]));
        assert_ne!(name_id(&["db", "down"]), name_id(&["db", "up"]));
        // Pinned: ids are stored in logs kept for years, so the function must never change.
        assert_eq!(name_id(&[]), Uuid::from_u128(0x6c62272e07bb014262b821756295c58d));
    }

    #[tokio::test]
    async fn a_retried_record_with_its_deterministic_id_is_kept_once() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let server = super::super::start(super::super::ServerOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        })
        .await
        .expect("the server starts");
        let record = |health| Command {
            id: name_id(&["db", "unknown", "down"]),
            intent: Intent::RecordProbe {
                probe: "db".into(),
                health,
                failed: Vec::new(),
                auto_declare: None,
            },
        };
        let Issued::Recorded(first) = issue(&server.app, record(Health::Down)).await else {
            panic!("the first record is written")
        };
        // The answer was lost, say, and the reactor records the same step again.
        let Issued::Recorded(again) = issue(&server.app, record(Health::Down)).await else {
            panic!("the retry answers as the first time")
        };
        assert_eq!(again, first);
        assert_eq!(server.app.hub().state().seq, first.seq, "nothing appended twice");
        // The same id with another body is a step an earlier run already recorded.
        assert!(matches!(issue(&server.app, record(Health::Up)).await, Issued::AlreadyRecorded));
        // A fresh id for a change the log already shows is settled, not a failure.
        let stale = Command { id: Uuid::new_v4(), ..record(Health::Down) };
        assert!(matches!(issue(&server.app, stale).await, Issued::Settled(_)));
        server.stop().await;
    }
}
