//! The `http`, `command` and `chaostoolkit` chaos drivers against real things on loopback: a
//! recording HTTP server, real processes, the real `chaos` CLI and the real demo shop.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use serde_json::json;
use warroom::config::ChaosConfig;
use warroom::model::chaos::RunId;
use warroom::server::chaos::driver::DriverCx;
use warroom::server::chaos::{chaostoolkit, command, http};

use common::DEADLINE;

fn cx(base_dir: &Path, config: ChaosConfig) -> DriverCx {
    DriverCx {
        run: RunId(1),
        base_dir: base_dir.to_path_buf(),
        work_dir: base_dir.join("runs/RUN-1"),
        http: reqwest::Client::new(),
        config: Arc::new(config),
    }
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HeaderMap,
    body: String,
}

/// A fault API stand-in on 127.0.0.1:0 that records every request: `/created` answers 201,
/// `/boom` 500, `/hang` never, anything else 200 `{"status":"UP"}`.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    async fn start() -> Recorder {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let app = Router::new().fallback(any(record)).with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder { url, seen }
    }

    fn paths(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|s| format!("{} {}", s.method, s.path)).collect()
    }

    async fn wait_for(&self, what: &str) {
        let start = Instant::now();
        while !self.paths().iter().any(|p| p == what) {
            assert!(start.elapsed() < DEADLINE, "never saw `{what}`; saw {:?}", self.paths());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

async fn record(State(seen): State<Arc<Mutex<Vec<Seen>>>>, request: Request) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let path = parts.uri.path().to_string();
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match path.as_str() {
        "/created" => (StatusCode::CREATED, axum::Json(json!({ "created": true, "id": 7 }))).into_response(),
        "/boom" => (StatusCode::INTERNAL_SERVER_ERROR, "boom:\n  the toxic exploded").into_response(),
        "/hang" => std::future::pending().await,
        _ => axum::Json(json!({ "status": "UP" })).into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// http

#[tokio::test]
async fn http_sends_method_headers_and_json_body_and_a_2xx_is_done() {
    let api = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let headers = BTreeMap::from([("X-Api-Key".to_string(), "very-secret-value".to_string())]);
    let body = json!({ "name": "latency", "attributes": { "latency": 800 } });
    let url = format!("{}/created?key=query-secret", api.url);
    let done = http::act(&cx(dir.path(), ChaosConfig::default()), "post", &url, &headers, Some(&body), None)
        .await
        .unwrap();
    let host = api.url.trim_start_matches("http://");
    assert_eq!(done.output, format!("HTTP 201 POST {host}/created: {{\"created\":true,\"id\":7}}"));
    assert!(done.ongoing.is_none());
    let seen = api.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.headers["x-api-key"], "very-secret-value");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&seen.body).unwrap(), body);
}

#[tokio::test]
async fn http_500_is_an_error_naming_the_status_and_the_answer_but_no_secret() {
    let api = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let headers = BTreeMap::from([("Authorization".to_string(), "Bearer tok-123".to_string())]);
    let url = format!("{}/boom?token=query-secret", api.url);
    let err = http::act(&cx(dir.path(), ChaosConfig::default()), "PUT", &url, &headers, None, None)
        .await
        .err()
        .unwrap();
    let host = api.url.trim_start_matches("http://");
    assert_eq!(err, format!("HTTP 500 PUT {host}/boom: boom: the toxic exploded"));
}

#[tokio::test]
async fn http_to_a_server_that_never_answers_hits_the_timeout() {
    let api = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/hang", api.url);
    let err = http::act(
        &cx(dir.path(), ChaosConfig::default()),
        "GET",
        &url,
        &BTreeMap::new(),
        None,
        Some("300ms"),
    )
    .await
    .err()
    .unwrap();
    assert!(err.ends_with("/hang: timed out after 300ms"), "{err}");
    api.wait_for("GET /hang").await;
}

#[tokio::test]
async fn http_to_a_closed_port_says_the_connection_was_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/proxies?secret=x");
    let err =
        http::act(&cx(dir.path(), ChaosConfig::default()), "DELETE", &url, &BTreeMap::new(), None, None)
            .await
            .err()
            .unwrap();
    assert!(err.starts_with(&format!("DELETE 127.0.0.1:{port}/proxies: ")), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// command

#[tokio::test]
async fn command_output_is_captured_and_an_exit_of_0_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["hello".to_string(), "from the villains".to_string()];
    let done = command::act(&cx(dir.path(), ChaosConfig::default()), "echo", &args, None).await.unwrap();
    assert_eq!(done.output, "echo exited 0: hello from the villains");
}

