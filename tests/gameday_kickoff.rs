//! Informed game days: each planned scenario is kicked off in the open (target, duration,
//! environment) on the configured game-day channel, and the attempt is on the log; a kick-off
//! channel that would reach real people is refused when the server starts.

mod common;

use common::{eventually, token, users, Webhook};
use warroom::client::Client;
use warroom::config::{ChannelConfig, ChannelKind, GamedayConfig};
use warroom::model::gameday::{GameDayId, Style};
use warroom::model::{Fact, Intent, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, ServerOptions};

fn webhook(name: &str, url: &str, drills: bool) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        kind: ChannelKind::Webhook,
        audience: None,
        url: Some(url.into()),
        token: None,
        smtp: None,
        tls: Default::default(),
        from: None,
        recipients_file: None,
        drills,
    }
}

fn options(dir: &std::path::Path, channels: Vec<ChannelConfig>, kickoff: &str) -> ServerOptions {
    ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        users: users(),
        channels,
        gameday: GamedayConfig {
            environment: Some("staging".into()),
            kickoff_channel: Some(kickoff.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_informed_game_day_posts_each_kickoff_on_its_channel_and_logs_it() {
    let hook = Webhook::start("127.0.0.1:0").await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(options(dir.path(), vec![webhook("gameday-chat", &hook.url, true)], "gameday-chat"))
        .await
        .unwrap();
    let admin = Client::new(&server.url(), &token(UserRole::Admin)).unwrap();
    let g = GameDayId(1);
    for intent in [
        Intent::CreateGameday { name: "Informed #1".into(), style: Style::Informed },
        Intent::AddTeam { gameday: g, team: "red".into() },
        Intent::JoinTeam { gameday: g, team: "red".into(), person: Some("bob".into()) },
        Intent::PlanScenario {
            gameday: g,
            scenario: "payment-errors".into(),
            briefing: Some("Customers cannot pay.".into()),
            note: String::new(),
            par_detect_minutes: None,
            par_mitigate_minutes: None,
            weights: Default::default(),
        },
        Intent::StartGameday { gameday: g },
    ] {
        admin.send(&Command::new(intent)).await.unwrap();
    }
    let villain = Client::new(&server.url(), &token(UserRole::Villain)).unwrap();
    let ack = villain
        .send(&Command::new(Intent::StartScenario { scenario: "payment-errors".into() }))
        .await
        .unwrap();
    assert!(ack.events.iter().any(|e| matches!(e.fact, Fact::ScenarioKickedOff { .. })), "{:?}", ack.events);
    eventually("the kick-off posted", || async { !hook.bodies.lock().unwrap().is_empty() }).await;
    let text = hook.bodies.lock().unwrap()[0]["text"].as_str().unwrap_or_default().to_string();
    assert!(
        text.starts_with("[GD-1 #1] Starting now in staging: Payments fail with 502 on payment for")
            && text.ends_with("Customers cannot pay."),
        "{text}"
    );
    eventually("the post on the log", || async {
        server.app.hub().state().gamedays.0[&g].kickoffs[0].posted.as_deref() == Some("posted: HTTP 200")
    })
    .await;
    // Heroes read it (informed: nothing of the kick-off is hidden).
    let hero = Client::new(&server.url(), &token(UserRole::Responder)).unwrap();
    let page = hero.events(0, 1000).await.unwrap();
    assert!(page.events.iter().any(|e| matches!(e.fact, Fact::ScenarioKickedOff { .. })));
    assert_eq!(hook.bodies.lock().unwrap().len(), 1, "posted once");
    server.stop().await;
}

#[tokio::test]
async fn a_kickoff_channel_that_reaches_real_people_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let real = webhook("all-staff", "http://127.0.0.1:9/hook", false);
    let err = start(options(dir.path(), vec![real], "all-staff")).await.err().expect("refused");
    assert!(err.to_string().contains("reaches real people"), "{err}");
    let err = start(options(dir.path(), Vec::new(), "nowhere")).await.err().expect("refused");
    assert!(err.to_string().contains("no channel `nowhere`"), "{err}");
}
