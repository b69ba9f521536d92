//! `warroom bench`: measures the real server with real clients over loopback — durable
//! commands/s and ack latency under concurrent writers, and how long a command takes to be
//! visible on every SSE subscriber, and whether half-open peers and thousands of idle streams
//! can starve the room. Reports medians and tails, with the machine. One file per part.

mod chaos;
mod connections;
mod console;
mod probes;
mod server;
mod store;
mod year;

pub use console::big_state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use color_eyre::eyre::{bail, eyre};
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::client::{Client, StreamItem};
use crate::config::UserConfig;
use crate::model::{IncidentId, Intent, Severity, UserRole};
use crate::protocol::Command;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Which parts to run: server, visibility, polling, connections, fanout, render, console,
    /// probes, chaos, year, store (comma-separated). Default: all but year, which takes minutes,
    /// and store, which needs --store: each runs only when named.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Concurrent writers for the throughput run.
    #[arg(long, default_value_t = 50)]
    pub writers: usize,
    /// Commands each writer sends.
    #[arg(long, default_value_t = 400)]
    pub per_writer: usize,
    /// SSE subscribers for the visibility run.
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Commands per second offered in the visibility run.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Length of the visibility run.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Internal: hold `--half-open` unfinished requests against this address (a child of the
    /// connections run, so the sockets do not count against the bench's own descriptors).
    #[arg(long, hide = true)]
    pub hold_half_open: Option<String>,
    #[arg(long, hide = true, default_value_t = 10_000)]
    pub half_open: usize,
    /// Internal: hold `--streams` idle event streams against this address, for the same reason.
    #[arg(long, hide = true)]
    pub hold_streams: Option<String>,
    #[arg(long, hide = true, default_value_t = 5_000)]
    pub streams: usize,
    /// The year part's server data: reused when it already holds a year of the asked size
    /// (so re-runs skip the generation), written there otherwise [default: a temporary dir].
    #[arg(long)]
    pub year_dir: Option<std::path::PathBuf>,
    /// Incidents in the year.
    #[arg(long, default_value_t = 10_000)]
    pub incidents: usize,
    /// Events in the year, about (the script of each incident is padded with notes to reach it).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Subscriber counts of the fan-out runs (the `fanout` part: each at 50 commands/s on a
    /// fresh server; the `year` part: on the year).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 5_000, 10_000])]
    pub fanout: Vec<usize>,
    /// Internal: hold `--streams` event streams against this address and report when each
    /// event after `--watch-after` reached all of them (the year's fan-out run).
    #[arg(long, hide = true)]
    pub hold_watch: Option<String>,
    #[arg(long, hide = true, default_value_t = 0)]
    pub watch_after: u64,
    /// The `store` part: a PostgreSQL server (`postgres://user@host:port/db`, a role that may
    /// CREATE DATABASE) to compare with SQLite, with one and with three servers.
    #[arg(long)]
    pub store: Option<String>,
    /// Internal: watch `--streams` event streams against this address and report when every
    /// one of them saw each event (a child of the fan-out run).
    #[arg(long, hide = true)]
    pub watch_streams: Option<String>,
}

const TOKEN: &str = "bench-token-0123456789";

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

/// p-th percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub async fn run(args: BenchArgs) -> color_eyre::Result<()> {
    if let Some(addr) = &args.hold_half_open {
        return connections::hold_half_open(addr, args.half_open).await;
    }
    if let Some(addr) = &args.hold_streams {
        return connections::hold_streams(addr, args.streams).await;
    }
    if let Some(addr) = args.hold_watch.clone() {
        let (streams, after) = (args.streams, args.watch_after);
        return one_thread(move || async move { year::hold_watch(&addr, streams, after).await }).await;
    }
    if let Some(addr) = args.watch_streams.clone() {
        let streams = args.streams;
        return one_thread(move || async move { connections::watch_streams(&addr, streams).await }).await;
    }
    let named = |part: &str| args.only.iter().any(|o| o == part);
    let wants = |part: &str| args.only.is_empty() || named(part);
    println!("machine: {}", machine());
    if wants("server") || wants("visibility") {
        let dir = tempfile::tempdir()?;
        let server = bench_server(dir.path()).await?;
        let url = server.url();
        let client = Client::new(&url, TOKEN)?;
        declare_bench(&client).await?;
        if wants("server") {
            server::throughput(std::slice::from_ref(&url), &args).await?;
        }
        if wants("visibility") {
            server::visibility(std::slice::from_ref(&url), &args).await?;
        }
        server.stop().await;
    }
    if wants("connections") {
        connections::connections().await?;
    }
    if wants("fanout") {
        connections::fanout(&args.fanout).await?;
    }
    if wants("polling") {
        server::polling().await?;
    }
    if wants("render") {
        console::render()?;
    }
    if wants("console") {
        console::console().await?;
    }
    if wants("probes") {
        probes::probes().await?;
    }
    if wants("chaos") {
        chaos::chaos().await?;
    }
    if named("year") {
        year::year(&args).await?;
    }
    if named("store") {
        let url = args.store.as_deref().ok_or_else(|| eyre!("--only store needs --store postgres://…"))?;
        store::store(&args, url).await?;
    }
    Ok(())
}

