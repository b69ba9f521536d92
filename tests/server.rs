//! The shared war room over real HTTP: convergence, concurrency, idempotency, auth, errors.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{all_events, token, TestServer, DEADLINE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use warroom::client::replica::Replica;
use warroom::model::{IncidentId, Intent, Severity, Status, UserRole};
use warroom::protocol::Command;

fn declare(title: &str) -> Command {
    Command::new(Intent::DeclareIncident {
        title: title.into(),
        // SEV5 has no default playbook: one declaration is one event, which keeps counts simple.
        severity: Severity::Sev5,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
        private: false,
    })
}

async fn snapshot_json(ts: &TestServer) -> String {
    serde_json::to_string(&ts.client(UserRole::Observer).snapshot().await.unwrap().state).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_see_each_others_commands_and_match_the_server() {
    let ts = TestServer::start().await;
    let mut alice = Replica::spawn(ts.client(UserRole::Commander));
    let mut bob = Replica::spawn(ts.client(UserRole::Responder));
    let ack = ts.client(UserRole::Commander).send(&declare("Checkout is down")).await.unwrap();
    bob.wait_for(ack.seq, DEADLINE).await.unwrap();
    let ack = ts
        .client(UserRole::Responder)
        .send(&Command::new(Intent::AddNote { incident: IncidentId(1), text: "PSP 502s".into() }))
        .await
        .unwrap();
    alice.wait_for(ack.seq, DEADLINE).await.unwrap();
    bob.wait_for(ack.seq, DEADLINE).await.unwrap();
    let server = snapshot_json(&ts).await;
    assert_eq!(serde_json::to_string(&alice.state()).unwrap(), server);
    assert_eq!(serde_json::to_string(&bob.state()).unwrap(), server);
    let inc = &alice.state().incidents[&IncidentId(1)];
    assert_eq!(inc.timeline.last().unwrap().actor, "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_writers_land_exactly_once_and_every_subscriber_agrees() {
    const WRITERS: usize = 50;
    const EACH: usize = 100;
    let ts = TestServer::start().await;
    let admin = ts.client(UserRole::Admin);
    admin.send(&declare("load")).await.unwrap();
    let mut subscribers: Vec<Replica> =
        (0..3).map(|_| Replica::spawn(ts.client(UserRole::Observer))).collect();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let client = ts.client(if w % 2 == 0 { UserRole::Responder } else { UserRole::Commander });
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..EACH {
                let cmd =
                    Command::new(Intent::AddNote { incident: IncidentId(1), text: format!("w{w} n{i}") });
                let ack = client.send(&cmd).await.unwrap();
                acked.push((cmd.id, ack.seq));
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    let log = all_events(&admin).await;
    assert_eq!(log.len(), 1 + WRITERS * EACH);
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "seqs are gap-free and ordered");
    }
    let ids: Vec<_> = log.iter().map(|e| e.command_id).collect();
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "each command appears once");
    for (id, seq) in &acked {
        assert_eq!(log[*seq as usize - 1].command_id, *id, "the ack's seq is the command's event");
    }
    let head = log.last().unwrap().seq;
    let server = snapshot_json(&ts).await;
    for s in &mut subscribers {
        s.wait_for(head, DEADLINE).await.unwrap();
        assert_eq!(serde_json::to_string(&s.state()).unwrap(), server);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_a_command_returns_the_original_answer_and_appends_nothing() {
    let ts = TestServer::start().await;
    let c = ts.client(UserRole::Commander);
    let cmd = declare("Payments failing");
    let first = c.send(&cmd).await.unwrap();
    c.send(&declare("another")).await.unwrap();
    let again = c.send(&cmd).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(all_events(&c).await.len(), 2);
    // The same key with a different body is a client bug, not a retry.
    let reused = warroom::protocol::Command { id: cmd.id, intent: declare("different").intent };
    let err = c.send(&reused).await.unwrap_err();
    assert!(matches!(err, warroom::client::ClientError::Rejected { status: 422, .. }), "{err}");
    // A different user replaying someone's key is refused too.
    let err = ts.client(UserRole::Admin).send(&cmd).await.unwrap_err();
    assert!(matches!(err, warroom::client::ClientError::Rejected { status: 422, .. }), "{err}");
    assert_eq!(all_events(&c).await.len(), 2);
}

async fn call(method: &str, url: &str, token: Option<&str>, body: Option<String>) -> (StatusCode, Value) {
    let http = reqwest::Client::new();
    let mut req = http.request(method.parse().unwrap(), url).timeout(Duration::from_secs(10));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn cmd_json(v: Value) -> String {
    let mut v = v;
    v["id"] = json!(uuid::Uuid::new_v4());
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_bad_input_get_a_named_4xx_never_a_5xx() {
    let ts = TestServer::start().await;
    let u = |p: &str| format!("{}{p}", ts.url);
    let commander = token(UserRole::Commander);
    let observer = token(UserRole::Observer);
    let villain = token(UserRole::Villain);
    let responder = token(UserRole::Responder);
    let ok = call(
        "POST",
        &u("/api/v1/commands"),
        Some(&commander),
        Some(cmd_json(json!({"kind":"declare_incident","title":"t","severity":"SEV5"}))),
    )
    .await;
    assert_eq!(ok.0, StatusCode::OK, "{ok:?}");

    // No token or an unknown one: 401 on every endpoint under /api/v1.
    for (m, p) in [
        ("POST", "/api/v1/commands"),
        ("GET", "/api/v1/state"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/stream"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/incidents"),
        ("GET", "/api/v1/incidents/INC-1"),
        ("GET", "/api/v1/incidents/INC-1/timeline"),
    ] {
        for t in [None, Some("not-a-real-token-at-all"), Some("")] {
            let (status, body) = call(m, &u(p), t, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{m} {p} {t:?}");
            assert_eq!(body["error"], "unauthorized");
        }
    }
    // Liveness is public.
    assert_eq!(call("GET", &u("/healthz"), None, None).await.0, StatusCode::OK);

    let note = || cmd_json(json!({"kind":"add_note","incident":"INC-1","text":"hi"}));
    // (what, method, token, body, expected status, expected error code)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<String>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        ("observers never write", "POST", &observer, Some(note()), StatusCode::FORBIDDEN, "forbidden"),
        (
            "villains do not touch incidents",
            "POST",
            &villain,
            Some(note()),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "responders do not hand over roles",
            "POST",
            &responder,
            Some(cmd_json(json!({"kind":"assign_role","incident":"INC-1","role":"scribe","person":"x"}))),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "malformed JSON",
            "POST",
            &commander,
            Some("{\"id\": ".into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        ("not an object", "POST", &commander, Some("[1,2]".into()), StatusCode::BAD_REQUEST, "bad_request"),
        ("empty body", "POST", &commander, Some(String::new()), StatusCode::BAD_REQUEST, "bad_request"),
        (
            // serde would read a number as the variant's position (0 = declare_incident).
            "kind given as a number",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":0,"title":"t","severity":"SEV5"}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "unknown kind",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":"drop_tables"}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "missing field",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":"add_note","incident":"INC-1"}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "bad severity",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":"set_severity","incident":"INC-1","severity":"SEV9"}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "bad incident id",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":"add_note","incident":"INC-x","text":"t"}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "id is the nil uuid, which redacted placeholders carry",
            "POST",
            &commander,
            Some(json!({"id":"00000000-0000-0000-0000-000000000000","kind":"add_note","incident":"INC-1","text":"t"}).to_string()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "id is not a uuid",
            "POST",
            &commander,
            Some(json!({"id":"1","kind":"add_note","incident":"INC-1","text":"t"}).to_string()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "unknown incident",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":"add_note","incident":"INC-42","text":"t"}))),
            StatusCode::NOT_FOUND,
            "unknown_incident",
        ),
        (
            "invalid transition",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":"set_status","incident":"INC-1","status":"closed"}))),
            StatusCode::CONFLICT,
            "conflict",
        ),
        (
            "empty note",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":"add_note","incident":"INC-1","text":"  "}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            "too large",
            "POST",
            &commander,
            Some(cmd_json(json!({"kind":"add_note","incident":"INC-1","text":"x".repeat(70_000)}))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ];
    for (what, method, tok, body, want, code) in cases {
        let (status, resp) = call(method, &u("/api/v1/commands"), Some(tok), body).await;
        assert_eq!(status, want, "{what}: {resp}");
        assert_eq!(resp["error"], code, "{what}: {resp}");
        assert!(resp["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {resp}");
    }
    // An unknown kind is answered with the kinds a client may send, not the server's own.
    let body = Some(cmd_json(json!({"kind":"drop_tables"})));
    let (_, resp) = call("POST", &u("/api/v1/commands"), Some(&commander), body).await;
    let detail = resp["detail"].as_str().unwrap();
    assert!(detail.contains("unknown kind `drop_tables`") && detail.contains("declare_incident"), "{detail}");
    assert!(!detail.contains("record_probe") && !detail.contains("record_kickoff"), "{detail}");
    for (path, want) in [
        ("/api/v1/events?after=x", StatusCode::BAD_REQUEST),
        ("/api/v1/events?limit=0", StatusCode::BAD_REQUEST),
        ("/api/v1/events?limit=99999999", StatusCode::BAD_REQUEST),
        ("/api/v1/events?after=-1", StatusCode::BAD_REQUEST),
        ("/api/v1/events?after=1&after=2", StatusCode::BAD_REQUEST),
        ("/api/v1/events?colour=red", StatusCode::BAD_REQUEST),
        ("/api/v1/stream?after=abc", StatusCode::BAD_REQUEST),
        ("/api/v1/nothing", StatusCode::NOT_FOUND),
        // Past the head is a reader of another log (a reset server): told so, never a false gap.
        ("/api/v1/events?after=999", StatusCode::BAD_REQUEST),
        ("/api/v1/events?after=18446744073709551615", StatusCode::BAD_REQUEST),
        ("/api/v1/events?after=1", StatusCode::OK),
        ("/api/v1/stream?after=18446744073709551615", StatusCode::BAD_REQUEST),
        ("/api/v1/stream?after=2", StatusCode::BAD_REQUEST),
    ] {
        let (status, resp) = call("GET", &u(path), Some(&observer), None).await;
        assert_eq!(status, want, "{path}: {resp}");
    }
    let (status, _) = call("DELETE", &u("/api/v1/state"), Some(&commander), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // Everything refused above left no trace.
    assert_eq!(all_events(&ts.client(UserRole::Observer)).await.len(), 1);
    let (status, doc) = call("GET", &u("/api/v1/openapi.json"), Some(&observer), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/commands"]["post"].is_object());
    for path in ["/api/v1/incidents", "/api/v1/incidents/{id}", "/api/v1/incidents/{id}/timeline"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} is documented");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_that_no_longer_applies_is_refused_with_the_reason() {
    let ts = TestServer::start().await;
    let c = ts.client(UserRole::Commander);
    c.send(&declare("x")).await.unwrap();
    let close = |reason: &str| {
        Command::new(Intent::SetStatus {
            incident: IncidentId(1),
            status: Status::Closed,
            reason: Some(reason.into()),
        })
    };
    c.send(&close("duplicate: of INC-0")).await.unwrap();
    let err = c.send(&close("cancelled")).await.unwrap_err().to_string();
    assert!(err.contains("cannot go from closed to closed") || err.contains("already closed"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_ahead_of_the_log_is_told_to_reload() {
    let ts = TestServer::start().await;
    let c = ts.client(UserRole::Commander);
    c.send(&declare("one")).await.unwrap();
    // A client that followed another server (or a reset one) asks for events after 99: a
    // refusal its sync reads as "reload the snapshot" (the next test sees a replica recover).
    match c.stream(99).await.map(|_| ()) {
        Err(warroom::client::ClientError::Rejected { status: 400, error, detail }) => {
            assert_eq!(error, warroom::protocol::AHEAD_OF_LOG);
            assert!(detail.contains("reload"), "{detail}");
        }
        other => panic!("expected 400 ahead_of_log, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_follows_a_server_replaced_by_a_fresh_log_on_the_same_address() {
    let a = TestServer::start().await;
    let c = a.client(UserRole::Commander);
    for t in ["one", "two", "three"] {
        c.send(&declare(t)).await.unwrap();
    }
    let mut replica = Replica::spawn(a.client(UserRole::Observer));
    replica.wait_for(3, DEADLINE).await.unwrap();
    let addr = a.server.addr;
    a.server.stop().await;
    // A new server on the same address with an empty log: the replica is "ahead" of it.
    let dir = tempfile::tempdir().unwrap();
    let b = warroom::server::start(warroom::server::ServerOptions {
        listen: addr.to_string(),
        data_dir: dir.path().to_path_buf(),
        users: common::users(),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = warroom::client::Client::new(&b.url(), &token(UserRole::Commander)).unwrap();
    c.send(&declare("the only one")).await.unwrap();
    c.send(&declare("and another")).await.unwrap();
    c.send(&declare("and a third")).await.unwrap();
    let ack = c.send(&declare("fourth")).await.unwrap();
    replica.wait_for(ack.seq, DEADLINE).await.unwrap();
    let titles: Vec<String> = replica.state().incidents.values().map(|i| i.title.clone()).collect();
    assert_eq!(titles, ["the only one", "and another", "and a third", "fourth"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_sends_heartbeats_carrying_the_head() {
    use futures_util::StreamExt;
    use warroom::client::StreamItem;
    let dir = tempfile::tempdir().unwrap();
    let server = warroom::server::start(warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: common::users(),
        heartbeat: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = warroom::client::Client::new(&server.url(), &token(UserRole::Commander)).unwrap();
    c.send(&declare("quiet")).await.unwrap();
    let mut stream = c.stream(1).await.unwrap();
    assert!(matches!(stream.next().await.unwrap().unwrap(), StreamItem::Hello { head: 1, .. }));
    let next = tokio::time::timeout(DEADLINE, stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(next, StreamItem::Heartbeat { head: 1 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warroom_client_too_old_for_the_server_is_told_to_upgrade() {
    let ts = TestServer::start().await;
    let whoami = |agent: &'static str| {
        let url = format!("{}/api/v1/whoami", ts.url);
        async move {
            let resp = reqwest::Client::builder()
                .user_agent(agent)
                .build()
                .unwrap()
                .get(url)
                .bearer_auth(token(UserRole::Observer))
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = whoami("warroom/0.0.9").await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED, "{body}");
    assert_eq!(body["error"], "client_too_old");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(warroom::protocol::MIN_CLIENT_VERSION) && detail.contains("0.0.9"), "{detail}");
    assert_eq!(whoami("warroom/not-a-version").await.0, StatusCode::UPGRADE_REQUIRED);
    // Scripts and other tools are not judged; this warroom passes.
    assert_eq!(whoami("curl/8.5.0").await.0, StatusCode::OK);
    assert_eq!(whoami(warroom::protocol::USER_AGENT).await.0, StatusCode::OK);
    assert_eq!(ts.client(UserRole::Observer).whoami().await.unwrap().name, "olivia");
    // The health check and the public page answer whoever asks.
    for path in ["/healthz", "/status", "/status.json"] {
        let old = reqwest::Client::builder().user_agent("warroom/0.0.9").build().unwrap();
        let status = old.get(format!("{}{path}", ts.url)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

/// The demo seeds its incidents even when its probes' first results reached the log before
/// it ran (a busy machine: it had come up with no incidents at all), and a restart that holds
/// incidents gets no second copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_seeds_its_incidents_after_its_probes_wrote_first_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let (users, _) = warroom::demo::users(dir.path()).unwrap();
    let server = warroom::server::start(warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        users: users.clone(),
        channels: warroom::demo::channels(),
        ..Default::default()
    })
    .await
    .unwrap();
    // What a probe's first result does: an event that is not an incident.
    let admin = users.iter().find(|u| u.role == UserRole::Admin).unwrap();
    let component = Intent::SetComponent {
        component: "cdn".into(),
        status: Some(warroom::model::incident::ComponentStatus::Operational),
    };
    warroom::client::Client::new(&server.url(), &admin.token)
        .unwrap()
        .send(&Command::new(component))
        .await
        .unwrap();
    assert!(server.app.hub().state().seq > 0 && server.app.hub().state().incidents.is_empty());
    warroom::demo::seed(&server.app, &users).await.unwrap();
    let seeded = server.app.hub().state().incidents.len();
    assert!(seeded >= 4, "{seeded} incidents seeded");
    warroom::demo::seed(&server.app, &users).await.unwrap();
    assert_eq!(server.app.hub().state().incidents.len(), seeded, "seeded once");
    server.stop().await;
}
