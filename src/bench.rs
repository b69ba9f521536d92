//! `warroom bench`: measures the real server with real clients over loopback — durable
//! commands/s and ack latency under concurrent writers, and how long a command takes to be
//! visible on every SSE subscriber, and whether half-open peers and thousands of idle streams
//! can starve the room. Reports medians and tails, with the machine.

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
    /// Which parts to run: server, visibility, polling, connections, render, console, probes (comma-separated). Default: all.
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
        return hold_half_open(addr, args.half_open).await;
    }
    if let Some(addr) = &args.hold_streams {
        return hold_streams(addr, args.streams).await;
    }
    let wants = |part: &str| args.only.is_empty() || args.only.iter().any(|o| o == part);
    println!("machine: {}", machine());
    if wants("server") || wants("visibility") {
        let dir = tempfile::tempdir()?;
        let server = bench_server(dir.path()).await?;
        let url = server.url();
        let client = Client::new(&url, TOKEN)?;
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
        if wants("server") {
            throughput(&url, &args).await?;
        }
        if wants("visibility") {
            visibility(&url, &args).await?;
        }
        server.stop().await;
    }
    if wants("connections") {
        connections().await?;
    }
    if wants("polling") {
        polling().await?;
    }
    if wants("render") {
        render()?;
    }
    if wants("console") {
        console().await?;
    }
    if wants("probes") {
        probes().await?;
    }
    Ok(())
}

