//! The console parts: frame time on a big war room, and a real console in tmux (first paint,
//! idle CPU, RSS).

use super::*;

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

pub(super) fn render() -> color_eyre::Result<()> {
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

pub(super) fn tmux(args: &[&str]) -> color_eyre::Result<String> {
    let out = std::process::Command::new("tmux").args(args).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A real console in tmux: time to first paint of `warroom demo`, then idle CPU over 10 s
/// and RSS of a console holding 1,000 incidents and 50,000 entries.
pub(super) async fn console() -> color_eyre::Result<()> {
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
