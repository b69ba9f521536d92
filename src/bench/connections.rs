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
