//! Replays through a real server: an incident worked with many commands, fetched by the real
//! client, ends in the live fold and seeks to exactly `GET /api/v1/state?at=`; past states hide
//! what a caller may not see now; bad `at` values are refused naming what is wrong.

mod common;

use common::TestServer;
use serde_json::Value;
use warroom::model::gameday::{GameDayId, Style};
use warroom::model::{IncidentId, Intent, Role, Severity, State, Status, UserRole, Window};
use warroom::protocol::Command;

/// A public declaration with a title and a severity.
fn declare(title: &str, severity: Severity) -> Intent {
    common::declare(title, severity).intent
}

async fn send(server: &TestServer, role: UserRole, intent: Intent) -> u64 {
    let kind = intent.kind();
    server.client(role).send(&Command::new(intent)).await.unwrap_or_else(|e| panic!("{kind}: {e}")).seq
}

/// The replay's state as the server serves past states: closed incidents as summaries.
fn served(state: &State) -> State {
    state.clone().windowed(Window::Summaries)
}

#[tokio::test]
async fn a_replayed_incident_ends_in_the_live_fold_and_every_seek_is_state_at_that_seq() {
    let server = TestServer::start().await;
    let (other, id) = (IncidentId(1), IncidentId(2));
    send(&server, UserRole::Commander, declare("search is slow", Severity::Sev3)).await;
    send(&server, UserRole::Commander, Intent::AddNote { incident: other, text: "before".into() }).await;
    send(&server, UserRole::Commander, declare("checkout fails", Severity::Sev3)).await;
    let script = [
        (
            UserRole::Commander,
            Intent::SetStatus { incident: id, status: Status::Investigating, reason: None },
        ),
        (UserRole::Responder, Intent::AddNote { incident: id, text: "502s from the PSP".into() }),
        (UserRole::Commander, Intent::AddNote { incident: other, text: "meanwhile".into() }),
        (UserRole::Commander, Intent::AssignRole { incident: id, role: Role::Scribe, person: "bob".into() }),
        (UserRole::Commander, Intent::SetSeverity { incident: id, severity: Severity::Sev4 }),
        (UserRole::Commander, Intent::SetStatus { incident: id, status: Status::Mitigated, reason: None }),
        (UserRole::Commander, declare("unrelated", Severity::Sev5)),
        (UserRole::Responder, Intent::AddNote { incident: id, text: "rolled back #well".into() }),
        (UserRole::Commander, Intent::SetStatus { incident: id, status: Status::Postmortem, reason: None }),
        (UserRole::Commander, Intent::SetStatus { incident: id, status: Status::Closed, reason: None }),
    ];
    for (role, intent) in script {
        send(&server, role, intent).await;
    }
    let observer = server.client(UserRole::Observer);
    let mut replay = observer.replay(id).await.unwrap();
    let full = observer.incident(id).await.unwrap().incident;
    let (first, last) = (full.timeline[0].seq, full.timeline.last().unwrap().seq);
    assert_eq!((replay.seq(), replay.events().last().map(|e| e.seq)), (first, Some(last)));

    // Played to its end: the live fold, the incident whole.
    replay.go(replay.len() - 1);
    assert_eq!(replay.incident(), Some(&full));
    assert_eq!(served(replay.state()), observer.snapshot().await.unwrap().state);
    assert_eq!(served(replay.state()), observer.state_at(last).await.unwrap().state);
    // What comes after its last entry is not part of it.
    send(&server, UserRole::Commander, Intent::AddNote { incident: other, text: "after".into() }).await;
    assert_eq!(observer.replay(id).await.unwrap().events().last().map(|e| e.seq), Some(last));

    // Every position, backwards and forwards: the state the server folds for that seq.
    for seq in (first..=last).rev().chain(first..=last) {
        replay.seek(seq);
        let at = observer.state_at(seq).await.unwrap();
        assert_eq!(at.seq, seq);
        assert_eq!(served(replay.state()), at.state, "seek {seq}");
    }
}

