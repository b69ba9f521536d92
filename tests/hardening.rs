//! No input may stop the room: a bug met deciding one command refuses that command only, the
//! writer goes on, and `/healthz` tells the truth about whether writes are possible.

mod common;

use common::{all_events, eventually, TestServer};
use reqwest::StatusCode;
use warroom::client::ClientError;
use warroom::model::{Intent, Severity, UserRole};
use warroom::protocol::Command;
use warroom::server::writer::Failpoint;

fn note(text: &str) -> Command {
    Command::new(Intent::DeclareIncident {
        title: text.into(),
        severity: Severity::Sev5,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
    })
}

async fn healthz(url: &str) -> (StatusCode, serde_json::Value) {
    let resp = reqwest::get(format!("{url}/healthz")).await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_panics_the_writer_is_refused_alone_and_writing_goes_on() {
    let ts = TestServer::start().await;
    let health = ts.server.app.writer_health().clone();
    let poison = note("poison");
    health.set_failpoint(Failpoint::PanicOn(poison.id), true);

    // The poison command travels with innocent ones, so it lands in a shared batch.
    let client = ts.client(UserRole::Responder);
    let mut sends = Vec::new();
    for i in 0..20 {
        let (c, cmd) = (client.clone(), note(&format!("innocent {i}")));
        sends.push(tokio::spawn(async move { c.send(&cmd).await }));
    }
    let poisoned = {
        let (c, cmd) = (client.clone(), poison.clone());
        tokio::spawn(async move { c.send(&cmd).await })
    };
    for s in sends {
        s.await.unwrap().expect("an innocent command in the same batch is written");
    }
    match poisoned.await.unwrap() {
        Err(ClientError::Rejected { status: 500, error, detail }) => {
            assert_eq!(error, "internal");
            assert!(detail.contains("nothing was written"), "{detail}");
        }
        other => panic!("expected a 500 refusal, got {other:?}"),
    }
    // Nothing of it is in the log, and the next command is written as usual.
    let events = all_events(&ts.client(UserRole::Observer)).await;
    assert_eq!(events.len(), 20);
    assert!(events.iter().all(|e| e.command_id != poison.id));
    client.send(&note("after")).await.expect("writes go on after the panic");
    assert_eq!(healthz(&ts.url).await.0, StatusCode::OK, "one bad command is not an unhealthy server");
    // Sent again, it is refused again: a refusal, never a reason for an outbox to retry forever.
    assert!(matches!(client.send(&poison).await, Err(ClientError::Rejected { status: 500, .. })));
    health.set_failpoint(Failpoint::PanicOn(poison.id), false);
    client.send(&poison).await.expect("once the bug is gone the same command is written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_exactly_while_the_store_cannot_write() {
    let ts = TestServer::start().await;
    let client = ts.client(UserRole::Commander);
    client.send(&note("before")).await.unwrap();
    let (status, body) = healthz(&ts.url).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));

    let health = ts.server.app.writer_health().clone();
    health.set_failpoint(Failpoint::StoreDown, true);
    match client.send(&note("while down")).await {
        Err(ClientError::Unreachable { detail, .. }) => assert!(detail.contains("disk I/O"), "{detail}"),
        other => panic!("expected 503 while the store is down, got {other:?}"),
    }
    let (status, body) = healthz(&ts.url).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert!(body["detail"].as_str().unwrap().contains("cannot write"), "{body}");

    // The store comes back: /healthz turns healthy by itself, without waiting for a command.
    health.set_failpoint(Failpoint::StoreDown, false);
    let url = ts.url.clone();
    eventually("healthz to be 200 again", || {
        let url = url.clone();
        async move { healthz(&url).await.0 == StatusCode::OK }
    })
    .await;
    client.send(&note("after")).await.expect("writes work again");
    let titles: Vec<String> = all_events(&ts.client(UserRole::Observer))
        .await
        .iter()
        .filter_map(|e| match &e.fact {
            warroom::model::Fact::IncidentDeclared { title, .. } => Some(title.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(titles, ["before", "after"]);
}
