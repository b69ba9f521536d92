//! Communicate first: playbooks load (a broken one never stops the others), messages reach
//! real receivers, failures show and retry, the status page shows only what was published.

mod common;

use std::process::Command as Proc;

use common::{channel, eventually, smtp_sink, token, users, Webhook, DEADLINE};
use warroom::client::replica::Replica;
use warroom::client::Client;
use warroom::config::{ChannelConfig, ChannelKind};
use warroom::model::comms::Delivery;
use warroom::model::{EntryKind, IncidentId, Intent, Severity, State, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, RunningServer, ServerOptions};

async fn server(
    dir: &std::path::Path,
    channels: Vec<ChannelConfig>,
    playbook_dirs: Vec<std::path::PathBuf>,
) -> RunningServer {
    start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        users: users(),
        channels,
        playbook_dirs,
        ..Default::default()
    })
    .await
    .unwrap()
}

fn declare_sev1() -> Command {
    Command::new(Intent::DeclareIncident {
        title: "Checkout returns 502 (bad migration on orders)".into(),
        severity: Severity::Sev1,
        impact: "Card payments fail.".into(),
        drill: false,
        services: Vec::new(),
        private: false,
    })
}

const GOOD: &str = "id = \"tiny\"\ntitle = \"Tiny\"\n[[steps]]\nid = \"tell\"\ntitle = \"Tell\"\nsection = \"communicate\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_playbook_is_named_by_file_and_line_and_the_others_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let books = dir.path().join("playbooks");
    std::fs::create_dir_all(&books).unwrap();
    std::fs::write(books.join("good.toml"), GOOD).unwrap();
    std::fs::write(books.join("syntax.toml"), "id = \"broken\"\ntitle = \"Broken\n[[steps]]\n").unwrap();
    std::fs::write(
        books.join("unknown.toml"),
        GOOD.replace("id = \"tiny\"", "id = \"odd\"").replace("section =", "sektion ="),
    )
    .unwrap();

    let out = Proc::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["playbook", "validate"])
        .args(["good.toml", "syntax.toml", "unknown.toml"].map(|f| books.join(f)))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success());
    assert!(stdout.contains("good.toml: ok (tiny, 1 steps)"), "{stdout}");
    assert!(stderr.contains("syntax.toml: line 2:"), "{stderr}");
    assert!(stderr.contains("unknown.toml: line 6:") && stderr.contains("sektion"), "{stderr}");

    let s = server(dir.path(), vec![], vec![books]).await;
    let lib = Client::new(&s.url(), &token(UserRole::Observer)).unwrap().library().await.unwrap();
    let ids: Vec<&str> = lib.library.playbooks.iter().map(|p| p.id.as_str()).collect();
    assert!(ids.contains(&"tiny") && ids.contains(&"major-outage"), "{ids:?}");
    assert!(lib.errors.iter().any(|e| e.contains("syntax.toml: line 2")), "{:?}", lib.errors);
    assert!(lib.errors.iter().any(|e| e.contains("unknown.toml: line 6")), "{:?}", lib.errors);
}