#[tokio::test]
async fn command_runs_in_the_scenario_directory_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker.txt"), "beside the scenario\n").unwrap();
    // `*` reaches the program as it is: no shell expands it.
    let args = ["marker.txt".to_string(), "*".to_string()];
    let err = command::act(&cx(dir.path(), ChaosConfig::default()), "cat", &args, None).await.err().unwrap();
    assert!(err.starts_with("cat exited with code 1: beside the scenario | "), "{err}");
    assert!(err.contains("*"), "{err}");
}

#[tokio::test]
async fn command_nonzero_exit_is_an_error_with_the_code_and_the_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let script = "for i in $(seq 1 50); do echo line $i; done; echo 'toxic refused' >&2; exit 3";
    let args = ["-c".to_string(), script.to_string()];
    let err = command::act(&cx(dir.path(), ChaosConfig::default()), "sh", &args, None).await.err().unwrap();
    assert!(err.starts_with("sh exited with code 3: "), "{err}");
    assert!(err.contains("line 50"), "{err}");
    assert!(err.contains("toxic refused"), "{err}");
    assert!(!err.contains("line 1 |"), "only the last lines: {err}");
}

#[tokio::test]
async fn command_missing_program_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cx = cx(dir.path(), ChaosConfig::default());
    let err = command::act(&cx, "warroom-no-such-program", &[], None).await.err().unwrap();
    assert_eq!(err, "command warroom-no-such-program: not found on the PATH");
    let err = command::act(&cx, "./bin/break-things", &[], None).await.err().unwrap();
    assert!(err.starts_with("command ./bin/break-things: not found (relative paths are from "), "{err}");
}

/// Whether `pid` is gone or a zombie (dead, waiting for whoever adopted it to reap it).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name in parentheses, which may itself hold spaces.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn command_past_its_timeout_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    // The shell starts a child and waits for it: only killing the whole group stops both.
    let args = ["-c".to_string(), "sleep 30 & echo $! > child.pid; echo started; wait".to_string()];
    let err =
        command::act(&cx(dir.path(), ChaosConfig::default()), "sh", &args, Some("1s")).await.err().unwrap();
    assert!(err.starts_with("sh timed out after 1s; killed with its process group"), "{err}");
    let pid: u32 = std::fs::read_to_string(dir.path().join("child.pid"))
        .expect("the shell never wrote its child's pid within the 1s timeout")
        .trim()
        .parse()
        .unwrap();
    let start = Instant::now();
    while !dead(pid) {
        assert!(start.elapsed() < DEADLINE, "the child `sleep 30` (pid {pid}) outlived its killed parent");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// chaostoolkit: the real `chaos` CLI (installed by .ci/run)

/// Whether the Chaos Toolkit tests may run: they must under .ci/run, so a missing `chaos` only
/// skips them when WARROOM_NO_CTK is set.
fn have_chaos() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("chaos").is_file()));
    if !found && std::env::var_os("WARROOM_NO_CTK").is_some() {
        eprintln!("skipped: `chaos` is not on the PATH and WARROOM_NO_CTK is set");
        return false;
    }
    true
}

/// A tiny experiment against a [`Recorder`]: health probe, a `break` action with a pause, a
/// `restore` rollback. Its base URL and pause come from the environment, like the sample's.
fn tiny_experiment(dir: &Path) -> PathBuf {
    let experiment = json!({
        "version": "1.0.0",
        "title": "tiny",
        "description": "a break and a restore against a recorder",
        "configuration": {
            "base": { "type": "env", "key": "TINY_BASE" },
            "pause_s": { "type": "env", "key": "TINY_PAUSE_S", "default": 0, "env_var_type": "int" }
        },
        "steady-state-hypothesis": { "title": "up", "probes": [
            { "type": "probe", "name": "health", "tolerance": 200,
              "provider": { "type": "http", "url": "${base}/health", "timeout": 5 } } ] },
        "method": [
            { "type": "action", "name": "break",
              "provider": { "type": "http", "method": "POST", "url": "${base}/break", "timeout": 5 },
              "pauses": { "after": "${pause_s}" } } ],
        "rollbacks": [
            { "type": "action", "name": "restore",
              "provider": { "type": "http", "method": "POST", "url": "${base}/restore", "timeout": 5 } } ]
    });
    let path = dir.join("tiny.json");
    std::fs::write(&path, serde_json::to_string_pretty(&experiment).unwrap()).unwrap();
    path
}

