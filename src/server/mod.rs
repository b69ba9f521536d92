//! The shared backend: one writer ordering commands into a durable log, and an axum API that
//! serves snapshots, event pages and the live stream to every client.

pub mod api;
pub mod chaos;
pub mod checkpoint;
pub mod conn;
pub mod gameday;
pub mod history;
pub mod hub;
pub mod incidents;
pub mod lease;
pub mod library;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod probes;
pub mod ratelimit;
pub mod reactor;
pub mod snapshots;
pub mod status_page;
pub mod store;
pub mod stream;
pub mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{eyre, WrapErr};
use store::EventStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub use api::App;
pub use writer::{Caller, WriteError};

use crate::config::UserConfig;

pub struct ServerOptions {
    pub listen: String,
    pub data_dir: PathBuf,
    pub users: Vec<UserConfig>,
    /// Where messages can go; only these, never a destination sent by a client.
    pub channels: Vec<crate::config::ChannelConfig>,
    /// Directories of playbooks besides the shipped ones, in override order.
    pub playbook_dirs: Vec<PathBuf>,
    /// How people outside reach this server; defaults to the listen address.
    pub public_url: Option<String>,
    /// Health probes the server runs.
    pub probes: Vec<crate::config::ProbeConfig>,
    /// How long an idle event stream waits before telling the client it is still alive.
    pub heartbeat: std::time::Duration,
    /// Connections served at once; `None` derives it from the open-file limit.
    pub max_connections: Option<usize>,
    /// From accept to a complete request head; then the connection is closed.
    pub header_timeout: std::time::Duration,
    /// How long a connection that never showed a valid token may sit between requests.
    pub idle_timeout: std::time::Duration,
    /// Event streams one user may hold open at once.
    pub streams_per_user: usize,
    /// Commands one user may send per second on average, and at once (`[limits]
    /// commands_per_second`, `command_burst`).
    pub commands_per_second: u32,
    pub command_burst: u32,
    /// `[chaos]`: drivers' settings and the dead-man time.
    pub chaos: crate::config::ChaosConfig,
    /// Directories of chaos scenarios besides the shipped ones, in override order.
    pub scenario_dirs: Vec<PathBuf>,
    /// The network driver's proxies, already started (the demo starts them to point its probes
    /// through them); `None` starts `chaos.proxies`.
    pub network: Option<Arc<chaos::network::Network>>,
    /// `[gameday]`: scoring weights and kick-off messages.
    pub gameday: crate::config::GamedayConfig,
    /// `[postmortem]`: which incidents need one to close, and the failure classes.
    pub postmortem: crate::model::postmortem::Settings,
    /// `store`: a `postgres://` URL shared by several servers; `None` is SQLite in the data dir.
    pub store: Option<String>,
    /// How long a stop may take before what is left is cut (`[limits] shutdown_grace`).
    pub shutdown_grace: Duration,
    /// `[metrics] listen`: serve `/metrics` here too, without a token.
    pub metrics_listen: Option<String>,
}

/// Streams one user may hold unless `[limits] streams_per_user` says otherwise: plenty for a
/// responder's consoles and a wall screen, far from what would crowd out the room.
pub const STREAMS_PER_USER: usize = 50;

