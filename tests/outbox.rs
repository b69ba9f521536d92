//! The offline outbox on one machine shared by several users: each flush sends only its
//! user's commands, a refused token keeps the queue, and nothing torn or refused is lost.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command as Proc, Output};

use common::{all_events, token, write_config, ServerProcess, TestServer};
use warroom::client::outbox::{Outbox, Rejected};
use warroom::client::Client;
use warroom::model::{Fact, IncidentId, Intent, Severity, UserRole};
use warroom::protocol::Command;

/// The real binary, as a user on a machine whose data dir is `home/data`.
fn cli(server: &str, home: &Path, token: &str, args: &[&str]) -> Output {
    Proc::new(env!("CARGO_BIN_EXE_warroom"))
        .args(args)
        .env("WARROOM_SERVER", server)
        .env("WARROOM_TOKEN", token)
        .env("WARROOM_CONFIG_DIR", home.join("config"))
        .env("WARROOM_DATA_DIR", home.join("data"))
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status.code());
    String::from_utf8_lossy(&out.stdout).to_string() + &stderr
}

fn listing(server: &str, home: &Path, token: &str) -> serde_json::Value {
    let out = cli(server, home, token, &["outbox", "list", "--json"]);
    ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (actor, what) for each note and role hand-over in the log, in order.
async fn writes(url: &str) -> Vec<(String, String)> {
    let client = Client::new(url, &token(UserRole::Observer)).unwrap();
    all_events(&client)
        .await
        .into_iter()
        .filter_map(|e| match e.fact {
            Fact::NoteAdded { text, .. } => Some((e.actor, text)),
            Fact::RoleAssigned { person, .. } => Some((e.actor, format!("assign {person}"))),
            _ => None,
        })
        .collect()
}

fn declare() -> Command {
    Command::new(Intent::DeclareIncident {
        title: "Checkout down".into(),
        severity: Severity::Sev2,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
        private: false,
    })
}

fn note(incident: u64, text: &str) -> Command {
    Command::new(Intent::AddNote { incident: IncidentId(incident), text: text.into() })
}

fn rejected(outbox: &Outbox) -> Vec<Rejected> {
    std::fs::read_to_string(outbox.rejected_path())
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_queue_offline_and_each_flush_sends_only_their_own_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("server");
    let home = dir.path().join("home");
    let (alice, bob) = (token(UserRole::Commander), token(UserRole::Responder));
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let url = server.url.clone();
    ok(&cli(&url, &home, &alice, &["incident", "declare", "Checkout down", "--severity", "SEV2"]));
    ok(&cli(&url, &home, &bob, &["incident", "note", "INC-1", "b0"]));

    server.kill();
    let queue: [(&str, &[&str]); 5] = [
        (&alice, &["incident", "note", "INC-1", "a1"]),
        (&bob, &["incident", "note", "INC-1", "b1"]),
        // Only a commander may hand over a role: sent as bob it would be refused.
        (&alice, &["incident", "assign", "INC-1", "scribe", "bob"]),
        (&alice, &["incident", "note", "INC-1", "a2"]),
        (&bob, &["incident", "note", "INC-1", "b2"]),
    ];
    for (who, args) in queue {
        let said = ok(&cli(&url, &home, who, args));
        assert!(said.contains("queued"), "{said}");
    }
    let list = listing(&url, &home, &alice);
    let rows: Vec<(String, bool)> = list["queued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["who"].as_str().unwrap().to_string(), q["yours"].as_bool().unwrap()))
        .collect();
    let expect = [("alice", true), ("bob", false), ("alice", true), ("alice", true), ("bob", false)];
    assert_eq!(rows, expect.map(|(w, y)| (w.to_string(), y)), "whose, in order");

    let server = ServerProcess::spawn(&data, &config, &server.listen);
    assert_eq!(server.url, url, "restarted on the same address");
    let said = ok(&cli(&url, &home, &bob, &["outbox", "flush"]));
    assert!(said.contains("sent 2, refused 0, waiting 3 (0 yours, 3 alice's)"), "{said}");
    assert_eq!(
        writes(&url).await,
        [("bob", "b0"), ("bob", "b1"), ("bob", "b2")].map(|(a, t)| (a.to_string(), t.to_string()))
    );
    let said = ok(&cli(&url, &home, &bob, &["outbox", "flush"]));
    assert!(said.contains("sent 0, refused 0, waiting 3 (0 yours, 3 alice's)"), "{said}");

    let said = ok(&cli(&url, &home, &alice, &["outbox", "flush"]));
    assert!(said.contains("sent 3, refused 0, waiting 0"), "{said}");
    let expect = [
        ("bob", "b0"),
        ("bob", "b1"),
        ("bob", "b2"),
        ("alice", "a1"),
        ("alice", "assign bob"),
        ("alice", "a2"),
    ];
    assert_eq!(
        writes(&url).await,
        expect.map(|(a, t)| (a.to_string(), t.to_string())),
        "each once, in order"
    );
    assert!(list_is_empty(&url, &home, &bob));
}

fn list_is_empty(url: &str, home: &Path, token: &str) -> bool {
    let l = listing(url, home, token);
    l["queued"].as_array().unwrap().is_empty() && l["unreadable"].as_array().unwrap().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_with_a_refused_token_keeps_the_queue_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("server");
    let home = dir.path().join("home");
    let stale = "a-token-the-server-no-longer-knows";
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let url = server.url.clone();
    ok(&cli(
        &url,
        &home,
        &token(UserRole::Commander),
        &["incident", "declare", "Down", "--severity", "SEV2"],
    ));
    server.kill();
    for text in ["one", "two", "three"] {
        ok(&cli(&url, &home, stale, &["incident", "note", "INC-1", text]));
    }
    let server = ServerProcess::spawn(&data, &config, &server.listen);
    assert_eq!(server.url, url, "restarted on the same address");

    let out = cli(&url, &home, stale, &["outbox", "flush"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refused token is a failure: {stderr}");
    assert!(stderr.contains("401") && stderr.contains("nothing was removed"), "{stderr}");
    // The next write flushes first, stops on the token, and queues nothing more.
    let out = cli(&url, &home, stale, &["incident", "note", "INC-1", "four"]);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(listing(&url, &home, stale)["queued"].as_array().unwrap().len(), 3);

    // The flush itself, as the console's flusher runs it: it stops on the 401, removing nothing.
    let client = Client::new(&url, stale).unwrap();
    let outbox = Outbox::open(&home.join("data"), &client);
    let done = outbox.flush(&client).await.unwrap();
    assert!(done.stopped_on_auth(), "{:?}", done.stopped);
    assert_eq!((done.sent.len(), done.refused.len(), done.waiting.yours), (0, 0, 3));
    assert!(rejected(&outbox).is_empty());
    assert!(writes(&url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_line_never_swallows_the_next_command() {
    let ts = TestServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let client = ts.client(UserRole::Commander);
    let outbox = Outbox::open(data.path(), &client);
    let snap = client.snapshot().await.unwrap();
    outbox.reached(Some(snap.log), None).unwrap();
    client.send(&declare()).await.unwrap();
    outbox.push(&note(1, "one")).unwrap();
    // A crash mid-append leaves a fragment with no end of line.
    let fragment = r#"{"queued_by":{"token":"0123"#;
    std::fs::OpenOptions::new()
        .append(true)
        .open(outbox.path())
        .unwrap()
        .write_all(fragment.as_bytes())
        .unwrap();
    outbox.push(&note(1, "two")).unwrap();

    let done = outbox.flush(&client).await.unwrap();
    assert_eq!((done.sent.len(), done.unreadable, done.waiting.total()), (2, 1, 0), "{}", done.summary());
    assert_eq!(
        writes(&ts.url).await,
        [("alice", "one"), ("alice", "two")].map(|(a, t)| (a.into(), t.into()))
    );
    let kept = rejected(&outbox);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].line, fragment);
    // The next append ended the fragment's line first: it is one unreadable line of its own.
    assert!(kept[0].why.starts_with("unreadable: line 2"), "{}", kept[0].why);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_lines_and_refused_commands_are_kept_in_the_rejected_file() {
    let ts = TestServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let client = ts.client(UserRole::Commander);
    let outbox = Outbox::open(data.path(), &client);
    client.send(&declare()).await.unwrap();
    outbox.reached(None, Some("alice")).unwrap();
    outbox.push(&note(1, "before")).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(outbox.path())
        .unwrap()
        .write_all(b"not json at all\n")
        .unwrap();
    let doomed = note(99, "on an incident that does not exist");
    outbox.push(&doomed).unwrap();
    outbox.push(&note(1, "after")).unwrap();

    let done = outbox.flush(&client).await.unwrap();
    assert_eq!((done.sent.len(), done.refused.len(), done.unreadable), (2, 1, 1), "{}", done.summary());
    assert!(done.stopped.is_none() && done.waiting.total() == 0, "{}", done.summary());
    assert!(done.summary().contains("moved to"), "{}", done.summary());
    assert_eq!(
        writes(&ts.url).await,
        [("alice", "before"), ("alice", "after")].map(|(a, t)| (a.into(), t.into()))
    );
    let kept = rejected(&outbox);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0].line, "not json at all");
    assert!(kept[0].why.starts_with("unreadable"), "{}", kept[0].why);
    let entry: serde_json::Value = serde_json::from_str(&kept[1].line).unwrap();
    assert_eq!(entry["command"]["id"], doomed.id.to_string());
    assert!(kept[1].why.contains("refused") && kept[1].why.contains("404"), "{}", kept[1].why);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_of_unknown_owner_wait_until_a_user_adopts_them() {
    let ts = TestServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let client = ts.client(UserRole::Responder);
    let outbox = Outbox::open(data.path(), &ts.client(UserRole::Commander));
    ts.client(UserRole::Commander).send(&declare()).await.unwrap();
    outbox.reached(None, Some("alice")).unwrap();
    // A line as the first outbox format wrote it: a bare command, nobody's.
    let old = note(1, "queued by an older warroom");
    std::fs::write(outbox.path(), format!("{}\n", serde_json::to_string(&old).unwrap())).unwrap();

    let bobs = Outbox::open(data.path(), &client);
    let done = bobs.flush(&client).await.unwrap();
    assert_eq!(done.sent.len(), 0, "never sent under someone's identity unasked");
    assert_eq!(done.summary(), "sent 0, refused 0, waiting 1 (0 yours, 1 of unknown owner)");
    assert_eq!(bobs.adopt().unwrap(), 1);
    let done = bobs.flush(&client).await.unwrap();
    assert_eq!(done.sent.len(), 1);
    assert_eq!(writes(&ts.url).await, [("bob".to_string(), "queued by an older warroom".to_string())]);
}

#[test]
fn queuing_for_a_server_never_reached_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then freed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{addr}");
    let out = cli(&url, dir.path(), &token(UserRole::Commander), &["incident", "note", "INC-1", "lost?"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cannot reach") && stderr.contains("never reached"), "{stderr}");
    let queued = std::fs::read_dir(dir.path().join("data"))
        .map(|d| d.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().ends_with(".jsonl")))
        .unwrap_or(false);
    assert!(!queued, "nothing queued");
}

/// Any answer counts as reaching the server, a read included: `incident list` or `events`
/// before the server went down is enough for a note written after to be queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_reached_only_by_reads_still_gets_a_queue() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("server");
    let alice = token(UserRole::Commander);
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let url = server.url.clone();
    ok(&cli(
        &url,
        &dir.path().join("writer"),
        &alice,
        &["incident", "declare", "Checkout down", "--severity", "SEV2"],
    ));
    for read in [&["incident", "list"][..], &["events"], &["incident", "show", "INC-1"], &["probe", "list"]] {
        let home = dir.path().join(format!("reader-{}", read.join("-")));
        ok(&cli(&url, &home, &alice, read));
        server.kill();
        let said = ok(&cli(&url, &home, &alice, &["incident", "note", "INC-1", "written offline"]));
        assert!(said.contains("queued"), "after `{}`: {said}", read.join(" "));
        server = ServerProcess::spawn(&data, &config, &server.listen);
    }
}
