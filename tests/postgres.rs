//! Several servers on one PostgreSQL: one order for every subscriber, no acked command lost or
//! doubled across a SIGKILL and a database restart, idempotency across servers, one lease holder.
//!
//! Each test starts its own PostgreSQL (`tests/pg`); where there is none they say so and pass,
//! unless `WARROOM_REQUIRE_POSTGRES=1` (as in `.ci/run`).

mod common;
mod pg;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{declare, token, users, ServerProcess, DEADLINE};
use futures_util::StreamExt;
use warroom::client::{Client, StreamItem};
use warroom::model::{Event, IncidentId, Intent, Severity, UserRole};
use warroom::protocol::{Ack, Command};
use warroom::server::{start, RunningServer, ServerOptions};

/// A cluster and a database on it, made off the async threads (the client blocks).
async fn database(name: &'static str) -> Option<(pg::Pg, String)> {
    tokio::task::spawn_blocking(move || {
        let pg = pg::Pg::start()?;
        let url = pg.database(name);
        Some((pg, url))
    })
    .await
    .unwrap()
}

async fn server(url: &str, dir: &Path) -> RunningServer {
    start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        users: users(),
        store: Some(url.into()),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn note(incident: IncidentId, text: String) -> Command {
    Command::new(Intent::AddNote { incident, text })
}

/// Reads `stream` until it has seen `head` (known once the writers are done), returning
/// every event's seq and command id in the order received.
async fn follow(client: Client, head: tokio::sync::watch::Receiver<u64>) -> Vec<(u64, uuid::Uuid)> {
    let mut seen: Vec<(u64, uuid::Uuid)> = Vec::new();
    let mut stream = client.stream(0).await.unwrap();
    loop {
        let target = *head.borrow();
        if target > 0 && seen.last().is_some_and(|(s, _)| *s >= target) {
            return seen;
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
            Ok(Some(Ok(StreamItem::Event(e)))) => seen.push((e.seq, e.command_id)),
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(e))) => panic!("stream failed: {e}"),
            Ok(None) => panic!("stream ended"),
        }
    }
}

fn assert_gap_free(what: &str, seqs: impl Iterator<Item = u64>, head: u64) {
    let seqs: Vec<u64> = seqs.collect();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "{what}: not the gap-free sequence 1..={head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_give_every_subscriber_the_same_gap_free_log_and_end_in_one_state() {
    let Some((_pg, url)) = database("three").await else { return };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut servers = Vec::new();
    for d in &dirs {
        servers.push(server(&url, d.path()).await);
    }
    let urls: Vec<String> = servers.iter().map(RunningServer::url).collect();
    let client = |i: usize, role| Client::new(&urls[i % 3], &token(role)).unwrap();

    // 100 subscribers, spread across the servers, from before the first event.
    let (head_tx, head_rx) = tokio::sync::watch::channel(0u64);
    let subscribers: Vec<_> =
        (0..100).map(|i| tokio::spawn(follow(client(i, UserRole::Observer), head_rx.clone()))).collect();

    // 50 writers, spread across the servers: each declares an incident and writes notes on it.
    let writers: Vec<_> = (0..50)
        .map(|w| {
            let c = client(w, UserRole::Commander);
            tokio::spawn(async move {
                let ack = c.send(&declare(&format!("writer {w}"), Severity::Sev3)).await.unwrap();
                let id = ack.events[0].fact.incident().unwrap();
                let mut acks = vec![ack];
                for n in 0..8 {
                    acks.push(c.send(&note(id, format!("writer {w} note {n}"))).await.unwrap());
                }
                acks
            })
        })
        .collect();
    let mut acks: Vec<Ack> = Vec::new();
    for w in writers {
        acks.extend(w.await.unwrap());
    }
    let head = acks.iter().map(|a| a.seq).max().unwrap();
    head_tx.send_replace(head);

    let mut received = Vec::new();
    for s in subscribers {
        received
            .push(tokio::time::timeout(DEADLINE, s).await.expect("a subscriber reached the head").unwrap());
    }
    // Each subscriber: 1..=head with no gap, and all of them the same events in the same order.
    for (i, r) in received.iter().enumerate() {
        assert_gap_free(&format!("subscriber {i}"), r.iter().map(|(s, _)| *s), head);
        assert_eq!(r, &received[0], "subscriber {i} saw another order than subscriber 0");
    }
    // Every ack's events are where the log says they are.
    let order: HashMap<u64, uuid::Uuid> = received[0].iter().copied().collect();
    for a in &acks {
        for e in &a.events {
            assert_eq!(order.get(&e.seq), Some(&e.command_id), "ack of seq {}", e.seq);
        }
    }
    // The final states, as each server serves them, are identical.
    let mut states = Vec::new();
    for i in 0..3 {
        let c = client(i, UserRole::Commander);
        common::eventually("every server at the head", || {
            let c = c.clone();
            async move { c.snapshot().await.is_ok_and(|s| s.seq == head) }
        })
        .await;
        states.push(serde_json::to_value(c.snapshot().await.unwrap().state).unwrap());
    }
    assert_eq!(states[0], states[1]);
    assert_eq!(states[0], states[2]);
    for s in servers {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_command_to_two_servers_at_once_writes_once_and_both_answer_the_same() {
    let Some((_pg, url)) = database("twice").await else { return };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (s1, s2) = (server(&url, d1.path()).await, server(&url, d2.path()).await);
    let c1 = Client::new(&s1.url(), &token(UserRole::Commander)).unwrap();
    let c2 = Client::new(&s2.url(), &token(UserRole::Commander)).unwrap();
    for round in 0..20 {
        let cmd = declare(&format!("round {round}"), Severity::Sev2);
        let (a, b) = tokio::join!(c1.send(&cmd), c2.send(&cmd));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "round {round}: two answers to one command");
    }
    let events = common::all_events(&c1).await;
    let mut per_command: BTreeMap<uuid::Uuid, usize> = BTreeMap::new();
    for e in &events {
        *per_command.entry(e.command_id).or_default() += 1;
    }
    assert_eq!(per_command.len(), 20, "one command each");
    // A client acked by one server resumes on the other at once: it waits for that server to
    // read the log instead of calling the client ahead of it (which would force a reload).
    // The other server hears no notification here, as if they were all lost.
    s2.app.writer_health().set_failpoint(warroom::server::writer::Failpoint::Deaf, true);
    for round in 0..20 {
        let ack = c1.send(&declare(&format!("resume {round}"), Severity::Sev4)).await.unwrap();
        let page = c2.events(ack.seq, 10).await.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            page.head >= ack.seq,
            "round {round}: the other server's head {} is behind {}",
            page.head,
            ack.seq
        );
        let mut stream = c2.stream(ack.seq).await.unwrap_or_else(|e| panic!("round {round}: stream: {e}"));
        assert!(matches!(stream.next().await, Some(Ok(StreamItem::Hello { .. }))), "round {round}");
    }
    let declared = events.iter().filter(|e| e.fact.kind() == "incident_declared").count();
    assert_eq!(declared, 20, "each command declared once");
    s1.stop().await;
    s2.stop().await;
}