/// 1,000 HTTP probes every 5 s against a local target, run by a real `warroom serve` in its
/// own process: its CPU share and how late checks start against their schedule.
async fn probes() -> color_eyre::Result<()> {
    const PROBES: usize = 1000;
    const MEASURE: Duration = Duration::from_secs(30);
    use axum::routing::get;
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/health", target.local_addr()?);
    tokio::spawn(async move {
        let app = axum::Router::new().route("/health", get(|| async { r#"{"status":"UP"}"# }));
        let _ = axum::serve(target, app).await;
    });
    let dir = tempfile::tempdir()?;
    let mut config =
        String::from("[[users]]\nname = \"bench\"\nrole = \"admin\"\ntoken = \"bench-token-0123456789\"\n");
    for i in 0..PROBES {
        config.push_str(&format!(
            "[[probes]]\nname = \"svc-{i}\"\nurl = \"{url}\"\ninterval = \"5s\"\ntimeout = \"2s\"\n\
             conditions = [\"[STATUS] == 200\", \"[RESPONSE_TIME] < 300\", \"[BODY].status == UP\"]\n"
        ));
    }
    let (mut child, server) = serve_child(dir.path(), &config).await?;
    let pid = child.id().ok_or_else(|| eyre!("no pid"))?;
    // One full round to start every probe, then measure.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (cpu0, t0) = (cpu_seconds(pid)?, Instant::now());
    let since = chrono::Utc::now();
    tokio::time::sleep(MEASURE).await;
    let cpu = (cpu_seconds(pid)? - cpu0) / t0.elapsed().as_secs_f64();
    let snap = Client::new(&server, "bench-token-0123456789")?.snapshot().await?;
    let mut late: Vec<Duration> = snap
        .probes
        .iter()
        .flat_map(|p| p.samples.iter())
        .filter(|s| s.scheduled >= since)
        .map(|s| (s.at - s.scheduled).to_std().unwrap_or_default())
        .collect();
    late.sort();
    let up = snap.state.probes.values().filter(|p| p.health == crate::model::probe::Health::Up).count();
    println!(
        "probes: {PROBES} http probes every 5 s, {} checks in {} s ({up} up): server CPU {:.1}% of one core; schedule jitter p50 {} p99 {} max {}; RSS {:.1} MB",
        late.len(),
        MEASURE.as_secs(),
        cpu * 100.0,
        ms(percentile(&late, 50.0)),
        ms(percentile(&late, 99.0)),
        ms(late.last().copied().unwrap_or_default()),
        rss_mb(pid)?
    );
    child.kill().await?;
    Ok(())
}

/// A big war room: `incidents` incidents, `entries` timeline entries in all, and one
/// incident (INC-1) carrying `heavy` of them.
pub fn big_state(incidents: u64, entries: u64, heavy: u64) -> crate::model::State {
    use crate::model::{stamp, State};
    let mut s = State::default();
    let t0 = chrono::Utc::now() - chrono::Duration::hours(2);
    let apply = |s: &mut State, intent: Intent| {
        let facts = s.decide(&intent).expect("bench intents are valid");
        let at = t0 + chrono::Duration::milliseconds(s.seq as i64);
        for e in stamp(s.seq + 1, at, "bench", UserRole::Admin, uuid::Uuid::nil(), facts) {
            s.apply(&e);
        }
    };
    for i in 0..incidents {
        apply(
            &mut s,
            Intent::DeclareIncident {
                title: format!("Incident {i}: checkout latency over SLO in region {}", i % 7),
                severity: crate::model::Severity::ALL[(i % 5) as usize],
                impact: "some customers see errors".into(),
                drill: i % 3 == 0,
                services: Vec::new(),
                private: false,
            },
        );
    }
    let rest = entries.saturating_sub(incidents + heavy);
    for n in 0..heavy {
        apply(
            &mut s,
            Intent::AddNote { incident: IncidentId(1), text: format!("note {n}: still investigating") },
        );
    }
    for n in 0..rest {
        let id = IncidentId(2 + n % (incidents - 1).max(1));
        apply(&mut s, Intent::AddNote { incident: id, text: format!("note {n}") });
    }
    s
}

fn render() -> color_eyre::Result<()> {
    use crate::tui::app::{App, Msg};
    use crate::tui::{keymap::Keymap, theme::Themes, view};
    use ratatui::backend::TestBackend;
    let state = big_state(1_000, 50_000, 25_000);
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let themes = Themes::presets();
        let theme = themes.get("default").cloned().ok_or_else(|| eyre!("no default theme"))?;
        let mut app = App::new("http://bench", Keymap::default(), themes, theme, chrono::Utc::now());
        app.update(Msg::Resize(w, h));
        app.update(Msg::Sync(crate::client::sync::SyncEvent::Snapshot(crate::protocol::Snapshot {
            log: uuid::Uuid::nil(),
            probes: Vec::new(),
            seq: state.seq,
            state: state.clone(),
        })));
        let rebuild = Instant::now();
        app.prepare();
        let rebuild = rebuild.elapsed();
        let mut terminal = ratatui::Terminal::new(TestBackend::new(w, h))?;
        let mut frames = Vec::new();
        // Alternate between the heavy incident (25,000 entries) and the others.
        for i in 0..400 {
            if i % 50 == 0 {
                app.on_action(if (i / 50) % 2 == 0 {
                    crate::tui::keymap::Action::Top
                } else {
                    crate::tui::keymap::Action::Down
                });
                app.prepare();
            }
            app.now = chrono::Utc::now();
            let t = Instant::now();
            terminal.draw(|f| view::draw(f, &app))?;
            frames.push(t.elapsed());
        }
        frames.sort();
        println!(
            "render {w}x{h}: 1,000 incidents, 50,000 timeline entries (25,000 on one incident): frame p50 {} p99 {}; list rebuild {}",
            ms(percentile(&frames, 50.0)),
            ms(percentile(&frames, 99.0)),
            ms(rebuild),
        );
    }
    Ok(())
}

fn tmux(args: &[&str]) -> color_eyre::Result<String> {
    let out = std::process::Command::new("tmux").args(args).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> color_eyre::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(ticks / 100.0)
}

fn rss_mb(pid: u32) -> color_eyre::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Ok(kb / 1024.0)
}

/// A real console in tmux: time to first paint of `warroom demo`, then idle CPU over 10 s
/// and RSS of a console holding 1,000 incidents and 50,000 entries.
async fn console() -> color_eyre::Result<()> {
    if std::process::Command::new("tmux").arg("-V").output().is_err() {
        println!("console: skipped (needs tmux)");
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let socket = format!("warroom-bench-{}", std::process::id());
    let home = tempfile::tempdir()?;
    let envs = format!(
        "WARROOM_CONFIG_DIR={} WARROOM_DATA_DIR={}",
        home.path().join("config").display(),
        home.path().join("data").display()
    );
    // Time to first paint of the demo, measured from the command's start.
    let mut paints = Vec::new();
    for run in 0..5 {
        // A fresh tmux server each run: reusing a socket right after kill-server races.
        let socket = format!("{socket}-{run}");
        let started = Instant::now();
        tmux(&[
            "-L",
            &socket,
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "36",
            &format!("env {envs} {} demo", exe.display()),
        ])?;
        loop {
            let screen = tmux(&["-L", &socket, "capture-pane", "-p"])?;
            if screen.contains("Checkout returns 502") {
                paints.push(started.elapsed());
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the demo never showed its incidents; the screen was:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tmux(&["-L", &socket, "kill-server"])?;
    }
    paints.sort();
    println!(
        "demo: incidents on screen {} after start (median of 5; includes server start and seeding)",
        ms(percentile(&paints, 50.0))
    );

    // A console on a big war room, left idle.
    let dir = tempfile::tempdir()?;
    let server = bench_server(dir.path()).await?;
    let client = Client::new(&server.url(), TOKEN)?;
    let declares: Vec<Command> = (0..1_000)
        .map(|i| {
            Command::new(Intent::DeclareIncident {
                title: format!("Incident {i}: checkout latency over SLO"),
                severity: crate::model::Severity::ALL[i % 5],
                impact: String::new(),
                drill: i % 3 == 0,
                services: Vec::new(),
                private: false,
            })
        })
        .collect();
    let notes: Vec<Command> = (0..49_000u64)
        .map(|i| {
            Command::new(Intent::AddNote { incident: IncidentId(1 + i % 1_000), text: format!("note {i}") })
        })
        .collect();
    // Incidents first, then their notes, each phase from 20 concurrent writers.
    for phase in [declares, notes] {
        let mut tasks = Vec::new();
        for chunk in phase.chunks(phase.len() / 20 + 1) {
            let (c, chunk) = (client.clone(), chunk.to_vec());
            tasks.push(tokio::spawn(async move {
                for cmd in chunk {
                    c.send(&cmd).await?;
                }
                Ok::<_, crate::client::ClientError>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
    }
    let cmd =
        format!("env {envs} WARROOM_SERVER={} WARROOM_TOKEN={TOKEN} {} tui", server.url(), exe.display());
    tmux(&["-L", &socket, "new-session", "-d", "-x", "160", "-y", "48", &cmd])?;
    let pid: u32 = tmux(&["-L", &socket, "display-message", "-p", "#{pane_pid}"])?.trim().parse()?;
    let started = Instant::now();
    while !tmux(&["-L", &socket, "capture-pane", "-p"])?.contains("online") {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the console never came online");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = cpu_seconds(pid)?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let used = cpu_seconds(pid)? - before;
    println!(
        "console idle on 1,000 incidents / 50,000 entries: CPU {:.2}% of one core over 10 s; RSS {:.1} MB",
        used / 10.0 * 100.0,
        rss_mb(pid)?
    );
    tmux(&["-L", &socket, "kill-server"])?;
    server.stop().await;
    Ok(())
}

/// An in-process server with one admin user, in `dir`.
async fn bench_server(dir: &std::path::Path) -> color_eyre::Result<crate::server::RunningServer> {
    crate::server::start(crate::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        users: vec![UserConfig { name: "bench".into(), role: UserRole::Admin, token: TOKEN.into() }],
        // One user opens every subscriber of the visibility run.
        streams_per_user: usize::MAX,
        ..Default::default()
    })
    .await
}

/// Clients polling the whole state while a responder works: ack latency with 8 of them
/// against none, on a war room of 1,000 incidents and 50,000 events.
async fn polling() -> color_eyre::Result<()> {
    const INCIDENTS: usize = 1_000;
    const EVENTS: usize = 50_000;
    const POLLERS: usize = 8;
    let dir = tempfile::tempdir()?;
    let server = bench_server(dir.path()).await?;
    let url = server.url();
    let client = Client::new(&url, TOKEN)?;
    for i in 0..INCIDENTS {
        client
            .send(&Command::new(Intent::DeclareIncident {
                title: format!("incident {i}"),
                severity: Severity::Sev5,
                impact: "a line of impact, as people write them".into(),
                drill: false,
                services: Vec::new(),
                private: false,
            }))
            .await?;
    }
    // The rest as notes spread over the incidents, from 50 writers at once.
    let mut fill = Vec::new();
    for w in 0..50 {
        let client = Client::new(&url, TOKEN)?;
        fill.push(tokio::spawn(async move {
            for i in (w..EVENTS - INCIDENTS).step_by(50) {
                let incident = IncidentId(1 + (i % INCIDENTS) as u64);
                let text = format!("note {i}: what we saw, what we tried, what happened next");
                client.send(&Command::new(Intent::AddNote { incident, text })).await?;
            }
            Ok::<_, color_eyre::Report>(())
        }));
    }
    for f in fill {
        f.await??;
    }
    let quiet = ack_latencies(&client, ACK_SAMPLES).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut pollers, mut size) = (Vec::new(), 0);
    for _ in 0..POLLERS {
        let (stop, url) = (stop.clone(), format!("{url}/api/v1/state"));
        let http = reqwest::Client::new();
        pollers.push(tokio::spawn(async move {
            let (mut polls, mut bytes) = (0u64, 0usize);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Read the whole body, as a console would, but spare the bench the parsing.
                let resp = http.get(&url).bearer_auth(TOKEN).send().await?.error_for_status()?;
                bytes = resp.bytes().await?.len();
                polls += 1;
            }
            Ok::<_, color_eyre::Report>((polls, bytes))
        }));
    }
    let started = Instant::now();
    let polled = ack_latencies(&client, ACK_SAMPLES).await?;
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut polls = 0;
    for p in pollers {
        let (n, b) = p.await??;
        polls += n;
        size = size.max(b);
    }
    println!(
        "polling: {INCIDENTS} incidents, {EVENTS} events, state {:.1} MB; ack p50 {} p99 {} with none polling; p50 {} p99 {} with {POLLERS} clients polling /state ({:.0} polls/s); {ACK_SAMPLES} commands one at a time each",
        size as f64 / 1e6,
        ms(percentile(&quiet, 50.0)),
        ms(percentile(&quiet, 99.0)),
        ms(percentile(&polled, 50.0)),
        ms(percentile(&polled, 99.0)),
        polls as f64 / elapsed.as_secs_f64(),
    );
    server.stop().await;
    Ok(())
}

fn note(i: usize) -> Command {
    Command::new(Intent::AddNote { incident: IncidentId(1), text: format!("bench note {i}") })
}

async fn throughput(url: &str, args: &BenchArgs) -> color_eyre::Result<()> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let client = Client::new(url, TOKEN)?;
        let n = args.per_writer;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for i in 0..n {
                let t = Instant::now();
                client.send(&note(w * n + i)).await.map_err(|e| eyre!("writer {w}: {e}"))?;
                lat.push(t.elapsed());
            }
            Ok::<_, color_eyre::Report>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    println!(
        "durable commands: {} in {:.2} s from {} concurrent writers = {:.0} commands/s; ack latency p50 {} p99 {}",
        all.len(),
        elapsed.as_secs_f64(),
        args.writers,
        all.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 99.0)),
    );
    Ok(())
}

async fn visibility(url: &str, args: &BenchArgs) -> color_eyre::Result<()> {
    let client = Client::new(url, TOKEN)?;
    let head = client.snapshot().await?.seq;
    let (final_tx, final_rx) = watch::channel(u64::MAX);
    let mut subs = Vec::new();
    for s in 0..args.subscribers {
        let c = Client::new(url, TOKEN)?;
        let mut stream = c.stream(head).await?;
        // Each stream says hello once connected: wait so the run starts with all attached.
        match stream.next().await {
            Some(Ok(StreamItem::Hello { .. })) => {}
            other => bail!("subscriber {s}: expected hello, got {other:?}"),
        }
        let mut final_rx = final_rx.clone();
        final_rx.mark_unchanged();
        subs.push(tokio::spawn(async move {
            let mut seen: Vec<(u64, Instant)> = Vec::new();
            let mut last = head;
            loop {
                if last >= *final_rx.borrow() {
                    return Ok(seen);
                }
                tokio::select! {
                    item = stream.next() => match item {
                        Some(Ok(StreamItem::Event(e))) => {
                            last = e.seq;
                            seen.push((e.seq, Instant::now()));
                        }
                        Some(Ok(StreamItem::Resync(why))) => return Err(eyre!("subscriber {s} told to resync: {why}")),
                        Some(Ok(StreamItem::Hello { .. } | StreamItem::Heartbeat { .. } | StreamItem::Sample(_))) => {}
                        Some(Err(e)) => return Err(eyre!("subscriber {s}: {e}")),
                        None => return Err(eyre!("subscriber {s}: stream ended")),
                    },
                    _ = final_rx.changed() => {}
                }
            }
        }));
    }
    // Offer `rate` commands/s, each sent on its own task so a slow ack never slows the pace.
    let total = (args.rate * args.seconds) as usize;
    let sent: Arc<std::sync::Mutex<Vec<(u64, Instant, Duration)>>> = Arc::default();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total);
    let started = Instant::now();
    for i in 0..total {
        ticker.tick().await;
        let (c, sent) = (client.clone(), sent.clone());
        sends.push(tokio::spawn(async move {
            let t = Instant::now();
            let ack = c.send(&note(i)).await?;
            let acked = t.elapsed();
            sent.lock().unwrap().push((ack.seq, t, acked));
            Ok::<_, crate::client::ClientError>(ack.seq)
        }));
    }
    let mut last = 0;
    for s in sends {
        last = last.max(s.await??);
    }
    let offered = total as f64 / started.elapsed().as_secs_f64();
    final_tx.send(last)?;
    let mut arrivals: std::collections::HashMap<u64, Instant> = std::collections::HashMap::new();
    for s in subs {
        let seen = tokio::time::timeout(Duration::from_secs(60), s)
            .await
            .map_err(|_| eyre!("a subscriber never caught up"))???;
        for (seq, at) in seen {
            arrivals.entry(seq).and_modify(|a| *a = (*a).max(at)).or_insert(at);
        }
    }
    let sent = sent.lock().unwrap();
    let mut vis: Vec<Duration> =
        sent.iter().filter_map(|(seq, t, _)| arrivals.get(seq).map(|a| a.duration_since(*t))).collect();
    let mut acks: Vec<Duration> = sent.iter().map(|(_, _, a)| *a).collect();
    acks.sort();
    if vis.len() != sent.len() {
        bail!("{} of {} commands never reached every subscriber", sent.len() - vis.len(), sent.len());
    }
    vis.sort();
    println!(
        "visibility: {} commands at {:.0}/s offered, {} SSE subscribers: command→visible-on-every-subscriber p50 {} p99 {} (ack p50 {} p99 {})",
        vis.len(),
        offered,
        args.subscribers,
        ms(percentile(&vis, 50.0)),
        ms(percentile(&vis, 99.0)),
        ms(percentile(&acks, 50.0)),
        ms(percentile(&acks, 99.0)),
    );
    Ok(())
}

/// A request head cut off before its blank line, as a slowloris peer sends it.
const HALF_OPEN_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: warroom\r\n";
const HALF_OPEN_PROCESSES: usize = 2;
const HALF_OPEN_EACH: usize = 10_000;
const OBSERVERS: usize = 100;
const STREAMS_EACH: usize = 50;
const ACK_SAMPLES: usize = 500;
/// How long /healthz and acks are measured while the half-open peers press on.
const ATTACK_WINDOW: Duration = Duration::from_secs(10);
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// The child side of the connections run: keeps `count` unfinished requests open, re-opening
/// each one a second after the server closes it, and prints its connect count twice a second
/// until its stdin closes.
async fn hold_half_open(addr: &str, count: usize) -> color_eyre::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::server::conn::raise_fd_limit();
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| eyre!("--hold-half-open {addr}: {e}"))?;
    let connects = Arc::new(AtomicU64::new(0));
    for _ in 0..count {
        let connects = connects.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(mut sock) = tokio::net::TcpStream::connect(addr).await {
                    if sock.write_all(HALF_OPEN_HEAD).await.is_ok() {
                        connects.fetch_add(1, Ordering::Relaxed);
                        let mut buf = [0u8; 256];
                        while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    let mut stdin = tokio::io::stdin();
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    let mut buf = [0u8; 64];
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                use std::io::Write as _;
                let mut out = std::io::stdout();
                writeln!(out, "connects {}", connects.load(Ordering::Relaxed))?;
                out.flush()?;
            }
            n = stdin.read(&mut buf) => if matches!(n, Ok(0) | Err(_)) { return Ok(()) },
        }
    }
}