/// How long a stop may take unless `[limits] shutdown_grace` says otherwise: enough for
/// commands in flight and chaos rollbacks, short of what a supervisor (systemd's 90 s,
/// Kubernetes' 30 s) waits before it kills.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl ServerOptions {
    /// Applies the server file's `[limits]`, keeping the defaults for what it leaves out.
    pub fn with_limits(mut self, limits: &crate::config::LimitsConfig) -> ServerOptions {
        if limits.max_connections.is_some() {
            self.max_connections = limits.max_connections;
        }
        if let Some(t) = limits.header_timeout {
            self.header_timeout = std::time::Duration::from_secs(t.0.unsigned_abs());
        }
        if let Some(t) = limits.idle_timeout {
            self.idle_timeout = std::time::Duration::from_secs(t.0.unsigned_abs());
        }
        if let Some(n) = limits.streams_per_user {
            self.streams_per_user = n;
        }
        if let Some(n) = limits.commands_per_second {
            self.commands_per_second = n;
        }
        if let Some(n) = limits.command_burst {
            self.command_burst = n;
        }
        if let Some(t) = limits.shutdown_grace {
            self.shutdown_grace = Duration::from_secs(t.0.unsigned_abs());
        }
        self
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: crate::config::DEFAULT_LISTEN.into(),
            data_dir: PathBuf::new(),
            users: Vec::new(),
            channels: Vec::new(),
            playbook_dirs: Vec::new(),
            public_url: None,
            probes: Vec::new(),
            heartbeat: stream::HEARTBEAT,
            max_connections: None,
            header_timeout: conn::HEADER_TIMEOUT,
            idle_timeout: conn::IDLE_TIMEOUT,
            streams_per_user: STREAMS_PER_USER,
            commands_per_second: ratelimit::COMMANDS_PER_SECOND,
            command_burst: ratelimit::COMMAND_BURST,
            chaos: crate::config::ChaosConfig::default(),
            scenario_dirs: Vec::new(),
            network: None,
            gameday: crate::config::GamedayConfig::default(),
            postmortem: crate::model::postmortem::Settings::default(),
            store: None,
            shutdown_grace: SHUTDOWN_GRACE,
            metrics_listen: None,
        }
    }
}

/// A running server: its address, an in-process handle for local actors, and a way to stop.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub app: App,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Open connections, for the cap and for tests that watch them close.
    pub connections: Arc<conn::Registry>,
    /// The bound on [`RunningServer::stop`].
    grace: Duration,
    /// Run last when the server stops (see [`RunningServer::on_exit`]).
    exit_hooks: Vec<Box<dyn FnOnce() + Send>>,
    /// Declared after `task`: the fan-out runtime winds down once nothing serves into it.
    fanout: conn::Fanout,
    /// Side effects run while this server holds it; released when the server stops.
    lease: lease::Lease,
    lock: File,
}

/// What a stop did and what it had to cut. Holding it keeps the stopped server's last
/// connections served (the fan-out runtime) and its data dir locked; drop it to let go.
pub struct Stopped {
    pub took: Duration,
    /// Requests in flight when the drain began; each got its answer unless `cut` says not.
    pub finished: usize,
    /// Event streams ended with the reconnect hint.
    pub streams: usize,
    /// What the deadline cut short, in words; empty for a clean stop.
    pub cut: Vec<String>,
    _fanout: conn::Fanout,
    _queue: Option<AbortOnDrop>,
    _lock: File,
}

impl Stopped {
    pub fn is_clean(&self) -> bool {
        self.cut.is_empty()
    }
}

impl std::fmt::Display for Stopped {
    /// The operator's line: `stopped cleanly in 0.3 s (…)` or what was cut.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let took = self.took.as_secs_f64();
        let (requests, streams) = (self.finished, self.streams);
        let counts = format!(
            "{requests} request{} in flight finished, {streams} event stream{} told to reconnect",
            if requests == 1 { "" } else { "s" },
            if streams == 1 { "" } else { "s" }
        );
        if self.cut.is_empty() {
            write!(f, "stopped cleanly in {took:.2} s ({counts})")
        } else {
            write!(f, "stop cut after {took:.2} s ([limits] shutdown_grace): {}", self.cut.join("; "))
        }
    }
}

