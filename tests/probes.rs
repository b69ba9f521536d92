//! Health probes against targets the test controls: the exact events for up → slow → 503 →
//! up, what linked incidents and every client see, auto-declare, and a hanging target that
//! never delays another probe.

mod common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{all_events, eventually, token, users, DEADLINE};
use warroom::client::replica::Replica;
use warroom::client::Client;
use warroom::config::{ProbeConfig, ProbeKind};
use warroom::model::probe::Health;
use warroom::model::{EntryKind, Fact, IncidentId, Intent, Milestone, Severity, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, RunningServer, ServerOptions};

const OK: u8 = 0;
const SLOW: u8 = 1;
const BROKEN: u8 = 2;

/// An HTTP target whose behaviour the test switches: fine, slow (150 ms), or 503.
async fn target() -> (String, Arc<AtomicU8>) {
    use axum::routing::get;
    let mode = Arc::new(AtomicU8::new(OK));
    let m = mode.clone();
    let app = axum::Router::new().route(
        "/health",
        get(move || {
            let m = m.clone();
            async move {
                match m.load(Ordering::Relaxed) {
                    SLOW => {
                        tokio::time::sleep(Duration::from_millis(150)).await;
                        (axum::http::StatusCode::OK, r#"{"status":"UP"}"#)
                    }
                    BROKEN => (axum::http::StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"DOWN"}"#),
                    _ => (axum::http::StatusCode::OK, r#"{"status":"UP"}"#),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, mode)
}

fn probe(name: &str, url: &str) -> ProbeConfig {
    ProbeConfig {
        name: name.into(),
        kind: ProbeKind::Http,
        url: Some(url.into()),
        address: None,
        interval: warroom::model::probe::ProbeDuration::from_secs(1),
        timeout: warroom::model::probe::ProbeDuration::from_secs(1),
        conditions: vec![
            "[STATUS] == 200".into(),
            "[RESPONSE_TIME] < 80".into(),
            "[BODY].status == UP".into(),
        ],
        degraded: vec!["[RESPONSE_TIME] < 1000".into()],
        failure_threshold: 2,
        success_threshold: 2,
        auto_declare: None,
        interval_ms: Some(60),
        timeout_ms: Some(1000),
    }
}

async fn server(dir: &std::path::Path, probes: Vec<ProbeConfig>) -> RunningServer {
    start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        users: users(),
        probes,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn wait_health(replica: &Replica, name: &str, want: Health) {
    eventually(&format!("{name} {want}"), || {
        let s = replica.state();
        let name = name.to_string();
        async move { s.probes.get(&name).is_some_and(|p| p.health == want) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_goes_up_degraded_down_and_up_and_every_client_sees_exactly_that() {
    let dir = tempfile::tempdir().unwrap();
    let (url, mode) = target().await;
    let s = server(dir.path(), vec![probe("checkout", &url)]).await;
    let alice = Client::new(&s.url(), &token(UserRole::Commander)).unwrap();
    alice
        .send(&Command::new(Intent::DeclareIncident {
            title: "Checkout errors".into(),
            severity: Severity::Sev5,
            impact: String::new(),
            drill: false,
            services: vec!["checkout".into()],
            private: false,
        }))
        .await
        .unwrap();
    let a = Replica::spawn(alice.clone());
    let b = Replica::spawn(Client::new(&s.url(), &token(UserRole::Observer)).unwrap());

    wait_health(&a, "checkout", Health::Up).await;
    mode.store(SLOW, Ordering::Relaxed);
    wait_health(&a, "checkout", Health::Degraded).await;
    mode.store(BROKEN, Ordering::Relaxed);
    wait_health(&a, "checkout", Health::Down).await;
    mode.store(OK, Ordering::Relaxed);
    wait_health(&a, "checkout", Health::Up).await;

    let changes: Vec<(Health, Health, Vec<String>)> = all_events(&alice)
        .await
        .into_iter()
        .filter_map(|e| match e.fact {
            Fact::ProbeChanged { from, to, failed, .. } => Some((from, to, failed)),
            _ => None,
        })
        .collect();
    let transitions: Vec<(Health, Health)> = changes.iter().map(|(f, t, _)| (*f, *t)).collect();
    use Health::*;
    assert_eq!(transitions, [(Unknown, Up), (Up, Degraded), (Degraded, Down), (Down, Up)]);
    assert!(
        changes[1].2[0].starts_with("[RESPONSE_TIME] (") && changes[1].2[0].ends_with(") < 80"),
        "{:?}",
        changes[1].2
    );
    assert_eq!(changes[2].2[0], "[STATUS] (503) == 200");
    assert_eq!(changes[2].2[1], "[BODY].status (DOWN) == UP");

    // The linked incident heard of each change (not of the first "up"), and detection is
    // stamped at the first bad turn.
    let state = a.state();
    let inc = &state.incidents[&IncidentId(1)];
    let health: Vec<Health> = inc
        .timeline
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::Health { health, .. } => Some(*health),
            _ => None,
        })
        .collect();
    assert_eq!(health, [Degraded, Down, Up]);
    let degraded_at = inc
        .timeline
        .iter()
        .find(|e| matches!(e.kind, EntryKind::Health { health: Degraded, .. }))
        .unwrap()
        .at;
    assert_eq!(inc.milestone(Milestone::Detected), Some(degraded_at));

    // Every client converges on it; samples stream alongside but are not in the log.
    let head = alice.snapshot().await.unwrap().seq;
    let mut b = b;
    b.wait_for(head, DEADLINE).await.unwrap();
    assert_eq!(serde_json::to_string(&b.state()).unwrap(), serde_json::to_string(&a.state()).unwrap());
    let snap = alice.snapshot().await.unwrap();
    let samples = &snap.probes[0].samples;
    assert!(samples.len() >= 8, "{} samples", samples.len());
    assert!(samples.iter().any(|s| s.health == Degraded) && samples.iter().any(|s| s.health == Down));
    // Uptime over the hour comes with each sample, from the server's full ring.
    let uptime = samples.last().unwrap().uptime_hour;
    assert!(uptime > 0.0 && uptime < 100.0, "some samples were down: {uptime}");
    assert!(samples.len() <= warroom::protocol::SNAPSHOT_SAMPLES, "the snapshot carries recent samples only");

    // The public status page follows the probe unless a human overrides it.
    let page: serde_json::Value =
        reqwest::get(format!("{}/status.json", s.url())).await.unwrap().json().await.unwrap();
    assert_eq!(
        page["components"][0],
        serde_json::json!({"name": "checkout", "status": "operational", "manual": false})
    );
    alice
        .send(&Command::new(Intent::SetComponent {
            component: "checkout".into(),
            status: Some(warroom::model::incident::ComponentStatus::PartialOutage),
        }))
        .await
        .unwrap();
    let page: serde_json::Value =
        reqwest::get(format!("{}/status.json", s.url())).await.unwrap().json().await.unwrap();
    assert_eq!(page["components"][0]["status"], "partial_outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_going_down_with_no_incident_declares_one() {
    let dir = tempfile::tempdir().unwrap();
    let (url, mode) = target().await;
    let mut p = probe("payment", &url);
    p.auto_declare = Some(Severity::Sev2);
    let s = server(dir.path(), vec![p]).await;
    let alice = Client::new(&s.url(), &token(UserRole::Commander)).unwrap();
    let r = Replica::spawn(alice.clone());
    wait_health(&r, "payment", Health::Up).await;
    mode.store(BROKEN, Ordering::Relaxed);
    wait_health(&r, "payment", Health::Down).await;
    let head = alice.snapshot().await.unwrap().seq;
    let mut r = r;
    r.wait_for(head, DEADLINE).await.unwrap();
    let state = r.state();
    let inc = state.incidents.values().next().expect("an incident was declared");
    assert_eq!(
        (inc.title.as_str(), inc.severity, inc.services.as_slice()),
        ("payment is down", Severity::Sev2, &["payment".to_string()][..])
    );
    assert!(inc.impact.contains("[STATUS] (503) == 200"), "{}", inc.impact);
    assert_eq!(inc.declared_by, "warroom");
    assert_eq!(inc.checklist.as_ref().map(|c| c.playbook.as_str()), Some("major-outage"));
    // Nobody can forge a probe result.
    let forged = Command::new(Intent::RecordProbe {
        probe: "payment".into(),
        health: Health::Up,
        failed: vec![],
        auto_declare: None,
    });
    assert!(Client::new(&s.url(), &token(UserRole::Admin)).unwrap().send(&forged).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_never_delays_the_other_probes() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_url = format!("http://{}/health", hang.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hang.accept().await {
            held.push(sock);
        }
    });
    let (url, _mode) = target().await;
    let mut stuck = probe("stuck", &hang_url);
    stuck.timeout_ms = Some(5_000);
    stuck.interval_ms = Some(100);
    let mut fast = probe("fast", &url);
    fast.interval_ms = Some(100);
    let s = server(dir.path(), vec![stuck, fast]).await;
    let c = Client::new(&s.url(), &token(UserRole::Observer)).unwrap();
    // Two seconds of the fast probe while the stuck one hangs for five.
    let mut samples = Vec::new();
    eventually("20 samples of the fast probe", || {
        let c = c.clone();
        async move {
            c.snapshot().await.unwrap().probes.iter().find(|p| p.name == "fast").unwrap().samples.len() >= 20
        }
    })
    .await;
    for p in c.snapshot().await.unwrap().probes {
        if p.name == "fast" {
            samples = p.samples;
        } else {
            assert!(p.samples.is_empty(), "the stuck probe has not finished a single check");
        }
    }
    for s in &samples {
        let late = (s.at - s.scheduled).num_milliseconds();
        // Far under the 5 s the stuck probe hangs: nothing waits for it.
        assert!(late < 250, "a sample ran {late} ms after its slot");
    }
    for pair in samples.windows(2) {
        let gap = (pair[1].scheduled - pair[0].scheduled).num_milliseconds();
        assert!((50..=150).contains(&gap), "slots are 100 ms apart, got {gap}");
    }
}

/// A Gatus user's endpoints pasted as they are: `tcp://` URL, Go durations, lowercase
/// placeholders, a body answered with a newline; and the failure text of a 64 KiB body stays short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_written_for_gatus_run_here_as_they_do_there() {
    use axum::routing::get;
    let dir = tempfile::tempdir().unwrap();
    let db = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let db_addr = db.local_addr().unwrap();
    let accepting = tokio::spawn(async move { while db.accept().await.is_ok() {} });
    let big = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let b = big.clone();
    let app = axum::Router::new().route(
        "/health",
        get(move || {
            let big = b.load(Ordering::Relaxed);
            async move {
                if big {
                    "x".repeat(64 * 1024)
                } else {
                    "OK\n".to_string()
                }
            }
        }),
    );
    let web = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let web_url = format!("http://{}/health", web.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(web, app).await });
    let config = |text: String| -> ProbeConfig { toml::from_str(&text).unwrap_or_else(|e| panic!("{e}")) };
    let probes = vec![
        config(format!(
            "name = \"db\"\nurl = \"tcp://{db_addr}\"\ninterval = \"100ms\"\ntimeout = \"1s\"\n\
             conditions = [\"[CONNECTED] == true\", \"[RESPONSE_TIME] < 5s\"]\n\
             failure_threshold = 1\nsuccess_threshold = 1"
        )),
        config(format!(
            "name = \"web\"\nurl = \"{web_url}\"\ninterval = \"100ms\"\ntimeout = \"1s\"\n\
             conditions = [\"[status] == 200\", \"[BODY] == pat(OK*)\", \"has([BODY]) == true\"]\n\
             failure_threshold = 1\nsuccess_threshold = 1"
        )),
    ];
    let s = server(dir.path(), probes).await;
    let alice = Client::new(&s.url(), &token(UserRole::Commander)).unwrap();
    let r = Replica::spawn(alice.clone());
    wait_health(&r, "db", Health::Up).await;
    wait_health(&r, "web", Health::Up).await;

    accepting.abort();
    big.store(true, Ordering::Relaxed);
    wait_health(&r, "db", Health::Down).await;
    wait_health(&r, "web", Health::Down).await;
    let failed = |name: &str| -> Vec<String> {
        r.state().probes.get(name).map(|p| p.failed.clone()).unwrap_or_default()
    };
    assert!(failed("db").contains(&"[CONNECTED] (false) == true".to_string()), "{:?}", failed("db"));
    let web = failed("web");
    let body = web.iter().find(|f| f.starts_with("[BODY] (")).unwrap_or_else(|| panic!("{web:?}"));
    assert_eq!(body, &format!("[BODY] ({}…) == pat(OK*)", "x".repeat(100)));
}
