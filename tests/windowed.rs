//! Clients hold what they show: closed incidents arrive as summaries, and what they drop is
//! fetched on demand — equal to what folding the whole log holds of them, across restarts.

mod common;

use common::{all_events, declare, token, users, TestServer};
use warroom::client::Client;
use warroom::model::{Adopted, IncidentId, Intent, Severity, State, Status, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, ServerOptions};

async fn send(client: &Client, intent: Intent) -> u64 {
    client.send(&Command::new(intent)).await.unwrap_or_else(|e| panic!("{e}")).seq
}

fn note(id: u64, text: &str) -> Intent {
    Intent::AddNote { incident: IncidentId(id), text: text.into() }
}

fn close(id: u64) -> Intent {
    Intent::SetStatus { incident: IncidentId(id), status: Status::Closed, reason: Some("duplicate".into()) }
}

/// INC-1 closed with notes before and after closing, INC-2 open, INC-3 private and closed.
async fn a_room(alice: &Client) {
    alice.send(&declare("checkout is slow", Severity::Sev2)).await.unwrap();
    alice.send(&declare("search lags", Severity::Sev3)).await.unwrap();
    send(
        alice,
        Intent::DeclareIncident {
            title: "payroll leak".into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: false,
            services: vec![],
            private: true,
        },
    )
    .await;
    for n in 0..5 {
        send(alice, note(1, &format!("looking {n}"))).await;
    }
    send(alice, note(2, "open one")).await;
    send(alice, close(1)).await;
    send(alice, note(1, "written after closing")).await;
    send(alice, note(3, "secret")).await;
    send(alice, close(3)).await;
}

