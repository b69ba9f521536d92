//! The command line: `serve`, `demo`, `tui`, and scriptable verbs over the same client the
//! console uses. Human tables by default, `--json` for scripts; errors on stderr, exit 1.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use color_eyre::eyre::{bail, eyre, WrapErr};
use futures_util::StreamExt;
use serde::Serialize;

use crate::client::outbox::{Flushed, Outbox};
use crate::client::{Client, ClientError, StreamItem};
use crate::config::{self, ClientConfig, ServerConfig};
use crate::model::incident::format_duration;
use crate::model::{Incident, IncidentId, Intent, Milestone, Role, Severity, State, Status};
use crate::present::{age, escape_control, event_line, json_safe, one_line};

/// Human output: every line goes through the one escaping gate (see `present::print_line`).
macro_rules! out {
    ($($t:tt)*) => {
        crate::present::print_line(&format!($($t)*))
    };
}
use crate::protocol::Command;

#[derive(Parser, Debug)]
#[command(name = "warroom", version, about = "A terminal war room for incident response and chaos game days")]
pub struct Cli {
    #[command(flatten)]
    pub conn: Connection,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Connection {
    /// Server URL [env: WARROOM_SERVER; else `server` in config.toml; else http://127.0.0.1:7800]
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// Bearer token [env: WARROOM_TOKEN; else `token` in config.toml]
    #[arg(long, global = true, hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Open the console (the default when no command is given).
    Tui {
        /// Theme: default, light, high-contrast, mono, or one of yours [default: config, or mono under NO_COLOR]
        #[arg(long)]
        theme: Option<String>,
    },
    /// Server with demo users and incidents, plus the console as commander: no set-up.
    Demo {
        /// Keep the data here instead of a fresh temporary dir.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address for the embedded server, so other consoles can join [default: a free port]
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        #[arg(long)]
        theme: Option<String>,
    },
    /// Run the shared server.
    Serve(ServeArgs),
    /// Incidents: declare, list, show, and act on them.
    #[command(subcommand)]
    Incident(IncidentCmd),
    /// Print the event log; --follow keeps printing new events live.
    Events {
        #[arg(long, short)]
        follow: bool,
        /// Start after this seq.
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Playbooks: the server's library, and checking files.
    #[command(subcommand)]
    Playbook(PlaybookCmd),
    /// Playbook steps on an incident.
    #[command(subcommand)]
    Step(StepCmd),
    /// Messages to staff, customers, the status page and socials.
    #[command(subcommand)]
    Comms(CommsCmd),
    /// Commands queued while the server was unreachable.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Health probes the server runs.
    #[command(subcommand)]
    Probe(ProbeCmd),
    /// Measure the server and the console: throughput, latencies, frame time, idle CPU, RSS.
    Bench(crate::bench::BenchArgs),
    /// Print the console's key bindings (with your overrides).
    Keys {
        /// As the Markdown table used in the README.
        #[arg(long)]
        markdown: bool,
    },
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCmd),
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Write a commented config.toml (and the theme presets) into the config dir.
    Init {
        /// Overwrite an existing config.toml.
        #[arg(long)]
        force: bool,
    },
    /// Print where configuration and data live.
    Paths,
}

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
}

#[derive(Subcommand, Debug)]
pub enum IncidentCmd {
    /// Declare an incident. If unsure of the severity, pick the higher one.
    Declare {
        title: String,
        #[arg(long, short)]
        severity: Severity,
        #[arg(long, short)]
        impact: Option<String>,
        /// Mark it as a game-day drill.
        #[arg(long)]
        drill: bool,
    },
    /// List incidents: open first, worst first.
    List {
        /// Include closed incidents.
        #[arg(long, short)]
        all: bool,
    },
    /// Show one incident with roles, milestones, durations and timeline.
    Show { id: IncidentId },
    /// Add a note to the timeline.
    Note { id: IncidentId, text: String },
    /// Change status: declared, investigating, mitigating, mitigated, postmortem, closed.
    Status {
        id: IncidentId,
        status: Status,
        /// Needed to reopen; to close early, a closure reason: resolved, duplicate, false_positive, cancelled.
        #[arg(long, short)]
        reason: Option<String>,
    },
    /// Change severity.
    Severity { id: IncidentId, severity: Severity },
    /// Hand a response role to a person.
    Assign { id: IncidentId, role: Role, person: String },
    /// Record when a milestone happened (RFC 3339; default now).
    Milestone { id: IncidentId, milestone: Milestone, time: Option<DateTime<Utc>> },
}