/// A server config on the shared store, for the real binary.
fn config(dir: &Path, url: &str) -> std::path::PathBuf {
    config_with(dir, url, Vec::new())
}

fn config_with(dir: &Path, url: &str, probes: Vec<warroom::config::ProbeConfig>) -> std::path::PathBuf {
    let cfg = warroom::config::ServerConfig {
        users: users(),
        store: Some(url.into()),
        probes,
        ..Default::default()
    };
    let path = dir.join("server.toml");
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
    path
}

/// Sends `cmd` to the servers in turn until one acknowledges it (the same id every time, so a
/// retry after an unanswered write is safe).
async fn send_until_acked(clients: &[Client], first: usize, cmd: &Command) -> Ack {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = first;
    loop {
        match clients[i % clients.len()].send(cmd).await {
            Ok(ack) => return ack,
            Err(e) => {
                assert!(Instant::now() < deadline, "command {} never acknowledged: {e}", cmd.id);
                i += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_server_and_a_restarted_database_lose_and_double_no_acknowledged_command() {
    let Some((pg, url)) = database("crash").await else { return };
    let pg = Arc::new(pg);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &url);
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    let mut a = ServerProcess::spawn(&da, &cfg, "127.0.0.1:0");
    let b = ServerProcess::spawn(&db, &cfg, "127.0.0.1:0");
    let clients: Vec<Client> =
        [&a.url, &b.url].iter().map(|u| Client::new(u, &token(UserRole::Commander)).unwrap()).collect();

    // A subscriber on A; when A dies it resumes on B from the last seq it saw.
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let subscriber = {
        let (seen, clients) = (seen.clone(), clients.clone());
        tokio::spawn(async move {
            let mut on = 0;
            loop {
                let after = seen.lock().unwrap().last().copied().unwrap_or(0);
                let Ok(mut stream) = clients[on % 2].stream(after).await else {
                    on += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                while let Some(Ok(item)) = stream.next().await {
                    if let StreamItem::Event(e) = item {
                        seen.lock().unwrap().push(e.seq);
                    }
                }
                on += 1;
            }
        })
    };

    let acked: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let writers: Vec<_> = (0..10)
        .map(|w| {
            let (clients, acked) = (clients.clone(), acked.clone());
            tokio::spawn(async move {
                let ack = send_until_acked(&clients, w, &declare(&format!("w{w}"), Severity::Sev3)).await;
                let id = ack.events[0].fact.incident().unwrap();
                acked.lock().unwrap().push(ack);
                for n in 0..30 {
                    let ack = send_until_acked(&clients, w, &note(id, format!("w{w} n{n}"))).await;
                    acked.lock().unwrap().push(ack);
                }
            })
        })
        .collect();
    let count = |n: usize| {
        let acked = acked.clone();
        move || {
            let acked = acked.clone();
            async move { acked.lock().unwrap().len() >= n }
        }
    };
    common::eventually("50 acks", count(50)).await;
    a.kill();
    common::eventually("120 acks", count(120)).await;
    let restart = pg.clone();
    tokio::task::spawn_blocking(move || restart.restart()).await.unwrap();
    for w in writers {
        w.await.unwrap();
    }

    let events: Vec<Event> = common::all_events(&clients[1]).await;
    let head = events.last().map_or(0, |e| e.seq);
    assert_gap_free("the log", events.iter().map(|e| e.seq), head);
    let by_seq: HashMap<u64, &Event> = events.iter().map(|e| (e.seq, e)).collect();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 310);
    for ack in &acked {
        let id = ack.events[0].command_id;
        let in_log: Vec<u64> = events.iter().filter(|e| e.command_id == id).map(|e| e.seq).collect();
        let answered: Vec<u64> = ack.events.iter().map(|e| e.seq).collect();
        assert_eq!(in_log, answered, "command {id}: in the log once, where its ack said");
        for e in &ack.events {
            assert_eq!(by_seq[&e.seq], e, "command {id}: the acked event is the stored one");
        }
    }
    common::eventually("the subscriber at the head", || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().last() == Some(&head) }
    })
    .await;
    subscriber.abort();
    assert_gap_free("the resumed subscriber", seen.lock().unwrap().iter().copied(), head);
}

/// What `/healthz` says about where the side effects run.
async fn effects(url: &str) -> Option<String> {
    let body: serde_json::Value = reqwest::get(format!("{url}/healthz")).await.ok()?.json().await.ok()?;
    body["side_effects"].as_str().map(str::to_string)
}

/// An HTTP target that answers 200 and counts its requests: how many servers probe it.
async fn counting_target() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_lease_holder_dies_another_server_takes_the_side_effects_over_within_ten_seconds() {
    let Some((_pg, url)) = database("lease").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (target, hits) = counting_target().await;
    // One probe every second: three servers probing would hit it three times as often.
    let probe: warroom::config::ProbeConfig = toml::from_str(&format!(
        "name = \"search\"\nurl = \"{target}/health\"\ninterval = \"1s\"\ntimeout = \"1s\"\nconditions = [\"[STATUS] == 200\"]\n"
    ))
    .unwrap();
    let cfg = config_with(dir.path(), &url, vec![probe]);
    let began = Instant::now();
    let mut procs: Vec<ServerProcess> = ["a", "b", "c"]
        .iter()
        .map(|n| ServerProcess::spawn(&dir.path().join(n), &cfg, "127.0.0.1:0"))
        .collect();
    // Exactly one holder once they settle, and never two at once.
    let holder = async {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let mut here = Vec::new();
            for (i, p) in procs.iter().enumerate() {
                if effects(&p.url).await.as_deref() == Some("here") {
                    here.push(i);
                }
            }
            assert!(here.len() <= 1, "servers {here:?} all run side effects");
            if let [one] = here[..] {
                return one;
            }
            assert!(Instant::now() < deadline, "no server took the lease");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    .await;
    let survivor = Client::new(&procs[(holder + 1) % 3].url, &token(UserRole::Commander)).unwrap();
    common::eventually("the probe recorded up", || {
        let c = survivor.clone();
        async move { common::all_events(&c).await.iter().any(|e| e.fact.kind() == "probe_changed") }
    })
    .await;
    procs[holder].kill();
    let killed = Instant::now();
    let others: Vec<String> =
        procs.iter().enumerate().filter(|(i, _)| *i != holder).map(|(_, p)| p.url.clone()).collect();
    loop {
        let mut here = 0;
        for u in &others {
            here += usize::from(effects(u).await.as_deref() == Some("here"));
        }
        assert!(here <= 1, "two servers run side effects after the takeover");
        if here == 1 {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(10), "nobody took the lease over within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The new holder probes: wait for two more hits, then count. One prober on a 1 s grid hits at
    // most once a second, plus one where the grid changed hands; several would hit more often.
    let before = hits.load(std::sync::atomic::Ordering::SeqCst);
    common::eventually("the new holder probing", || {
        let hits = hits.clone();
        async move { hits.load(std::sync::atomic::Ordering::SeqCst) >= before + 2 }
    })
    .await;
    let (n, secs) = (hits.load(std::sync::atomic::Ordering::SeqCst), began.elapsed().as_secs_f64());
    assert!(n as f64 <= secs + 2.0, "{n} probe requests in {secs:.1} s: more than one server probed");
    // Its result is in the log once: the new holder saw `up` already recorded and wrote nothing.
    let events = common::all_events(&survivor).await;
    let changes: Vec<&Event> = events.iter().filter(|e| e.fact.kind() == "probe_changed").collect();
    assert_eq!(changes.len(), 1, "probe results recorded: {changes:?}");
}

/// The snapshot's size is what spaces the next one (`snapshot_every`), also after a restart:
/// the PostgreSQL store reports what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reports_the_size_of_its_last_snapshot() {
    use warroom::server::store::postgres::PgStore;
    use warroom::server::store::EventStore;
    let Some((_pg, url)) = database("snapshot_size").await else { return };
    tokio::task::spawn_blocking(move || {
        let mut store = PgStore::open(&url).unwrap();
        assert_eq!(store.last_snapshot_bytes().unwrap(), 0, "no snapshot yet");
        let state = warroom::model::State { seq: 7, ..Default::default() };
        let bytes = store.write_snapshot(&state).unwrap();
        let fold = format!("{{\"fold\":{}}}\n", warroom::model::FOLD_VERSION);
        assert_eq!(bytes, (fold.len() + serde_json::to_string(&state).unwrap().len()) as u64);
        assert_eq!(store.last_snapshot_seq().unwrap(), 7);
        assert_eq!(store.last_snapshot_bytes().unwrap(), bytes);
        assert_eq!(store.load_state(warroom::model::Window::Full).unwrap().seq, 7, "read");
        // The row as a build before fold numbers wrote it: another fold's, so not read.
        let mut sql = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        sql.execute("UPDATE snapshots SET state = substr(state, $1)", &[&(fold.len() as i32 + 1)]).unwrap();
        assert_eq!(store.last_snapshot_seq().unwrap(), 0, "a snapshot of this fold is due");
        assert_eq!(store.load_state(warroom::model::Window::Full).unwrap().seq, 0, "the log, folded");
    })
    .await
    .unwrap();
}

/// A share link (the big screen's) made by one server opens the scoreboard on every server
/// of the store: behind a load balancer, the screen's requests land on any of them. Each data
/// dir keeps its own key file; the store keeps the first one offered, for all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_link_from_one_server_opens_the_scoreboard_on_another() {
    use warroom::model::gameday::Style;
    let Some((_pg, url)) = database("share_key").await else { return };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = server(&url, a_dir.path()).await;
    let b = server(&url, b_dir.path()).await;
    let own = |dir: &tempfile::TempDir| std::fs::read(dir.path().join("share.key")).unwrap();
    assert_ne!(own(&a_dir), own(&b_dir), "each server made its own key file");
    let root = Client::new(&format!("http://{}", a.addr), &token(UserRole::Admin)).unwrap();
    root.send(&Command::new(Intent::CreateGameday { name: "Black Friday".into(), style: Style::FireDrill }))
        .await
        .unwrap();
    let link = root.gameday().await.unwrap().share_url.expect("the game master's share link");
    let query = link.split_once('?').expect("a token in the link").1;
    let http = reqwest::Client::new();
    opens(&http, "a", a.addr, query).await;
    // Server b learns of the game day from the store.
    opens(&http, "b", b.addr, query).await;
    // A restart keeps the agreed key.
    drop(b.stop().await);
    let b = server(&url, b_dir.path()).await;
    opens(&http, "b, restarted", b.addr, query).await;
    // A token under another key opens nothing.
    let forged = "ab".repeat(32);
    let resp =
        http.get(format!("http://{}/gameday/scoreboard.json?token={forged}", b.addr)).send().await.unwrap();
    assert!(resp.status().is_client_error(), "a forged token: {}", resp.status());
}

/// Waits until `addr` opens the scoreboard with the share link's `query` (a server may not have
/// the game day yet): fails at the deadline with the last refusal.
async fn opens(http: &reqwest::Client, name: &str, addr: std::net::SocketAddr, query: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let resp = http.get(format!("http://{addr}/gameday/scoreboard.json?{query}")).send().await.unwrap();
        let status = resp.status().as_u16();
        if status == 200 {
            return;
        }
        let body = resp.text().await.unwrap();
        assert!(Instant::now() < deadline, "server {name} refuses the share link: {status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
