//! The probes part: 1,000 HTTP probes every 5 s run by a real server, its CPU and schedule.

use super::*;

/// 1,000 HTTP probes every 5 s against a local target, run by a real `warroom serve` in its
/// own process: its CPU share and how late checks start against their schedule.
pub(super) async fn probes() -> color_eyre::Result<()> {
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