/// A task that ends when its holder is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds work to do when the server stops, after everything else (chaos rolled back, the
    /// writer's queue drained, streams ended): e.g. releasing what this server holds for
    /// others. Hooks run in the order added, even when the stop was cut.
    pub fn on_exit(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.exit_hooks.push(Box::new(hook));
    }

    /// Stops gracefully, within the grace (`[limits] shutdown_grace`), in this order:
    /// 1. new connections are refused (the listener closes) and `/healthz` answers 503 on the
    ///    ones still open; commands and new streams get 503 `shutting_down` with `Retry-After`;
    /// 2. requests in flight finish and their answers go out; at the same time every chaos run
    ///    ends with its rollback, recorded while the writer still takes commands;
    /// 3. the writer's queue is drained and closed to the server's own actors;
    /// 4. event streams end with a reconnect hint (see `stream`);
    /// 5. the exit hooks run ([`RunningServer::on_exit`]).
    ///
    /// A step the deadline overtakes is cut and named in [`Stopped::cut`]; the rest still runs.
    pub async fn stop(mut self) -> Stopped {
        let started = Instant::now();
        let deadline = started + self.grace;
        let mut cut = Vec::new();
        if let Some(tx) = self.shutdown.take() {
            // The accept loop may have ended by itself (an error): then nothing listens anyway.
            let _ = tx.send(());
        }
        if tokio::time::timeout_at(deadline, &mut self.task).await.is_err() {
            self.task.abort();
            cut.push("the accept loop did not stop".to_string());
        }
        // Only now: a client told to close its connection must find the listener closed, not
        // be reset by the kernel from the backlog of a listener closing after it connected.
        let finished = self.connections.drain();
        let chaos = async {
            let rolled_back = tokio::time::timeout_at(deadline, self.app.chaos().shutdown()).await;
            if rolled_back.is_err() {
                cut.push("chaos rollbacks still running (the next start rolls them back)".to_string());
            }
        };
        // Whatever is still unanswered at the deadline is counted once, at the end.
        let _ = tokio::join!(tokio::time::timeout_at(deadline, self.connections.settled()), chaos);
        // Past the deadline (requests in flight took it all), an idle queue still closes at
        // once: a short floor, so the report says what is true of the writer.
        let queue = hold_queue(&self.app, deadline.max(Instant::now() + Duration::from_millis(500))).await;
        if queue.is_none() {
            cut.push("the writer's queue was not drained (nothing acknowledged is lost)".to_string());
        }
        let streams = self.connections.end_streams();
        self.app.close_streams();
        let _ = tokio::time::timeout_at(deadline, self.connections.settled()).await;
        let (calls, closing) = self.connections.unsettled();
        if calls > 0 {
            cut.push(format!("requests in flight not answered: {calls}"));
        }
        if closing > 0 {
            cut.push(format!("connections still sending their last answer or stream: {closing}"));
        }
        for hook in std::mem::take(&mut self.exit_hooks) {
            hook();
        }
        // Last: another server takes the side effects over at once, not after the lease's TTL.
        let mut lease = std::mem::replace(&mut self.lease, lease::Lease::always());
        let release_by = deadline.max(Instant::now() + Duration::from_secs(1));
        if tokio::time::timeout_at(release_by, tokio::task::spawn_blocking(move || lease.release()))
            .await
            .is_err()
        {
            cut.push(format!(
                "the side-effects lease was not released (it expires within {} s)",
                lease::TTL.as_secs()
            ));
        }
        let RunningServer { fanout, lock, .. } = self;
        Stopped {
            took: started.elapsed(),
            finished,
            streams,
            cut,
            _fanout: fanout,
            _queue: queue,
            _lock: lock,
        }
    }

    /// Waits until the server stops by itself (it does not, short of an error).
    pub async fn wait(&mut self) -> color_eyre::Result<()> {
        (&mut self.task).await.wrap_err("server task")?.wrap_err("serving HTTP")
    }
}

