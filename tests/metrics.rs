//! Operator signals: `/metrics` scraped from a real server and read by an OpenMetrics parser
//! (every metric the README lists, with the values the room's traffic implies), its access
//! rules, and `warroom serve --log-format json` writing one object a line, tokens never.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::Read as _;
use std::process::{Command as Proc, Stdio};
use std::time::Instant;

use axum::routing::get;
use common::{channel, eventually, token, users, write_config, DEADLINE};
use openmetrics_parser::{MetricNumber, MetricsExposition, OpenMetricsType, OpenMetricsValue};
use warroom::client::Client;
use warroom::config::{ChannelKind, ProbeConfig, ProbeKind};
use warroom::model::{IncidentId, Intent, Severity, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, RunningServer, ServerOptions};

/// The heading in README.md whose table lists every metric, one `warroom_…` name a row.
const README_HEADING: &str = "### Metrics exposed at /metrics";

type Exposition = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

/// A page that answers 200, for a probe that stays up.
async fn healthy_target() -> String {
    let app = axum::Router::new().route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A URL on 127.0.0.1 where nothing listens (bound, then let go).
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/hook", listener.local_addr().unwrap())
}

async fn room(dir: &std::path::Path, metrics_listen: Option<String>) -> RunningServer {
    let mut broken = channel("pager", ChannelKind::Webhook);
    broken.url = Some(refused_url());
    start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        users: users(),
        channels: vec![channel("drill-chat", ChannelKind::DryRun), broken],
        probes: vec![ProbeConfig {
            name: "search".into(),
            kind: ProbeKind::Http,
            url: Some(healthy_target().await),
            address: None,
            interval: warroom::model::probe::ProbeDuration::from_secs(1),
            timeout: warroom::model::probe::ProbeDuration::from_secs(1),
            conditions: vec!["[STATUS] == 200".into()],
            degraded: vec![],
            failure_threshold: 1,
            success_threshold: 1,
            auto_declare: None,
            interval_ms: Some(50),
            timeout_ms: Some(1000),
        }],
        metrics_listen,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn scrape(url: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{url}/metrics"));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Scrapes as Prometheus would and parses the whole exposition strictly.
async fn metrics(url: &str, bearer: Option<&str>) -> Exposition {
    let resp = scrape(url, bearer).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.text().await.unwrap();
    openmetrics_parser::openmetrics::parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("unparsable /metrics: {e:?}\n{text}"))
}

fn number(n: &MetricNumber) -> f64 {
    n.as_f64()
}

/// Every sample of family `name` (without `warroom_`'s `_total`) as `(labels, value)`;
/// a histogram's value is its count.
fn samples(m: &Exposition, name: &str) -> Vec<(HashMap<String, String>, f64)> {
    let family =
        m.families.get(name).unwrap_or_else(|| panic!("no family {name} in {:?}", m.families.keys()));
    family
        .iter_samples()
        .map(|s| {
            let labels: HashMap<String, String> = s
                .get_labelset()
                .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let value = match &s.value {
                OpenMetricsValue::Counter(c) => number(&c.value),
                OpenMetricsValue::Gauge(g) | OpenMetricsValue::Unknown(g) => number(g),
                OpenMetricsValue::Histogram(h) => h.count.unwrap_or(0) as f64,
                other => panic!("{name}: unexpected value {other:?}"),
            };
            (labels, value)
        })
        .collect()
}

/// The value of family `name`'s sample with exactly these labels (0 when absent).
fn value(m: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(m, name)
        .into_iter()
        .find(|(l, _)| {
            l.len() == labels.len() && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map_or(0.0, |(_, v)| v)
}

fn total(m: &Exposition, name: &str) -> f64 {
    samples(m, name).into_iter().map(|(_, v)| v).sum()
}

/// The `warroom_…` names in the first column of the table under [`README_HEADING`].
fn readme_metrics() -> BTreeSet<String> {
    let readme = include_str!("../README.md");
    let (_, after) = readme.split_once(&format!("\n{README_HEADING}\n")).unwrap_or_else(|| {
        panic!("README.md has no `{README_HEADING}` heading: the metrics table lives there (see /metrics)")
    });
    let names: BTreeSet<String> = after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|row| row.split('|').nth(1))
        .filter_map(|cell| cell.trim().strip_prefix('`')?.split('`').next().map(str::to_string))
        .filter(|name| name.starts_with("warroom_"))
        .collect();
    assert!(names.len() >= 10, "read only {names:?} from README.md's metrics table: has its layout changed?");
    names
}

/// A family name as the exposition spells it: a counter's samples end in `_total`, its family not.
fn family_name(readme_name: &str) -> &str {
    readme_name.strip_suffix("_total").unwrap_or(readme_name)
}

fn declare(title: &str) -> Command {
    Command::new(Intent::DeclareIncident {
        title: title.into(),
        severity: Severity::Sev2,
        impact: String::new(),
        drill: false,
        services: vec![],
        private: false,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_counts_the_rooms_commands_streams_deliveries_and_probes() {
    let dir = tempfile::tempdir().unwrap();
    let s = room(dir.path(), None).await;
    let url = s.url();
    let alice = Client::new(&url, &token(UserRole::Commander)).unwrap();
    let olivia = Client::new(&url, &token(UserRole::Observer)).unwrap();
    let first = declare("Search is slow");
    alice.send(&first).await.unwrap();
    // The same command again (a client retrying after a lost answer): the first answer, once more.
    alice.send(&first).await.unwrap();
    alice.send(&declare("Checkout 502s")).await.unwrap();
    for channel in ["drill-chat", "pager"] {
        let message = Command::new(Intent::SendMessage {
            incident: IncidentId(1),
            channel: channel.into(),
            text: "We are looking into slow searches.".into(),
            step: None,
            status: None,
        });
        alice.send(&message).await.unwrap();
    }
    // An observer may not declare: refused, and counted as such.
    assert!(olivia.send(&declare("Not mine to declare")).await.is_err());
    // An event stream held open by a responder.
    let stream = reqwest::Client::new()
        .get(format!("{url}/api/v1/stream"))
        .bearer_auth(token(UserRole::Responder))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    let admin = token(UserRole::Admin);
    eventually("the probe up and both deliveries tried", || async {
        let m = metrics(&url, Some(&admin)).await;
        value(&m, "warroom_probe_health", &[("probe", "search"), ("health", "up")]) == 1.0
            && value(&m, "warroom_notify_deliveries", &[("channel", "drill-chat"), ("outcome", "delivered")])
                >= 1.0
            && value(&m, "warroom_notify_deliveries", &[("channel", "pager"), ("outcome", "failed")]) >= 1.0
    })
    .await;
    let m = metrics(&url, Some(&admin)).await;

    let listed = readme_metrics();
    let missing: Vec<_> = listed.iter().filter(|n| !m.families.contains_key(family_name(n))).collect();
    assert!(missing.is_empty(), "README.md lists metrics /metrics lacks: {missing:?}");
    let unlisted: Vec<_> =
        m.families.keys().filter(|f| !listed.iter().any(|n| family_name(n) == f.as_str())).collect();
    assert!(unlisted.is_empty(), "/metrics serves metrics README.md does not list: {unlisted:?}");

    let commands =
        |kind: &str, outcome: &str| value(&m, "warroom_commands", &[("kind", kind), ("outcome", outcome)]);
    assert_eq!(commands("declare_incident", "ok"), 2.0);
    assert_eq!(commands("declare_incident", "replay"), 1.0);
    assert_eq!(commands("declare_incident", "refused:forbidden"), 1.0);
    assert_eq!(commands("send_message", "ok"), 2.0);
    assert_eq!(total(&m, "warroom_commands"), 6.0);
    // Every counted command was timed, from receipt to answer.
    assert_eq!(total(&m, "warroom_command_ack_seconds"), 6.0);
    assert!(value(&m, "warroom_stream_subscribers", &[("role", "responder")]) >= 1.0);
    assert_eq!(value(&m, "warroom_stream_subscribers", &[("role", "villain")]), 0.0);
    let head = total(&m, "warroom_log_head_seq");
    assert!(head >= 4.0, "declared twice, queued twice: {head}");
    // A fresh log: every event in it was appended by this server.
    assert_eq!(total(&m, "warroom_events_appended"), head);
    assert_eq!(total(&m, "warroom_writer_healthy"), 1.0);
    for health in ["degraded", "down", "unknown"] {
        assert_eq!(value(&m, "warroom_probe_health", &[("probe", "search"), ("health", health)]), 0.0);
    }
    assert_eq!(value(&m, "warroom_chaos_runs", &[("phase", "running")]), 0.0);
    assert_eq!(value(&m, "warroom_chaos_runs_ended", &[("cause", "halted")]), 0.0);
    assert_eq!(value(&m, "warroom_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    drop(stream);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_for_admins_or_for_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let s = room(dir.path(), Some("127.0.0.1:0".into())).await;
    let url = s.url();
    assert_eq!(scrape(&url, None).await.status(), 401);
    assert_eq!(scrape(&url, Some("not-a-token-of-anyone-here")).await.status(), 401);
    let refused = scrape(&url, Some(&token(UserRole::Commander))).await;
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "forbidden", "{body}");
    // The scraper's own address needs no token.
    let own = s.app.metrics().listen_addr().expect("[metrics] listen is bound");
    assert_ne!(own, s.addr);
    let m = metrics(&format!("http://{own}"), None).await;
    assert_eq!(total(&m, "warroom_writer_healthy"), 1.0);
    s.stop().await;
    // It stops with the server.
    let deadline = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(own).is_ok() {
        assert!(Instant::now() < deadline, "/metrics still served on {own} after the server stopped");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_with_each_requests_fields_and_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let log = dir.path().join("server.log");
    let mut child = Proc::new(env!("CARGO_BIN_EXE_warroom"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("WARROOM_CONFIG_DIR", dir.path().join("no-config"))
        .env("WARROOM_LOG", "info,warroom::request=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let url = {
        let mut first = Vec::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            first.push(byte[0]);
        }
        let line = String::from_utf8(first).unwrap();
        line.strip_prefix("warroom listening on ").unwrap_or_else(|| panic!("first line: {line}")).to_string()
    };
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let commander = token(UserRole::Commander);
    let alice = Client::new(&url, &commander).unwrap();
    alice.send(&declare("Login loops")).await.unwrap();
    let http = reqwest::Client::new();
    let share = "share-token-that-must-stay-secret";
    let page = http.get(format!("{url}/gameday/scoreboard?token={share}")).send().await.unwrap();
    assert!(page.status().is_client_error(), "{}", page.status());
    let whoami = http.get(format!("{url}/api/v1/whoami")).bearer_auth(&commander).send().await.unwrap();
    assert_eq!(whoami.status(), 200);

    let lines = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object a line ({e}): {l}"))
            })
            .collect()
    };
    eventually("the whoami request's line", || async {
        lines().iter().any(|l| l["path"] == "/api/v1/whoami")
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines();
    assert!(lines.iter().all(|l| l.is_object() && l["level"].is_string() && l["timestamp"].is_string()));
    let post = lines
        .iter()
        .find(|l| l["target"] == "warroom::request" && l["path"] == "/api/v1/commands")
        .unwrap_or_else(|| panic!("no line for the command: {lines:#?}"));
    assert_eq!(post["method"], "POST", "{post}");
    assert_eq!(post["status"], 200, "{post}");
    assert!(post["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{post}");
    let scoreboard =
        lines.iter().find(|l| l["path"] == "/gameday/scoreboard").expect("the scoreboard's line");
    assert_eq!(scoreboard["method"], "GET");
    let text = std::fs::read_to_string(&log).unwrap();
    for secret in users().iter().map(|u| u.token.as_str()).chain([share]) {
        assert!(!text.contains(secret), "the log holds a secret ({secret}):\n{text}");
    }
}
