//! A total model over the wire: a time no clock can add to is refused with 422, and a fact
//! this build cannot read (a newer server's) never stops the server or a following client.

mod common;

use common::{token, users, DEADLINE};
use futures_util::StreamExt;
use warroom::client::replica::Replica;
use warroom::client::{Client, ClientError, StreamItem};
use warroom::config::{ChannelConfig, ChannelKind, SmtpTls};
use warroom::model::{Audience, EntryKind, IncidentId, Intent, Milestone, Severity, UserRole};
use warroom::protocol::Command;
use warroom::server::{db_path, start, RunningServer, ServerOptions};

fn dry_run(name: &str, audience: Audience) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        kind: ChannelKind::DryRun,
        audience: Some(audience),
        url: None,
        token: None,
        smtp: None,
        tls: SmtpTls::None,
        from: None,
        recipients_file: None,
        drills: false,
    }
}

/// A server with the shipped playbooks and dry-run channels, so incidents have clocks.
async fn server(data: &std::path::Path) -> RunningServer {
    start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: data.to_path_buf(),
        users: users(),
        channels: vec![
            dry_run("staff", Audience::Staff),
            dry_run("public", Audience::StatusPage),
            dry_run("customers", Audience::Customers),
        ],
        playbook_dirs: vec![concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks").into()],
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn declare(alice: &Client) -> IncidentId {
    let ack = alice.send(&common::declare("Checkout returns 502", Severity::Sev1)).await.unwrap();
    ack.events[0].fact.incident().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_milestone_at_the_end_of_time_is_refused_and_the_clocks_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let alice = Client::new(&srv.url(), &token(UserRole::Commander)).unwrap();
    let id = declare(&alice).await;
    // The exact command from the finding.
    let finding: Command = serde_json::from_str(&format!(
        r#"{{"id":"{}","kind":"set_milestone","incident":"{id}","milestone":"declared","time":"+262142-12-31T23:59:59Z"}}"#,
        uuid::Uuid::new_v4()
    ))
    .unwrap();
    match alice.send(&finding).await {
        Err(ClientError::Rejected { status: 422, error, detail }) => {
            assert_eq!(error, "invalid");
            assert!(detail.starts_with("time: "), "{detail}");
        }
        other => panic!("expected a 422, got {other:?}"),
    }
    // The writer is alive and the incident's clocks still move.
    let snooze = Intent::SnoozeClock { incident: id, audience: Audience::Staff, minutes: 15 };
    alice.send(&Command::new(snooze)).await.unwrap();
    let ok = Intent::SetMilestone {
        incident: id,
        milestone: Milestone::Started,
        time: chrono::Utc::now() - chrono::Duration::minutes(9),
    };
    alice.send(&Command::new(ok)).await.unwrap();
    let state = alice.snapshot().await.unwrap().state;
    assert!(state.incidents[&id].snoozed.contains_key(&Audience::Staff));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fact_from_a_newer_server_is_shown_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let alice = Client::new(&srv.url(), &token(UserRole::Commander)).unwrap();
    let id = declare(&alice).await;
    let head = alice.events(0, 100).await.unwrap().head;
    srv.stop().await;

    // A newer server wrote these: a kind we do not know, and one we know in a newer shape.
    let db = rusqlite::Connection::open(db_path(dir.path())).unwrap();
    let rows = [
        (
            "chaos_started",
            format!(r#"{{"kind":"chaos_started","incident":"{id}","experiment":{{"toxicity":0.5}}}}"#),
        ),
        ("note_added", format!(r#"{{"kind":"note_added","incident":"{id}","text":{{"rich":true}}}}"#)),
    ];
    for (i, (kind, body)) in rows.iter().enumerate() {
        let seq = head + 1 + i as u64;
        let mut json: serde_json::Value = serde_json::from_str(body).unwrap();
        let envelope = serde_json::json!({
            "seq": seq,
            "at": "2026-11-21T10:00:00Z",
            "actor": "future",
            "role": "admin",
            "command_id": uuid::Uuid::new_v4(),
        });
        json.as_object_mut().unwrap().extend(envelope.as_object().unwrap().clone());
        db.execute(
            "INSERT INTO events(seq, command_id, at, actor, kind, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                seq,
                json["command_id"].as_str(),
                "2026-11-21T10:00:00Z",
                "future",
                kind,
                json.to_string()
            ],
        )
        .unwrap();
    }
    drop(db);

    let srv = server(dir.path()).await;
    let alice = Client::new(&srv.url(), &token(UserRole::Commander)).unwrap();
    let mut replica = Replica::spawn(Client::new(&srv.url(), &token(UserRole::Observer)).unwrap());
    // The log goes on after them, and a following client gets past them.
    let ack =
        alice.send(&Command::new(Intent::AddNote { incident: id, text: "still here".into() })).await.unwrap();
    replica.wait_for(ack.seq, DEADLINE).await.unwrap_or_else(|at| panic!("replica stuck at seq {at}"));
    let timeline = &replica.state().incidents[&id].timeline;
    let tail: Vec<String> = timeline.iter().rev().take(3).rev().map(|e| e.kind.summary()).collect();
    assert_eq!(tail, ["unreadable entry: chaos_started", "unreadable entry: note_added", "still here"]);
    assert!(matches!(&timeline[timeline.len() - 2].kind, EntryKind::Unreadable { .. }));
    // The stream carries them to a client that reads on past them.
    let mut stream = alice.stream(head).await.unwrap();
    let mut kinds = Vec::new();
    let collect = async {
        while let Some(item) = stream.next().await {
            if let StreamItem::Event(e) = item.unwrap() {
                kinds.push(e.fact.kind().to_string());
                if e.seq == ack.seq {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(DEADLINE, collect).await.expect("the stream reaches the newest event");
    assert_eq!(kinds, ["chaos_started", "note_added", "note_added"]);
    // What the server sends is the body as it was written.
    let page = alice.events(head, 10).await.unwrap();
    assert_eq!(page.events[0].fact.kind(), "chaos_started");
    let wire = serde_json::to_value(&page.events[0]).unwrap();
    assert_eq!(wire["experiment"]["toxicity"], 0.5);
    drop(replica);
    srv.stop().await;
}