/// Drains the writer's queue and keeps it closed: a task takes every slot of the queue, which
/// it gets only once the writer has taken every command queued before, and no sender can queue
/// another while it holds them. The writer commits and answers what it took as always (HTTP
/// commands were waited for already; what the server's own actors sent last is committed or
/// not, never half). `None` when the deadline came first.
async fn hold_queue(app: &App, deadline: Instant) -> Option<AbortOnDrop> {
    let tx = app.inner.writer.tx.clone();
    let (held, drained) = oneshot::channel::<()>();
    let task = AbortOnDrop(tokio::spawn(async move {
        // An error is a writer that is gone: nothing is queued for it, nothing can be.
        let _all = tx.reserve_many(tx.max_capacity()).await;
        if held.send(()).is_ok() {
            std::future::pending::<()>().await;
        }
    }));
    match tokio::time::timeout_at(deadline, drained).await {
        Ok(Ok(())) => Some(task),
        _ => None,
    }
}

/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
/// Tokio's default of 1,024 overflowed under waves of reconnecting half-open peers: a dropped
/// SYN costs a legitimate client (a health check) a one-second retransmit.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the first address `listen` resolves to that accepts a bind.
async fn listen(listen: &str) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(listen).await? {
        let socket =
            if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        // As std and tokio do on Unix: a restarted server can bind while old sockets linger in TIME_WAIT.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "resolves to no address")))
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("events.sqlite3")
}