#[derive(Subcommand, Debug)]
pub enum PlaybookCmd {
    /// The server's playbooks (and any that failed to load).
    List,
    /// One playbook's steps.
    Show { id: String },
    /// Check playbook files; exits non-zero naming file, line and field of each problem.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Attach (or switch) an incident's playbook.
    Attach { incident: IncidentId, playbook: String },
}

#[derive(Subcommand, Debug)]
pub enum StepCmd {
    /// Mark a step done.
    Tick { incident: IncidentId, step: String },
    /// Undo a tick.
    Untick { incident: IncidentId, step: String },
    /// Give a step to someone.
    Assign { incident: IncidentId, step: String, person: String },
}

#[derive(Subcommand, Debug)]
pub enum CommsCmd {
    /// Send a message on a server channel: your text, or a step's template rendered now.
    Send {
        incident: IncidentId,
        channel: String,
        #[arg(long, conflicts_with = "step", required_unless_present = "step")]
        text: Option<String>,
        /// Use this step's message template (and tick the step once delivered).
        #[arg(long)]
        step: Option<String>,
    },
    /// Push an audience's next update back (logged).
    Snooze { incident: IncidentId, audience: crate::model::Audience, minutes: u32 },
    /// Set a status page component by hand (operational, performance_issues, partial_outage,
    /// major_outage), or `auto` to follow its probe again.
    Component { component: String, status: String },
}

#[derive(Subcommand, Debug)]
pub enum ProbeCmd {
    /// Every probe: state, last latency, last error.
    List,
    /// One probe: definition, state and recent samples.
    Show { name: String },
}

#[derive(Subcommand, Debug)]
pub enum OutboxCmd {
    /// Show queued commands in order and whose each is. Everyone using this data dir shares
    /// one outbox per server, but each user's flush sends only their own commands.
    List,
    /// Send your queued commands now, in order. Stops with exit 1, keeping everything, when
    /// the server is away or refuses your token (401/403); a command the server refuses for
    /// good moves to the outbox's `.rejected.jsonl` file, as do unreadable lines.
    Flush {
        /// Also send the commands of unknown owner (queued by a warroom that did not record
        /// who queued them) as you. Only when you know they are yours, or vouch for them.
        #[arg(long)]
        adopt: bool,
    },
    /// Take one of your queued commands out unsent (kept in the rejected file), e.g. one
    /// the server will never take from you.
    Drop {
        /// The command's id, as `warroom outbox list` shows it.
        id: uuid::Uuid,
    },
}

/// Server URL and client for the CLI and console, from flags, env, then config.toml.
pub fn connect(conn: &Connection) -> color_eyre::Result<Client> {
    let file = ClientConfig::load_default()?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let server = conn
        .server
        .clone()
        .or_else(|| env("WARROOM_SERVER"))
        .or(file.server)
        .unwrap_or_else(|| config::DEFAULT_SERVER.to_string());
    let token = conn.token.clone().or_else(|| env("WARROOM_TOKEN")).or(file.token).ok_or_else(|| {
        eyre!(
            "no token: set WARROOM_TOKEN, pass --token, or put `token = \"…\"` in {}",
            config::config_dir().join("config.toml").display()
        )
    })?;
    Ok(Client::new(&server, &token)?)
}

/// The outbox for the client's server, in the data dir, as the client's user.
pub fn outbox_for(client: &Client) -> Outbox {
    Outbox::open(&config::data_dir(), client)
}

/// Records a successful call, so this server may get a queue later. Failing to record costs
/// only that, so it is a warning, not an error.
fn remember(outbox: &Outbox, log: Option<uuid::Uuid>, name: Option<&str>) {
    if let Err(e) = outbox.reached(log, name) {
        crate::stderr!("warroom: {e}");
    }
}

/// The error for a flush that stopped: what stopped it, and what the user can do.
fn flush_stopped(e: &ClientError, outbox: &Outbox, flushed: &Flushed) -> color_eyre::Report {
    let waiting = format!("waiting {} in {}", flushed.waiting, outbox.path().display());
    if flushed.stopped_on_auth() {
        eyre!(
            "flush stopped: {e}. The server refused your token or its user, so nothing was removed \
             ({waiting}); check WARROOM_TOKEN, --token or `token` in config.toml, then run \
             `warroom outbox flush`; `warroom outbox drop ID` takes out one the server will never accept"
        )
    } else {
        eyre!("flush stopped: {e} ({waiting})")
    }
}

