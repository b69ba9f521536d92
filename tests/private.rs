//! Private incidents over real HTTP: its members and admins see it on every read path; anyone
//! else sees nothing of it (not its title, not its existence), only gap-free placeholders.

mod common;

use common::{eventually, token, TestServer, DEADLINE};
use futures_util::StreamExt;
use warroom::client::replica::Replica;
use warroom::client::{Client, ClientError, StreamItem};
use warroom::model::{Event, Fact, IncidentId, Intent, Severity, UserRole};
use warroom::protocol::Command;

/// Only in the private incident's own events: finding it anywhere a non-member reads is a leak.
const SECRET: &str = "Signing keys leaked";
const SECRET_NOTE: &str = "rotated the HSM pin";
const INC: IncidentId = IncidentId(1);

fn declare(title: &str, private: bool) -> Command {
    Command::new(Intent::DeclareIncident {
        title: title.into(),
        // SEV5 has no default playbook: one declaration is one event.
        severity: Severity::Sev5,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
        private,
    })
}

fn note(incident: IncidentId, text: &str) -> Command {
    Command::new(Intent::AddNote { incident, text: text.into() })
}

fn member(add: bool, person: &str) -> Command {
    let person = person.to_string();
    Command::new(if add {
        Intent::AddMember { incident: INC, person }
    } else {
        Intent::RemoveMember { incident: INC, person }
    })
}

