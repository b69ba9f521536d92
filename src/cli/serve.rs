//! `serve` and `demo`: one start-up path builds the server from the server file, the flags
//! and whether it is a demo; `serve` then waits, `demo` opens the console on it.

use std::path::PathBuf;

use clap::Args;
use color_eyre::eyre::{bail, eyre};

use crate::client::Client;
use crate::config::{self, ServerConfig, UserConfig};
use crate::demo::shop::Shop;
use crate::server::{RunningServer, ServerOptions};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: from --config, else 127.0.0.1:7800]
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory for the event store [default: from --config, else the platform data dir]
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Server config file (users, tokens) [default: server.toml in the config dir]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Add demo users (one per role) and seed realistic incidents into an empty log.
    #[arg(long)]
    pub demo: bool,
    /// How the server logs to stderr: `human` lines, or `json` (one object a line). What is
    /// logged: the WARROOM_LOG env var, RUST_LOG's syntax [default: info; per-request lines:
    /// WARROOM_LOG=info,warroom::request=debug]
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Human)]
    pub log_format: crate::logging::LogFormat,
    /// Also serve /metrics without a token on this address [default: from [metrics] listen in
    /// --config, else none: /metrics is served to admin tokens on --listen only]
    #[arg(long)]
    pub metrics_listen: Option<String>,
}

/// The server file and where it came from (`None`: no file, the defaults).
struct ServerFile {
    config: ServerConfig,
    path: Option<PathBuf>,
}

/// A started server, with what the start-up lines and the demo console need.
struct Started {
    server: RunningServer,
    data_dir: PathBuf,
    users: Vec<UserConfig>,
    /// With a demo: the file holding the demo users' tokens.
    demo_users: Option<PathBuf>,
    /// With a demo: the shop its probes watch, and the file with its admin token. Dropping
    /// the shop stops it, so it lives as long as the server.
    shop: Option<(std::sync::Arc<Shop>, PathBuf)>,
}

/// Builds and starts the server: the flags win over the file, the file over the defaults;
/// a demo adds its users, channels (unless the file names some), shop probes and incidents.
async fn start(
    file: ServerFile,
    listen: Option<String>,
    data: Option<PathBuf>,
    demo: bool,
    metrics_listen: Option<String>,
) -> color_eyre::Result<Started> {
    let ServerFile { config: file, path } = file;
    let metrics_listen = metrics_listen.or(file.metrics.listen.clone());
    let data_dir = data.or(file.data_dir.clone()).unwrap_or_else(|| config::data_dir().join("server"));
    if data_dir.as_os_str().is_empty() {
        bail!("--data must not be empty: leave it out for {}", config::data_dir().join("server").display());
    }
    let listen = listen.or(file.listen.clone()).unwrap_or_else(|| config::DEFAULT_LISTEN.to_string());
    let mut users = file.users.clone();
    let mut demo_users = None;
    if demo {
        let (more, demo_path) = crate::demo::users(&data_dir)?;
        users.extend(more);
        demo_users = Some(demo_path);
    }
    if users.is_empty() {
        bail!(
            "no users: every API call needs a bearer token. Add [[users]] (name, role, token) to {}, or run with --demo",
            path.unwrap_or(config::config_dir().join("server.toml")).display()
        );
    }
    let mut playbook_dirs = vec![config::config_dir().join("playbooks")];
    playbook_dirs.extend(file.playbooks_dir.clone());
    let mut channels = file.channels.clone();
    let mut probes = file.probes.clone();
    let mut chaos = file.chaos.clone();
    let mut scenario_dirs = vec![config::config_dir().join("chaos")];
    scenario_dirs.extend(chaos.scenarios_dir.clone());
    let mut shop = None;
    let mut network = None;
    if demo {
        if channels.is_empty() {
            channels = crate::demo::channels();
        }
        let s = Shop::start().await?;
        let wired = crate::demo::wire(&s, chaos.clone()).await?;
        probes.extend(wired.probes);
        chaos = wired.chaos;
        network = Some(wired.network);
        let path = data_dir.join("demo-shop.toml");
        std::fs::create_dir_all(&data_dir)?;
        std::fs::write(
            &path,
            format!("admin_url = \"{}\"\nadmin_token = \"{}\"\n", s.admin_url, s.admin_token),
        )?;
        shop = Some((s, path));
    }
    let demo_proxies = chaos.proxies.clone();
    let server = crate::server::start(
        ServerOptions {
            listen,
            data_dir: data_dir.clone(),
            users: users.clone(),
            channels,
            playbook_dirs,
            public_url: file.public_url.clone(),
            probes,
            chaos,
            scenario_dirs,
            network,
            gameday: file.gameday.clone(),
            postmortem: file.postmortem.clone(),
            store: file.store.clone(),
            metrics_listen,
            ..Default::default()
        }
        .with_limits(&file.limits),
    )
    .await?;
    if demo {
        crate::demo::write_network_run(&server.app.chaos().shipped_dir(), &demo_proxies)?;
        crate::demo::seed(&server.app, &users).await?;
    }
    Ok(Started { server, data_dir, users, demo_users, shop })
}