pub async fn run(cli: Cli) -> color_eyre::Result<()> {
    match cli.command {
        Some(Cmd::Serve(args)) => serve(args).await,
        Some(Cmd::Incident(cmd)) => incident(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Events { follow, after }) => events(&cli.conn, cli.json, follow, after).await,
        Some(Cmd::Outbox(cmd)) => outbox(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Playbook(PlaybookCmd::Validate { files })) => validate(&files),
        Some(Cmd::Playbook(cmd)) => playbook(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Step(cmd)) => {
            let client = connect(&cli.conn)?;
            let intent = match cmd {
                StepCmd::Tick { incident, step } => Intent::TickStep { incident, step },
                StepCmd::Untick { incident, step } => Intent::UntickStep { incident, step },
                StepCmd::Assign { incident, step, person } => Intent::AssignStep { incident, step, person },
            };
            write(&client, cli.json, Command::new(intent)).await
        }
        Some(Cmd::Comms(cmd)) => comms(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Probe(cmd)) => probe(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Bench(args)) => crate::bench::run(args).await,
        Some(Cmd::Tui { theme }) => crate::tui::open(connect(&cli.conn)?, theme.as_deref()).await,
        None => crate::tui::open(connect(&cli.conn)?, None).await,
        Some(Cmd::Demo { data, listen, theme }) => demo(data, listen, theme).await,
        Some(Cmd::Keys { markdown }) => keys(markdown),
        Some(Cmd::Config(ConfigCmd::Init { force })) => config_init(force),
        Some(Cmd::Config(ConfigCmd::Paths)) => {
            out!("config dir  {}", config::config_dir().display());
            out!("data dir    {}", config::data_dir().display());
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> color_eyre::Result<()> {
    let default_path = config::config_dir().join("server.toml");
    let (file, path) = match &args.config {
        Some(p) => (ServerConfig::load(p)?, Some(p.clone())),
        None if default_path.exists() => (ServerConfig::load(&default_path)?, Some(default_path)),
        None => (ServerConfig::default(), None),
    };
    let data_dir = args.data.or(file.data_dir.clone()).unwrap_or_else(|| config::data_dir().join("server"));
    if data_dir.as_os_str().is_empty() {
        bail!("--data must not be empty: leave it out for {}", config::data_dir().join("server").display());
    }
    let listen = args.listen.or(file.listen.clone()).unwrap_or_else(|| config::DEFAULT_LISTEN.to_string());
    let mut users = file.users.clone();
    let mut demo_file = None;
    if args.demo {
        let (demo_users, demo_path) = crate::demo::users(&data_dir)?;
        users.extend(demo_users);
        demo_file = Some(demo_path);
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
    let mut shop = None;
    if args.demo {
        if channels.is_empty() {
            channels = crate::demo::channels();
        }
        let s = crate::demo::shop::Shop::start().await?;
        probes.extend(s.probes());
        let path = data_dir.join("demo-shop.toml");
        std::fs::create_dir_all(&data_dir)?;
        std::fs::write(
            &path,
            format!("admin_url = \"{}\"\nadmin_token = \"{}\"\n", s.admin_url, s.admin_token),
        )?;
        shop = Some((s, path));
    }
    let server = crate::server::start(
        crate::server::ServerOptions {
            listen,
            data_dir: data_dir.clone(),
            users: users.clone(),
            channels,
            playbook_dirs,
            public_url: file.public_url.clone(),
            probes,
            ..Default::default()
        }
        .with_limits(&file.limits),
    )
    .await?;
    if args.demo {
        crate::demo::seed(&server.app, &users).await?;
    }
    // Start-up lines go to stdout, but a server must not die because nobody reads them
    // (a closed pipe makes println! panic).
    macro_rules! say {
        ($($t:tt)*) => {{
            use std::io::Write as _;
            let _ = writeln!(std::io::stdout(), $($t)*);
        }};
    }
    // The first line is machine-read by tests and scripts: keep its shape.
    say!("warroom listening on {}", server.url());
    say!("data dir {}", data_dir.display());
    if let Some(p) = demo_file {
        say!("demo users and tokens in {}", p.display());
    }
    if let Some((s, path)) = &shop {
        say!(
            "demo shop admin {} (token in {}): POST /admin/services/NAME/stop|start",
            s.admin_url,
            path.display()
        );
    }
    tokio::select! {
        r = server.wait() => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn demo(data: Option<PathBuf>, listen: String, theme: Option<String>) -> color_eyre::Result<()> {
    // Resolve the look first: a bad theme is an error before anything starts.
    let look = crate::tui::Look::load(theme.as_deref())?;
    let temp = match &data {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("warroom-demo-").tempdir()?),
    };
    let data_dir = data.unwrap_or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()).unwrap_or_default());
    let (users, _) = crate::demo::users(&data_dir)?;
    let shop = crate::demo::shop::Shop::start().await?;
    std::fs::write(
        data_dir.join("demo-shop.toml"),
        format!("admin_url = \"{}\"\nadmin_token = \"{}\"\n", shop.admin_url, shop.admin_token),
    )?;
    let server = crate::server::start(crate::server::ServerOptions {
        listen,
        data_dir: data_dir.clone(),
        users: users.clone(),
        channels: crate::demo::channels(),
        playbook_dirs: vec![config::config_dir().join("playbooks")],
        probes: shop.probes(),
        ..Default::default()
    })
    .await?;
    crate::demo::seed(&server.app, &users).await?;
    let commander = users.iter().find(|u| u.role == crate::model::UserRole::Commander).unwrap_or(&users[0]);
    let client = Client::new(&server.url(), &commander.token)?;
    // The demo's outbox lives with its data, not in the user's data dir.
    let result = crate::tui::run(client, look, &data_dir.join("client")).await;
    server.stop().await;
    result
}

fn keys(markdown: bool) -> color_eyre::Result<()> {
    let look = crate::tui::Look::load(None)?;
    if markdown {
        out!("{}", look.keymap.markdown().trim_end());
    } else {
        for (scope, keys, action) in look.keymap.rows() {
            out!("{:<26} {:<22} {}", scope.title(), keys, action.describe());
        }
    }
    Ok(())
}

pub const CONFIG_TEMPLATE: &str = r#"# warroom console configuration (warroom config init wrote this).
# Every setting is optional; flags and environment variables win over this file.

# The shared server, and your bearer token on it (ask the server's admin).
# Environment: WARROOM_SERVER, WARROOM_TOKEN.
# server = "http://127.0.0.1:7800"
# token = "…"

# Theme: default, light, high-contrast, mono, or the name of a file in themes/ here.
# A file here named like a preset overrides that preset field by field.
# NO_COLOR in the environment selects mono unless --theme is given.
# theme = "default"

# Key overrides: "key" = "action" binds everywhere; "none" unbinds.
# Keys look like q, G, ?, ctrl-n, alt-x, shift-tab, enter, space, f1.
# `warroom keys` lists the actions.
[keys]
# "ctrl-n" = "note"
# "x" = "none"
"#;

fn config_init(force: bool) -> color_eyre::Result<()> {
    let dir = config::config_dir();
    let path = dir.join("config.toml");
    if path.exists() && !force {
        bail!("{} exists; --force overwrites it", path.display());
    }
    std::fs::create_dir_all(dir.join("themes")).wrap_err_with(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, CONFIG_TEMPLATE).wrap_err_with(|| format!("writing {}", path.display()))?;
    out!("wrote {}", path.display());
    out!("themes: copy one of the presets (themes/*.toml in the source) to {}", dir.join("themes").display());
    Ok(())
}

async fn incident(conn: &Connection, json: bool, cmd: IncidentCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let intent = match cmd {
        IncidentCmd::List { all } => return list(&client, json, all).await,
        IncidentCmd::Show { id } => return show(&client, json, id).await,
        IncidentCmd::Declare { title, severity, impact, drill } => Intent::DeclareIncident {
            title,
            severity,
            impact: impact.unwrap_or_default(),
            drill,
            services: Vec::new(),
        },
        IncidentCmd::Note { id, text } => Intent::AddNote { incident: id, text },
        IncidentCmd::Status { id, status, reason } => Intent::SetStatus { incident: id, status, reason },
        IncidentCmd::Severity { id, severity } => Intent::SetSeverity { incident: id, severity },
        IncidentCmd::Assign { id, role, person } => Intent::AssignRole { incident: id, role, person },
        IncidentCmd::Milestone { id, milestone, time } => {
            Intent::SetMilestone { incident: id, milestone, time: time.unwrap_or_else(Utc::now) }
        }
    };
    write(&client, json, Command::new(intent)).await
}

fn validate(files: &[PathBuf]) -> color_eyre::Result<()> {
    let mut bad = 0;
    for f in files {
        match crate::server::library::check_file(f) {
            Ok(pb) => out!("{}: ok ({}, {} steps)", f.display(), pb.id, pb.steps.len()),
            Err(e) => {
                bad += 1;
                crate::stderr!("{e}");
            }
        }
    }
    if bad > 0 {
        bail!("{bad} of {} playbook files have problems", files.len());
    }
    Ok(())
}

async fn playbook(conn: &Connection, json: bool, cmd: PlaybookCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    match cmd {
        PlaybookCmd::Attach { incident, playbook } => {
            write(&client, json, Command::new(Intent::AttachPlaybook { incident, playbook })).await
        }
        PlaybookCmd::List => {
            let lib = client.library().await?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(&lib)?));
                return Ok(());
            }
            for pb in &lib.library.playbooks {
                let sevs: Vec<String> = pb.severities.iter().map(|s| s.to_string()).collect();
                let default = if sevs.is_empty() {
                    "attach by hand".to_string()
                } else {
                    format!("default for {}", sevs.join(" "))
                };
                let drill = if pb.drill { " (drills)" } else { "" };
                out!("{:<22} {:<36} {} steps, {default}{drill}", pb.id, pb.title, pb.steps.len());
            }
            out!("");
            for (name, c) in &lib.library.channels {
                out!("channel {name:<12} {:<11} → {}", c.kind, c.audience.label());
            }
            for e in &lib.errors {
                crate::stderr!("warroom: {e}");
            }
            Ok(())
        }
        PlaybookCmd::Show { id } => {
            let lib = client.library().await?;
            let pb = lib.library.playbook(&id).ok_or_else(|| eyre!("no playbook `{id}` on this server"))?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(pb)?));
                return Ok(());
            }
            out!("{} — {}", pb.id, pb.title);
            for s in &pb.steps {
                let owner = s.owner.map(|o| format!(" [{o}]")).unwrap_or_default();
                let channel = s.channel.as_ref().map(|c| format!(" → {c}")).unwrap_or_default();
                out!("  {:<12} {:<18} {}{owner}{channel}", s.section.as_str(), s.id, s.title);
            }
            Ok(())
        }
        PlaybookCmd::Validate { .. } => unreachable!("handled without a server"),
    }
}

