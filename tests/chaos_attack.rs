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