pub(super) async fn serve(args: ServeArgs) -> color_eyre::Result<()> {
    let default_path = config::config_dir().join("server.toml");
    let file = match &args.config {
        Some(p) => ServerFile { config: ServerConfig::load(p)?, path: Some(p.clone()) },
        None if default_path.exists() => {
            ServerFile { config: ServerConfig::load(&default_path)?, path: Some(default_path) }
        }
        None => ServerFile { config: ServerConfig::default(), path: None },
    };
    crate::logging::init(args.log_format, crate::logging::Sink::Stderr)?;
    let Started { server, data_dir, demo_users, shop, .. } =
        start(file, args.listen, args.data, args.demo, args.metrics_listen).await?;
    // Start-up lines go to stdout, but a server must not die because nobody reads them
    // (a closed pipe makes println! panic).
    macro_rules! say {
        ($($t:tt)*) => {{
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout(), $($t)*);
        }};
    }
    tracing::info!(url = %server.url(), data_dir = %data_dir.display(), "warroom listening");
    // The first line is machine-read by tests and scripts: keep its shape.
    say!("warroom listening on {}", server.url());
    say!("data dir {}", data_dir.display());
    if let Some(addr) = server.app.metrics().listen_addr() {
        say!("metrics on http://{addr}/metrics");
    }
    if let Some(p) = demo_users {
        say!("demo users and tokens in {}", p.display());
    }
    if let Some((s, path)) = &shop {
        say!(
            "demo shop admin {} (token in {}): POST /admin/faults {{\"fault\": …}}, DELETE /admin/faults",
            s.admin_url,
            path.display()
        );
    }
    // Ctrl-C or SIGTERM stop the server gracefully (see `RunningServer::stop`): nothing new is
    // taken, what was taken is finished, chaos runs are rolled back and recorded, streams are
    // told to come back. A second signal, or the grace running out, cuts it short: exit 1.
    let mut signals = StopSignals::new()?;
    let mut server = server;
    tokio::select! {
        r = server.wait() => return r,
        () = signals.next() => {}
    }
    crate::stderr!("warroom: stopping: refusing new connections, finishing what is in flight");
    let stopped = tokio::select! {
        s = server.stop() => s,
        () = signals.next() => {
            crate::stderr!("warroom: stopped by a second signal: whatever was still finishing was cut");
            std::process::exit(1);
        }
    };
    if !stopped.is_clean() {
        crate::stderr!("warroom: {stopped}");
        // Without unwinding: what was cut may be stuck in a way that would hold the exit up.
        std::process::exit(1);
    }
    // The last line before the exit closes the connections left open (tests read it as such).
    crate::stderr!("warroom: {stopped}");
    Ok(())
}

