//! The connections part: acks with thousands of idle streams, then /healthz and acks while
//! half-open peers press on a real server; the holder children it spawns.

use super::*;

/// A request head cut off before its blank line, as a slowloris peer sends it.
const HALF_OPEN_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: warroom\r\n";
const HALF_OPEN_PROCESSES: usize = 2;
const HALF_OPEN_EACH: usize = 10_000;
const OBSERVERS: usize = 100;
const STREAMS_EACH: usize = 50;
/// How long /healthz and acks are measured while the half-open peers press on.
const ATTACK_WINDOW: Duration = Duration::from_secs(10);
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// The child side of the connections run: keeps `count` unfinished requests open, re-opening
/// each one a second after the server closes it, and prints its connect count twice a second
/// until its stdin closes.
pub(super) async fn hold_half_open(addr: &str, count: usize) -> color_eyre::Result<()> {
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
pub(super) async fn healthz(addr: std::net::SocketAddr) -> color_eyre::Result<()> {
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
pub(super) async fn hold_streams(addr: &str, count: usize) -> color_eyre::Result<()> {
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

pub(super) fn observer_token(i: usize) -> String {
    format!("bench-observer-token-{i:04}")
}

/// Starts `warroom bench` with internal holder `args`; its stdout lines.
pub(super) fn holder(
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

/// Opens one event stream over raw TCP, waits for its hello, then drains it like an observer's
/// console that only watches.
pub(super) async fn idle_stream(addr: std::net::SocketAddr, token: String) -> color_eyre::Result<()> {
    use tokio::io::AsyncReadExt;
    let (mut sock, _) = open_stream(addr, token, None).await?;
    let mut buf = vec![0u8; 16 * 1024];
    tokio::spawn(async move { while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {} });
    Ok(())
}

/// Ack latency with 5,000 idle streams against none, then /healthz and acks while 20,000
/// half-open connections (held by two child processes) and the streams press on a real
/// `warroom serve` with its default limits.
pub(super) async fn connections() -> color_eyre::Result<()> {
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
    declare_bench(&client).await?;
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
pub(super) async fn attack(
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

/// Commands per second offered while the fan-out is measured, and for how long.
const FANOUT_RATE: u64 = 50;
const FANOUT_SECONDS: u64 = 10;
/// Users the fan-out streams are spread over (each may hold `FANOUT_STREAMS_PER_USER`).
const FANOUT_OBSERVERS: usize = 100;
const FANOUT_STREAMS_PER_USER: usize = 1_000;
/// Seqs tracked at once by the watcher: far more than one run commits.
const SEEN_RING: usize = 1 << 16;

/// Nanoseconds on the system's monotonic clock: comparable between the bench and its
/// children, which `Instant` is not (it cannot be printed).
pub(super) fn mono_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime only writes the struct passed by reference.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } == 0 {
            return u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000
                + u64::try_from(ts.tv_nsec).unwrap_or(0);
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The child that watches the fan-out: opens `count` streams, prints `streams N` once all said
/// hello, then `seen SEQ NS` when the last of them received event SEQ (NS from [`mono_ns`]),
/// and `lost N` when a stream ends or is told to re-sync; until its stdin closes.
pub(super) async fn watch_streams(addr: &str, count: usize) -> color_eyre::Result<()> {
    use futures_util::stream::{self, TryStreamExt};
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    crate::server::conn::raise_fd_limit();
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| eyre!("--watch-streams {addr}: {e}"))?;
    let socks: Vec<(tokio::net::TcpStream, Vec<u8>)> =
        stream::iter((0..count).map(|s| {
            Ok::<_, color_eyre::Report>(open_stream(addr, observer_token(s % FANOUT_OBSERVERS), None))
        }))
        .try_buffer_unordered(200)
        .try_collect()
        .await?;
    let (out, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let seen: Arc<Vec<AtomicU32>> = Arc::new((0..SEEN_RING).map(|_| AtomicU32::new(0)).collect());
    let all = u32::try_from(count).unwrap_or(u32::MAX);
    out.send(format!("streams {count}"))?;
    for (mut sock, mut got) in socks {
        let (out, seen) = (out.clone(), seen.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                // Whole lines only: a frame may arrive split over two reads.
                let mut start = 0;
                while let Some(end) = got[start..].iter().position(|&b| b == b'\n') {
                    let line = &got[start..start + end];
                    if let Some(seq) = line.strip_prefix(b"id: ").and_then(|s| std::str::from_utf8(s).ok()) {
                        if let Ok(seq) = seq.trim().parse::<u64>() {
                            let n = seen[seq as usize % SEEN_RING].fetch_add(1, Ordering::Relaxed) + 1;
                            if n == all && out.send(format!("seen {seq} {}", mono_ns())).is_err() {
                                return;
                            }
                        }
                    } else if line.starts_with(b"event: resync") {
                        let _ = out.send("lost 1".into());
                        return;
                    }
                    start += end + 1;
                }
                got.drain(..start);
                match sock.read(&mut buf).await {
                    Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                    _ => {
                        let _ = out.send("lost 1".into());
                        return;
                    }
                }
            }
        });
    }
    drop(out);
    let mut stdout = tokio::io::stdout();
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    stdout.write_all(line.as_bytes()).await?;
                    stdout.write_all(b"\n").await?;
                    stdout.flush().await?;
                }
                None => return Ok(()),
            },
            n = stdin.read(&mut buf) => if matches!(n, Ok(0) | Err(_)) { return Ok(()) },
        }
    }
}

