//! The command line: `serve`, `demo`, `tui`, and scriptable verbs over the same client the
//! console uses. Human tables by default, `--json` for scripts; errors on stderr, exit 1.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use color_eyre::eyre::eyre;

use crate::client::Client;
use crate::config::{ClientConfig, DEFAULT_SERVER};
use crate::model::State;

/// Human output: every line goes through the one escaping gate (see `present::print_line`).
macro_rules! out {
    ($($t:tt)*) => {
        crate::present::print_line(&format!($($t)*))
    };
}

// After the macro: `out!` is in scope only below its definition.
mod actions;
mod chaos;
mod comms;
mod config;
mod events;
mod gameday;
mod incident;
mod outbox;
mod postmortem;
mod probe;
mod replay;
mod scoreboard;
mod serve;
mod stats;

pub use chaos::ChaosCmd;
pub use comms::{CommsCmd, PlaybookCmd, StepCmd};
pub use config::{ConfigCmd, CONFIG_TEMPLATE};
pub use gameday::{GamedayArgs, GamedayCmd};
pub use incident::IncidentCmd;
pub use outbox::{outbox_for, OutboxCmd};
pub use probe::ProbeCmd;
pub use serve::ServeArgs;
pub use stats::StatsArgs;

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
        /// No terminal bell for alerts (they still show as a toast)
        #[arg(long)]
        quiet: bool,
    },
    /// Server with demo users and incidents, plus the console as commander: no set-up.
    Demo {
        /// Keep the data here instead of a fresh temporary dir.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address for the embedded server, so other consoles can join (port 0: a free port)
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Theme: default, light, high-contrast, mono, or one of yours [default: config, or mono under NO_COLOR]
        #[arg(long)]
        theme: Option<String>,
        /// Start as this demo user, by name or role (victor, villain, bob…); `U` switches
        /// users in the console [default: alice, the commander]
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
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
    /// Chaos scenarios: the catalogue, runs, start, stop, the emergency halt, journals.
    #[command(subcommand)]
    Chaos(ChaosCmd),
    /// An incident's postmortem as Markdown; --edit writes it in $EDITOR.
    Postmortem(postmortem::PostmortemArgs),
    /// Action items across incidents, overdue first; add one, or mark one done.
    Actions(actions::ActionsArgs),
    /// Game days: teams, planned scenarios, start, hints, debrief, and the score.
    Gameday(GamedayArgs),
    /// The game day's scoreboard alone, full screen, live and read-only (`q` quits).
    Scoreboard(scoreboard::ScoreboardArgs),
    /// Incident statistics: counts, median and p90 times to detect, acknowledge, mitigate and
    /// recover, by severity, service, failure class and drill vs real.
    Stats(StatsArgs),
    /// Play an incident back as it happened, sped up, in a read-only console (`q` quits).
    Replay(replay::ReplayArgs),
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

/// Server URL and client for a CLI verb, from flags, env, then config.toml. Any verb that
/// gets an answer records the server as reached, so a command written after it went down is
/// queued, not refused as a possible typo in its URL.
pub fn connect(conn: &Connection) -> color_eyre::Result<Client> {
    Ok(client(conn)?.on_first_answer(|c| outbox::remember(&outbox_for(c), None, None)))
}

/// The same client for the console, which records what it reached itself (and must not
/// write to stderr over its screen).
pub(super) fn client(conn: &Connection) -> color_eyre::Result<Client> {
    let file = ClientConfig::load_default()?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let server = conn
        .server
        .clone()
        .or_else(|| env("WARROOM_SERVER"))
        .or(file.server)
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let token = conn.token.clone().or_else(|| env("WARROOM_TOKEN")).or(file.token).ok_or_else(|| {
        eyre!(
            "no token: set WARROOM_TOKEN, pass --token, or put `token = \"…\"` in {}",
            crate::config::config_dir().join("config.toml").display()
        )
    })?;
    Ok(Client::new(&server, &token)?)
}

/// The server's state, noting that this server was reached (so it may get a queue later).
async fn snapshot(client: &Client) -> color_eyre::Result<State> {
    let snap = client.snapshot().await?;
    outbox::remember(&outbox_for(client), Some(snap.log), None);
    Ok(snap.state)
}

pub async fn run(cli: Cli) -> color_eyre::Result<()> {
    match cli.command {
        Some(Cmd::Serve(args)) => serve::serve(args).await,
        Some(Cmd::Incident(cmd)) => incident::incident(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Events { follow, after }) => events::events(&cli.conn, cli.json, follow, after).await,
        Some(Cmd::Outbox(cmd)) => outbox::outbox(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Playbook(cmd)) => comms::playbook(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Step(cmd)) => comms::step(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Comms(cmd)) => comms::comms(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Probe(cmd)) => probe::probe(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Chaos(cmd)) => chaos::chaos(&cli.conn, cli.json, cmd).await,
        Some(Cmd::Postmortem(args)) => postmortem::postmortem(&cli.conn, cli.json, args).await,
        Some(Cmd::Actions(args)) => actions::actions(&cli.conn, cli.json, args).await,
        Some(Cmd::Gameday(args)) => gameday::gameday(&cli.conn, cli.json, args).await,
        Some(Cmd::Scoreboard(args)) => scoreboard::scoreboard(&cli.conn, args).await,
        Some(Cmd::Stats(args)) => stats::stats(&cli.conn, cli.json, args).await,
        Some(Cmd::Replay(args)) => replay::replay(&cli.conn, args).await,
        Some(Cmd::Bench(args)) => {
            // Its servers log as `serve`'s do (problems only, by default).
            crate::logging::init(crate::logging::LogFormat::Human, crate::logging::Sink::Stderr)?;
            crate::bench::run(args).await
        }
        Some(Cmd::Tui { theme, quiet }) => {
            crate::tui::open(client(&cli.conn)?, theme.as_deref(), quiet).await
        }
        None => crate::tui::open(client(&cli.conn)?, None, false).await,
        Some(Cmd::Demo { data, listen, theme, as_user }) => serve::demo(data, listen, theme, as_user).await,
        Some(Cmd::Keys { markdown }) => config::keys(markdown),
        Some(Cmd::Config(ConfigCmd::Init { force })) => config::init(force),
        Some(Cmd::Config(ConfigCmd::Paths)) => config::paths(),
    }
}