/// SIGTERM (what supervisors send) and Ctrl-C, each time they come.
struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        let ctrl_c = async {
            // Without a handler there is no Ctrl-C to wait for.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        tokio::select! {
            Some(()) = self.term.recv() => {}
            () = ctrl_c => {}
        }
        #[cfg(not(unix))]
        ctrl_c.await;
    }
}

pub(super) async fn demo(
    data: Option<PathBuf>,
    listen: String,
    theme: Option<String>,
    as_user: Option<String>,
) -> color_eyre::Result<()> {
    // Resolve the look first: a bad theme is an error before anything starts.
    let look = crate::tui::Look::load(theme.as_deref())?;
    let temp = match &data {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("warroom-demo-").tempdir()?),
    };
    let data_dir = data.unwrap_or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()).unwrap_or_default());
    // The console owns the terminal: the server's log goes to a file beside its data.
    std::fs::create_dir_all(&data_dir)?;
    crate::logging::init(
        crate::logging::LogFormat::Human,
        crate::logging::Sink::File(data_dir.join("demo-server.log")),
    )?;
    // The demo stands alone: no server file, so a `server.toml` in the config dir cannot
    // add users, channels or probes to it.
    let file = ServerFile { config: ServerConfig::default(), path: None };
    let Started { server, data_dir, users, shop: _shop, .. } =
        start(file, Some(listen), Some(data_dir), true, None).await?;
    tracing::info!(url = %server.url(), data_dir = %data_dir.display(), "warroom demo listening");
    // Alice the commander unless `--as` names someone (by name or role, as `:as` does).
    let names: Vec<_> = users.iter().map(|u| (u.name.clone(), u.role)).collect();
    let result = async {
        let first = match &as_user {
            Some(who) => crate::tui::app::find_user(&names, who).map_err(|e| eyre!("--as: {e}"))?,
            None => users.iter().position(|u| u.role == crate::model::UserRole::Commander).unwrap_or(0),
        };
        let token =
            users.get(first).map(|u| u.token.clone()).ok_or_else(|| eyre!("the demo has no users"))?;
        let client = Client::new(&server.url(), &token)?;
        // The demo's outboxes live with its data, one per user, not in the user's data dir.
        let demo = crate::tui::DemoUsers { users, first };
        // The server shares this process and terminal: its log is already in a file; whatever
        // else writes to stderr (a library, a thread's panic) joins it while the console
        // draws, never over the screen.
        let _quiet = StderrTo::file(&data_dir.join("demo-server.log"));
        crate::tui::run(client, look, &data_dir.join("client"), Some(demo)).await
    }
    .await;
    server.stop().await;
    result
}

/// While alive, this process's stderr goes to a file; dropped, it is the terminal again.
struct StderrTo {
    #[cfg(unix)]
    saved: Option<std::os::fd::OwnedFd>,
}

impl StderrTo {
    fn file(path: &std::path::Path) -> StderrTo {
        #[cfg(unix)]
        {
            use std::os::fd::{AsRawFd, FromRawFd};
            let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(path) else {
                return StderrTo { saved: None };
            };
            // SAFETY: dup and dup2 on descriptors this process owns; the duplicate is owned
            // by the OwnedFd from here on.
            let saved = unsafe {
                let fd = libc::dup(libc::STDERR_FILENO);
                if fd < 0 || libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) < 0 {
                    if fd >= 0 {
                        libc::close(fd);
                    }
                    return StderrTo { saved: None };
                }
                std::os::fd::OwnedFd::from_raw_fd(fd)
            };
            StderrTo { saved: Some(saved) }
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            StderrTo {}
        }
    }
}

impl Drop for StderrTo {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            use std::os::fd::AsRawFd;
            // SAFETY: puts back the descriptor saved above, which is still open.
            unsafe {
                libc::dup2(saved.as_raw_fd(), libc::STDERR_FILENO);
            }
        }
    }
}