/// Opens the store in `data_dir`, replays it, binds `listen`, loads the library and starts
/// serving, delivering messages and (on Unix) reloading playbooks on SIGHUP.
pub async fn start(opts: ServerOptions) -> color_eyre::Result<RunningServer> {
    std::fs::create_dir_all(&opts.data_dir)
        .wrap_err_with(|| format!("creating data dir {}", opts.data_dir.display()))?;
    let lock_path = opts.data_dir.join("server.lock");
    let lock = File::create(&lock_path).wrap_err_with(|| format!("creating {}", lock_path.display()))?;
    lock.try_lock()
        .map_err(|_| eyre!("data dir {} is in use by another warroom server", opts.data_dir.display()))?;
    let (store, readers, state, log, lease_store, secret) = open_store(&opts).await?;
    let listener = listen(&opts.listen).await.wrap_err_with(|| format!("listening on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let public_url = opts.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let runner = Arc::new(chaos::Runner::new(opts.chaos.clone(), &opts.data_dir, &opts.users));
    let network = match opts.network.clone() {
        Some(n) => Some(n),
        None if !opts.chaos.proxies.is_empty() => {
            Some(Arc::new(chaos::network::Network::start(&opts.chaos.proxies).await.map_err(|e| eyre!(e))?))
        }
        None => None,
    };
    if let Some(n) = network {
        runner.set_network(n);
    }
    let shipped = runner.shipped_dir();
    if let Err(e) = chaos::catalogue::write_shipped(&shipped) {
        tracing::error!("writing the shipped chaos scenarios to {}: {e}", shipped.display());
    }
    // A kick-off goes out during a drill: only on a channel that takes drills.
    check_postmortem(&opts.postmortem)?;
    if let Some(name) = &opts.gameday.kickoff_channel {
        let channel = opts
            .channels
            .iter()
            .find(|c| &c.name == name)
            .ok_or_else(|| eyre!("[gameday] kickoff_channel: no channel `{name}` in [[channels]]"))?;
        let info = crate::model::library::ChannelInfo {
            kind: channel.kind.as_str().to_string(),
            audience: channel.audience.unwrap_or(channel.kind.default_audience()),
            drills: channel.drills,
        };
        if !info.takes_drills() {
            return Err(eyre!(
                "[gameday] kickoff_channel: channel `{name}` reaches real people; mark it `drills = true` \
                 (a game-day channel), or use a dry-run one"
            ));
        }
    }
    let load = {
        let (channels, dirs) = (opts.channels.clone(), opts.playbook_dirs.clone());
        let components: Vec<String> = opts.probes.iter().map(|p| p.name.clone()).collect();
        let users: Vec<String> = opts.users.iter().map(|u| u.name.clone()).collect();
        let mut scenario_dirs = vec![shipped];
        scenario_dirs.extend(opts.scenario_dirs.iter().cloned());
        let runner = runner.clone();
        let gameday = crate::model::gameday::Settings {
            weights: opts.gameday.weights,
            environment: opts.gameday.environment.clone().unwrap_or_default(),
            kickoff_channel: opts.gameday.kickoff_channel.clone(),
        };
        let postmortem = opts.postmortem.clone();
        move || {
            let mut loaded = library::load(&channels, &dirs, &public_url, &components, &users);
            loaded.library.gameday = gameday.clone();
            loaded.library.postmortem = postmortem.clone();
            let catalogue = chaos::catalogue::load(&scenario_dirs);
            loaded.library.scenarios = catalogue.infos();
            loaded.errors.extend(catalogue.errors.iter().cloned());
            runner.set_catalogue(catalogue);
            loaded
        }
    };
    let loaded = load();
    for e in &loaded.errors {
        tracing::warn!("{e}");
    }
    let library = Arc::new(library::Shared::new(loaded));
    let hub = Arc::new(hub::Hub::new(log, state.clone(), opts.streams_per_user));
    let writer = writer::spawn(store, state, hub.clone(), library.clone());
    let users: HashMap<String, Caller> =
        opts.users.iter().map(|u| (u.token.clone(), Caller { name: u.name.clone(), role: u.role })).collect();
    let specs = opts
        .probes
        .iter()
        .map(|p| {
            probes::Spec::from_config(p).map_err(|(field, msg)| eyre!("probe {}: {field}: {msg}", p.name))
        })
        .collect::<color_eyre::Result<Vec<_>>>()?;
    let telemetry = Arc::new(probes::Telemetry::new(specs));
    let scoreboard = Arc::new(gameday::Scoreboard::new(
        &secret,
        opts.public_url.as_deref().unwrap_or(&format!("http://{addr}")),
    ));
    // What acts on the world runs on one server of those sharing a store: the lease holder.
    let lease = match lease_store {
        Some(store) => lease::Lease::start(store).wrap_err("starting the side-effects lease")?,
        None => lease::Lease::always(),
    };
    let app = App::new(
        hub,
        writer,
        users,
        readers,
        opts.heartbeat,
        library.clone(),
        telemetry.clone(),
        runner.clone(),
        scoreboard,
        lease.watch(),
        ratelimit::CommandRate::new(opts.commands_per_second, opts.command_burst),
    )
    .wrap_err("starting the snapshot thread")?;
    gameday::spawn(app.clone());
    {
        let (app, channels, runner) = (app.clone(), opts.channels.clone(), runner.clone());
        let wind = runner.clone();
        let wind_down: lease::WindDown = Box::new(move || {
            let runner = wind.clone();
            Box::pin(async move { runner.shutdown().await })
        });
        lease::run_while_held(
            &lease,
            move || {
                runner.new_term();
                runner.spawn(&app);
                gameday::announce(app.clone(), channels.clone());
                notify::spawn(app.clone(), channels.clone());
                probes::spawn(app.clone(), telemetry.clone());
            },
            wind_down,
        );
    }
    #[cfg(unix)]
    {
        let library = library.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let loaded = load();
                    tracing::info!(
                        "reloaded {} playbooks and {} chaos scenarios ({} problems)",
                        loaded.library.playbooks.len(),
                        loaded.library.scenarios.len(),
                        loaded.errors.len()
                    );
                    for e in &loaded.errors {
                        tracing::warn!("{e}");
                    }
                    library.replace(loaded);
                }
            });
        }
    }
    let (shutdown, stopped) = oneshot::channel::<()>();
    let router = api::router(app.clone());
    // Descriptors bound every connection: use all the hard limit allows, and size the cap from it.
    let fds = conn::raise_fd_limit().unwrap_or(1024);
    let mut limits = conn::Limits::from_fd_limit(fds, opts.header_timeout, opts.idle_timeout);
    if let Some(max) = opts.max_connections {
        limits.max_connections = max;
    }
    let connections = conn::Registry::new(limits);
    app.metrics().watch_connections(connections.clone());
    let fanout = conn::Fanout::start().wrap_err("starting the event fan-out threads")?;
    let fanout_handle = fanout.handle().ok_or_else(|| eyre!("the event fan-out runtime is gone"))?;
    // Last of what can fail: a failed start leaves no listener behind.
    if let Some(listen) = &opts.metrics_listen {
        metrics::serve(listen, app.clone())
            .await
            .wrap_err_with(|| format!("[metrics] listen on {listen}"))?;
    }
    let task =
        tokio::spawn(conn::serve(listener, app.clone(), router, connections.clone(), fanout_handle, stopped));
    Ok(RunningServer {
        addr,
        app,
        shutdown: Some(shutdown),
        task,
        connections,
        grace: opts.shutdown_grace,
        exit_hooks: Vec::new(),
        fanout,
        lease,
        lock,
    })
}

