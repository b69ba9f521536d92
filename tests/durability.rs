//! Nothing acknowledged is ever lost: SIGKILL mid-write, and CLI writes queued while the
//! server is down, applied once and in order after it returns.

mod common;

use std::collections::HashSet;
use std::process::Command as Proc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{all_events, token, write_config, ServerProcess};
use warroom::client::Client;
use warroom::model::{Fact, IncidentId, Intent, Severity, UserRole};
use warroom::protocol::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acked_command_survives_a_sigkill_mid_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("data");
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let client = Client::new(&server.url, &token(UserRole::Commander)).unwrap();
    client.send(&common::declare("crash", Severity::Sev1)).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Acks the writers received: the kill comes once they are well under way.
    let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, stop, acks) = (client.clone(), stop.clone(), acks.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let cmd = Command::new(Intent::AddNote { incident: IncidentId(1), text: format!("{w}/{i}") });
                match client.send(&cmd).await {
                    Ok(_) => {
                        acked.push(cmd.id);
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => break, // the server died under us
                }
                i += 1;
            }
            acked
        }));
    }
    // Let writers get well under way, then kill the server without warning.
    // Counted from the writers' own acks: the log's head also counts events committed whose
    // acks had not arrived yet, and the declaration's events.
    common::eventually("300 acked commands", || {
        let acks = acks.clone();
        async move { acks.load(Ordering::SeqCst) >= 300 }
    })
    .await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(acked.len() >= 300, "writers were running: {}", acked.len());

    let server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let client = Client::new(&server.url, &token(UserRole::Commander)).unwrap();
    let log = all_events(&client).await;
    let in_log: HashSet<_> = log.iter().map(|e| e.command_id).collect();
    let missing = acked.iter().filter(|id| !in_log.contains(id)).count();
    assert_eq!(missing, 0, "{missing} of {} acked commands lost", acked.len());
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }
    // And the restarted server keeps numbering where the log left off.
    let ack = client
        .send(&Command::new(Intent::AddNote { incident: IncidentId(1), text: "after".into() }))
        .await
        .unwrap();
    assert_eq!(ack.seq, log.len() as u64 + 1);
}

fn cli(server: &str, home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Proc::new(env!("CARGO_BIN_EXE_warroom"))
        .args(args)
        .env("WARROOM_SERVER", server)
        .env("WARROOM_TOKEN", token(UserRole::Responder))
        .env("WARROOM_CONFIG_DIR", home.join("config"))
        .env("WARROOM_DATA_DIR", home.join("data"))
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_writes_queue_while_the_server_is_down_and_land_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let data = dir.path().join("server");
    let home = dir.path().join("home");
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let url = server.url.clone();
    let out = cli(&url, &home, &["incident", "declare", "Checkout down", "--severity", "SEV2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    server.kill();
    for text in ["first", "second", "third"] {
        let out = cli(&url, &home, &["incident", "note", "INC-1", text]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "queued writes succeed: {stderr}");
        assert!(stderr.contains("queued add_note"), "{stderr}");
    }
    let out = cli(&url, &home, &["incident", "list"]);
    assert!(!out.status.success(), "reads fail clearly while the server is down");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
    let out = cli(&url, &home, &["outbox", "list", "--json"]);
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pending = listing["queued"].as_array().unwrap();
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|q| q["yours"] == true && q["who"] == "bob"), "{listing}");

    let server = ServerProcess::spawn(&data, &config, &server.listen);
    assert_eq!(server.url, url, "restarted on the same address");
    // The next write sends the queue first, then itself.
    let out = cli(&url, &home, &["incident", "note", "INC-1", "fourth"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A second flush finds nothing to send.
    let out = cli(&url, &home, &["outbox", "flush"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sent 0"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let client = Client::new(&url, &token(UserRole::Observer)).unwrap();
    let notes: Vec<String> = all_events(&client)
        .await
        .into_iter()
        .filter_map(|e| match e.fact {
            Fact::NoteAdded { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(notes, ["first", "second", "third", "fourth"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_a_snapshot_and_the_events_after_it_rebuilds_the_same_state() {
    use warroom::server::store::{EventStore, SNAPSHOT_EVERY};
    use warroom::server::{start, ServerOptions};
    let dir = tempfile::tempdir().unwrap();
    let opts = || ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: common::users(),
        commands_per_second: common::UNLIMITED,
        command_burst: common::UNLIMITED,
        ..Default::default()
    };
    let server = start(opts()).await.unwrap();
    let client = Client::new(&server.url(), &token(UserRole::Commander)).unwrap();
    client
        .send(&Command::new(Intent::DeclareIncident {
            title: "long one".into(),
            severity: Severity::Sev5,
            impact: String::new(),
            drill: false,
            services: vec![],
            private: false,
        }))
        .await
        .unwrap();
    // Past one snapshot, with events after it.
    let total = SNAPSHOT_EVERY + 150;
    let mut writers = Vec::new();
    for w in 0..20u64 {
        let c = client.clone();
        writers.push(tokio::spawn(async move {
            for i in (w..total).step_by(20) {
                c.send(&Command::new(Intent::AddNote { incident: IncidentId(1), text: format!("n{i}") }))
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let before = serde_json::to_string(&client.snapshot().await.unwrap().state).unwrap();
    server.stop().await;
    // Snapshots are written in the background: wait for it.
    let db = warroom::server::store::Store::open(&warroom::server::db_path(dir.path())).unwrap();
    common::eventually("a snapshot", || {
        let seq = db.last_snapshot_seq().unwrap();
        async move { seq >= SNAPSHOT_EVERY }
    })
    .await;
    drop(db);

    let server = start(opts()).await.unwrap();
    let client = Client::new(&server.url(), &token(UserRole::Commander)).unwrap();
    let after = serde_json::to_string(&client.snapshot().await.unwrap().state).unwrap();
    assert_eq!(after, before);
    let ack = client
        .send(&Command::new(Intent::AddNote { incident: IncidentId(1), text: "next".into() }))
        .await
        .unwrap();
    assert_eq!(ack.seq, total + 2);
    server.stop().await;

    // A start that folds a long log without a snapshot writes one at once, so the next
    // restart does not fold it all again; no command needs to come first.
    std::fs::remove_file(warroom::server::store::snapshot_path(&warroom::server::db_path(dir.path())))
        .unwrap();
    let server = start(opts()).await.unwrap();
    let db = warroom::server::store::Store::open(&warroom::server::db_path(dir.path())).unwrap();
    common::eventually("a snapshot at the head", || {
        let seq = db.last_snapshot_seq().unwrap();
        async move { seq == total + 2 }
    })
    .await;
    server.stop().await;
}
