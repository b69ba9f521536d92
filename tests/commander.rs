//! What a commander trips on in the first ten minutes (issue 11): names checked against the
//! server's users, reopening, the public page saying only what was said, and the CLI's
//! manners (a follow that survives a restart, a closed pipe, reads that send the queue first).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Proc, Output, Stdio};
use std::time::Instant;

use common::{declare, eventually, token, users, write_config, ServerProcess, TestServer, DEADLINE};
use warroom::client::{Client, ClientError};
use warroom::config::ChannelKind;
use warroom::model::comms::Delivery;
use warroom::model::{IncidentId, Intent, Role, Severity, Status, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, ServerOptions};

const INC: IncidentId = IncidentId(1);

/// The real binary, as a user on a machine whose data dir is `home/data`.
fn cli(server: &str, home: &Path, role: UserRole, args: &[&str]) -> Proc {
    let mut p = Proc::new(env!("CARGO_BIN_EXE_warroom"));
    p.args(args)
        .env("WARROOM_SERVER", server)
        .env("WARROOM_TOKEN", token(role))
        .env("WARROOM_CONFIG_DIR", home.join("config"))
        .env("WARROOM_DATA_DIR", home.join("data"))
        .env("RUST_BACKTRACE", "1");
    p
}

fn ok(out: &Output) -> (String, String) {
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status.code());
    (stdout, stderr)
}