/// Opens one event stream over raw TCP (from `after`, as a console that has its snapshot, when
/// given) and waits for its hello; the socket and what it read from the hello's start on.
pub(super) async fn open_stream(
    addr: std::net::SocketAddr,
    token: String,
    after: Option<u64>,
) -> color_eyre::Result<(tokio::net::TcpStream, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let resume = after.map(|a| format!("Last-Event-ID: {a}\r\n")).unwrap_or_default();
    sock.write_all(
        format!(
            "GET /api/v1/stream HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n{resume}\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if let Some(at) = got.windows(12).position(|w| w == b"event: hello") {
            got.drain(..at);
            return Ok((sock, got));
        }
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            bail!("stream closed before its hello: {}", String::from_utf8_lossy(&got));
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// One fan-out measurement: `subscribers` streams (held by a child) on a fresh `warroom serve`.
#[derive(Debug, Clone)]
pub(super) struct Fanout {
    pub subscribers: usize,
    /// Command sent → the event received on every subscriber, sorted.
    pub seen: Vec<Duration>,
    pub acks: Vec<Duration>,
    /// Events never seen on every subscriber within the deadline.
    pub missing: usize,
    /// Streams that ended or were told to re-sync.
    pub lost: usize,
    pub rss_empty_mb: f64,
    pub rss_idle_mb: f64,
    pub rss_end_mb: f64,
    /// Server CPU over the command window.
    pub cpu_seconds: f64,
    pub events: usize,
}

impl Fanout {
    pub fn bytes_per_idle_stream(&self) -> f64 {
        (self.rss_idle_mb - self.rss_empty_mb) * 1024.0 * 1024.0 / self.subscribers.max(1) as f64
    }

    /// Server CPU per event delivered to one subscriber, in microseconds.
    pub fn cpu_us_per_delivery(&self) -> f64 {
        self.cpu_seconds * 1e6 / (self.events * self.subscribers).max(1) as f64
    }
}

/// Fan-out at each size in `sizes`: seen-on-all and ack latency at 50 commands/s for 10 s,
/// server RSS and CPU.
pub(super) async fn fanout(sizes: &[usize]) -> color_eyre::Result<()> {
    for &n in sizes {
        let f = fanout_once(n).await?;
        println!(
            "fanout: {n} subscribers, {FANOUT_RATE} commands/s for {FANOUT_SECONDS} s: seen on all p50 {} p99 {} max {}; ack p50 {} p99 {}; server RSS {:.0} MB ({:.0} MB empty, {:.0} MB idle: {:.1} KB per idle stream); server CPU {:.2} µs per event per subscriber; {} events unseen, {} streams lost",
            ms(percentile(&f.seen, 50.0)),
            ms(percentile(&f.seen, 99.0)),
            ms(f.seen.last().copied().unwrap_or_default()),
            ms(percentile(&f.acks, 50.0)),
            ms(percentile(&f.acks, 99.0)),
            f.rss_end_mb,
            f.rss_empty_mb,
            f.rss_idle_mb,
            f.bytes_per_idle_stream() / 1024.0,
            f.cpu_us_per_delivery(),
            f.missing,
            f.lost,
        );
    }
    Ok(())
}

/// Measures the fan-out to `subscribers` streams once, on its own fresh server.
pub(super) async fn fanout_once(subscribers: usize) -> color_eyre::Result<Fanout> {
    let dir = tempfile::tempdir()?;
    let mut config = format!("[[users]]\nname = \"bench\"\nrole = \"admin\"\ntoken = \"{TOKEN}\"\n");
    for i in 0..FANOUT_OBSERVERS {
        config.push_str(&format!(
            "[[users]]\nname = \"observer-{i}\"\nrole = \"observer\"\ntoken = \"{}\"\n",
            observer_token(i)
        ));
    }
    config.push_str(&format!("[limits]\nstreams_per_user = {FANOUT_STREAMS_PER_USER}\n"));
    let (mut server, url) = serve_child(dir.path(), &config).await?;
    let pid = server.id().ok_or_else(|| eyre!("the server exited"))?;
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse()?;
    let client = Client::new(&url, TOKEN)?;
    declare_bench(&client).await?;
    let rss_empty_mb = rss_mb(pid)?;
    let (mut watcher, mut lines) = holder(
        &["--watch-streams".into(), addr.to_string(), "--streams".into(), subscribers.to_string()],
        false,
    )?;
    let ready = tokio::time::timeout(Duration::from_secs(180), lines.next_line())
        .await
        .map_err(|_| eyre!("the {subscribers} streams did not open in 180 s"))??;
    if ready.as_deref() != Some(format!("streams {subscribers}").as_str()) {
        bail!("the stream watcher failed: {ready:?}");
    }
    let rss_idle_mb = rss_mb(pid)?;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, u64)>();
    let lost = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = {
        let lost = lost.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut words = line.split_whitespace();
                match (words.next(), words.next().and_then(|s| s.parse().ok()), words.next()) {
                    (Some("seen"), Some(seq), Some(ns)) => {
                        if let Ok(ns) = ns.parse() {
                            if seen_tx.send((seq, ns)).is_err() {
                                return;
                            }
                        }
                    }
                    (Some("lost"), Some(n), _) => {
                        lost.fetch_add(n as usize, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        })
    };
    let cpu_before = cpu_seconds(pid)?;
    let mut sends = Vec::new();
    let mut every = tokio::time::interval(Duration::from_nanos(1_000_000_000 / FANOUT_RATE));
    for i in 0..(FANOUT_RATE * FANOUT_SECONDS) as usize {
        every.tick().await;
        let client = client.clone();
        // Open loop: a slow ack does not delay the next command.
        sends.push(tokio::spawn(async move {
            let sent = mono_ns();
            let t = Instant::now();
            let ack = client.send(&note(i)).await.map_err(|e| eyre!("command {i}: {e}"))?;
            Ok::<_, color_eyre::Report>((ack.seq, sent, t.elapsed()))
        }));
    }
    let mut sent_at = std::collections::HashMap::new();
    let mut acks = Vec::new();
    for s in sends {
        let (seq, sent, lat) = s.await??;
        sent_at.insert(seq, sent);
        acks.push(lat);
    }
    let rss_end_mb = rss_mb(pid)?;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < sent_at.len() {
        match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
            Ok(Some((seq, ns))) => {
                if let Some(sent) = sent_at.get(&seq) {
                    seen.push(Duration::from_nanos(ns.saturating_sub(*sent)));
                }
            }
            _ => break,
        }
    }
    // After the last delivery: the CPU the fan-out took, not only the commands.
    let cpu_seconds = cpu_seconds(pid)? - cpu_before;
    seen.sort();
    acks.sort();
    reader.abort();
    watcher.kill().await?;
    server.kill().await?;
    Ok(Fanout {
        subscribers,
        missing: sent_at.len() - seen.len(),
        seen,
        acks,
        lost: lost.load(std::sync::atomic::Ordering::Relaxed),
        rss_empty_mb,
        rss_idle_mb,
        rss_end_mb,
        cpu_seconds,
        events: sent_at.len(),
    })
}
