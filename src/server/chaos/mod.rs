//! The chaos runner: carries out the runs the log starts, from the server's own scenario files.
//! Each run is one task: steady state, phases on schedule, then, however it ends (duration,
//! stop, stop condition, halt, dead man, shutdown, restart), its rollback, retried until it works.
//!
//! Safety first: a halt rolls back before anything is written, so it works while the log cannot
//! be written, and disarms in memory at once. What the runner did is recorded through one
//! ordered queue that retries until the log takes it, so nothing it did is forgotten.

pub mod catalogue;
pub mod chaostoolkit;
pub mod command;
pub mod demo;
pub mod driver;
pub mod http;
pub mod network;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast::error::RecvError, mpsc, watch, Notify};
use tokio::time::Instant;

use super::api::App;
use super::writer::{Caller, WriteError};
use crate::config::ChaosConfig;
use crate::model::chaos::{self, Action, RunId, RunPhase, StepKind, StopCause};
use crate::model::probe::Health;
use crate::model::{Fact, Intent, Rejection};
use crate::protocol::{Command, HaltReport};
use catalogue::{Catalogue, Entry};
use driver::{DriverCx, Injected, Ongoing};

/// The dead-man rule's default: no villain or admin connected this long ends every run.
pub const DEAD_MAN: Duration = Duration::from_secs(120);
/// How long a halt waits for rollbacks before it answers (they go on after).
const HALT_WAIT: Duration = Duration::from_secs(30);
/// How long a halt waits for its record before answering that it is not recorded yet.
const RECORD_WAIT: Duration = Duration::from_secs(3);
/// How long a run waits for its steady-state probes' first measurement.
const STEADY_WAIT: Duration = Duration::from_secs(30);
/// Retries of a failed rollback: from 1 s, doubling, at most this far apart.
const ROLLBACK_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Where a run's rollback stands: `None` until the first attempt ended, then how it went.
type RolledBack = watch::Receiver<Option<Result<(), String>>>;

/// Why a run's task is told to end.
#[derive(Debug, Clone)]
struct Stop {
    cause: StopCause,
    reason: Option<String>,
    /// The runner decided it (duration, stop condition, dead man, shutdown): record the cause.
    /// A stop that is already in the log (a villain's stop, a halt) is not recorded again.
    record: bool,
}

/// A run being carried out.
struct Live {
    tx: mpsc::UnboundedSender<Stop>,
    /// `None` until the first rollback attempt ended; then whether it worked.
    rolled_back: RolledBack,
    /// Past its steady-state check: stop conditions apply.
    running: Arc<AtomicBool>,
    entry: Option<Entry>,
}