/// One `GET /healthz` on a fresh connection, as a load balancer checks (raw, so the bench's own
/// client setup does not count); fails unless the answer is a 200.
async fn healthz(addr: std::net::SocketAddr) -> color_eyre::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await?;
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").await?;
    let mut got = Vec::new();
    sock.read_to_end(&mut got).await?;
    if !got.starts_with(b"HTTP/1.1 200") {
        bail!("/healthz answered {}", String::from_utf8_lossy(&got));
    }
    Ok(())
}

/// The child that holds the idle streams: opens `count` of them (tokens spread over the bench's
/// observers), prints `streams N` once every one said hello, and drains them until stdin closes.
async fn hold_streams(addr: &str, count: usize) -> color_eyre::Result<()> {
    use futures_util::stream::{self, TryStreamExt};
    use tokio::io::AsyncReadExt;
    crate::server::conn::raise_fd_limit();
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| eyre!("--hold-streams {addr}: {e}"))?;
    stream::iter(
        (0..count).map(|s| Ok::<_, color_eyre::Report>(idle_stream(addr, observer_token(s % OBSERVERS)))),
    )
    .try_buffer_unordered(200)
    .try_collect::<Vec<()>>()
    .await?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout();
        writeln!(out, "streams {count}")?;
        out.flush()?;
    }
    let mut buf = [0u8; 64];
    while matches!(tokio::io::stdin().read(&mut buf).await, Ok(n) if n > 0) {}
    Ok(())
}