async fn comms(conn: &Connection, json: bool, cmd: CommsCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let intent = match cmd {
        CommsCmd::Snooze { incident, audience, minutes } => {
            Intent::SnoozeClock { incident, audience, minutes }
        }
        CommsCmd::Component { component, status } => Intent::SetComponent {
            component,
            status: if status == "auto" { None } else { Some(status.parse().map_err(|e: String| eyre!(e))?) },
        },
        CommsCmd::Send { incident, channel, text, step } => {
            let text = match (text, &step) {
                (Some(t), _) => t,
                (None, Some(step_id)) => {
                    // Render the step's template now, with the server's status page URL.
                    let state = snapshot(&client).await?;
                    let lib = client.library().await?;
                    let inc = state.incident(incident).map_err(|e| eyre!("{e}"))?;
                    let list =
                        inc.checklist.as_ref().ok_or_else(|| eyre!("{incident} has no playbook attached"))?;
                    let s = list
                        .step(step_id)
                        .ok_or_else(|| eyre!("no step `{step_id}` in {}", list.playbook))?;
                    crate::model::comms::render_step(inc, &s.step, &lib.library.status_page_url, Utc::now())
                        .ok_or_else(|| eyre!("step `{step_id}` has no message template; pass --text"))?
                }
                (None, None) => bail!("give --text or --step"),
            };
            Intent::SendMessage { incident, channel, text, step }
        }
    };
    write(&client, json, Command::new(intent)).await
}

