//! The chaos controls under a tired user's and an attacker's hands, on a real server: a halt
//! the log refuses must not leave chaos disarmed where no one can arm it again.

mod common;

use common::{token, TestServer};
use warroom::model::{Intent, UserRole};
use warroom::protocol::Command;

async fn post_command(url: &str, role: UserRole, command: &Command) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/commands"))
        .bearer_auth(token(role))
        .json(command)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_halt_all_command_with_a_bad_reason_is_refused_before_it_disarms_anything() {
    let server = TestServer::start().await;
    let too_long = "x".repeat(warroom::model::intent::MAX_TEXT + 1);
    for reason in ["", "   ", too_long.as_str()] {
        let halt = Command::new(Intent::HaltAll { reason: reason.into() });
        let (status, body) = post_command(&server.url, UserRole::Villain, &halt).await;
        assert_eq!(status, 422, "halt with reason of {} chars: {body}", reason.len());
    }
    // Nothing was halted, so nothing needs arming, and a start is not refused as disarmed.
    assert!(server.server.app.hub().state().chaos.disarmed.is_none());
    assert!(!server.server.app.chaos().is_disarmed(), "refused halt left the runner disarmed");
    let start = Command::new(Intent::StartScenario { scenario: "price-desync".into() });
    let (status, body) = post_command(&server.url, UserRole::Villain, &start).await;
    assert_eq!(status, 200, "start after a refused halt: {body}");
}

/// A scenario whose inject hangs (a program that ignores SIGTERM) after leaving a mark.
const HANGING: &str = r#"
id = "hanging"
title = "An inject that hangs"
target = ["payment"]
duration = "10m"
stop_when = "never"

[[phase]]
after = "0s"
inject = { driver = "command", program = "sh", args = ["-c", "trap '' TERM INT; touch started; sleep 60"], timeout = "5m" }

[[rollback]]
driver = "command"
program = "true"
"#;

#[tokio::test]
async fn a_halt_interrupts_an_inject_that_hangs_and_rolls_back_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("chaos");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("hanging.toml"), HANGING).unwrap();
    let server = warroom::server::start(warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        users: common::users(),
        scenario_dirs: vec![scenarios.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = server.url();
    let start = Command::new(Intent::StartScenario { scenario: "hanging".into() });
    let (status, body) = post_command(&url, UserRole::Villain, &start).await;
    assert_eq!(status, 200, "{body}");
    let mark = scenarios.join("started");
    common::eventually("the inject to be under way", || async { mark.exists() }).await;
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/chaos/halt"))
        .bearer_auth(token(UserRole::Villain))
        .json(&serde_json::json!({ "reason": "the inject hangs" }))
        .send()
        .await
        .unwrap();
    let report: serde_json::Value = r.json().await.unwrap();
    // Without the interruption the halt waited out its 30 s bound and said the rollback was
    // still running, while the inject held the run until its own timeout.
    assert_eq!(report["rolled_back"], serde_json::json!(["RUN-1"]), "{report}");
    assert!(report.get("failed").is_none_or(|f| f.as_array().is_some_and(|f| f.is_empty())), "{report}");
}
