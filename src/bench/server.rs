//! The server parts: durable throughput under concurrent writers, how soon every subscriber
//! sees a command, and acks while clients poll the whole state.

use super::*;

/// Clients polling the whole state while a responder works: ack latency with 8 of them
/// against none, on a war room of 1,000 incidents and 50,000 events.
pub(super) async fn polling() -> color_eyre::Result<()> {
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

/// What one throughput run measured, for parts that report medians of several.
pub(super) struct Load {
    pub per_s: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// `args.writers` writers, spread over the servers at `urls`, each sending its notes in turn.
pub(super) async fn throughput(urls: &[String], args: &BenchArgs) -> color_eyre::Result<Load> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.writers {
        let client = Client::new(&urls[w % urls.len()], TOKEN)?;
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
    Ok(Load {
        per_s: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 50.0),
        p99: percentile(&all, 99.0),
    })
}

/// What one visibility run measured: command to visible on every subscriber.
pub(super) struct Seen {
    pub p99: Duration,
}

/// Subscribers spread over the servers at `urls`, and commands sent to them in turn.
pub(super) async fn visibility(urls: &[String], args: &BenchArgs) -> color_eyre::Result<Seen> {
    let clients: Vec<Client> = urls.iter().map(|u| Client::new(u, TOKEN)).collect::<Result<_, _>>()?;
    let head = clients[0].snapshot().await?.seq;
    let (final_tx, final_rx) = watch::channel(u64::MAX);
    let mut subs = Vec::new();
    for s in 0..args.subscribers {
        let c = clients[s % clients.len()].clone();
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
                        Some(Ok(StreamItem::Shutdown { .. })) => return Err(eyre!("subscriber {s}: the server stopped")),
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
        let (c, sent) = (clients[i % clients.len()].clone(), sent.clone());
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
    Ok(Seen { p99: percentile(&vis, 99.0) })
}