#[tokio::test]
#[ignore = "needs chaostoolkit"]
async fn chaostoolkit_experiment_runs_to_its_end_and_its_journal_is_summarised() {
    if !have_chaos() {
        return;
    }
    let api = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    tiny_experiment(dir.path());
    let cx = cx(dir.path(), ChaosConfig::default());
    let env = [("TINY_BASE".to_string(), api.url.clone())];
    let started = chaostoolkit::act_with_env(&cx, "tiny.json", &env).await.unwrap();
    assert!(started.output.starts_with("chaos run tiny.json started (journal "), "{}", started.output);
    let mut ongoing = started.ongoing.expect("an experiment lasts until it ends");
    let summary = ongoing.finished().await.unwrap();
    assert_eq!(
        summary,
        "experiment \"tiny\": completed, hypothesis held\n\
         steady state before: met (health: ok)\n\
         action break: succeeded\n\
         steady state after: met (health: ok)\n\
         rollback action restore: succeeded"
    );
    assert_eq!(api.paths(), ["GET /health", "POST /break", "GET /health", "POST /restore"]);
    let journal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cx.work_dir.join("journal-1.json")).unwrap()).unwrap();
    assert_eq!(journal["status"], "completed");
    // Stopping what already ended only reports again.
    assert_eq!(ongoing.stop().await.unwrap(), summary);
}

#[tokio::test]
#[ignore = "needs chaostoolkit"]
async fn chaostoolkit_stopped_mid_pause_is_interrupted_and_plays_its_rollback() {
    if !have_chaos() {
        return;
    }
    let api = Recorder::start().await;
    let dir = tempfile::tempdir().unwrap();
    tiny_experiment(dir.path());
    let cx = cx(dir.path(), ChaosConfig::default());
    let env = [("TINY_BASE".to_string(), api.url.clone()), ("TINY_PAUSE_S".to_string(), "600".to_string())];
    let started = chaostoolkit::act_with_env(&cx, "tiny.json", &env).await.unwrap();
    let ongoing = started.ongoing.unwrap();
    api.wait_for("POST /break").await;
    let summary = ongoing.stop().await.unwrap();
    // Observed with chaostoolkit 1.19.0: SIGINT gives `interrupted`, no steady state after,
    // and (with --rollback-strategy always) the rollback played.
    assert_eq!(
        summary,
        "experiment \"tiny\": interrupted, hypothesis held\n\
         steady state before: met (health: ok)\n\
         action break: succeeded\n\
         rollback action restore: succeeded"
    );
    assert_eq!(api.paths(), ["GET /health", "POST /break", "POST /restore"]);
}

#[tokio::test]
#[ignore = "needs chaostoolkit"]
async fn chaostoolkit_sample_experiment_slows_the_demo_shop_and_restores_it() {
    if !have_chaos() {
        return;
    }
    let shop = warroom::demo::shop::Shop::start().await.unwrap();
    let experiments = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/chaos/experiments");
    let work = tempfile::tempdir().unwrap();
    let cx = DriverCx { work_dir: work.path().join("RUN-1"), ..cx(&experiments, ChaosConfig::default()) };
    let env = [
        ("SHOP_ADMIN_URL".to_string(), shop.admin_url.clone()),
        ("SHOP_ADMIN_TOKEN".to_string(), shop.admin_token.clone()),
        ("SHOP_PRODUCT_PAGE_URL".to_string(), shop.url("product-page").unwrap()),
        ("SHOP_PAUSE_S".to_string(), "1".to_string()),
    ];
    let started = chaostoolkit::act_with_env(&cx, "slow-search.json", &env).await.unwrap();
    let summary = started.ongoing.unwrap().finished().await.unwrap();
    assert_eq!(
        summary,
        "experiment \"The product page survives a slow search index\": completed, hypothesis held\n\
         steady state before: met (product-page-health: ok)\n\
         action slow-search: succeeded\n\
         probe product-page-while-search-is-slow: succeeded\n\
         steady state after: met (product-page-health: ok)\n\
         rollback action restore-search: succeeded"
    );
    let services: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/admin/services", shop.admin_url))
        .bearer_auth(&shop.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let search = services["services"].as_array().unwrap().iter().find(|s| s["name"] == "search").unwrap();
    assert_eq!(search["latency_ms"], 0, "the rollback restored search: {services}");
}

#[tokio::test]
async fn chaostoolkit_missing_cli_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    tiny_experiment(dir.path());
    let config = ChaosConfig { chaos_cli: Some("/nonexistent/ctk/bin/chaos".into()), ..Default::default() };
    let err = chaostoolkit::act(&cx(dir.path(), config), "tiny.json").await.err().unwrap();
    assert!(
        err.starts_with(
            "chaostoolkit: the Chaos Toolkit CLI `/nonexistent/ctk/bin/chaos` was not found: install"
        ),
        "{err}"
    );
    assert!(err.contains("pip install chaostoolkit"), "{err}");
    let err = chaostoolkit::act(&cx(dir.path(), ChaosConfig::default()), "missing.json").await.err().unwrap();
    assert!(err.starts_with("chaostoolkit: experiment missing.json not found"), "{err}");
}
