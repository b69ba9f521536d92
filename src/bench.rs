//! `warroom bench`: measures the real server with real clients over loopback — durable
//! commands/s and ack latency under concurrent writers, and how long a command takes to be
//! visible on every SSE subscriber. Reports medians and tails, with the machine.

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
    /// Which parts to run: server, visibility (comma-separated). Default: all.
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
    let wants = |part: &str| args.only.is_empty() || args.only.iter().any(|o| o == part);
    println!("machine: {}", machine());
    if wants("server") || wants("visibility") {
        let dir = tempfile::tempdir()?;
        let server = crate::server::start(crate::server::ServerOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            users: vec![UserConfig { name: "bench".into(), role: UserRole::Admin, token: TOKEN.into() }],
        })
        .await?;
        let url = server.url();
        let client = Client::new(&url, TOKEN)?;
        client
            .send(&Command::new(Intent::DeclareIncident {
                title: "bench".into(),
                severity: Severity::Sev3,
                impact: String::new(),
                drill: true,
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
                        Some(Ok(StreamItem::Hello { .. })) => {}
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