/// A raw GET as `role`: the body exactly as sent, to search for leaks.
async fn raw(ts: &TestServer, role: Option<UserRole>, path: &str) -> String {
    let mut req = reqwest::Client::new().get(format!("{}{path}", ts.url));
    if let Some(role) = role {
        req = req.bearer_auth(token(role));
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.text().await.unwrap()
}

type Seen = (Vec<(Event, String)>, Option<String>);

/// Reads a stream from `after` until it has seen event `until` or a resync; returns the
/// events, each with its JSON, and the resync reason if one came.
async fn read_stream(client: &Client, after: u64, until: u64) -> Seen {
    drain(client.stream(after).await.unwrap(), until).await
}

/// Opens a stream now (subscribed when this returns) and reads it in a task.
async fn follow(client: &Client, until: u64) -> tokio::task::JoinHandle<Seen> {
    let stream = client.stream(0).await.unwrap();
    tokio::spawn(drain(stream, until))
}

async fn drain(
    mut stream: impl futures_util::Stream<Item = Result<StreamItem, ClientError>> + Unpin,
    until: u64,
) -> Seen {
    let mut events = Vec::new();
    let read = async {
        while let Some(item) = stream.next().await {
            match item.unwrap() {
                StreamItem::Event(e) => {
                    let seq = e.seq;
                    let json = serde_json::to_string(&e).unwrap();
                    events.push((e, json));
                    if seq >= until {
                        return None;
                    }
                }
                StreamItem::Resync(why) => return Some(why),
                _ => {}
            }
        }
        panic!("the stream ended before seq {until}");
    };
    let resync = tokio::time::timeout(DEADLINE, read).await.expect("stream deadline");
    (events, resync)
}

/// Seqs 1..=head with none missing, and every event about the private incident a placeholder
/// that carries nothing of it.
fn assert_redacted_view(events: &[(Event, String)], from: u64, head: u64, private_seqs: &[u64]) {
    let seqs: Vec<u64> = events.iter().map(|(e, _)| e.seq).collect();
    assert_eq!(seqs, (from..=head).collect::<Vec<_>>(), "gap-free");
    for (e, json) in events {
        assert!(!json.contains(SECRET) && !json.contains(SECRET_NOTE), "leak: {json}");
        if private_seqs.contains(&e.seq) {
            assert_eq!(e.fact, Fact::Redacted, "{json}");
            assert!(e.actor.is_empty() && e.command_id.is_nil() && e.role == UserRole::Observer, "{json}");
        } else {
            assert_ne!(e.fact, Fact::Redacted, "{json}");
        }
    }
}

fn assert_full_view(events: &[(Event, String)], from: u64, head: u64) {
    let seqs: Vec<u64> = events.iter().map(|(e, _)| e.seq).collect();
    assert_eq!(seqs, (from..=head).collect::<Vec<_>>(), "gap-free");
    assert!(events.iter().all(|(e, _)| e.fact != Fact::Redacted));
    assert!(events.iter().any(|(_, j)| j.contains(SECRET)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_incident_reaches_its_members_and_admins_and_no_one_else_on_any_read_path() {
    let ts = TestServer::start().await;
    // alice (commander) declares; olivia (observer) is made a member; bob (responder) is not;
    // root is an admin.
    let alice = ts.client(UserRole::Commander);
    let (bob, olivia, root) =
        (ts.client(UserRole::Responder), ts.client(UserRole::Observer), ts.client(UserRole::Admin));
    // Live streams opened before anything happens.
    let (bob_live, olivia_live) = (follow(&bob, 6).await, follow(&olivia, 6).await);
    let (root_live, alice_live) = (follow(&root, 6).await, follow(&alice, 6).await);

    let a1 = alice.send(&declare(SECRET, true)).await.unwrap(); // 1, private
    assert_eq!(a1.events[0].fact.incident(), Some(INC));
    alice.send(&declare("Search is slow", false)).await.unwrap(); // 2, public
    let noted = note(INC, SECRET_NOTE);
    alice.send(&noted).await.unwrap(); // 3, private
    alice.send(&member(true, "olivia")).await.unwrap(); // 4, private
    root.send(&note(INC, "admin was here")).await.unwrap(); // 5, private
    bob.send(&note(IncidentId(2), "public note")).await.unwrap(); // 6, public
    let private = [1, 3, 4, 5];

    // The snapshot.
    let bob_state = raw(&ts, Some(UserRole::Responder), "/api/v1/state").await;
    assert!(!bob_state.contains(SECRET) && !bob_state.contains("INC-1"), "{bob_state}");
    assert!(bob_state.contains("Search is slow"));
    for role in [UserRole::Observer, UserRole::Admin, UserRole::Commander] {
        let state = raw(&ts, Some(role), "/api/v1/state").await;
        assert!(state.contains(SECRET) && state.contains(SECRET_NOTE), "{role}");
    }
    // Event pages, whole and from the middle.
    let page = |c: Client, after: u64| async move {
        let events = c.events(after, 1000).await.unwrap().events;
        events.into_iter().map(|e| (e.clone(), serde_json::to_string(&e).unwrap())).collect::<Vec<_>>()
    };
    assert_redacted_view(&page(bob.clone(), 0).await, 1, 6, &private);
    assert_redacted_view(&page(bob.clone(), 2).await, 3, 6, &private);
    let bob_raw = raw(&ts, Some(UserRole::Responder), "/api/v1/events?after=0").await;
    assert!(!bob_raw.contains(SECRET) && !bob_raw.contains("INC-1") && !bob_raw.contains("olivia"));
    assert_full_view(&page(olivia.clone(), 0).await, 1, 6);
    assert_full_view(&page(root.clone(), 0).await, 1, 6);
    // The live stream.
    let (events, resync) = bob_live.await.unwrap();
    assert_eq!(resync, None);
    assert_redacted_view(&events, 1, 6, &private);
    assert_full_view(&root_live.await.unwrap().0, 1, 6);
    assert_full_view(&alice_live.await.unwrap().0, 1, 6);
    // olivia was not a member when it was declared: she sees placeholders until she is
    // added, then is told to reload (which gives her the past: see the snapshot above).
    let (events, resync) = olivia_live.await.unwrap();
    assert!(resync.is_some(), "olivia was not told to reload");
    assert_eq!(events.last().unwrap().0.fact, Fact::MemberAdded { incident: INC, person: "olivia".into() });
    assert!(events[..3].iter().all(|(e, _)| e.seq == 2 || e.fact == Fact::Redacted));
    // Catch-up with Last-Event-ID.
    let (events, resync) = read_stream(&bob, 0, 6).await;
    assert_eq!(resync, None);
    assert_redacted_view(&events, 1, 6, &private);
    let (events, _) = read_stream(&bob, 3, 6).await;
    assert_redacted_view(&events, 4, 6, &private);
    assert_full_view(&read_stream(&root, 0, 6).await.0, 1, 6);
    let (events, _) = read_stream(&olivia, 0, 6).await;
    assert_full_view(&events, 1, 4);
    // Acks of a replayed command id: a member's and an admin's come back whole.
    let again = alice.send(&noted).await.unwrap();
    assert!(serde_json::to_string(&again).unwrap().contains(SECRET_NOTE));
    // The status page shows nothing that was not published to it.
    for path in ["/status", "/status.json"] {
        let page = raw(&ts, None, path).await;
        assert!(!page.contains(SECRET) && !page.contains("INC-1"), "{page}");
    }
    // bob's commands about it are refused exactly as about an incident that does not exist.
    let refusal = |id: u64| {
        let bob = bob.clone();
        async move {
            match bob.send(&note(IncidentId(id), "x")).await {
                Err(ClientError::Rejected { status, error, detail }) => {
                    (status, error, detail.replace(&format!("INC-{id}"), "INC-?"))
                }
                other => panic!("INC-{id}: {other:?}"),
            }
        }
    };
    let hidden = refusal(1).await;
    assert_eq!(hidden, refusal(99).await);
    assert_eq!(hidden.0, 404);
    let err = bob.send(&member(true, "bob")).await.unwrap_err();
    assert!(matches!(&err, ClientError::Rejected { status: 404, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_member_shows_them_the_past_and_removing_one_takes_it_away_live() {
    let ts = TestServer::start().await;
    let alice = ts.client(UserRole::Commander);
    let bob = ts.client(UserRole::Responder);
    alice.send(&declare(SECRET, true)).await.unwrap();
    alice.send(&note(INC, SECRET_NOTE)).await.unwrap();
    let mut replica = Replica::spawn(bob.clone());
    replica.wait_for(2, DEADLINE).await.unwrap();
    assert!(replica.state().incidents.is_empty());

    let added = alice.send(&member(true, "bob")).await.unwrap();
    replica.wait_for(added.seq, DEADLINE).await.unwrap();
    eventually("bob's replica to show the incident and its past", || async {
        let s = replica.state();
        s.incidents.get(&INC).is_some_and(|i| i.title == SECRET && i.timeline.len() == 2)
    })
    .await;
    // A member who is not its commander cannot change its members.
    let err = bob.send(&member(true, "victor")).await.unwrap_err();
    assert!(matches!(&err, ClientError::Rejected { status: 403, .. }), "{err}");
    // As a member bob writes to it and his own replayed ack comes back whole...
    let his = note(INC, "bob's finding");
    bob.send(&his).await.unwrap();
    assert!(matches!(&bob.send(&his).await.unwrap().events[0].fact, Fact::NoteAdded { .. }));

    let removed = alice.send(&member(false, "bob")).await.unwrap();
    replica.wait_for(removed.seq, DEADLINE).await.unwrap();
    eventually("bob's replica to drop the incident", || async { replica.state().incidents.is_empty() }).await;
    // ...and once removed, even his own command's ack is a placeholder.
    let ack = bob.send(&his).await.unwrap();
    assert_eq!(ack.events[0].fact, Fact::Redacted);
    assert!(!serde_json::to_string(&ack).unwrap().contains("finding"));
    let err = bob.send(&note(INC, "still here?")).await.unwrap_err();
    assert!(matches!(&err, ClientError::Rejected { status: 404, .. }), "{err}");

    // Offline while added: catching up with Last-Event-ID ends with a resync to reload.
    let head = removed.seq;
    drop(replica);
    let again = alice.send(&member(true, "bob")).await.unwrap();
    let (events, resync) = read_stream(&bob, head, u64::MAX).await;
    assert_eq!(events.iter().map(|(e, _)| e.seq).collect::<Vec<_>>(), [again.seq]);
    assert!(resync.is_some(), "no resync after catching up on being added");
}

/// The real binary as `role`, with its own config and data dirs under `home`.
fn cli(url: &str, home: &std::path::Path, role: UserRole, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
        .args(args)
        .env("WARROOM_SERVER", url)
        .env("WARROOM_TOKEN", token(role))
        .env("WARROOM_CONFIG_DIR", home.join(format!("config-{role}")))
        .env("WARROOM_DATA_DIR", home.join(format!("data-{role}")))
        .output()
        .unwrap()
}

fn stdout_of(out: std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "exit {:?}: {err}", out.status.code());
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_declares_private_incidents_and_manages_their_members() {
    let ts = TestServer::start().await;
    let home = tempfile::tempdir().unwrap();
    let (url, home) = (ts.url.clone(), home.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        let run = |role, args: &[&str]| cli(&url, &home, role, args);
        stdout_of(run(UserRole::Commander, &["incident", "declare", SECRET, "-s", "SEV5", "--private"]));
        stdout_of(run(UserRole::Commander, &["incident", "member", "add", "INC-1", "olivia"]));
        let list = |role| stdout_of(run(role, &["incident", "list", "--json"]));
        assert!(list(UserRole::Observer).contains(SECRET));
        assert!(list(UserRole::Admin).contains(SECRET));
        assert!(!list(UserRole::Responder).contains(SECRET));
        let shown = stdout_of(run(UserRole::Commander, &["incident", "show", "INC-1"]));
        assert!(shown.contains("PRIVATE") && shown.contains("olivia"), "{shown}");
        let hidden = run(UserRole::Responder, &["incident", "show", "INC-1"]);
        assert!(!hidden.status.success());
        assert!(!String::from_utf8_lossy(&hidden.stderr).contains(SECRET));
        stdout_of(run(UserRole::Commander, &["incident", "member", "remove", "INC-1", "olivia"]));
        assert!(!list(UserRole::Observer).contains(SECRET));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_of_a_private_incident_only_what_was_published_to_it() {
    use warroom::config::ChannelKind;
    let dir = tempfile::tempdir().unwrap();
    let public = common::channel("public", ChannelKind::Statuspage);
    let server = warroom::server::start(warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: common::users(),
        channels: vec![public],
        ..Default::default()
    })
    .await
    .unwrap();
    let alice = Client::new(&server.url(), &token(UserRole::Commander)).unwrap();
    alice.send(&declare(SECRET, true)).await.unwrap();
    alice.send(&note(INC, SECRET_NOTE)).await.unwrap();
    let status = || async {
        let body = reqwest::get(format!("{}/status.json", server.url())).await.unwrap().text().await.unwrap();
        assert!(!body.contains(SECRET) && !body.contains(SECRET_NOTE), "{body}");
        body
    };
    assert!(!status().await.contains("INC-1"));
    const PUBLISHED: &str = "Some customers cannot log in; we are investigating.";
    let publish = Intent::SendMessage {
        incident: INC,
        channel: "public".into(),
        text: PUBLISHED.into(),
        step: None,
        status: None,
    };
    alice.send(&Command::new(publish)).await.unwrap();
    eventually("the published update on the status page", || async { status().await.contains(PUBLISHED) })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_stored_audience_and_the_members_still_decide_who_reads_what() {
    let dir = tempfile::tempdir().unwrap();
    let options = || warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: common::users(),
        ..Default::default()
    };
    let first = warroom::server::start(options()).await.unwrap();
    let alice = Client::new(&first.url(), &token(UserRole::Commander)).unwrap();
    alice.send(&declare(SECRET, true)).await.unwrap();
    alice.send(&note(INC, SECRET_NOTE)).await.unwrap();
    alice.send(&member(true, "olivia")).await.unwrap();
    first.stop().await;

    let again = warroom::server::start(options()).await.unwrap();
    let as_role = |role| Client::new(&again.url(), &token(role)).unwrap();
    let seen = |events: Vec<Event>| {
        events.into_iter().map(|e| (e.clone(), serde_json::to_string(&e).unwrap())).collect::<Vec<_>>()
    };
    let bob = as_role(UserRole::Responder);
    assert_redacted_view(&seen(bob.events(0, 100).await.unwrap().events), 1, 3, &[1, 2, 3]);
    assert!(bob.snapshot().await.unwrap().state.incidents.is_empty());
    let (events, _) = read_stream(&bob, 0, 3).await;
    assert_redacted_view(&events, 1, 3, &[1, 2, 3]);
    let olivia = as_role(UserRole::Observer);
    assert_full_view(&seen(olivia.events(0, 100).await.unwrap().events), 1, 3);
    assert!(olivia.snapshot().await.unwrap().state.incidents.contains_key(&INC));
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn being_handed_a_role_in_a_private_incident_or_relieved_of_it_resyncs_the_stream() {
    use warroom::model::Role;
    let ts = TestServer::start().await;
    let alice = ts.client(UserRole::Commander);
    let bob = ts.client(UserRole::Responder);
    let scribe = |person: &str| {
        Command::new(Intent::AssignRole { incident: INC, role: Role::Scribe, person: person.into() })
    };
    let live = follow(&bob, u64::MAX).await;
    alice.send(&declare(SECRET, true)).await.unwrap();
    alice.send(&scribe("bob")).await.unwrap();
    let (events, resync) = live.await.unwrap();
    assert!(resync.is_some(), "bob was not told to reload");
    let facts: Vec<&Fact> = events.iter().map(|(e, _)| &e.fact).collect();
    assert!(matches!(facts.as_slice(), [Fact::Redacted, Fact::RoleAssigned { .. }]), "{facts:?}");
    assert!(bob.snapshot().await.unwrap().state.incidents.contains_key(&INC));

    let live = tokio::spawn(drain(bob.stream(2).await.unwrap(), u64::MAX));
    alice.send(&scribe("olivia")).await.unwrap();
    let (events, resync) = live.await.unwrap();
    assert!(resync.is_some(), "bob was not told to reload");
    assert_eq!(events.iter().map(|(e, _)| &e.fact).collect::<Vec<_>>(), [&Fact::Redacted]);
    assert!(bob.snapshot().await.unwrap().state.incidents.is_empty());
}
