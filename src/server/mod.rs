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
pub mod library;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod probes;
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

use color_eyre::eyre::{eyre, WrapErr};
use store::EventStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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
    /// `[metrics] listen`: serve `/metrics` here too, without a token.
    pub metrics_listen: Option<String>,
}

/// Streams one user may hold unless `[limits] streams_per_user` says otherwise: plenty for a
/// responder's consoles and a wall screen, far from what would crowd out the room.
pub const STREAMS_PER_USER: usize = 50;

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
            chaos: crate::config::ChaosConfig::default(),
            scenario_dirs: Vec::new(),
            network: None,
            gameday: crate::config::GamedayConfig::default(),
            postmortem: crate::model::postmortem::Settings::default(),
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
    /// Declared after `task`: the fan-out runtime winds down once nothing serves into it.
    _fanout: conn::Fanout,
    _lock: File,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and lets open requests finish; event streams never finish by
    /// themselves, so after a short grace the rest is cut.
    pub async fn stop(mut self) {
        // Chaos first, while the writer still records: every run ends with its rollback.
        self.app.chaos().shutdown().await;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.app.close_streams();
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.task).await.is_err() {
            self.task.abort();
            let _ = (&mut self.task).await;
        }
    }

    /// Waits until the server stops by itself (it does not, short of an error).
    pub async fn wait(&mut self) -> color_eyre::Result<()> {
        (&mut self.task).await.wrap_err("server task")?.wrap_err("serving HTTP")
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
    let path = db_path(&opts.data_dir);
    let store = store::Store::open(&path).wrap_err_with(|| format!("opening {}", path.display()))?;
    let readers = store.readers().wrap_err_with(|| format!("opening readers of {}", path.display()))?;
    let state = store
        .load_state(crate::model::Window::Timelines)
        .wrap_err_with(|| format!("loading {}", path.display()))?;
    let log = store.log_id().wrap_err_with(|| format!("reading {}", path.display()))?;
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
    let writer = writer::spawn(Box::new(store), state, hub.clone(), library.clone());
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
    let scoreboard = Arc::new(
        gameday::Scoreboard::new(
            &opts.data_dir,
            opts.public_url.as_deref().unwrap_or(&format!("http://{addr}")),
        )
        .wrap_err_with(|| format!("making the share key in {}", opts.data_dir.display()))?,
    );
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
    )
    .wrap_err("starting the snapshot thread")?;
    runner.spawn(&app);
    gameday::spawn(app.clone());
    gameday::announce(app.clone(), opts.channels.clone());
    notify::spawn(app.clone(), opts.channels.clone());
    probes::spawn(app.clone(), telemetry);
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
    Ok(RunningServer { addr, app, shutdown: Some(shutdown), task, connections, _fanout: fanout, _lock: lock })
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
