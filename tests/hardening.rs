//! No input may stop the room: a bug met deciding one command refuses that command only, the
//! writer goes on, and `/healthz` tells the truth about whether writes are possible.

mod common;

use common::{all_events, eventually, TestServer};
use reqwest::StatusCode;
use warroom::client::{Client, ClientError};
use warroom::model::{Intent, Severity, UserRole};
use warroom::protocol::Command;
use warroom::server::writer::Failpoint;

/// A one-event command (SEV5 has no default playbook).
fn note(text: &str) -> Command {
    common::declare(text, Severity::Sev5)
}

async fn healthz(url: &str) -> (StatusCode, serde_json::Value) {
    let resp = reqwest::get(format!("{url}/healthz")).await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_panics_the_writer_is_refused_alone_and_writing_goes_on() {
    let ts = TestServer::start().await;
    let health = ts.server.app.writer_health().clone();
    let poison = note("poison");
    health.set_failpoint(Failpoint::PanicOn(poison.id), true);

    // The poison command travels with innocent ones, so it lands in a shared batch.
    let client = ts.client(UserRole::Responder);
    let mut sends = Vec::new();
    for i in 0..20 {
        let (c, cmd) = (client.clone(), note(&format!("innocent {i}")));
        sends.push(tokio::spawn(async move { c.send(&cmd).await }));
    }
    let poisoned = {
        let (c, cmd) = (client.clone(), poison.clone());
        tokio::spawn(async move { c.send(&cmd).await })
    };
    for s in sends {
        s.await.unwrap().expect("an innocent command in the same batch is written");
    }
    match poisoned.await.unwrap() {
        Err(ClientError::Rejected { status: 500, error, detail }) => {
            assert_eq!(error, "internal");
            assert!(detail.contains("nothing was written"), "{detail}");
        }
        other => panic!("expected a 500 refusal, got {other:?}"),
    }
    // Nothing of it is in the log, and the next command is written as usual.
    let events = all_events(&ts.client(UserRole::Observer)).await;
    assert_eq!(events.len(), 20);
    assert!(events.iter().all(|e| e.command_id != poison.id));
    client.send(&note("after")).await.expect("writes go on after the panic");
    assert_eq!(healthz(&ts.url).await.0, StatusCode::OK, "one bad command is not an unhealthy server");
    // Sent again, it is refused again: a refusal, never a reason for an outbox to retry forever.
    assert!(matches!(client.send(&poison).await, Err(ClientError::Rejected { status: 500, .. })));
    health.set_failpoint(Failpoint::PanicOn(poison.id), false);
    client.send(&poison).await.expect("once the bug is gone the same command is written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_exactly_while_the_store_cannot_write() {
    let ts = TestServer::start().await;
    let client = ts.client(UserRole::Commander);
    client.send(&note("before")).await.unwrap();
    let (status, body) = healthz(&ts.url).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));

    let health = ts.server.app.writer_health().clone();
    health.set_failpoint(Failpoint::StoreDown, true);
    match client.send(&note("while down")).await {
        Err(ClientError::Unreachable { detail, .. }) => assert!(detail.contains("disk I/O"), "{detail}"),
        other => panic!("expected 503 while the store is down, got {other:?}"),
    }
    let (status, body) = healthz(&ts.url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert!(body["detail"].as_str().unwrap().contains("cannot write"), "{body}");

    // The store comes back: /healthz turns healthy by itself, without waiting for a command.
    health.set_failpoint(Failpoint::StoreDown, false);
    let url = ts.url.clone();
    eventually("healthz to be 200 again", || {
        let url = url.clone();
        async move { healthz(&url).await.0 == StatusCode::OK }
    })
    .await;
    client.send(&note("after")).await.expect("writes work again");
    let titles: Vec<String> = all_events(&ts.client(UserRole::Observer))
        .await
        .iter()
        .filter_map(|e| match &e.fact {
            warroom::model::Fact::IncidentDeclared { title, .. } => Some(title.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(titles, ["before", "after"]);
}

/// A log written before times were range-checked can hold a milestone at the end of the
/// calendar. Such a log must still load, serve, take commands and be shown by every client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_holding_a_time_at_the_end_of_the_calendar_stops_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = || warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: data.clone(),
        users: common::users(),
        // Channels give the playbook's steps audiences, and so the incident its clocks.
        channels: warroom::demo::channels(),
        ..Default::default()
    };
    let server = warroom::server::start(options()).await.unwrap();
    let admin = warroom::client::Client::new(&server.url(), &common::token(UserRole::Admin)).unwrap();
    let declared = admin.send(&common::declare("Checkout", Severity::Sev1)).await.unwrap();
    server.stop().await;
    // The event as the old version wrote it, straight into the store.
    let seq = declared.seq + 1;
    let body = serde_json::json!({
        "seq": seq, "at": "2026-11-22T10:00:00Z", "actor": "bob", "role": "responder",
        "command_id": uuid::Uuid::new_v4(), "kind": "milestone_set", "incident": "INC-1",
        "milestone": "declared", "time": "+262142-12-31T23:59:59Z"
    });
    let db = rusqlite::Connection::open(warroom::server::db_path(&data)).unwrap();
    db.execute(
        "INSERT INTO events(seq, command_id, at, actor, kind, body) VALUES (?1, ?2, ?3, 'bob', 'milestone_set', ?4)",
        rusqlite::params![seq, body["command_id"].as_str().unwrap(), "2026-11-22T10:00:00+00:00", body.to_string()],
    )
    .unwrap();
    drop(db);

    let server = warroom::server::start(options()).await.unwrap();
    let url = server.url();
    let commander = warroom::client::Client::new(&url, &common::token(UserRole::Commander)).unwrap();
    // The command that used to panic the writer: refused or done, never a crash.
    let snooze = Command::new(Intent::SnoozeClock {
        incident: warroom::model::IncidentId(1),
        audience: warroom::model::Audience::Staff,
        minutes: 10,
    });
    match commander.send(&snooze).await {
        Ok(_) | Err(ClientError::Rejected { status: 409 | 422, .. }) => {}
        other => panic!("snooze on the poisoned incident: {other:?}"),
    }
    commander.send(&note("writes go on")).await.expect("the writer is alive");
    assert_eq!(healthz(&url).await.0, StatusCode::OK);

    // Every client folds and shows it: the CLI and the console.
    for args in [&["incident", "show", "INC-1"][..], &["incident", "list"], &["events"]] {
        let out = tokio::task::block_in_place(|| {
            std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
                .args(args)
                .env("WARROOM_SERVER", &url)
                .env("WARROOM_TOKEN", common::token(UserRole::Observer))
                .env("WARROOM_DATA_DIR", dir.path().join("client"))
                .env("WARROOM_CONFIG_DIR", dir.path().join("no-config"))
                .output()
                .unwrap()
        });
        assert!(
            out.status.success(),
            "warroom {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let snapshot = commander.snapshot().await.unwrap();
    let themes = warroom::tui::theme::Themes::presets();
    let theme = themes.get("default").unwrap().clone();
    let mut app = warroom::tui::app::App::new(
        &url,
        warroom::tui::keymap::Keymap::default(),
        themes,
        theme,
        chrono::Utc::now(),
    );
    app.update(warroom::tui::app::Msg::Resize(160, 48));
    app.update(warroom::tui::app::Msg::Sync(warroom::client::sync::SyncEvent::Snapshot(snapshot)));
    app.selected = Some(warroom::model::IncidentId(1));
    for pane in warroom::tui::app::Pane::ALL {
        app.focus = pane;
        app.prepare();
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).unwrap();
        term.draw(|f| warroom::tui::view::draw(f, &app)).unwrap();
    }
    server.stop().await;
}

/// The public page shows the configured probes and what a commander or an admin put there:
/// a responder cannot invent components (a typo, or a prank, on the customers' page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responders_cannot_invent_status_page_components() {
    let dir = tempfile::tempdir().unwrap();
    let server = warroom::server::start(warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: common::users(),
        probes: vec![toml::from_str(
            "name = \"payment\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\ninterval = \"1h\"\nconditions = [\"[CONNECTED] == true\"]",
        )
        .unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let client = |role| warroom::client::Client::new(&server.url(), &common::token(role)).unwrap();
    let set = |component: &str| {
        Command::new(Intent::SetComponent {
            component: component.into(),
            status: Some(warroom::model::incident::ComponentStatus::PartialOutage),
        })
    };
    client(UserRole::Responder).send(&set("payment")).await.expect("a configured probe is a component");
    match client(UserRole::Responder).send(&set("paymnet")).await {
        Err(ClientError::Rejected { status: 404, error, .. }) => assert_eq!(error, "unknown_component"),
        other => panic!("expected 404 for an invented component, got {other:?}"),
    }
    client(UserRole::Commander).send(&set("cdn")).await.expect("a commander adds a component");
    client(UserRole::Responder).send(&set("cdn")).await.expect("once there, responders set it too");
    let page: serde_json::Value =
        reqwest::get(format!("{}/status.json", server.url())).await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        page["components"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&"cdn") && names.contains(&"payment") && !names.contains(&"paymnet"), "{page}");
    server.stop().await;
}

/// One runaway script holding a token cannot take the writer and everyone's memory: past
/// its burst it is told when to come back, nothing of it is written, and everyone else (and
/// the emergency stop) goes on. Our client waits as told and gets the same command in once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_past_their_command_rate_is_told_when_to_come_back_and_nobody_else_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let server = warroom::server::start(warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: common::users(),
        commands_per_second: 1,
        command_burst: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let url = server.url();
    let http = reqwest::Client::new();
    let post = |role: UserRole, command: &Command| {
        http.post(format!("{url}/api/v1/commands")).bearer_auth(common::token(role)).json(command).send()
    };
    for i in 0..3 {
        let resp = post(UserRole::Commander, &note(&format!("burst {i}"))).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "within the burst");
    }
    let fourth = note("one too many");
    let refused = post(UserRole::Commander, &fourth).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"1"[..]));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("alice") && detail.contains("[limits]") && detail.contains("1 s"), "{detail}");
    // Others have buckets of their own, and the emergency stop is never held back.
    let resp = post(UserRole::Responder, &note("bob's own")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let halt = Command::new(Intent::HaltAll { reason: "stop the drill".into() });
    for _ in 0..5 {
        let resp = post(UserRole::Villain, &halt).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "halt_all is never rate limited");
    }
    let admin = Client::new(&url, &common::token(UserRole::Admin)).unwrap();
    let titles = |events: &[warroom::model::Event]| -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match &e.fact {
                warroom::model::Fact::IncidentDeclared { title, .. } => Some(title.clone()),
                _ => None,
            })
            .collect()
    };
    let events = all_events(&admin).await;
    assert_eq!(
        titles(&events),
        ["burst 0", "burst 1", "burst 2", "bob's own"],
        "the refused one was not written"
    );
    let metrics = http
        .get(format!("{url}/metrics"))
        .bearer_auth(common::token(UserRole::Admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("warroom_commands_total{")
            && l.contains("outcome=\"refused:rate_limited\"")
            && l.ends_with(" 1")),
        "{metrics}"
    );
    // Our client waits as told and sends the same command again: written once.
    let alice = Client::new(&url, &common::token(UserRole::Commander)).unwrap();
    alice.send(&fourth).await.expect("sent again after Retry-After");
    let events = all_events(&admin).await;
    assert_eq!(titles(&events).iter().filter(|t| *t == "one too many").count(), 1);
    server.stop().await;
}