async fn probe(conn: &Connection, json: bool, cmd: ProbeCmd) -> color_eyre::Result<()> {
    use crate::model::probe::Health;
    let client = connect(conn)?;
    let snap = client.snapshot().await?;
    let health = |name: &str| snap.state.probes.get(name).map_or(Health::Unknown, |p| p.health);
    match cmd {
        ProbeCmd::List => {
            if json {
                let rows: Vec<_> = snap
                    .probes
                    .iter()
                    .map(|p| {
                        let last = p.samples.last();
                        serde_json::json!({
                            "name": p.name,
                            "state": health(&p.name),
                            "last_latency_ms": last.map(|s| s.response_ms),
                            "last_error": last.and_then(|s| s.failed.first()),
                        })
                    })
                    .collect();
                out!("{}", json_safe(serde_json::to_string_pretty(&rows)?));
                return Ok(());
            }
            if snap.probes.is_empty() {
                out!("no probes configured on this server");
            }
            for p in &snap.probes {
                let last = p.samples.last();
                let latency = last.map_or("–".into(), |s| format!("{}ms", s.response_ms));
                let error = last.and_then(|s| s.failed.first()).map(|e| one_line(e)).unwrap_or_default();
                out!("{:<16} {:<9} {:>7}  {error}", p.name, health(&p.name).as_str(), latency);
            }
        }
        ProbeCmd::Show { name } => {
            let p = snap
                .probes
                .iter()
                .find(|p| p.name == name)
                .ok_or_else(|| eyre!("no probe `{name}` on this server"))?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(p)?));
                return Ok(());
            }
            let state = snap.state.probes.get(&name);
            out!("{} ({} {}, every {} ms): {}", p.name, p.kind, p.target, p.interval_ms, health(&name));
            if let Some(s) = state {
                out!("since {}", s.since.format("%Y-%m-%d %H:%M:%S UTC"));
                for f in &s.failed {
                    out!("  failed: {}", one_line(f));
                }
            }
            out!("conditions: {}", p.conditions.join(" · "));
            if !p.degraded.is_empty() {
                out!("degraded when only: {}", p.degraded.join(" · "));
            }
            out!("\nrecent samples:");
            for s in p.samples.iter().rev().take(10) {
                let why = s.failed.first().map(|f| format!("  {}", one_line(f))).unwrap_or_default();
                out!("  {}  {:<9} {:>6}ms{why}", s.at.format("%H:%M:%S"), s.health.as_str(), s.response_ms);
            }
        }
    }
    Ok(())
}