fn notes_and_deliveries(state: &State, id: IncidentId) -> Vec<String> {
    state.incidents[&id].timeline.iter().map(|e| format!("{} {}", e.kind.tag(), e.kind.summary())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_real_receivers_and_the_status_page_shows_only_what_was_published() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start("127.0.0.1:0").await;
    let (smtp, mails) = smtp_sink().await;
    std::fs::write(
        dir.path().join("customers.txt"),
        "# kept outside the platform\nann@example.com\n\nbo@example.org\n",
    )
    .unwrap();
    let mut staff = channel("staff", ChannelKind::Webhook);
    staff.url = Some(hook.url.clone());
    let mut customers = channel("customers", ChannelKind::Email);
    customers.smtp = Some(smtp);
    customers.from = Some("status@example.com".into());
    customers.recipients_file = Some(dir.path().join("customers.txt"));
    let s =
        server(dir.path(), vec![staff, customers, channel("public", ChannelKind::Statuspage)], vec![]).await;
    let alice = Client::new(&s.url(), &token(UserRole::Commander)).unwrap();
    let bob = Client::new(&s.url(), &token(UserRole::Responder)).unwrap();
    let mut replica = Replica::spawn(alice.clone());
    let id = IncidentId(1);
    alice.send(&declare_sev1()).await.unwrap();
    alice
        .send(&Command::new(Intent::AddNote {
            incident: id,
            text: "internal: rollback of migration 0042 pending".into(),
        }))
        .await
        .unwrap();
    let send = |channel: &str, text: &str, step: Option<&str>| {
        Command::new(Intent::SendMessage {
            incident: id,
            channel: channel.into(),
            text: text.into(),
            step: step.map(str::to_string),
            status: None,
        })
    };
    bob.send(&send("staff", "SEV1: checkout failing, war room open", Some("notify-staff"))).await.unwrap();
    bob.send(&send("customers", "Card payments are failing; we are on it.", Some("email-customers")))
        .await
        .unwrap();
    let ack = bob
        .send(&send("public", "We are investigating failed card payments.", Some("status-page")))
        .await
        .unwrap();
    replica.wait_for(ack.seq, DEADLINE).await.unwrap();
    eventually("three deliveries", || {
        let r = replica.state();
        async move {
            r.incidents
                .get(&id)
                .is_some_and(|i| i.messages.iter().all(|m| matches!(m.delivery, Delivery::Delivered { .. })))
        }
    })
    .await;
    // A delivery and the tick it causes are consecutive events: be at the server's head.
    let head = alice.snapshot().await.unwrap().seq;
    replica.wait_for(head, DEADLINE).await.unwrap();

    assert_eq!(
        hook.bodies.lock().unwrap().as_slice(),
        [serde_json::json!({"text": "SEV1: checkout failing, war room open"})]
    );
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ann@example.com", "bo@example.org"]);
    assert!(mails[0].data.contains("Card payments are failing; we are on it."), "{}", mails[0].data);
    assert!(!mails[0].data.contains("ann@example.com"), "recipients are Bcc, never in the headers");

    let state = replica.state();
    let inc = &state.incidents[&id];
    let list = inc.checklist.as_ref().expect("major-outage attached by default for SEV1");
    for step in ["notify-staff", "email-customers", "status-page"] {
        assert_eq!(list.step(step).unwrap().ticked.as_ref().map(|t| t.by.as_str()), Some("bob"), "{step}");
    }
    let timeline = notes_and_deliveries(&state, id);
    assert!(
        timeline.iter().any(|l| l == "delivered customers: delivered (sent to 2 recipients)"),
        "{timeline:#?}"
    );
    assert!(timeline.iter().any(|l| l.starts_with("delivered staff: delivered (HTTP 200)")), "{timeline:#?}");

    let http = reqwest::Client::new();
    let json: serde_json::Value =
        http.get(format!("{}/status.json", s.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(json["incidents"][0]["status"], "investigating");
    assert_eq!(json["incidents"][0]["updates"][0]["text"], "We are investigating failed card payments.");
    let html = http.get(format!("{}/status", s.url())).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("We are investigating failed card payments."));
    for page in [json.to_string(), html] {
        assert!(!page.contains("rollback"), "an internal note leaked");
        assert!(!page.contains("migration"), "the internal title leaked");
        assert!(!page.contains("war room open"), "a staff message leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_fails_visibly_then_delivers_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nothing listening on it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut staff = channel("staff", ChannelKind::Webhook);
    staff.url = Some(format!("http://127.0.0.1:{port}/hook"));
    let s = server(dir.path(), vec![staff], vec![]).await;
    let c = Client::new(&s.url(), &token(UserRole::Commander)).unwrap();
    let mut replica = Replica::spawn(c.clone());
    c.send(&declare_sev1()).await.unwrap();
    let ack = c
        .send(&Command::new(Intent::SendMessage {
            incident: IncidentId(1),
            channel: "staff".into(),
            text: "hello?".into(),
            step: None,
            status: None,
        }))
        .await
        .unwrap();
    replica.wait_for(ack.seq, DEADLINE).await.unwrap();
    eventually("a failed attempt on the timeline", || {
        let r = replica.state();
        async move {
            r.incidents[&IncidentId(1)]
                .timeline
                .iter()
                .any(|e| matches!(&e.kind, EntryKind::Delivery { ok: false, .. }))
        }
    })
    .await;
    let failed = notes_and_deliveries(&replica.state(), IncidentId(1));
    assert!(
        failed.iter().any(|l| l.starts_with("failed staff: attempt 1 failed:") && l.ends_with("retrying")),
        "{failed:#?}"
    );

    let hook = Webhook::start(&format!("127.0.0.1:{port}")).await;
    eventually("the retry delivers", || {
        let r = replica.state();
        async move { matches!(r.incidents[&IncidentId(1)].messages[0].delivery, Delivery::Delivered { .. }) }
    })
    .await;
    assert_eq!(hook.bodies.lock().unwrap().len(), 1, "delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_responders_ticking_different_steps_at_the_same_moment_both_win() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path(), vec![], vec![]).await;
    let alice = Client::new(&s.url(), &token(UserRole::Commander)).unwrap();
    let bob = Client::new(&s.url(), &token(UserRole::Responder)).unwrap();
    alice.send(&declare_sev1()).await.unwrap();
    let mut watchers = [Replica::spawn(alice.clone()), Replica::spawn(bob.clone())];
    let tick = |step: &str| Command::new(Intent::TickStep { incident: IncidentId(1), step: step.into() });
    let (ta, tb) = (tick("scope"), tick("recent-changes"));
    let (a, b) = tokio::join!(alice.send(&ta), bob.send(&tb));
    let head = a.unwrap().seq.max(b.unwrap().seq);
    for w in &mut watchers {
        w.wait_for(head, DEADLINE).await.unwrap();
        let state = w.state();
        let list = state.incidents[&IncidentId(1)].checklist.clone().unwrap();
        assert_eq!(list.step("scope").unwrap().ticked.as_ref().unwrap().by, "alice");
        assert_eq!(list.step("recent-changes").unwrap().ticked.as_ref().unwrap().by, "bob");
        let ticks = notes_and_deliveries(&state, IncidentId(1))
            .into_iter()
            .filter(|l| l.starts_with("step ticked"))
            .count();
        assert_eq!(ticks, 2);
    }
    // Ticking a step someone already ticked says who did.
    let err = bob.send(&tick("scope")).await.unwrap_err().to_string();
    assert!(err.contains("already ticked by alice"), "{err}");
    // And nobody can forge a delivery record.
    let forged = Command::new(Intent::RecordDelivery {
        incident: IncidentId(1),
        message: uuid::Uuid::nil(),
        ok: true,
        detail: String::new(),
        last: false,
    });
    let err =
        Client::new(&s.url(), &token(UserRole::Admin)).unwrap().send(&forged).await.unwrap_err().to_string();
    assert!(err.contains("recorded by the server itself"), "{err}");
}

/// A drill never reaches a real customer: its message on a real email channel is withheld
/// (the step done, the clock moved), while a real incident's message on the same channel is
/// delivered to the same SMTP receiver; a channel marked `drills = true` takes drills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_never_reaches_a_real_customer_channel() {
    let dir = tempfile::tempdir().unwrap();
    let (smtp, mails) = smtp_sink().await;
    std::fs::write(dir.path().join("customers.txt"), "ann@example.com\n").unwrap();
    let mut customers = channel("customers", ChannelKind::Email);
    customers.smtp = Some(smtp);
    customers.tls = warroom::config::SmtpTls::None;
    customers.from = Some("status@example.com".into());
    customers.recipients_file = Some(dir.path().join("customers.txt"));
    let hook = Webhook::start("127.0.0.1:0").await;
    let mut gameday = channel("gameday", ChannelKind::Webhook);
    gameday.url = Some(hook.url.clone());
    gameday.drills = true;
    let s = server(dir.path(), vec![customers, gameday], vec![]).await;
    let alice = Client::new(&s.url(), &token(UserRole::Commander)).unwrap();
    let declare = |title: &str, drill: bool| {
        Command::new(Intent::DeclareIncident {
            title: title.into(),
            severity: Severity::Sev2,
            impact: String::new(),
            drill,
            services: vec![],
            private: false,
        })
    };
    alice.send(&declare("Game day: payments", true)).await.unwrap();
    alice.send(&declare("Payments really failing", false)).await.unwrap();
    let send = |incident: u64, channel: &str, text: &str| {
        Command::new(Intent::SendMessage {
            incident: IncidentId(incident),
            channel: channel.into(),
            text: text.into(),
            step: None,
            status: None,
        })
    };
    let ack = alice.send(&send(1, "customers", "DRILL: card payments fail")).await.unwrap();
    let kinds: Vec<&str> = ack.events.iter().map(|e| e.fact.kind()).collect();
    assert!(kinds.starts_with(&["message_queued", "message_withheld"]), "{kinds:?}");
    alice.send(&send(1, "gameday", "DRILL: war room open in #gameday")).await.unwrap();
    alice.send(&send(2, "customers", "Card payments are failing; we are on it.")).await.unwrap();
    // The real incident's mail and the game-day chat message arrive; the drill's mail never.
    eventually("the real mail and the game-day message", || async {
        !mails.lock().unwrap().is_empty() && !hook.bodies.lock().unwrap().is_empty()
    })
    .await;
    eventually("every message settled", || async {
        let state = s.app.hub().state();
        state
            .incidents
            .values()
            .flat_map(|i| i.messages.iter())
            .all(|m| !matches!(m.delivery, Delivery::Pending { .. }))
    })
    .await;
    let got = mails.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].data.contains("Card payments are failing"), "{}", got[0].data);
    assert!(!got[0].data.contains("DRILL"), "{}", got[0].data);
    let state = s.app.hub().state();
    let drill = &state.incidents[&IncidentId(1)];
    let withheld = drill.messages.iter().find(|m| m.channel == "customers").unwrap();
    assert!(
        matches!(&withheld.delivery, Delivery::Withheld { reason, .. } if reason.contains("reaches real people")),
        "{:?}",
        withheld.delivery
    );
    let on_gameday = drill.messages.iter().find(|m| m.channel == "gameday").unwrap();
    assert!(matches!(on_gameday.delivery, Delivery::Delivered { .. }), "{:?}", on_gameday.delivery);
}

/// The README's server file (the team set-up) reads as it says, the game-day channel included.
#[test]
fn the_readme_server_file_parses_with_its_game_day_channel() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("server.toml <<'TOML'\n").expect("the README's server file")
        + "server.toml <<'TOML'\n".len();
    let end = start + readme[start..].find("\nTOML").expect("its end");
    let cfg: warroom::config::ServerConfig =
        toml::from_str(&readme[start..end]).unwrap_or_else(|e| panic!("README server.toml: {e}"));
    let gameday = cfg.channels.iter().find(|c| c.name == "gameday").expect("the gameday channel");
    assert!(gameday.drills);
    assert!(cfg.channels.iter().filter(|c| c.name != "gameday").all(|c| !c.drills));
}
