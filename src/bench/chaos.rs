//! The chaos part: how fast a run's first inject is on the log after a villain starts it, and
//! how long halt-all takes to roll back many runs, with the log healthy and with it failing.

use super::*;

/// Runs halted at once.
const RUNS: usize = 50;
/// Halts measured (each after starting every run again).
const HALTS: usize = 3;

/// A target for the `http` driver: counts injects and rollbacks.
async fn target() -> color_eyre::Result<(String, Arc<std::sync::atomic::AtomicUsize>)> {
    use axum::routing::post;
    let rolled_back = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = rolled_back.clone();
    let app = axum::Router::new().route(
        "/faults/{i}",
        post(|| async { "injected" }).delete(move || {
            let r = r.clone();
            async move {
                r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                "removed"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, rolled_back))
}

pub(super) async fn chaos() -> color_eyre::Result<()> {
    let (url, rolled_back) = target().await?;
    let dir = tempfile::tempdir()?;
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios)?;
    for i in 0..RUNS {
        std::fs::write(
            scenarios.join(format!("bench-{i}.toml")),
            format!(
                "id = \"bench-{i}\"\ntitle = \"bench {i}\"\ntarget = [\"svc-{i}\"]\nduration = \"1h\"\nstop_when = \"never\"\n\
                 [[phase]]\ninject = {{ driver = \"http\", url = \"{url}/faults/{i}\" }}\n\
                 [[rollback]]\ndriver = \"http\"\nmethod = \"DELETE\"\nurl = \"{url}/faults/{i}\"\n"
            ),
        )?;
    }
    let server = crate::server::start(crate::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        users: vec![UserConfig { name: "bench".into(), role: UserRole::Admin, token: TOKEN.into() }],
        scenario_dirs: vec![scenarios],
        ..Default::default()
    })
    .await?;
    let client = Client::new(&server.url(), TOKEN)?;
    // The admin's stream: what a villain's console sees, and what keeps the dead man away.
    let mut stream = client.stream(0).await?;
    let mut start_to_inject = Vec::new();
    let mut halts = Vec::new();
    let mut failing_halts = Vec::new();
    for round in 0..HALTS * 2 {
        for i in 0..RUNS {
            let t = Instant::now();
            let ack = client
                .send(&Command::new(Intent::StartScenario { scenario: format!("bench-{i}") }))
                .await
                .map_err(|e| eyre!("start bench-{i}: {e}"))?;
            let crate::model::Fact::ScenarioStarted { run, .. } = &ack.events[0].fact else {
                bail!("start bench-{i} answered {:?}", ack.events)
            };
            loop {
                let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
                    .await
                    .map_err(|_| eyre!("no inject of {run} within 10 s"))?
                    .ok_or_else(|| eyre!("the stream ended"))??;
                if let StreamItem::Event(e) = item {
                    if let crate::model::Fact::ChaosStep { run: r, step, ok, output, .. } = &e.fact {
                        if r == run && *step == crate::model::chaos::StepKind::Inject {
                            if !ok {
                                bail!("{run} inject failed: {output}");
                            }
                            break;
                        }
                    }
                }
            }
            start_to_inject.push(t.elapsed());
        }
        // Odd rounds halt with the log failing: the rollbacks must not wait for it.
        let failing = round % 2 == 1;
        let health = server.app.writer_health().clone();
        if failing {
            health.set_failpoint(crate::server::writer::Failpoint::StoreDown, true);
        }
        let before = rolled_back.load(std::sync::atomic::Ordering::SeqCst);
        let t = Instant::now();
        let report = client.halt("bench").await.map_err(|e| eyre!("halt: {e}"))?;
        let took = t.elapsed();
        let done = rolled_back.load(std::sync::atomic::Ordering::SeqCst) - before;
        if report.rolled_back.len() != RUNS || done != RUNS {
            bail!(
                "halt rolled back {} runs ({} seen by the target), not {RUNS}: {report:?}",
                report.rolled_back.len(),
                done
            );
        }
        if failing {
            failing_halts.push(took);
            health.set_failpoint(crate::server::writer::Failpoint::StoreDown, false);
        } else {
            halts.push(took);
        }
        // Every run ended and the halt recorded before the next round arms and starts again.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (ended, disarmed) = {
                let s = server.app.hub().state();
                (s.chaos.active().count() == 0, s.chaos.disarmed.is_some())
            };
            if ended && disarmed {
                break;
            }
            if Instant::now() > deadline {
                bail!("runs still active a minute after the halt");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        client.send(&Command::new(Intent::ArmChaos {})).await.map_err(|e| eyre!("arm: {e}"))?;
    }
    start_to_inject.sort();
    halts.sort();
    failing_halts.sort();
    println!(
        "chaos: start → first inject on the stream p50 {} p99 {} ({} runs); halt-all of {RUNS} runs (rolled back and recorded) median {} of {HALTS}; with the log failing (rolled back, recorded later) median {} of {HALTS}",
        ms(percentile(&start_to_inject, 50.0)),
        ms(percentile(&start_to_inject, 99.0)),
        start_to_inject.len(),
        ms(percentile(&halts, 50.0)),
        ms(percentile(&failing_halts, 50.0)),
    );
    server.stop().await;
    Ok(())
}