fn report_flush(flushed: &Flushed) {
    for (cmd, ack) in &flushed.sent {
        crate::stderr!("warroom: sent queued {} (seq {})", cmd.intent.kind(), ack.seq);
    }
    for (cmd, e) in &flushed.refused {
        crate::stderr!(
            "warroom: queued {} {} was refused: {e}; moved to {}",
            cmd.intent.kind(),
            cmd.id,
            flushed.rejected_path.display()
        );
    }
    if flushed.unreadable > 0 {
        crate::stderr!(
            "warroom: {} unreadable outbox line(s) moved to {}",
            flushed.unreadable,
            flushed.rejected_path.display()
        );
    }
}

/// Sends a command, after your queued ones so your order is kept; queues it when the server
/// cannot be reached (only a server reached before: a typo in its URL is an error).
async fn write(client: &Client, json: bool, command: Command) -> color_eyre::Result<()> {
    let outbox = outbox_for(client);
    let flushed = outbox.flush(client).await?;
    report_flush(&flushed);
    let result = match &flushed.stopped {
        Some(e) if !e.keeps_queued() => return Err(flush_stopped(e, &outbox, &flushed)),
        Some(e) => Err(e.clone()),
        None => client.send(&command).await,
    };
    match result {
        Ok(ack) => {
            remember(&outbox, None, ack.events.first().map(|e| e.actor.as_str()));
            if json {
                out!("{}", json_safe(serde_json::to_string(&ack)?));
            } else {
                for e in &ack.events {
                    out!("{}", event_line(e));
                }
            }
            Ok(())
        }
        Err(e) if e.keeps_queued() => {
            let waiting =
                outbox.push(&command).map_err(|q| color_eyre::Report::new(q).wrap_err(e.to_string()))?;
            if json {
                let queued = serde_json::json!({ "queued": command.id, "waiting": waiting.total(), "yours": waiting.yours });
                out!("{}", json_safe(queued.to_string()));
            }
            crate::stderr!("warroom: {e}");
            crate::stderr!(
                "warroom: queued {} in {}; waiting {waiting}; your next warroom command or `warroom outbox flush` sends it",
                command.intent.kind(),
                outbox.path().display()
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize)]
struct IncidentRow<'a> {
    id: IncidentId,
    title: &'a str,
    severity: Severity,
    status: Status,
    drill: bool,
    commander: Option<&'a str>,
    declared_at: DateTime<Utc>,
    impact: &'a str,
}

impl<'a> From<&'a Incident> for IncidentRow<'a> {
    fn from(i: &'a Incident) -> Self {
        IncidentRow {
            id: i.id,
            title: &i.title,
            severity: i.severity,
            status: i.status,
            drill: i.drill,
            commander: i.commander(),
            declared_at: i.declared_at(),
            impact: &i.impact,
        }
    }
}