pub struct Runner {
    config: Arc<ChaosConfig>,
    /// Runs' own files (journals), under the data dir.
    work_dir: PathBuf,
    catalogue: RwLock<Arc<Catalogue>>,
    live: Mutex<HashMap<RunId, Live>>,
    /// Set by a halt before anything is written; cleared when arming is in the log.
    disarmed: AtomicBool,
    http: reqwest::Client,
    records: Records,
    /// Users who may drive chaos: the dead-man rule watches their streams.
    drivers: HashSet<String>,
    /// The `network` driver's proxies, when the config has some.
    network: std::sync::OnceLock<Arc<network::Network>>,
    /// Every run this runner has carried out (or is carrying out): after a lag, a run whose
    /// last records are still queued must not be started again.
    handled: Mutex<HashSet<RunId>>,
    /// Told when the last live run leaves (shutdown waits for it).
    emptied: Notify,
    /// Set by [`Runner::shutdown`]: no run starts here any more (the server stops, or gives
    /// its side effects to another server); cleared by [`Runner::new_term`].
    stopping: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runner {
    pub fn new(
        config: ChaosConfig,
        data_dir: &std::path::Path,
        users: &[crate::config::UserConfig],
    ) -> Runner {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Runner {
            config: Arc::new(config),
            work_dir: data_dir.join("chaos"),
            catalogue: RwLock::default(),
            live: Mutex::default(),
            disarmed: AtomicBool::new(false),
            http,
            records: Records::default(),
            drivers: users.iter().filter(|u| chaos::may_drive(u.role)).map(|u| u.name.clone()).collect(),
            network: std::sync::OnceLock::new(),
            handled: Mutex::default(),
            emptied: Notify::new(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Gives the `network` driver its proxies (once, at start).
    pub fn set_network(&self, network: Arc<network::Network>) {
        let _ = self.network.set(network);
    }

    /// Where the shipped scenarios are written, first of the scenario directories.
    pub fn shipped_dir(&self) -> PathBuf {
        self.work_dir.join("shipped")
    }

    pub fn set_catalogue(&self, catalogue: Catalogue) {
        *self.catalogue.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalogue);
    }

    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A halt happened that the log may not hold yet: starts are refused.
    pub fn is_disarmed(&self) -> bool {
        self.disarmed.load(Ordering::SeqCst)
    }

    fn dead_man(&self) -> Duration {
        self.config.dead_man.map_or(DEAD_MAN, |d| Duration::from_secs(d.0.max(1).unsigned_abs()))
    }

    /// A new term of this server's side effects (it took the lease again, after losing it):
    /// the tasks of the last term are gone with their runtime, so what they held is
    /// forgotten; the runs still active in the log are picked up again by [`Runner::spawn`],
    /// which rolls them back, and records still queued are written by the new record loop.
    pub fn new_term(&self) {
        lock(&self.handled).clear();
        lock(&self.live).clear();
        let queued = lock(&self.records.queue).len();
        *lock(&self.records.pending) = queued;
        self.stopping.store(false, Ordering::SeqCst);
    }

    /// Starts the runner on `app`'s log: rolls back what a crash left running, then follows.
    pub fn spawn(self: &Arc<Self>, app: &App) {
        let rx = app.hub().subscribe();
        let (active, disarmed) = {
            let state = app.hub().state();
            let active: Vec<(RunId, String, bool)> = state
                .chaos
                .active()
                .map(|r| (r.id, r.scenario.id.clone(), r.phase == RunPhase::Stopping))
                .collect();
            (active, state.chaos.disarmed.is_some())
        };
        self.disarmed.store(disarmed, Ordering::SeqCst);
        let runner = self.clone();
        tokio::spawn(runner.clone().record_loop(app.clone()));
        for (run, scenario, stopping) in active {
            let stop = Stop {
                cause: StopCause::Restart,
                reason: Some("the server restarted while it ran".into()),
                record: !stopping,
            };
            self.start_task(app, run, scenario, Some(stop));
        }
        tokio::spawn(runner.clone().follow(app.clone(), rx));
        tokio::spawn(runner.dead_man_loop(app.clone()));
    }

    async fn follow(
        self: Arc<Self>,
        app: App,
        mut rx: tokio::sync::broadcast::Receiver<Arc<super::hub::Published>>,
    ) {
        loop {
            let p = match rx.recv().await {
                Ok(p) => p,
                Err(RecvError::Lagged(_)) => {
                    // Runs started in what was skipped: carry them out now.
                    let missed: Vec<(RunId, String)> = {
                        let state = app.hub().state();
                        state.chaos.active().map(|r| (r.id, r.scenario.id.clone())).collect()
                    };
                    for (run, scenario) in missed {
                        self.start_task(&app, run, scenario, None);
                    }
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            match &p.event.fact {
                Fact::ScenarioStarted { run, scenario, .. } => {
                    self.start_task(&app, *run, scenario.id.clone(), None)
                }
                Fact::ScenarioStopping { run, cause, reason } => {
                    self.signal(*run, Stop { cause: *cause, reason: reason.clone(), record: false })
                }
                Fact::ChaosHalted { runs, reason } => {
                    self.disarmed.store(true, Ordering::SeqCst);
                    for run in runs {
                        let stop =
                            Stop { cause: StopCause::Halted, reason: Some(reason.clone()), record: false };
                        self.signal(*run, stop);
                    }
                }
                Fact::ChaosArmed {} => self.disarmed.store(false, Ordering::SeqCst),
                Fact::ProbeChanged { probe, to: Health::Down, .. } => self.stop_conditions(probe),
                _ => {}
            }
        }
    }

    /// A probe went down: every running run whose stop condition it is ends.
    fn stop_conditions(&self, probe: &str) {
        let live = lock(&self.live);
        for (run, l) in live.iter() {
            let Some(entry) = &l.entry else { continue };
            let sc = &entry.scenario;
            if l.running.load(Ordering::SeqCst) && sc.stop_when.fires(&sc.target, probe) {
                let _ = l.tx.send(Stop {
                    cause: StopCause::StopCondition,
                    reason: Some(format!("stop condition: {probe} went down ({})", sc.stop_when.describe())),
                    record: true,
                });
                tracing::warn!(%run, %probe, "{run} stopped: {probe} went down");
            }
        }
    }

    fn signal(&self, run: RunId, stop: Stop) {
        if let Some(l) = lock(&self.live).get(&run) {
            // A task that already ended has nothing left to stop.
            let _ = l.tx.send(stop);
        }
    }

    fn start_task(self: &Arc<Self>, app: &App, run: RunId, scenario: String, stop: Option<Stop>) {
        // A stopping runner starts nothing: the next holder of the side effects picks it up.
        if self.stopping.load(Ordering::SeqCst) || !lock(&self.handled).insert(run) {
            return;
        }
        let mut live = lock(&self.live);
        let entry = self.catalogue().get(&scenario).cloned();
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = watch::channel(None);
        let running = Arc::new(AtomicBool::new(false));
        // A run picked up again (a restart) may have injected before the log said so: it is
        // rolled back whatever its record shows.
        let attempted = stop.is_some()
            || app
                .hub()
                .state()
                .chaos
                .runs
                .get(&run)
                .is_some_and(|r| r.steps.iter().any(|s| s.step == StepKind::Inject));
        if let Some(stop) = stop {
            let _ = tx.send(stop);
        }
        live.insert(run, Live { tx, rolled_back: done_rx, running: running.clone(), entry: entry.clone() });
        let task = RunTask {
            runner: self.clone(),
            app: app.clone(),
            run,
            scenario,
            entry,
            rx,
            done: done_tx,
            running,
            injected: 0,
            attempted,
        };
        tokio::spawn(task.drive());
    }

    /// The emergency stop, acting first: disarm, tell every run to roll back now, and wait
    /// (bounded) for the rollbacks. Nothing here writes to the log.
    pub async fn halt_now(&self, reason: &str) -> HaltReport {
        self.disarmed.store(true, Ordering::SeqCst);
        let waiting: Vec<(RunId, RolledBack)> = {
            let live = lock(&self.live);
            live.iter()
                .map(|(run, l)| {
                    // Recorded by the run too: if the halt's own record is late (the log is
                    // failing), each run still says why it ended; whichever comes second is
                    // refused as already known.
                    let _ = l.tx.send(Stop {
                        cause: StopCause::Halted,
                        reason: Some(reason.to_string()),
                        record: true,
                    });
                    (*run, l.rolled_back.clone())
                })
                .collect()
        };
        let mut report = HaltReport::default();
        let deadline = Instant::now() + HALT_WAIT;
        for (run, mut rx) in waiting {
            report.runs.push(run);
            let outcome = tokio::time::timeout_at(deadline, async {
                // A halt retries a failing rollback at once: wait for the attempt after it.
                let seen = rx.borrow_and_update().clone();
                if matches!(seen, Some(Ok(()))) {
                    return seen;
                }
                rx.changed().await.ok().and_then(|()| rx.borrow().clone())
            })
            .await;
            match outcome {
                Ok(Some(Ok(()))) => report.rolled_back.push(run.to_string()),
                Ok(Some(Err(e))) => report.failed.push(format!("{run}: {e}")),
                Ok(None) => report.rolled_back.push(format!("{run} (already ended)")),
                Err(_) => report
                    .failed
                    .push(format!("{run}: rollback still running after {}s", HALT_WAIT.as_secs())),
            }
        }
        report.runs.sort();
        report
    }

    /// Halt-all from a user: act first, then record (now, or later through the queue).
    pub async fn halt(&self, app: &App, caller: Caller, reason: String) -> HaltReport {
        let mut report = self.halt_now(&reason).await;
        let command = Command { id: uuid::Uuid::now_v7(), intent: Intent::HaltAll { reason } };
        match tokio::time::timeout(RECORD_WAIT, app.submit(caller.clone(), command.clone())).await {
            Ok(Ok(ack)) => report.recorded = ack.events.last().map(|e| e.seq),
            Ok(Err(WriteError::Rejected(r))) => report.error = Some(r.to_string()),
            Ok(Err(e)) => {
                report.error =
                    Some(format!("{e}; the halt is done and will be recorded when the log can be written"));
                self.records.push(caller, command);
            }
            Err(_) => {
                report.error = Some("the log is slow; the halt is done and will be recorded".into());
                self.records.push(caller, command);
            }
        }
        report
    }

    /// The server is stopping: every run ends with its rollback, and what was done is written
    /// while the writer still runs (bounded).
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let waiting: Vec<RolledBack> = {
            let live = lock(&self.live);
            live.values()
                .map(|l| {
                    let _ = l.tx.send(Stop {
                        cause: StopCause::Shutdown,
                        reason: Some("the server is shutting down".into()),
                        record: true,
                    });
                    l.rolled_back.clone()
                })
                .collect()
        };
        let deadline = Instant::now() + HALT_WAIT;
        for mut rx in waiting {
            let _ = tokio::time::timeout_at(deadline, rx.wait_for(|d| d.is_some())).await;
        }
        // Ended tasks leave the live map after their last record is queued.
        let _ = tokio::time::timeout_at(deadline, async {
            loop {
                let emptied = self.emptied.notified();
                if lock(&self.live).is_empty() {
                    return;
                }
                emptied.await;
            }
        })
        .await;
        self.records.flush(Duration::from_secs(5)).await;
    }

    /// The dead-man rule: while runs are live and no villain or admin has a stream open for
    /// the configured time, every run ends.
    async fn dead_man_loop(self: Arc<Self>, app: App) {
        let limit = self.dead_man();
        let mut alone_since: Option<Instant> = None;
        let mut tick =
            tokio::time::interval(Duration::from_millis(500).min(limit / 4).max(Duration::from_millis(50)));
        loop {
            tick.tick().await;
            if lock(&self.live).is_empty() {
                alone_since = None;
                continue;
            }
            let watched = app.hub().open_users().iter().any(|u| self.drivers.contains(u));
            if watched {
                alone_since = None;
                continue;
            }
            let since = *alone_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= limit {
                let reason = format!("no villain or admin connected for {}s", limit.as_secs());
                tracing::warn!("chaos dead man: {reason}; rolling back every run");
                for l in lock(&self.live).values() {
                    let _ = l.tx.send(Stop {
                        cause: StopCause::DeadMan,
                        reason: Some(reason.clone()),
                        record: true,
                    });
                }
                alone_since = None;
            }
        }
    }

    /// Carries out one action with its driver.
    async fn act(&self, action: &Action, cx: &DriverCx) -> Result<Injected, String> {
        match action {
            Action::Demo { fault, params } => demo::act(cx, fault, params).await,
            Action::Network { run, stop } => match self.network.get() {
                Some(net) => network::act(net, cx, run.as_deref(), *stop).await,
                None => Err("the network driver needs [[chaos.proxy]] entries in the server's config".into()),
            },
            Action::Chaostoolkit { experiment } => {
                let env: Vec<(String, String)> =
                    self.config.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                chaostoolkit::act_with_env(cx, experiment, &env).await
            }
            Action::Http { method, url, headers, body, timeout } => {
                http::act(cx, method, url, headers, body.as_ref(), timeout.as_deref()).await
            }
            Action::Command { program, args, timeout } => {
                command::act(cx, program, args, timeout.as_deref()).await
            }
        }
    }

    async fn record_loop(self: Arc<Self>, app: App) {
        loop {
            let Some((caller, command)) = self.records.next().await else { return };
            let mut backoff = Duration::from_millis(100);
            loop {
                match app.submit(caller.clone(), command.clone()).await {
                    Ok(_) => break,
                    // Refused: the state moved on (a run already ended); nothing to retry.
                    Err(WriteError::Rejected(Rejection::Conflict(_))) => break,
                    Err(WriteError::Rejected(r)) => {
                        let kind = command.intent.kind();
                        tracing::error!(command = %command.id, kind, "chaos record {kind} refused: {r}");
                        break;
                    }
                    Err(e) => {
                        let kind = command.intent.kind();
                        tracing::warn!(command = %command.id, kind, "chaos record {kind} failed ({e}); retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            self.records.done();
        }
    }
}

/// The runner's records, written in order, each retried until the log takes it.
#[derive(Default)]
struct Records {
    queue: Mutex<VecDeque<(Caller, Command)>>,
    /// Queued plus the one being written.
    pending: Mutex<usize>,
    wake: Notify,
    idle: Notify,
}

impl Records {
    fn push(&self, caller: Caller, command: Command) {
        lock(&self.queue).push_back((caller, command));
        *lock(&self.pending) += 1;
        self.wake.notify_one();
    }

    /// As the server: a run's steps are the server's doing.
    fn system(&self, intent: Intent) {
        self.push(super::reactor::system(), Command { id: uuid::Uuid::now_v7(), intent });
    }

    async fn next(&self) -> Option<(Caller, Command)> {
        loop {
            if let Some(item) = lock(&self.queue).pop_front() {
                return Some(item);
            }
            self.wake.notified().await;
        }
    }

    fn done(&self) {
        let mut pending = lock(&self.pending);
        *pending = pending.saturating_sub(1);
        if *pending == 0 {
            self.idle.notify_waiters();
        }
    }

    /// Waits (bounded) until everything queued is written.
    async fn flush(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let idle = self.idle.notified();
                if *lock(&self.pending) == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await;
    }
}

/// One run, from its steady-state check to its last record.
struct RunTask {
    runner: Arc<Runner>,
    app: App,
    run: RunId,
    scenario: String,
    entry: Option<Entry>,
    rx: mpsc::UnboundedReceiver<Stop>,
    done: watch::Sender<Option<Result<(), String>>>,
    running: Arc<AtomicBool>,
    /// Injects that worked: a run that injected nothing has no hypothesis to judge.
    injected: usize,
    /// Whether any inject was tried: a run that never tried one has nothing to roll back.
    attempted: bool,
}

impl RunTask {
    fn record(&self, step: StepKind, phase: Option<usize>, driver: &str, result: &Result<String, String>) {
        let (ok, output) = match result {
            Ok(o) => (true, o.clone()),
            Err(e) => (false, e.clone()),
        };
        self.runner.records.system(Intent::RecordChaos {
            run: self.run,
            step,
            phase,
            driver: driver.to_string(),
            ok,
            output,
        });
    }

    fn cx(&self) -> DriverCx {
        DriverCx {
            run: self.run,
            base_dir: self.entry.as_ref().map(|e| e.base_dir.clone()).unwrap_or_default(),
            work_dir: self.runner.work_dir.join(self.run.to_string()),
            http: self.runner.http.clone(),
            config: self.runner.config.clone(),
        }
    }

    async fn drive(mut self) {
        let mut ongoing: Vec<(String, Box<dyn Ongoing>)> = Vec::new();
        let stop = self.method(&mut ongoing).await;
        if stop.record {
            self.runner.records.system(Intent::EndScenario {
                run: self.run,
                cause: stop.cause,
                reason: stop.reason,
            });
        }
        // The hypothesis is judged at the end of the method, before the rollback, as Chaos
        // Toolkit judges its steady state "after".
        let verdict = match &self.entry {
            Some(e) if !e.scenario.steady_state.is_empty() && self.injected > 0 => {
                Some(chaos::judge(&self.app.hub().state(), &e.scenario.steady_state))
            }
            _ => None,
        };
        self.rollback(ongoing).await;
        self.runner.records.system(Intent::FinishScenario { run: self.run, verdict });
        let mut live = lock(&self.runner.live);
        live.remove(&self.run);
        if live.is_empty() {
            self.runner.emptied.notify_waiters();
        }
    }

    /// Steady state, then the phases on schedule, until something ends the run.
    async fn method(&mut self, ongoing: &mut Vec<(String, Box<dyn Ongoing>)>) -> Stop {
        // A stop already waiting (a restart's) skips the method.
        if let Ok(stop) = self.rx.try_recv() {
            return stop;
        }
        let Some(entry) = self.entry.clone() else {
            return Stop {
                cause: StopCause::InjectFailed,
                reason: Some(format!("scenario {} is no longer in the server's catalogue", self.scenario)),
                record: true,
            };
        };
        let (started_at, ends_at) = {
            let state = self.app.hub().state();
            match state.chaos.runs.get(&self.run) {
                Some(r) => (r.started_at, r.ends_at),
                None => (Utc::now(), Utc::now()),
            }
        };
        // A probe not measured yet (a server that just started) is waited for, bounded: the
        // steady state is judged on what the probes saw, not on their having seen nothing.
        let deadline = Instant::now() + STEADY_WAIT;
        loop {
            let unmeasured = {
                let state = self.app.hub().state();
                entry
                    .scenario
                    .steady_state
                    .iter()
                    .any(|p| state.probes.get(p).is_none_or(|h| h.health == Health::Unknown))
            };
            if !unmeasured || Instant::now() >= deadline {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                stop = self.rx.recv() => return stop.unwrap_or_else(shutdown),
            }
        }
        let unsteady = chaos::unsteady(&self.app.hub().state(), &entry.scenario.steady_state);
        if !unsteady.is_empty() {
            let why = format!("steady state not met: {}", unsteady.join(", "));
            self.record(StepKind::SteadyState, None, "", &Err(why.clone()));
            return Stop { cause: StopCause::SteadyState, reason: Some(why), record: true };
        }
        let steady = if entry.scenario.steady_state.is_empty() {
            "no steady-state probes to check".to_string()
        } else {
            format!("{} up", entry.scenario.steady_state.join(", "))
        };
        self.record(StepKind::SteadyState, None, "", &Ok(steady));
        self.running.store(true, Ordering::SeqCst);
        // The schedule is the log's: phases and the end count from the recorded start.
        let now = Utc::now();
        let at = |t: chrono::DateTime<Utc>| {
            let ahead = (t - now).to_std().unwrap_or_default();
            Instant::now() + ahead
        };
        let end = at(ends_at);
        let cx = self.cx();
        for (i, (phase, offset)) in
            entry.scenario.phases.iter().zip(entry.scenario.phase_offsets()).enumerate()
        {
            let when = at(started_at + chrono::Duration::milliseconds(offset.min(i64::MAX as u64) as i64));
            tokio::select! {
                _ = tokio::time::sleep_until(when) => {}
                stop = self.rx.recv() => return stop.unwrap_or_else(shutdown),
            }
            let driver = phase.inject.driver();
            // A stop interrupts an inject that hangs (a program ignoring SIGTERM, an API that
            // never answers): a halt must not wait out the action's timeout. Dropping the
            // action kills a command's process group and cancels a request; whatever it did
            // before is undone by the rollback that follows. `network` and `chaostoolkit`
            // return at once with a handle to stop, and dropped half-way they could leave
            // faults or a process that no handle stops: they are never interrupted.
            let interruptible =
                matches!(phase.inject, Action::Demo { .. } | Action::Http { .. } | Action::Command { .. });
            self.attempted = true;
            let acted = tokio::select! {
                acted = self.runner.act(&phase.inject, &cx) => acted,
                stop = self.rx.recv(), if interruptible => {
                    let why = "interrupted: the run was told to stop while this inject ran".to_string();
                    self.record(StepKind::Inject, Some(i), driver, &Err(why));
                    return stop.unwrap_or_else(shutdown);
                }
            };
            match acted {
                Ok(injected) => {
                    self.injected += 1;
                    self.record(StepKind::Inject, Some(i), driver, &Ok(injected.output));
                    if let Some(o) = injected.ongoing {
                        ongoing.push((driver.to_string(), o));
                    }
                }
                Err(e) => {
                    self.record(StepKind::Inject, Some(i), driver, &Err(e.clone()));
                    return Stop {
                        cause: StopCause::InjectFailed,
                        reason: Some(format!("phase {} ({driver}) failed: {e}", i + 1)),
                        record: true,
                    };
                }
            }
        }
        // Wait for the end, hearing what lasting effects report when they end by themselves.
        let lasting = !ongoing.is_empty();
        loop {
            let report = {
                let mut waits: futures_util::stream::FuturesUnordered<_> = ongoing
                    .iter_mut()
                    .enumerate()
                    .map(|(i, (driver, o))| {
                        let driver = driver.clone();
                        async move { (i, driver, o.finished().await) }
                    })
                    .collect();
                let next_report = async {
                    use futures_util::StreamExt;
                    match waits.next().await {
                        Some(r) => r,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tokio::time::sleep_until(end) => {
                        return Stop { cause: StopCause::Duration, reason: Some("its duration ran out".into()), record: true };
                    }
                    stop = self.rx.recv() => return stop.unwrap_or_else(shutdown),
                    r = next_report => r,
                }
            };
            let (i, driver, result) = report;
            // Ended by itself: nothing of it is left to stop at the rollback.
            drop(ongoing.remove(i));
            self.record(StepKind::Report, None, &driver, &result);
            // The method is over when what it started is (a Chaos Toolkit experiment ran its
            // course): the run ends now rather than idle until its duration.
            if lasting && ongoing.is_empty() {
                let how = if result.is_ok() { "it completed" } else { "it failed" };
                return Stop {
                    cause: StopCause::Completed,
                    reason: Some(format!("{driver}: {how}")),
                    record: true,
                };
            }
        }
    }

    /// Ends lasting effects, then runs the scenario's rollback actions; retries what fails,
    /// with backoff, until it all worked (a halt retries at once).
    async fn rollback(&mut self, ongoing: Vec<(String, Box<dyn Ongoing>)>) {
        // Stopped before its first inject (its steady state not met, a stop while it waited):
        // nothing was changed, and a rollback through a driver this server may not even have
        // set up would only fail and retry forever.
        if !self.attempted && ongoing.is_empty() {
            self.done.send_replace(Some(Ok(())));
            return;
        }
        let cx = self.cx();
        let mut failed: Vec<String> = Vec::new();
        // A lasting effect that could not be stopped cannot be tried again (its handle is
        // spent): it is said again after the rollback actions, so the run ends red, not clean.
        let mut unstopped: Vec<String> = Vec::new();
        for (driver, o) in ongoing.into_iter().rev() {
            let result = o.stop().await;
            if let Err(e) = &result {
                unstopped.push(format!("{driver}: {e}"));
            }
            self.record(StepKind::Rollback, None, &driver, &result);
        }
        let actions: Vec<Action> =
            self.entry.as_ref().map(|e| e.scenario.rollback.clone()).unwrap_or_default();
        let mut todo: Vec<usize> = (0..actions.len()).collect();
        let mut backoff = Duration::from_secs(1);
        loop {
            let mut still = Vec::new();
            for i in todo {
                let action = &actions[i];
                let result = self.runner.act(action, &cx).await.map(|inj| inj.output);
                if let Err(e) = &result {
                    still.push(i);
                    failed.push(format!("{}: {e}", action.driver()));
                }
                self.record(StepKind::Rollback, Some(i), action.driver(), &result);
            }
            if still.is_empty() {
                if unstopped.is_empty() {
                    self.done.send_replace(Some(Ok(())));
                } else {
                    let why = format!("could not be stopped, check by hand: {}", unstopped.join("; "));
                    self.record(StepKind::Rollback, None, "", &Err(why.clone()));
                    self.done.send_replace(Some(Err(why)));
                }
                return;
            }
            self.done.send_replace(Some(Err(failed.join("; "))));
            tracing::error!(
                run = %self.run,
                "{} rollback failed ({}); retrying in {}s",
                self.run,
                failed.join("; "),
                backoff.as_secs()
            );
            failed.clear();
            todo = still;
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                // A halt (or any stop) retries now.
                _ = self.rx.recv() => {}
            }
            backoff = (backoff * 2).min(ROLLBACK_BACKOFF_MAX);
        }
    }
}

/// Every sender is gone: only the runner itself going away does that.
fn shutdown() -> Stop {
    Stop { cause: StopCause::Shutdown, reason: None, record: true }
}