/// What folding the whole log gives (an admin sees every event).
async fn full_fold(server_url: &str) -> State {
    let root = Client::new(server_url, &token(UserRole::Admin)).unwrap();
    let mut state = State::default();
    for e in all_events(&root).await {
        state.apply(&e);
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_incident_fetched_on_demand_equals_the_full_fold() {
    let s = TestServer::start().await;
    let alice = s.client(UserRole::Commander);
    a_room(&alice).await;
    let full = full_fold(&s.url).await;

    let snap = alice.snapshot().await.unwrap();
    let mut state = snap.state;
    let (one, two) = (&state.incidents[&IncidentId(1)], &state.incidents[&IncidentId(2)]);
    assert!(!one.is_full() && one.timeline.is_empty(), "a closed incident is a summary: {one:?}");
    assert_eq!(one.timeline_len(), full.incidents[&IncidentId(1)].timeline_len());
    assert_eq!(two, &full.incidents[&IncidentId(2)], "open incidents are whole");

    let fetched = alice.incident(IncidentId(1)).await.unwrap();
    assert_eq!(fetched.log, snap.log);
    assert_eq!(fetched.incident, *full.incidents[&IncidentId(1)]);
    assert_eq!(state.adopt(fetched.incident, fetched.seq), Adopted::Done);
    assert_eq!(state.incidents[&IncidentId(1)], full.incidents[&IncidentId(1)]);
    // A note on the adopted incident folds as on the full state.
    let seq = send(&alice, note(1, "one more")).await;
    let events = alice.events(snap.seq, 10).await.unwrap().events;
    assert_eq!(events.last().map(|e| e.seq), Some(seq));
    let mut full = full;
    for e in &events {
        state.apply(e);
        full.apply(e);
    }
    assert_eq!(state.incidents[&IncidentId(1)], full.incidents[&IncidentId(1)]);

    // The timeline by range.
    let whole = &full.incidents[&IncidentId(1)].timeline;
    let page = alice.timeline(IncidentId(1), 2, 3).await.unwrap();
    assert_eq!((page.total, page.from), (whole.len() as u64, 2));
    assert_eq!(page.entries, whole[2..5]);
    let past = alice.timeline(IncidentId(1), 1000, 10).await.unwrap();
    assert!(past.entries.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_filter_page_and_hide_what_a_reader_may_not_see() {
    let s = TestServer::start().await;
    let alice = s.client(UserRole::Commander);
    a_room(&alice).await;
    let bob = s.client(UserRole::Responder);
    let root = s.client(UserRole::Admin);

    let ids =
        |page: &warroom::protocol::IncidentPage| page.incidents.iter().map(|i| i.id.0).collect::<Vec<_>>();
    // Open first, worst first; bob does not see the private one at all.
    assert_eq!(ids(&bob.incidents("").await.unwrap()), [2, 1]);
    assert_eq!(ids(&root.incidents("").await.unwrap()), [2, 3, 1]);
    assert_eq!(ids(&root.incidents("status=closed").await.unwrap()), [3, 1]);
    assert_eq!(ids(&root.incidents("status=open").await.unwrap()), [2]);
    assert_eq!(ids(&root.incidents("severity=sev1,sev2").await.unwrap()), [3, 1]);
    assert_eq!(ids(&root.incidents("q=CHECKOUT%20slow").await.unwrap()), [1]);
    let page = root.incidents("offset=1&limit=1").await.unwrap();
    assert_eq!((ids(&page), page.total, page.offset), (vec![3], 3, 1));
    let summary = &root.incidents("q=checkout").await.unwrap().incidents[0];
    assert_eq!(summary.timeline_len, 9, "declared, its playbook, 5 notes, closed, a note after");
    assert_eq!(root.all_incidents("status=closed").await.unwrap().len(), 2);

    // A hidden incident is answered like a missing one.
    for (who, id) in [(&bob, 3), (&bob, 99)] {
        let err = who.incident(IncidentId(id)).await.unwrap_err().to_string();
        assert!(err.contains("unknown_incident") || err.contains("no incident"), "{err}");
        assert!(who.timeline(IncidentId(id), 0, 10).await.is_err());
    }
    assert_eq!(
        root.incident(IncidentId(3)).await.unwrap().incident.timeline.len(),
        4,
        "declared, playbook, note, closed"
    );

    // Bad queries are 400s that say what is wrong.
    for (q, says) in [
        ("status=gone", "`status`"),
        ("severity=sev9", "severity"),
        ("limit=0", "`limit`"),
        ("colour=red", "colour"),
        ("offset=-1", "offset"),
    ] {
        let err = root.incidents(q).await.unwrap_err().to_string();
        assert!(err.contains("400") || err.contains(says), "{q}: {err}");
        assert!(err.contains(says), "{q}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_still_folds_closed_incidents_from_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: users(),
        ..Default::default()
    };
    let server = start(opts()).await.unwrap();
    let alice = Client::new(&server.url(), &token(UserRole::Commander)).unwrap();
    a_room(&alice).await;
    let before = full_fold(&server.url()).await;
    server.stop().await;

    let server = start(opts()).await.unwrap();
    let root = Client::new(&server.url(), &token(UserRole::Admin)).unwrap();
    for id in [1, 2, 3] {
        let got = root.incident(IncidentId(id)).await.unwrap();
        assert_eq!(got.incident, *before.incidents[&IncidentId(id)], "INC-{id}");
    }
}

/// The console holds a closed incident as a summary, asks for it when it is opened, and
/// shows its whole timeline once it arrives.
#[test]
fn the_console_shows_a_closed_incidents_full_timeline_on_enter() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;
    use warroom::client::sync::SyncEvent;
    use warroom::model::{stamp, Window};
    use warroom::protocol::{FullIncident, Snapshot, Whoami};
    use warroom::tui::app::{App, Effect, Msg};

    let t0: chrono::DateTime<chrono::Utc> = "2026-11-21T09:00:00Z".parse().unwrap();
    let mut full = State::default();
    let run = |s: &mut State, intent: Intent| {
        let facts = s.decide(&intent).unwrap();
        let at = t0 + chrono::Duration::minutes(s.seq as i64);
        for e in stamp(s.seq + 1, at, "alice", UserRole::Commander, uuid::Uuid::nil(), facts) {
            s.apply(&e);
        }
    };
    let declare = |title: &str, severity| Intent::DeclareIncident {
        title: title.into(),
        severity,
        impact: String::new(),
        drill: false,
        services: vec![],
        private: false,
    };
    run(&mut full, declare("Checkout returns 502", Severity::Sev1));
    run(&mut full, declare("Stock counts wrong", Severity::Sev4));
    run(&mut full, note(2, "the indexer stopped consuming"));
    run(&mut full, note(2, "restarted the indexer"));
    run(&mut full, close(2));
    let windowed = full.clone().windowed(Window::Summaries);
    assert!(!windowed.incidents[&IncidentId(2)].is_full());

    let themes = warroom::tui::theme::Themes::presets();
    let theme = themes.get("default").unwrap().clone();
    let mut app =
        App::new("http://127.0.0.1:7800", warroom::tui::keymap::Keymap::default(), themes, theme, t0);
    app.update(Msg::Resize(120, 30));
    app.update(Msg::Me(Whoami { name: "alice".into(), role: UserRole::Commander }));
    app.update(Msg::Sync(SyncEvent::Online));
    let seq = windowed.seq;
    app.update(Msg::Sync(SyncEvent::Snapshot(Snapshot {
        log: uuid::Uuid::nil(),
        seq,
        state: windowed,
        probes: vec![],
    })));
    app.prepare();
    let key = |c| Msg::Key(KeyEvent::new(c, KeyModifiers::NONE));
    let mut effects = app.update(key(KeyCode::Char('j')));
    effects.extend(app.update(key(KeyCode::Enter)));
    assert_eq!(app.selected, Some(IncidentId(2)));
    assert_eq!(effects, [Effect::Fetch(IncidentId(2))], "asked for once");
    let screen = |app: &mut App| {
        app.prepare();
        let mut term = ratatui::Terminal::new(TestBackend::new(120, 30)).unwrap();
        term.draw(|f| warroom::tui::view::draw(f, app)).unwrap();
        let buf = term.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = screen(&mut app);
    assert!(before.contains("earlier entries loading"), "{before}");
    assert!(!before.contains("the indexer stopped consuming"), "{before}");

    let incident = full.incidents[&IncidentId(2)].as_ref().clone();
    assert!(app
        .update(Msg::Fetched(Box::new(FullIncident { log: uuid::Uuid::nil(), seq, incident })))
        .is_empty());
    let after = screen(&mut app);
    assert!(
        after.contains("the indexer stopped consuming") && after.contains("restarted the indexer"),
        "{after}"
    );
    assert_eq!(app.state.incidents[&IncidentId(2)], full.incidents[&IncidentId(2)]);
}

/// A reopened incident is open again but held as a summary: the server folds it whole, and
/// the console fetches it without waiting to be looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_incident_is_fetched_whole() {
    use warroom::client::sync::SyncEvent;
    use warroom::tui::app::{App, Effect, Msg};
    let s = TestServer::start().await;
    let alice = s.client(UserRole::Commander);
    a_room(&alice).await;
    send(
        &alice,
        Intent::SetStatus {
            incident: IncidentId(1),
            status: Status::Investigating,
            reason: Some("it came back".into()),
        },
    )
    .await;
    send(&alice, note(1, "after reopening")).await;
    let full = full_fold(&s.url).await;
    let snap = alice.snapshot().await.unwrap();
    let held = &snap.state.incidents[&IncidentId(1)];
    assert!(held.status.is_open() && !held.is_full(), "{held:?}");
    assert_eq!(held.timeline_len(), full.incidents[&IncidentId(1)].timeline_len());
    assert_eq!(alice.incident(IncidentId(1)).await.unwrap().incident, *full.incidents[&IncidentId(1)]);

    let themes = warroom::tui::theme::Themes::presets();
    let theme = themes.get("default").unwrap().clone();
    let mut app =
        App::new(&s.url, warroom::tui::keymap::Keymap::default(), themes, theme, chrono::Utc::now());
    app.update(Msg::Resize(120, 30));
    app.update(Msg::Sync(SyncEvent::Online));
    let effects = app.update(Msg::Sync(SyncEvent::Snapshot(snap)));
    assert!(effects.contains(&Effect::Fetch(IncidentId(1))), "{effects:?}");
}