async fn snapshot(client: &Client) -> color_eyre::Result<State> {
    let snap = client.snapshot().await?;
    remember(&outbox_for(client), Some(snap.log), None);
    Ok(snap.state)
}

async fn list(client: &Client, json: bool, all: bool) -> color_eyre::Result<()> {
    let state = snapshot(client).await?;
    let rows: Vec<IncidentRow> = state
        .incidents_by_priority()
        .into_iter()
        .filter(|i| all || i.status.is_open())
        .map(IncidentRow::from)
        .collect();
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(&rows)?));
        return Ok(());
    }
    if rows.is_empty() {
        out!("no {}incidents", if all { "" } else { "open " });
        return Ok(());
    }
    let now = Utc::now();
    out!("{:<8} {:<5} {:<14} {:>7}  {:<12} TITLE", "ID", "SEV", "STATUS", "AGE", "COMMANDER");
    for r in rows {
        out!(
            "{:<8} {:<5} {:<14} {:>7}  {:<12} {}{}",
            r.id.to_string(),
            r.severity.to_string(),
            r.status.as_str(),
            age(r.declared_at, now),
            one_line(r.commander.unwrap_or("-")),
            if r.drill { "[drill] " } else { "" },
            one_line(r.title)
        );
    }
    Ok(())
}

async fn show(client: &Client, json: bool, id: IncidentId) -> color_eyre::Result<()> {
    let state = snapshot(client).await?;
    let inc = state.incident(id).map_err(|e| eyre!("{e}"))?;
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(inc)?));
        return Ok(());
    }
    let now = Utc::now();
    out!(
        "{} {} {}{} — {}",
        inc.id,
        inc.severity,
        inc.status,
        inc.closure.map(|c| format!(" ({c})")).unwrap_or_default(),
        one_line(&inc.title)
    );
    if inc.drill {
        out!("DRILL");
    }
    if !inc.impact.is_empty() {
        out!("impact: {}", escape_control(&inc.impact));
    }
    out!("declared by {} {} ago", one_line(&inc.declared_by), age(inc.declared_at(), now));
    out!("\nroles:");
    for (role, person) in &inc.roles {
        out!("  {:<22} {}", role.as_str(), one_line(person));
    }
    out!("\nmilestones:");
    for (m, t) in &inc.milestones {
        out!("  {:<22} {}", m.as_str(), t.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    let d = inc.durations();
    let show_d = |d: Option<chrono::Duration>| d.map(format_duration).unwrap_or_else(|| "-".into());
    out!(
        "\ntime to detect {}  acknowledge {}  mitigate {}  recover {}",
        show_d(d.time_to_detect),
        show_d(d.time_to_acknowledge),
        show_d(d.time_to_mitigate),
        show_d(d.time_to_recover)
    );
    let now_clocks = crate::model::comms::clocks(inc);
    if !now_clocks.is_empty() {
        out!("\ncommunication clocks:");
        for c in &now_clocks {
            out!("  {}", crate::model::comms::describe(c, now));
        }
    }
    if let Some(list) = &inc.checklist {
        out!("\nplaybook {} — {} ({}/{} done):", list.playbook, list.title, list.done(), list.steps.len());
        for s in &list.steps {
            let mark = if s.ticked.is_some() { "[x]" } else { "[ ]" };
            let who = match (&s.ticked, &s.assignee) {
                (Some(t), _) => format!("  ✓ {} {}", one_line(&t.by), t.at.format("%H:%M")),
                (None, Some(a)) => format!("  → {}", one_line(a)),
                _ => String::new(),
            };
            out!("  {mark} {:<12} {:<18} {}{who}", s.step.section.as_str(), s.step.id, s.step.title);
        }
    }
    out!("\ntimeline:");
    for e in &inc.timeline {
        out!(
            "  {}  {:<10} {:<10} {}",
            e.at.format("%H:%M:%S"),
            one_line(&e.actor),
            e.kind.tag(),
            escape_control(&e.kind.summary()).replace('\n', "\n                                    ")
        );
    }
    Ok(())
}

async fn events(conn: &Connection, json: bool, follow: bool, after: u64) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let print = |e: &crate::model::Event| -> color_eyre::Result<()> {
        if json {
            out!("{}", json_safe(serde_json::to_string(e)?));
        } else {
            out!("{}", event_line(e));
        }
        Ok(())
    };
    if !follow {
        let mut after = after;
        loop {
            let page = client.events(after, 1000).await?;
            for e in &page.events {
                print(e)?;
                after = e.seq;
            }
            if page.events.is_empty() || after >= page.head {
                return Ok(());
            }
        }
    }
    let mut stream = client.stream(after).await?;
    while let Some(item) = stream.next().await {
        match item? {
            StreamItem::Event(e) => print(&e)?,
            StreamItem::Hello { .. } | StreamItem::Heartbeat { .. } | StreamItem::Sample(_) => {}
            StreamItem::Resync(why) => bail!("the server asked to re-sync ({why}); run again with --after"),
        }
    }
    Err(ClientError::Unreachable { url: client.base().into(), detail: "the stream ended".into() })
        .wrap_err("following events")
}