/// An opened store: the writer's handle, readers, the state to serve, the log's id, and a
/// handle for the side-effects lease when several servers share the store.
type Opened = (
    Box<dyn EventStore>,
    Arc<dyn store::EventReader>,
    crate::model::State,
    uuid::Uuid,
    Option<Box<dyn EventStore>>,
    Vec<u8>,
);

/// The store `opts` name, migrated, with its readers, the state to serve, the log's id and
/// the share key (see `gameday::share_key`): SQLite in the data dir, or the PostgreSQL
/// database several servers share. Opened on a blocking thread (PostgreSQL's client blocks,
/// and must never run on an async worker).
async fn open_store(opts: &ServerOptions) -> color_eyre::Result<Opened> {
    let (name, url) = match &opts.store {
        Some(url) => (store::postgres::redact(url), Some(url.clone())),
        None => (db_path(&opts.data_dir).display().to_string(), None),
    };
    let path = db_path(&opts.data_dir);
    let data_dir = opts.data_dir.clone();
    let opened = tokio::task::spawn_blocking(move || -> color_eyre::Result<_> {
        let mut store: Box<dyn EventStore> = match &url {
            Some(url) => {
                Box::new(store::postgres::PgStore::open(url).wrap_err_with(|| format!("opening {name}"))?)
            }
            None => Box::new(store::Store::open(&path).wrap_err_with(|| format!("opening {name}"))?),
        };
        let readers = store.readers().wrap_err_with(|| format!("opening readers of {name}"))?;
        let state =
            store.load_state(crate::model::Window::Timelines).wrap_err_with(|| format!("loading {name}"))?;
        let log = store.log_id().wrap_err_with(|| format!("reading {name}"))?;
        let secret = gameday::share_key(&data_dir, |own| {
            store
                .shared_value("share_key", own)
                .wrap_err_with(|| format!("agreeing on the share key in {name}"))
        })
        .wrap_err_with(|| format!("the share key in {}", data_dir.display()))?;
        // Several servers share it: side effects run on the one holding the lease.
        let lease = if store.shared() {
            Some(store.another().wrap_err_with(|| format!("connecting to {name}"))?)
        } else {
            None
        };
        Ok((store, readers, state, log, lease, secret))
    });
    opened.await.wrap_err("opening the store")?
}

/// `[postmortem] failure_classes`: names a team can type, each once.
fn check_postmortem(settings: &crate::model::postmortem::Settings) -> color_eyre::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, class) in settings.failure_classes.iter().enumerate() {
        let name = class.trim();
        let folded = name.to_lowercase().replace(['-', ' '], "_");
        if name.is_empty()
            || name.chars().count() > crate::model::intent::MAX_NAME
            || name.chars().any(char::is_control)
        {
            return Err(eyre!(
                "[postmortem] failure_classes entry {}: `{}` must be 1 to {} printable characters",
                i + 1,
                crate::present::one_line(class),
                crate::model::intent::MAX_NAME
            ));
        }
        if !seen.insert(folded) {
            return Err(eyre!("[postmortem] failure_classes entry {}: `{name}` is listed twice", i + 1));
        }
    }
    Ok(())
}