fn refusal(result: Result<warroom::protocol::Ack, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Rejected { status, detail, .. }) => (status, detail),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_for_a_name_that_is_no_user_is_refused_with_the_close_matches() {
    let server = TestServer::start().await;
    let alice = server.client(UserRole::Commander);
    alice.send(&declare("Checkout down", Severity::Sev1)).await.unwrap();
    let assign = |person: &str| {
        Command::new(Intent::AssignRole { incident: INC, role: Role::Scribe, person: person.into() })
    };
    let (status, detail) = refusal(alice.send(&assign("bbo")).await);
    assert_eq!((status, detail.as_str()), (422, "person: no user `bbo` on this server (did you mean bob?)"));
    let (status, detail) = refusal(alice.send(&assign("nob0dy-typo")).await);
    assert_eq!(status, 422);
    assert!(detail.contains("users: alice, bob, olivia, root, victor"), "{detail}");
    alice.send(&assign("bob")).await.unwrap();
    // Steps are given to people too.
    let lib = alice.library().await.unwrap();
    assert_eq!(lib.library.users, ["alice", "bob", "olivia", "root", "victor"]);
    let step = lib.library.playbook("major-outage").unwrap().steps[0].id.clone();
    let give = Command::new(Intent::AssignStep { incident: INC, step, person: "bobb".into() });
    let (status, detail) = refusal(alice.send(&give).await);
    assert_eq!((status, detail.as_str()), (422, "person: no user `bobb` on this server (did you mean bob?)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_incident_is_reopened_by_a_commander_not_a_responder() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.client(UserRole::Commander), server.client(UserRole::Responder));
    alice.send(&declare("Checkout down", Severity::Sev3)).await.unwrap();
    let set = |status: Status, reason: &str| {
        Command::new(Intent::SetStatus { incident: INC, status, reason: Some(reason.into()) })
    };
    let (status, detail) = refusal(alice.send(&set(Status::Closed, "fixed it")).await);
    assert_eq!(status, 409);
    assert!(
        detail.contains("start the reason with one of resolved, duplicate, false_positive or cancelled"),
        "{detail}"
    );
    alice.send(&set(Status::Closed, "cancelled")).await.unwrap();
    let (status, detail) = refusal(bob.send(&set(Status::Investigating, "errors are back")).await);
    assert_eq!(status, 403, "{detail}");
    let ack = alice.send(&set(Status::Investigating, "errors are back")).await.unwrap();
    assert!(ack.events.iter().any(|e| matches!(
        e.fact,
        warroom::model::Fact::StatusChanged { from: Status::Closed, to: Status::Investigating, .. }
    )));
}

async fn status_json(url: &str) -> serde_json::Value {
    reqwest::get(format!("{url}/status.json")).await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_page_says_what_the_last_update_said_and_drills_are_recorded_as_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let public = common::channel("public", ChannelKind::Statuspage);
    let server = start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        users: users(),
        channels: vec![public],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = server.url();
    let alice = Client::new(&url, &token(UserRole::Commander)).unwrap();
    alice.send(&declare("Checkout down", Severity::Sev3)).await.unwrap();
    let mut drill = declare("Game day", Severity::Sev3);
    if let Intent::DeclareIncident { drill: d, .. } = &mut drill.intent {
        *d = true;
    }
    alice.send(&drill).await.unwrap();
    let say = |incident: IncidentId, text: &str, status: Option<&str>| {
        Command::new(Intent::SendMessage {
            incident,
            channel: "public".into(),
            text: text.into(),
            step: None,
            status: status.map(|s| s.parse().unwrap()),
        })
    };
    alice.send(&say(INC, "We are investigating.", None)).await.unwrap();
    alice.send(&say(IncidentId(2), "Drill: we are investigating.", None)).await.unwrap();
    let settled = |alice: Client| async move {
        let state = alice.snapshot().await.unwrap().state;
        state
            .incidents
            .values()
            .all(|i| i.messages.iter().all(|m| !matches!(m.delivery, Delivery::Pending { .. })))
    };
    eventually("both updates settled", || settled(alice.clone())).await;
    let state = alice.snapshot().await.unwrap().state;
    let drill_update = &state.incidents[&IncidentId(2)].messages[0];
    assert!(
        matches!(&drill_update.delivery, Delivery::Withheld { reason, .. } if reason == "not published: drill"),
        "{:?}",
        drill_update.delivery
    );
    let set = |status: Status| Command::new(Intent::SetStatus { incident: INC, status, reason: None });
    alice.send(&set(Status::Postmortem)).await.unwrap();
    // Moved on internally, nothing said publicly: the page stays with what was said.
    let page = status_json(&url).await;
    assert_eq!(page["incidents"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["incidents"][0]["status"], "investigating", "{page}");
    alice.send(&say(INC, "Fixed: payments work again.", Some("fixed"))).await.unwrap();
    eventually("the all-clear published", || {
        let url = url.clone();
        async move { status_json(&url).await["incidents"][0]["status"] == "fixed" }
    })
    .await;
    let page = status_json(&url).await;
    assert_eq!(page["incidents"][0]["updates"][0]["status"], "fixed");
    assert_eq!(page["incidents"][0]["updates"][1]["status"], "investigating");
}

/// Reads a child's stdout lines on a thread, so a test can wait for them with a deadline.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Collects lines until `done` holds for them, or fails at the deadline.
fn read_until(
    rx: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    done: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("waiting for output ({e}); saw {seen:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_survives_a_server_restart_and_prints_each_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("server");
    let home = dir.path().join("home");
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let url = server.url.clone();
    let alice = Client::new(&url, &token(UserRole::Commander)).unwrap();
    alice.send(&declare("Before the restart", Severity::Sev2)).await.unwrap();

    let mut follow = cli(&url, &home, UserRole::Observer, &["events", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut follow);
    let mut seen = Vec::new();
    let seqs = |lines: &[String]| -> Vec<u64> {
        lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
            .collect()
    };
    read_until(&rx, &mut seen, |l| !l.is_empty());

    server.kill();
    let server = ServerProcess::spawn(&data, &config, &server.listen);
    assert_eq!(server.url, url, "restarted on the same address");
    alice.send(&declare("After the restart", Severity::Sev2)).await.unwrap();
    read_until(&rx, &mut seen, |l| l.iter().any(|l| l.contains("After the restart")));
    let _ = follow.kill();
    let _ = follow.wait();
    let got = seqs(&seen);
    let want: Vec<u64> = (1..=got.len() as u64).collect();
    assert_eq!(got, want, "every event once, in order: {seen:?}");
    assert!(seen[0].contains("Before the restart"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_goes_away_ends_every_verb_quietly_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start().await;
    let alice = server.client(UserRole::Commander);
    for i in 0..30 {
        alice.send(&declare(&format!("incident {i}"), Severity::Sev3)).await.unwrap();
    }
    let verbs: [&[&str]; 6] = [
        &["incident", "list"],
        &["incident", "list", "--json"],
        &["incident", "show", "INC-1"],
        &["events"],
        &["playbook", "list"],
        &["incident", "note", "INC-1", "a note nobody reads"],
    ];
    for args in verbs {
        // `warroom … | head -0`: the reader is gone before the first line is written.
        let mut child = cli(&server.url, dir.path(), UserRole::Commander, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn a_writer_outside_the_one_gate_also_ends_quietly_on_a_closed_stdout() {
    // `bench` prints with `println!`, which panics on a closed pipe unless `main` catches it;
    // `--only nothing` prints its machine line and runs no part.
    let dir = tempfile::tempdir().unwrap();
    let mut child =
        cli("http://127.0.0.1:9", dir.path(), UserRole::Observer, &["bench", "--only", "nothing"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_verb_sends_what_was_queued_first_and_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("server");
    let home = dir.path().join("home");
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let url = server.url.clone();
    let alice = UserRole::Commander;
    ok(&cli(&url, &home, alice, &["incident", "declare", "Online", "-s", "SEV2"]).output().unwrap());
    server.kill();
    let (_, said) =
        ok(&cli(&url, &home, alice, &["incident", "declare", "Offline", "-s", "SEV2"]).output().unwrap());
    assert!(said.contains("queued"), "{said}");
    let _server = ServerProcess::spawn(&data, &config, &server.listen);
    let (listed, said) = ok(&cli(&url, &home, alice, &["incident", "list"]).output().unwrap());
    assert!(said.contains("sent queued declare_incident"), "{said}");
    assert!(listed.contains("Offline"), "{listed}");
    let (waiting, _) = ok(&cli(&url, &home, alice, &["outbox", "list"]).output().unwrap());
    assert!(waiting.contains("outbox empty"), "{waiting}");
}

/// The console as a user would see it on a 160×48 terminal, from the server's snapshot.
async fn console_screen(client: &Client, focus: warroom::tui::app::Pane) -> String {
    use warroom::tui::app::{App, Msg};
    let themes = warroom::tui::theme::Themes::presets();
    let theme = themes.get("default").unwrap().clone();
    let snap = client.snapshot().await.unwrap();
    let now = chrono::Utc::now();
    let mut app = App::new("http://127.0.0.1", warroom::tui::keymap::Keymap::default(), themes, theme, now);
    app.update(Msg::Resize(160, 48));
    app.update(Msg::Me(client.whoami().await.unwrap()));
    app.update(Msg::Library(client.library().await.unwrap()));
    app.update(Msg::Sync(warroom::client::sync::SyncEvent::Online));
    app.update(Msg::Sync(warroom::client::sync::SyncEvent::Snapshot(snap)));
    app.prepare();
    app.focus = focus;
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).unwrap();
    term.draw(|f| warroom::tui::view::draw(f, &app)).unwrap();
    let buf = term.backend().buffer().clone();
    (0..48).map(|y| (0..160).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>() + "\n").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audience_and_a_channel_have_one_name_in_the_cli_and_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let public = common::channel("public", ChannelKind::Statuspage);
    let server = start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        users: users(),
        channels: vec![public],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = server.url();
    let alice = Client::new(&url, &token(UserRole::Commander)).unwrap();
    alice.send(&declare("Checkout down", Severity::Sev1)).await.unwrap();
    let send = Intent::SendMessage {
        incident: INC,
        channel: "public".into(),
        text: "We are investigating.".into(),
        step: None,
        status: None,
    };
    alice.send(&Command::new(send)).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let (shown, _) =
        ok(&cli(&url, home.path(), UserRole::Commander, &["incident", "show", "INC-1"]).output().unwrap());
    assert!(shown.contains("status_page update due"), "the CLI names the audience as configured:\n{shown}");
    assert!(!shown.contains("status page update"), "{shown}");
    assert!(shown.contains("→ public: We are investigating."), "{shown}");
    let console = console_screen(&alice, warroom::tui::app::Pane::Playbook).await;
    assert!(console.contains("status_page update due"), "the console says the same:\n{console}");
    assert!(!console.contains("status page update"), "{console}");
    assert!(console.contains("→ public: We are investigating."), "{console}");
}