async fn outbox(conn: &Connection, json: bool, cmd: OutboxCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let outbox = outbox_for(&client);
    match cmd {
        OutboxCmd::List => {
            let listing = outbox.list()?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(&listing)?));
                return Ok(());
            }
            if listing.queued.is_empty() && listing.unreadable.is_empty() {
                out!("outbox empty ({})", outbox.path().display());
                return Ok(());
            }
            let mut unknown = false;
            for (i, q) in listing.queued.iter().enumerate() {
                unknown |= q.queued_by.is_none();
                let who = if q.yours { format!("{} (you)", q.who) } else { q.who.clone() };
                let at = q.queued_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                out!(
                    "{:>3}  {:<22} {:<19}  {}  {}",
                    i + 1,
                    one_line(&who),
                    at,
                    q.command.id,
                    escape_control(&serde_json::to_string(&q.command.intent)?)
                );
            }
            for e in &listing.unreadable {
                out!(
                    "     unreadable {}: moved to {} by the next flush",
                    one_line(e),
                    outbox.rejected_path().display()
                );
            }
            out!("{}", outbox.path().display());
            if unknown {
                out!(
                    "commands of unknown owner were queued by a warroom that did not record who queued them; \
                     `warroom outbox flush --adopt` sends them as you"
                );
            }
        }
        OutboxCmd::Flush { adopt } => {
            // Asking who we are first makes a wrong token an error even when nothing of its
            // own waits, and names the user for the summary.
            match client.whoami().await {
                Ok(me) => remember(&outbox, None, Some(&me.name)),
                Err(e) => {
                    let flushed = Flushed {
                        waiting: outbox.waiting()?,
                        stopped: Some(e.clone()),
                        ..Flushed::default()
                    };
                    return Err(flush_stopped(&e, &outbox, &flushed));
                }
            }
            if adopt {
                let n = outbox.adopt()?;
                crate::stderr!("warroom: adopted {n} command(s) of unknown owner: they are sent as you");
            }
            let flushed = outbox.flush(&client).await?;
            report_flush(&flushed);
            if json {
                let summary = serde_json::json!({
                    "sent": flushed.sent.len(),
                    "refused": flushed.refused.len(),
                    "unreadable": flushed.unreadable,
                    "waiting": flushed.waiting.total(),
                    "yours": flushed.waiting.yours,
                });
                out!("{}", json_safe(summary.to_string()));
            } else {
                out!("{}", flushed.summary());
            }
            if let Some(e) = &flushed.stopped {
                return Err(flush_stopped(e, &outbox, &flushed));
            }
        }
        OutboxCmd::Drop { id } => {
            let cmd = outbox.drop_command(id)?;
            out!("dropped {} {id}; kept in {}", cmd.intent.kind(), outbox.rejected_path().display());
        }
    }
    Ok(())
}