/// `?at=` answered for `role`, as text.
async fn state_at_text(server: &TestServer, role: UserRole, at: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/state?at={at}", server.url))
        .bearer_auth(common::token(role))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn a_past_state_hides_what_the_caller_may_not_see_now() {
    let server = TestServer::start().await;
    let g = GameDayId(1);
    send(
        &server,
        UserRole::Admin,
        Intent::CreateGameday { name: "Dungeon".into(), style: Style::DungeonsAndDragons },
    )
    .await;
    send(&server, UserRole::Admin, Intent::AddTeam { gameday: g, team: "red".into() }).await;
    send(&server, UserRole::Responder, Intent::JoinTeam { gameday: g, team: "red".into(), person: None })
        .await;
    let planned = send(
        &server,
        UserRole::Admin,
        Intent::PlanScenario {
            gameday: g,
            scenario: "price-desync".into(),
            briefing: None,
            note: "SECRET-NOTE: the indexer is paused".into(),
            par_detect_minutes: None,
            par_mitigate_minutes: None,
            weights: Default::default(),
        },
    )
    .await;
    let private = send(
        &server,
        UserRole::Commander,
        Intent::DeclareIncident {
            title: "PRIVATE-TITLE".into(),
            severity: Severity::Sev3,
            impact: String::new(),
            drill: false,
            services: vec![],
            private: true,
        },
    )
    .await;
    let started = send(&server, UserRole::Admin, Intent::StartGameday { gameday: g }).await;
    for at in [planned, private, started] {
        let at = at.to_string();
        for hero in [UserRole::Responder, UserRole::Observer] {
            let (status, text) = state_at_text(&server, hero, &at).await;
            assert_eq!(status, 200, "{text}");
            assert!(!text.contains("SECRET-NOTE"), "{hero} at {at} reads the plan: {text}");
            assert!(!text.contains("PRIVATE-TITLE"), "{hero} at {at} reads the private incident: {text}");
        }
        let (_, villain) = state_at_text(&server, UserRole::Villain, &at).await;
        assert!(villain.contains("SECRET-NOTE"), "the villain knows the plot: {villain}");
        let (_, commander) = state_at_text(&server, UserRole::Commander, &at).await;
        assert_eq!(
            commander.contains("PRIVATE-TITLE"),
            at != planned.to_string(),
            "its declarer: {commander}"
        );
        let (_, admin) = state_at_text(&server, UserRole::Admin, &at).await;
        assert!(admin.contains("SECRET-NOTE"), "{admin}");
    }
    // The debrief reveals the plan to everyone, in every past state too.
    send(&server, UserRole::Admin, Intent::EndGameday { gameday: g }).await;
    let (_, hero) = state_at_text(&server, UserRole::Responder, &planned.to_string()).await;
    assert!(hero.contains("SECRET-NOTE") && !hero.contains("PRIVATE-TITLE"), "{hero}");
}

#[tokio::test]
async fn bad_at_values_are_refused_naming_at_or_the_head_and_zero_is_the_empty_state() {
    let server = TestServer::start().await;
    let head = send(&server, UserRole::Commander, declare("one", Severity::Sev3)).await;
    for (at, names) in [
        ("abc", "`at` must be a whole number, got `abc`"),
        ("-1", "`at` must be a whole number"),
        ("", "`at` must be a whole number"),
        ("99999999999999999999", "`at` must be a whole number"),
        (&(head + 1).to_string(), &format!("`at` {} is beyond this log's newest event ({head})", head + 1)),
    ] {
        let (status, text) = state_at_text(&server, UserRole::Observer, at).await;
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")), "at={at}: {text}");
        assert!(body["detail"].as_str().unwrap_or_default().contains(names), "at={at}: {text}");
    }
    let (status, text) = state_at_text(&server, UserRole::Observer, "0").await;
    assert_eq!(status, 200, "{text}");
    let zero: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&zero["seq"], &zero["state"]["incidents"], &zero["probes"]),
        (&0.into(), &serde_json::json!({}), &serde_json::json!([]))
    );
    let snap = server.client(UserRole::Observer).state_at(head).await.unwrap();
    assert_eq!((snap.seq, snap.state.incidents.len()), (head, 1));
}
