//! Operator signals: `warroom serve --log-format json` writing one object a line, with each
//! request's fields, and never a token.

mod common;

use std::io::Read as _;
use std::process::{Command as Proc, Stdio};

use common::{eventually, token, users, write_config};
use warroom::client::Client;
use warroom::model::{Intent, Severity, UserRole};
use warroom::protocol::Command;

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