/// Runs a watcher child on one thread of its own (a current-thread runtime): it stands for
/// clients on other machines, so it should take as little of the server's two cores as it
/// can. On the multi-threaded runtime its two workers woke each other for every batch of
/// reads, CPU the server then did not get.
async fn one_thread<F, Fut>(watch: F) -> color_eyre::Result<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = color_eyre::Result<()>>,
{
    let thread = std::thread::Builder::new().name("warroom-watch".into()).spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(watch())
    })?;
    tokio::task::spawn_blocking(move || thread.join().map_err(|_| eyre!("the watcher thread panicked"))?)
        .await?
}

/// Commands each ack-latency sample sends, one at a time.
pub(super) const ACK_SAMPLES: usize = 500;

/// An in-process server with one admin user, in `dir`.
pub(super) async fn bench_server(dir: &std::path::Path) -> color_eyre::Result<crate::server::RunningServer> {
    crate::server::start(crate::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        users: vec![UserConfig { name: "bench".into(), role: UserRole::Admin, token: TOKEN.into() }],
        // One user opens every subscriber of the visibility run, and sends all the load.
        streams_per_user: usize::MAX,
        commands_per_second: u32::MAX,
        command_burst: u32::MAX,
        ..Default::default()
    })
    .await
}

pub(super) fn note(i: usize) -> Command {
    Command::new(Intent::AddNote { incident: IncidentId(1), text: format!("bench note {i}") })
}

/// Sends `n` notes one after another; each ack's latency.
pub(super) async fn ack_latencies(client: &Client, n: usize) -> color_eyre::Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        client.send(&note(i)).await.map_err(|e| eyre!("command {i}: {e}"))?;
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat)
}

/// The `[limits]` every bench server gets: the bench's load is one user's, far past the rate
/// a person or a script is held to (`[limits] commands_per_second`).
const UNLIMITED_COMMANDS: &str = "commands_per_second = 4294967295\ncommand_burst = 4294967295\n";

/// A real `warroom serve` in a child process, with `config` as its server.toml (plus
/// [`UNLIMITED_COMMANDS`]) and its data under `dir`; the child (killed on drop) and its URL
/// once it listens.
pub(super) async fn serve_child(
    dir: &std::path::Path,
    config: &str,
) -> color_eyre::Result<(tokio::process::Child, String)> {
    let config_path = dir.join("server.toml");
    let config = match config.contains("[limits]\n") {
        true => config.replacen("[limits]\n", &format!("[limits]\n{UNLIMITED_COMMANDS}"), 1),
        false => format!("{config}\n[limits]\n{UNLIMITED_COMMANDS}"),
    };
    std::fs::write(&config_path, config)?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config_path)
        .arg("--data")
        .arg(dir.join("data"))
        .env("WARROOM_CONFIG_DIR", dir.join("cfg"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        child.stdout.take().ok_or_else(|| eyre!("no stdout"))?,
    ));
    let first = lines.next_line().await?.unwrap_or_default();
    let url = first
        .strip_prefix("warroom listening on ")
        .ok_or_else(|| eyre!("server did not start: {first}"))?
        .to_string();
    // Keep reading: a server whose stdout pipe fills or closes must not be what stops it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
}

/// CPU seconds (user + system) a process has used, from /proc.
pub(super) fn cpu_seconds(pid: u32) -> color_eyre::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(ticks / 100.0)
}

pub(super) fn rss_mb(pid: u32) -> color_eyre::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Ok(kb / 1024.0)
}

/// The drill the note-writing parts write to (INC-1).
pub(super) async fn declare_bench(client: &Client) -> color_eyre::Result<()> {
    client
        .send(&Command::new(Intent::DeclareIncident {
            title: "bench".into(),
            severity: Severity::Sev3,
            impact: String::new(),
            drill: true,
            services: Vec::new(),
            private: false,
        }))
        .await?;
    Ok(())
}