fn observer_token(i: usize) -> String {
    format!("bench-observer-token-{i:04}")
}

/// A real `warroom serve` in a child process, with `config` as its server.toml and its data
/// under `dir`; the child (killed on drop) and its URL once it listens.
async fn serve_child(
    dir: &std::path::Path,
    config: &str,
) -> color_eyre::Result<(tokio::process::Child, String)> {
    let config_path = dir.join("server.toml");
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

/// Starts `warroom bench` with internal holder `args`; its stdout lines.
fn holder(
    args: &[String],
    nice: bool,
) -> color_eyre::Result<(
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
)> {
    let exe = std::env::current_exe()?;
    let mut cmd = if nice {
        let mut c = tokio::process::Command::new("nice");
        c.args(["-n", "19"]).arg(exe);
        c
    } else {
        tokio::process::Command::new(exe)
    };
    let mut child = cmd
        .arg("bench")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let out = child.stdout.take().ok_or_else(|| eyre!("no stdout"))?;
    Ok((child, tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(out))))
}

/// Sends `n` notes one after another; each ack's latency.
async fn ack_latencies(client: &Client, n: usize) -> color_eyre::Result<Vec<Duration>> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        client.send(&note(i)).await.map_err(|e| eyre!("command {i}: {e}"))?;
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat)
}

