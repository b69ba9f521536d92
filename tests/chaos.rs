//! The chaos runner end to end on a real server: roles, the catalogue, a run from steady state
//! to verdict, halt-all while the log fails, stop conditions, the dead-man rule, and a SIGKILL
//! mid-run. The target is a recording stand-in for the demo shop's admin API (the real shop's
//! faults are tested in `tests/shop_faults.rs` and, through warroom, in `tests/gameday1.rs`).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::{eventually, token, users, ServerProcess};
use warroom::client::Client;
use warroom::model::chaos::{RunId, RunPhase, StopCause};
use warroom::model::{Fact, Intent, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, RunningServer, ServerOptions};

/// Records what the runner asks of the shop's admin API; can refuse rollbacks and fail health.
#[derive(Clone, Default)]
struct Target {
    injects: Arc<Mutex<Vec<serde_json::Value>>>,
    clears: Arc<Mutex<usize>>,
    refuse_clear: Arc<AtomicBool>,
    sick: Arc<AtomicBool>,
}

impl Target {
    async fn start() -> (Target, String) {
        use axum::routing::{delete, get, post};
        let t = Target::default();
        let (a, b, c) = (t.clone(), t.clone(), t.clone());
        let router = axum::Router::new()
            .route(
                "/admin/faults",
                post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                    let a = a.clone();
                    async move {
                        let fault = v["fault"].as_str().unwrap_or_default().to_string();
                        a.injects.lock().unwrap().push(v);
                        axum::Json(
                            serde_json::json!({ "fault": fault, "detail": format!("{fault} injected") }),
                        )
                    }
                }),
            )
            .route(
                "/admin/faults",
                delete(move || {
                    let b = b.clone();
                    async move {
                        if b.refuse_clear.load(Ordering::SeqCst) {
                            return (StatusCode::INTERNAL_SERVER_ERROR, "disk full").into_response();
                        }
                        *b.clears.lock().unwrap() += 1;
                        axum::Json(serde_json::json!({ "detail": "every fault cleared" })).into_response()
                    }
                }),
            )
            .route(
                "/health/{name}",
                get(move || {
                    let c = c.clone();
                    async move {
                        if c.sick.load(Ordering::SeqCst) {
                            (StatusCode::SERVICE_UNAVAILABLE, "down").into_response()
                        } else {
                            "ok".into_response()
                        }
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (t, url)
    }

    fn clears(&self) -> usize {
        *self.clears.lock().unwrap()
    }

    fn injects(&self) -> usize {
        self.injects.lock().unwrap().len()
    }
}

use axum::response::IntoResponse;

/// A scenario breaking `target` with the demo driver, rolled back with `clear`.
fn scenario(id: &str, target: &str, duration: &str, steady: &str, stop_when: &str) -> String {
    format!(
        r#"id = "{id}"
title = "{id} breaks {target}"
hypothesis = "{target} survives"
target = ["{target}"]
duration = "{duration}"
steady_state = [{steady}]
stop_when = {stop_when}

[[phase]]
after = "0s"
inject = {{ driver = "demo", fault = "latency", service = "{target}", ms = 500 }}

[[rollback]]
driver = "demo"
fault = "clear"
"#
    )
}

fn write_scenarios(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (id, target) in [("slow-a", "a"), ("slow-b", "b"), ("slow-c", "c")] {
        std::fs::write(dir.join(format!("{id}.toml")), scenario(id, target, "10m", "", "\"never\"")).unwrap();
    }
    std::fs::write(dir.join("short.toml"), scenario("short", "a", "1s", "", "\"never\"")).unwrap();
    std::fs::write(dir.join("guarded.toml"), scenario("guarded", "a", "10m", "\"a\"", "[\"guard\"]"))
        .unwrap();
    let broken = scenario("broken", "a", "1m", "", "\"never\"").replace("target = [\"a\"]", "target = []");
    std::fs::write(dir.join("broken.toml"), broken).unwrap();
}

fn probe(name: &str, url: &str) -> warroom::config::ProbeConfig {
    let mut p: warroom::config::ProbeConfig = toml::from_str(&format!(
        "name = \"{name}\"\nurl = \"{url}/health/{name}\"\ninterval = \"1s\"\ntimeout = \"1s\"\nconditions = [\"[STATUS] == 200\"]\nfailure_threshold = 1\nsuccess_threshold = 1\n"
    ))
    .unwrap();
    p.name = name.into();
    p
}

struct Room {
    server: RunningServer,
    target: Target,
    _dir: tempfile::TempDir,
}

impl Room {
    async fn start(dead_man: Option<&str>) -> Room {
        let dir = tempfile::tempdir().unwrap();
        let (target, url) = Target::start().await;
        write_scenarios(&dir.path().join("chaos"));
        let chaos = warroom::config::ChaosConfig {
            demo_url: Some(url.clone()),
            demo_token: Some("shop-token".into()),
            dead_man: dead_man.map(|d| d.parse().unwrap()),
            ..Default::default()
        };
        let server = start(ServerOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().join("data"),
            users: users(),
            probes: vec![probe("a", &url), probe("guard", &url)],
            chaos,
            scenario_dirs: vec![dir.path().join("chaos")],
            // A closed console is noticed at the next heartbeat: soon, for the dead-man test.
            heartbeat: std::time::Duration::from_millis(200),
            ..Default::default()
        })
        .await
        .unwrap();
        Room { server, target, _dir: dir }
    }

    fn client(&self, role: UserRole) -> Client {
        Client::new(&self.server.url(), &token(role)).unwrap()
    }

    async fn start_run(&self, scenario: &str) -> RunId {
        let ack = self
            .client(UserRole::Villain)
            .send(&Command::new(Intent::StartScenario { scenario: scenario.into() }))
            .await
            .unwrap();
        match &ack.events[0].fact {
            Fact::ScenarioStarted { run, .. } => *run,
            other => panic!("{other:?}"),
        }
    }

    fn run(&self, run: RunId) -> Option<warroom::model::chaos::Run> {
        self.server.app.hub().state().chaos.runs.get(&run).cloned()
    }

    async fn until_run(&self, run: RunId, what: &str, cond: impl Fn(&warroom::model::chaos::Run) -> bool) {
        eventually(what, || async { self.run(run).is_some_and(|r| cond(&r)) }).await;
    }

    async fn probes_up(&self) {
        eventually("probes up", || async {
            let s = self.server.app.hub().state();
            ["a", "guard"]
                .iter()
                .all(|p| s.probes.get(*p).is_some_and(|p| p.health == warroom::model::probe::Health::Up))
        })
        .await;
    }
}

async fn halt(url: &str, role: UserRole, reason: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/chaos/halt"))
        .bearer_auth(token(role))
        .json(&serde_json::json!({ "reason": reason }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn only_villains_and_admins_drive_chaos_and_the_catalogue_names_bad_files() {
    let room = Room::start(None).await;
    let lib = room.client(UserRole::Observer).library().await.unwrap();
    let ids: Vec<&str> = lib.library.scenarios.iter().map(|s| s.id.as_str()).collect();
    for id in ["price-desync", "table-lock", "payment-errors", "stock-corruption", "slow-a", "guarded"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(
        lib.errors.iter().any(|e| e.contains("broken.toml: line 4: target: names the services")),
        "no clear error for broken.toml: {:?}",
        lib.errors
    );
    for role in [UserRole::Commander, UserRole::Responder, UserRole::Observer] {
        for intent in [
            Intent::StartScenario { scenario: "slow-a".into() },
            Intent::StopScenario { run: RunId(1), reason: None },
            Intent::HaltAll { reason: "x".into() },
            Intent::ArmChaos {},
        ] {
            let err = room.client(role).send(&Command::new(intent.clone())).await.unwrap_err();
            assert!(err.to_string().contains("403") || err.to_string().contains("may not"), "{role}: {err}");
        }
        assert_eq!(halt(&room.server.url(), role, "x").await.0, 403, "{role} halted");
    }
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/commands", room.server.url()))
        .bearer_auth(token(UserRole::Villain))
        .json(&Command::new(Intent::StartScenario { scenario: "no-such".into() }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "unknown_scenario", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("no chaos scenario `no-such`"), "{body}");
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/commands", room.server.url()))
        .bearer_auth(token(UserRole::Villain))
        .json(&Command::new(Intent::StopScenario { run: RunId(99), reason: None }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "unknown_run", "{body}");
    // A responder is told who may.
    let err = room
        .client(UserRole::Responder)
        .send(&Command::new(Intent::StartScenario { scenario: "slow-a".into() }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only villains and admins drive chaos"), "{err}");
    assert_eq!(room.target.injects(), 0, "nothing was injected");
}

#[tokio::test]
async fn a_run_injects_then_ends_at_its_duration_with_its_rollback() {
    let room = Room::start(None).await;
    let run = room.start_run("short").await;
    room.until_run(run, "the run to end", |r| r.phase == RunPhase::Ended).await;
    let r = room.run(run).unwrap();
    assert_eq!(r.cause, Some(StopCause::Duration));
    let steps: Vec<String> = r.steps.iter().map(|s| format!("{} {} {}", s.step, s.ok, s.output)).collect();
    assert_eq!(
        steps,
        [
            "steady_state true no steady-state probes to check",
            "inject true latency injected",
            "rollback true every fault cleared"
        ],
        "{steps:#?}"
    );
    assert_eq!((room.target.injects(), room.target.clears()), (1, 1));
    let inject = room.target.injects.lock().unwrap()[0].clone();
    assert_eq!(inject, serde_json::json!({ "fault": "latency", "service": "a", "ms": 500 }));
}

#[tokio::test]
async fn halt_all_rolls_back_three_runs_while_the_log_fails_and_disarms_until_armed() {
    let room = Room::start(None).await;
    let runs =
        [room.start_run("slow-a").await, room.start_run("slow-b").await, room.start_run("slow-c").await];
    for run in runs {
        room.until_run(run, "injected", |r| r.injected == 1).await;
    }
    let health = room.server.app.writer_health().clone();
    health.set_failpoint(warroom::server::writer::Failpoint::StoreDown, true);
    let (status, report) = halt(&room.server.url(), UserRole::Villain, "customers are hurting").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rolled_back"].as_array().map(Vec::len), Some(3), "{report}");
    assert!(report["recorded"].is_null() && report["error"].is_string(), "{report}");
    // Rolled back for real, with nothing written.
    assert_eq!(room.target.clears(), 3);
    // Disarmed at once, though the log does not say so yet.
    let err = room
        .client(UserRole::Villain)
        .send(&Command::new(Intent::StartScenario { scenario: "short".into() }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disarmed"), "{err}");
    health.set_failpoint(warroom::server::writer::Failpoint::StoreDown, false);
    // The log catches up: the halt, and every run ended.
    eventually("the halt in the log", || async {
        let s = room.server.app.hub().state();
        s.chaos.disarmed.is_some() && runs.iter().all(|r| s.chaos.runs[r].phase == RunPhase::Ended)
    })
    .await;
    for run in runs {
        assert_eq!(room.run(run).unwrap().cause, Some(StopCause::Halted));
    }
    let err = room
        .client(UserRole::Villain)
        .send(&Command::new(Intent::StartScenario { scenario: "short".into() }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disarmed"), "{err}");
    room.client(UserRole::Villain).send(&Command::new(Intent::ArmChaos {})).await.unwrap();
    eventually("armed", || async { !room.server.app.chaos().is_disarmed() }).await;
    room.start_run("short").await;
}

#[tokio::test]
async fn a_failed_rollback_is_loud_retried_and_halt_all_retries_it() {
    let room = Room::start(None).await;
    let run = room.start_run("slow-a").await;
    room.until_run(run, "injected", |r| r.injected == 1).await;
    room.target.refuse_clear.store(true, Ordering::SeqCst);
    room.client(UserRole::Villain)
        .send(&Command::new(Intent::StopScenario { run, reason: Some("enough".into()) }))
        .await
        .unwrap();
    room.until_run(run, "the failed rollback on record", |r| {
        r.rollback_failed.as_deref().is_some_and(|e| e.contains("500") && e.contains("disk full"))
    })
    .await;
    assert_eq!(room.run(run).unwrap().phase, RunPhase::Stopping);
    room.target.refuse_clear.store(false, Ordering::SeqCst);
    let (status, report) = halt(&room.server.url(), UserRole::Admin, "retry that rollback").await;
    assert_eq!(status, 200, "{report}");
    room.until_run(run, "ended after the halt's retry", |r| r.phase == RunPhase::Ended).await;
    let r = room.run(run).unwrap();
    assert_eq!((r.cause, r.rollback_failed), (Some(StopCause::Stopped), None));
    assert!(room.target.clears() >= 1);
}

#[tokio::test]
async fn a_stop_condition_halts_the_run_and_says_why() {
    let room = Room::start(None).await;
    room.probes_up().await;
    let run = room.start_run("guarded").await;
    room.until_run(run, "running", |r| r.injected == 1).await;
    room.target.sick.store(true, Ordering::SeqCst);
    room.until_run(run, "stopped by its stop condition", |r| r.phase == RunPhase::Ended).await;
    let r = room.run(run).unwrap();
    assert_eq!(r.cause, Some(StopCause::StopCondition));
    assert!(r.reason.as_deref().is_some_and(|w| w.contains("guard went down")), "{:?}", r.reason);
    // Judged before the rollback: its steady-state probe `a` was down too (same target).
    assert!(r.verdict.as_ref().is_some_and(|v| v.deviated), "{:?}", r.verdict);
    assert_eq!(room.target.clears(), 1);
}

#[tokio::test]
async fn a_run_refuses_to_start_when_its_steady_state_does_not_hold() {
    let room = Room::start(None).await;
    room.target.sick.store(true, Ordering::SeqCst);
    let run = room.start_run("guarded").await;
    room.until_run(run, "ended", |r| r.phase == RunPhase::Ended).await;
    let r = room.run(run).unwrap();
    assert_eq!(r.cause, Some(StopCause::SteadyState));
    assert_eq!(room.target.injects(), 0, "nothing injected");
}

#[tokio::test]
async fn the_dead_man_rule_rolls_back_when_no_villain_is_connected() {
    let room = Room::start(Some("1s")).await;
    // A villain's console holds a stream while it starts the run, then goes away.
    let villain = room.client(UserRole::Villain);
    let stream = villain.stream(0).await.unwrap();
    let run = room.start_run("slow-a").await;
    room.until_run(run, "injected", |r| r.injected == 1).await;
    drop(stream);
    room.until_run(run, "rolled back by the dead man", |r| r.phase == RunPhase::Ended).await;
    assert_eq!(room.run(run).unwrap().cause, Some(StopCause::DeadMan));
    assert_eq!(room.target.clears(), 1);
}

#[tokio::test]
async fn a_server_killed_mid_run_rolls_the_run_back_when_it_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let (target, url) = Target::start().await;
    write_scenarios(&dir.path().join("chaos"));
    let mut cfg = warroom::config::ServerConfig { users: users(), ..Default::default() };
    cfg.chaos.demo_url = Some(url);
    cfg.chaos.demo_token = Some("t".into());
    cfg.chaos.scenarios_dir = Some(dir.path().join("chaos"));
    let config = dir.path().join("server.toml");
    std::fs::write(&config, toml::to_string(&cfg).unwrap()).unwrap();
    let data = dir.path().join("data");
    let mut server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let villain = Client::new(&server.url, &token(UserRole::Villain)).unwrap();
    villain.send(&Command::new(Intent::StartScenario { scenario: "slow-a".into() })).await.unwrap();
    eventually("injected", || async { target.injects() == 1 }).await;
    server.kill();
    assert_eq!(target.clears(), 0, "SIGKILL runs no rollback");
    let server = ServerProcess::spawn(&data, &config, "127.0.0.1:0");
    let observer = Client::new(&server.url, &token(UserRole::Observer)).unwrap();
    eventually("rolled back after the restart", || async {
        let s = observer.snapshot().await.unwrap().state;
        s.chaos.runs.get(&RunId(1)).is_some_and(|r| r.phase == RunPhase::Ended)
    })
    .await;
    let r = observer.snapshot().await.unwrap().state.chaos.runs[&RunId(1)].clone();
    assert_eq!(r.cause, Some(StopCause::Restart));
    assert_eq!(target.clears(), 1);
    assert!(r.steps.iter().any(|s| s.step == warroom::model::chaos::StepKind::Rollback && s.ok));
}

#[tokio::test]
async fn a_server_that_shuts_down_rolls_back_and_records_its_runs() {
    let room = Room::start(None).await;
    let run = room.start_run("slow-a").await;
    room.until_run(run, "injected", |r| r.injected == 1).await;
    let Room { server, target, _dir } = room;
    let data = server.app.hub().state().chaos.runs.len();
    assert_eq!(data, 1);
    server.stop().await;
    assert_eq!(target.clears(), 1, "rolled back before the server stopped");
    // The log says so: a new server on the same data dir reads the run as ended.
    let again = start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: _dir.path().join("data"),
        users: users(),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = again.app.hub().state().chaos.runs[&run].clone();
    assert_eq!((r.phase, r.cause), (RunPhase::Ended, Some(StopCause::Shutdown)));
    assert_eq!(target.clears(), 1, "nothing left to roll back at the next start");
    again.stop().await;
}

/// The README's scenario and `[chaos]` examples read as it says.
#[test]
fn the_readme_chaos_examples_parse() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks: Vec<&str> = readme.split("```toml\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    let scenario =
        blocks.iter().find(|b| b.starts_with("id = \"price-desync\"")).expect("the scenario example");
    let sc = warroom::model::chaos::parse(scenario).unwrap_or_else(|e| panic!("README scenario: {e}"));
    assert_eq!(sc.target, ["search", "listing"]);
    let server =
        blocks.iter().find(|b| b.starts_with("# server.toml\n[chaos]")).expect("the [chaos] example");
    let cfg: warroom::config::ServerConfig =
        toml::from_str(server).unwrap_or_else(|e| panic!("README [chaos]: {e}"));
    assert_eq!(cfg.chaos.dead_man.map(|d| d.0), Some(120));
    assert_eq!(cfg.chaos.proxies.len(), 1);
    assert!(cfg.chaos.env.contains_key("SHOP_ADMIN_URL"));
}