/// Opens one event stream over raw TCP, waits for its hello, then drains it like an observer's
/// console that only watches.
async fn idle_stream(addr: std::net::SocketAddr, token: String) -> color_eyre::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    sock.write_all(
        format!("GET /api/v1/stream HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    while !String::from_utf8_lossy(&got).contains("event: hello") {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            bail!("stream closed before its hello: {}", String::from_utf8_lossy(&got));
        }
        got.extend_from_slice(&buf[..n]);
    }
    tokio::spawn(async move { while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {} });
    Ok(())
}

/// Ack latency with 5,000 idle streams against none, then /healthz and acks while 20,000
/// half-open connections (held by two child processes) and the streams press on a real
/// `warroom serve` with its default limits.
async fn connections() -> color_eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = format!("[[users]]\nname = \"bench\"\nrole = \"admin\"\ntoken = \"{TOKEN}\"\n");
    for i in 0..OBSERVERS {
        config.push_str(&format!(
            "[[users]]\nname = \"observer-{i}\"\nrole = \"observer\"\ntoken = \"{}\"\n",
            observer_token(i)
        ));
    }
    let (mut server, url) = serve_child(dir.path(), &config).await?;
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse()?;
    let client = Client::new(&url, TOKEN)?;
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
    let quiet = ack_latencies(&client, ACK_SAMPLES).await?;

    // The streams live in a child process, so that draining them does not queue the bench's own
    // measurements behind 5,000 reads per event.
    let streams = OBSERVERS * STREAMS_EACH;
    let (mut stream_holder, mut stream_lines) =
        holder(&["--hold-streams".into(), addr.to_string(), "--streams".into(), streams.to_string()], false)?;
    let ready = tokio::time::timeout(Duration::from_secs(120), stream_lines.next_line())
        .await
        .map_err(|_| eyre!("the {streams} streams did not open in 120 s"))??;
    if ready.as_deref() != Some(format!("streams {streams}").as_str()) {
        bail!("the stream holder failed: {ready:?}");
    }
    let busy = ack_latencies(&client, ACK_SAMPLES).await?;
    println!(
        "connections: ack p50 {} p99 {} with no streams; p50 {} p99 {} with {streams} idle streams ({OBSERVERS} observers × {STREAMS_EACH}); {ACK_SAMPLES} commands one at a time each",
        ms(percentile(&quiet, 50.0)),
        ms(percentile(&quiet, 99.0)),
        ms(percentile(&busy, 50.0)),
        ms(percentile(&busy, 99.0)),
    );

    // The attack twice: with the attackers at normal priority (on this 2-core machine they take
    // CPU from the server, which a real attacker elsewhere would not), then at nice 19.
    for nice in [false, true] {
        attack(addr, &client, streams, nice).await?;
    }
    stream_holder.kill().await?;
    server.kill().await?;
    Ok(())
}

/// /healthz and acks while 20,000 half-open connections, re-opened as the server sheds them,
/// press on the server beside the idle streams.
async fn attack(
    addr: std::net::SocketAddr,
    client: &Client,
    streams: usize,
    nice: bool,
) -> color_eyre::Result<()> {
    // Two holders of 10,000 each: one process could not hold 20,000 within its own fd limit.
    let mut holders = Vec::new();
    let (counts_tx, mut counts_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64)>();
    for h in 0..HALF_OPEN_PROCESSES {
        let (child, mut out) = holder(
            &["--hold-half-open".into(), addr.to_string(), "--half-open".into(), HALF_OPEN_EACH.to_string()],
            nice,
        )?;
        let tx = counts_tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if let Some(n) = line.strip_prefix("connects ").and_then(|n| n.parse().ok()) {
                    if tx.send((h, n)).is_err() {
                        return;
                    }
                }
            }
        });
        holders.push(child);
    }
    let mut connects = vec![0u64; HALF_OPEN_PROCESSES];
    let started = Instant::now();
    while connects.iter().any(|&c| c < HALF_OPEN_EACH as u64) {
        let (h, n) = tokio::time::timeout(Duration::from_secs(10), counts_rx.recv())
            .await
            .map_err(|_| eyre!("the half-open holders stopped reporting"))?
            .ok_or_else(|| eyre!("the half-open holders exited"))?;
        connects[h] = n;
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the holders opened only {connects:?} connections in 120 s");
        }
    }
    let ramp = started.elapsed();
    let before: u64 = connects.iter().sum();
    let window = Instant::now();
    // A probe on a fresh connection each time (as a load balancer checks), next to a responder
    // sending commands on its kept-alive connection.
    let probe = async {
        let (mut lat, mut failed) = (Vec::new(), 0);
        let mut every = tokio::time::interval(PROBE_EVERY);
        while window.elapsed() < ATTACK_WINDOW {
            every.tick().await;
            let t = Instant::now();
            match tokio::time::timeout(Duration::from_secs(10), healthz(addr)).await {
                Ok(Ok(())) => lat.push(t.elapsed()),
                _ => failed += 1,
            }
        }
        lat.sort();
        (lat, failed)
    };
    let acks = async {
        let mut lat = Vec::new();
        while window.elapsed() < ATTACK_WINDOW {
            let t = Instant::now();
            client.send(&note(lat.len())).await.map_err(|e| eyre!("command {}: {e}", lat.len()))?;
            lat.push(t.elapsed());
        }
        lat.sort();
        Ok::<_, color_eyre::Report>(lat)
    };
    let ((health, failed), acks) = tokio::join!(probe, acks);
    let acks = acks?;
    let elapsed = window.elapsed();
    while let Ok((h, n)) = counts_rx.try_recv() {
        connects[h] = n;
    }
    let churn = (connects.iter().sum::<u64>() - before) as f64 / elapsed.as_secs_f64();
    println!(
        "connections: {} half-open ({HALF_OPEN_PROCESSES} processes at {} all open after {:.1} s, re-opened 1 s after each close: {churn:.0} connects/s) + {streams} idle streams, over {} s: /healthz on a fresh connection every {} ms p50 {} p99 {} max {} ({failed} of {} failed, {} over 100 ms); {} acks one at a time p50 {} p99 {} max {}",
        HALF_OPEN_PROCESSES * HALF_OPEN_EACH,
        if nice { "nice 19" } else { "normal priority" },
        ramp.as_secs_f64(),
        ATTACK_WINDOW.as_secs(),
        PROBE_EVERY.as_millis(),
        ms(percentile(&health, 50.0)),
        ms(percentile(&health, 99.0)),
        ms(health.last().copied().unwrap_or_default()),
        health.len() + failed,
        health.iter().filter(|d| **d > Duration::from_millis(100)).count(),
        acks.len(),
        ms(percentile(&acks, 50.0)),
        ms(percentile(&acks, 99.0)),
        ms(acks.last().copied().unwrap_or_default()),
    );
    for mut h in holders {
        h.kill().await?;
    }
    Ok(())
}
