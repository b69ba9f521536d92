//! The console's chaos controls on ratatui's TestBackend: the chaos pane with a running run and
//! with a failed rollback, the banner every view shows, the start confirmation with its blast
//! radius, and the keys (s, x, H, A) as a villain and as a responder who may not use them.

mod fixtures;
mod screen;

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fixtures::library;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use screen::{find, text};
use warroom::client::sync::SyncEvent;
use warroom::model::chaos::{RunId, StepKind, StopCause};
use warroom::model::probe::Health;
use warroom::model::{stamp, Context, IncidentId, Intent, Severity, State, UserRole};
use warroom::protocol::HaltReport;
use warroom::tui::app::{App, Effect, Msg, Overlay, Pane};
use warroom::tui::view;

fn t0() -> DateTime<Utc> {
    "2026-11-21T09:00:00Z".parse().unwrap()
}

/// Folds intents as the server would: villain commands by victor, the runner's records as
/// the server's own admin, a minute apart from 09:01.
fn fold(intents: Vec<Intent>) -> State {
    let lib = library().library;
    let mut s = State::default();
    for (i, intent) in intents.into_iter().enumerate() {
        let now = t0() + Duration::minutes(i as i64 + 1);
        let (actor, role) = if intent.is_internal() {
            ("warroom", UserRole::Admin)
        } else if matches!(intent, Intent::DeclareIncident { .. }) {
            ("alice", UserRole::Commander)
        } else {
            ("victor", UserRole::Villain)
        };
        screen::play(&mut s, &lib, now, actor, role, &intent);
    }
    s
}

fn record(run: u64, step: StepKind, phase: Option<usize>, ok: bool, output: &str) -> Intent {
    Intent::RecordChaos { run: RunId(run), step, phase, driver: "demo".into(), ok, output: output.into() }
}

/// RUN-1 price-desync running, one phase of two in, a listing incident linked to it.
fn running() -> State {
    fold(vec![
        Intent::StartScenario { scenario: "price-desync".into() },
        record(1, StepKind::SteadyState, None, true, "search up, listing up"),
        record(1, StepKind::Inject, Some(0), true, "indexer paused; prices updating"),
        Intent::RecordProbe {
            probe: "listing".into(),
            health: Health::Down,
            failed: vec!["[BODY].price (12.00) == 14.50".into()],
            auto_declare: Some(Severity::Sev3),
        },
    ])
}

/// RUN-1 ended and held; RUN-2 table-lock stopping, its rollback failing.
fn failed_rollback() -> State {
    let mut probes = std::collections::BTreeMap::new();
    probes.insert("search".to_string(), Health::Up);
    probes.insert("listing".to_string(), Health::Up);
    fold(vec![
        Intent::StartScenario { scenario: "price-desync".into() },
        record(1, StepKind::SteadyState, None, true, "search up, listing up"),
        record(1, StepKind::Inject, Some(0), true, "indexer paused"),
        Intent::EndScenario { run: RunId(1), cause: StopCause::Duration, reason: None },
        record(1, StepKind::Rollback, Some(0), true, "cleared"),
        Intent::FinishScenario {
            run: RunId(1),
            verdict: Some(warroom::model::chaos::Verdict { deviated: false, probes }),
        },
        Intent::StartScenario { scenario: "table-lock".into() },
        record(2, StepKind::SteadyState, None, true, "stock up"),
        record(2, StepKind::Inject, Some(0), true, "LOCK TABLE stock held"),
        Intent::StopScenario { run: RunId(2), reason: Some("orders piling up".into()) },
        record(2, StepKind::Rollback, Some(0), false, "unlock: connection refused"),
    ])
}

fn disarmed() -> State {
    fold(vec![
        Intent::DeclareIncident {
            title: "Checkout returns 502 for card payments".into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: false,
            services: vec![],
            private: false,
        },
        Intent::HaltAll { reason: "real outage on payments".into() },
    ])
}

fn console(state: State, who: &str, role: UserRole, width: u16, height: u16) -> App {
    let library = Some(library());
    screen::console(
        state,
        screen::Setup {
            who,
            role,
            size: (width, height),
            now: t0() + Duration::minutes(8),
            theme: "default",
            library,
        },
    )
}

fn villain(state: State) -> App {
    console(state, "victor", UserRole::Villain, 80, 24)
}

fn render(app: &mut App) -> Buffer {
    app.prepare();
    let mut term = Terminal::new(TestBackend::new(app.size.width, app.size.height)).unwrap();
    term.draw(|f| view::draw(f, app)).unwrap();
    term.backend().buffer().clone()
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn enter() -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
}

fn sent(effects: &[Effect]) -> Vec<Intent> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(c) => Some(c.intent.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn chaos_pane_with_a_running_run_at_80x24() {
    let mut a = villain(running());
    // The run is the newest row after the catalogue: select it.
    a.update(key('G'));
    insta::assert_snapshot!(text(&render(&mut a)));
}

#[test]
fn a_failed_rollback_is_red_in_the_pane_and_the_banner_at_160x48() {
    let mut a = console(failed_rollback(), "victor", UserRole::Villain, 160, 48);
    a.update(key('j'));
    a.update(key('j'));
    let buf = render(&mut a);
    insta::assert_snapshot!(text(&buf));
    let alert = a.theme.get("alert").fg;
    let (x, y) = find(&buf, "ROLLBACK FAILED");
    assert_eq!(y, 0, "the banner says it first");
    assert_eq!(buf[(x, y)].fg, alert.unwrap());
    let (x, y) = find(&buf, "FAILED, retrying: unlock");
    assert!(y > 0);
    assert_eq!(buf[(x, y)].fg, alert.unwrap());
}

#[test]
fn the_disarmed_banner_shows_on_the_incidents_view_for_everyone() {
    let mut a = console(disarmed(), "alice", UserRole::Commander, 80, 24);
    assert_eq!(a.focus, Pane::Incidents, "a commander opens on the incidents");
    let buf = render(&mut a);
    insta::assert_snapshot!(text(&buf));
    assert_eq!(find(&buf, "CHAOS DISARMED by victor: real outage on payments").1, 0);
}

#[test]
fn start_confirmation_shows_the_blast_radius_at_80x24() {
    let mut a = villain(State::default());
    assert_eq!(a.focus, Pane::Chaos, "a villain's console opens on the chaos pane");
    assert!(sent(&a.update(key('s'))).is_empty(), "s asks first");
    assert!(matches!(a.overlay, Some(Overlay::Confirm(_))));
    insta::assert_snapshot!(text(&render(&mut a)));
    assert_eq!(sent(&a.update(enter())), [Intent::StartScenario { scenario: "price-desync".into() }]);
    assert!(a.overlay.is_none());
}

#[test]
fn s_x_h_and_a_drive_chaos_for_a_villain() {
    let mut a = villain(running());
    // Esc leaves the confirmation without sending.
    a.update(key('j'));
    a.update(key('s'));
    assert!(sent(&a.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)))).is_empty());
    assert!(a.overlay.is_none());
    // The second scenario is table-lock.
    a.update(key('s'));
    assert_eq!(sent(&a.update(enter())), [Intent::StartScenario { scenario: "table-lock".into() }]);
    // x on the scenario with a run stops that run, after a confirmation.
    a.update(key('g'));
    a.update(key('x'));
    let Some(Overlay::Confirm(c)) = &a.overlay else { panic!("x asks first") };
    assert!(c.title.contains("RUN-1"), "{}", c.title);
    assert_eq!(
        sent(&a.update(enter())),
        [Intent::StopScenario { run: RunId(1), reason: Some("stopped from the console".into()) }]
    );
    // H asks a reason, prefilled, and goes straight to the server: no command, no outbox.
    a.update(key('H'));
    let Some(Overlay::Form(f)) = &a.overlay else { panic!("H asks a reason") };
    assert!(f.title().contains("HALT"));
    let effects = a.update(enter());
    assert_eq!(effects, [Effect::Halt("halt from console".into())]);
    // The prefilled reason is selected: what is typed replaces it, never joins it.
    a.update(key('H'));
    for c in "end of test".chars() {
        a.update(key(c));
    }
    assert_eq!(a.update(enter()), [Effect::Halt("end of test".into())]);
    // An arrow keeps it, to add to it.
    a.update(key('H'));
    a.update(Msg::Key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)));
    for c in ": payments down".chars() {
        a.update(key(c));
    }
    assert_eq!(a.update(enter()), [Effect::Halt("halt from console: payments down".into())]);
    assert!(
        !a.pending.iter().any(|p| matches!(p.intent, Intent::HaltAll { .. })),
        "a halt is never a queued command"
    );
    a.update(Msg::Halted(Ok(HaltReport {
        runs: vec![RunId(1)],
        recorded: Some(9),
        ..HaltReport::default()
    })));
    assert!(a.flash.as_ref().is_some_and(|f| f.text.contains("halted: RUN-1")), "{:?}", a.flash);
    a.update(Msg::Halted(Err("cannot reach http://127.0.0.1:7800".into())));
    assert!(a.flash.as_ref().is_some_and(|f| f.text.starts_with("HALT NOT DONE")), "{:?}", a.flash);
    // :halt and :arm, the command line's words for the same.
    a.update(key(':'));
    for c in "halt payments down".chars() {
        a.update(key(c));
    }
    assert_eq!(a.update(enter()), [Effect::Halt("payments down".into())]);
    // A arms only what is disarmed.
    assert!(sent(&a.update(key('A'))).is_empty());
    let mut b = villain(disarmed());
    b.update(key('c'));
    assert_eq!(sent(&b.update(key('A'))), [Intent::ArmChaos {}]);
    // Disarmed: s says so instead of offering a start the server will refuse.
    b.update(key('s'));
    assert!(b.overlay.is_none());
    assert!(b.flash.as_ref().is_some_and(|f| f.text.contains("disarmed")), "{:?}", b.flash);
}

#[test]
fn offline_the_halt_says_it_needs_the_server_and_still_tries() {
    let mut a = villain(running());
    a.update(Msg::Sync(SyncEvent::Offline("connection refused".into())));
    a.update(key('H'));
    assert_eq!(a.update(enter()), [Effect::Halt("halt from console".into())]);
    assert!(a.flash.as_ref().is_some_and(|f| f.text.starts_with("offline: a halt needs the server")));
    assert_eq!(a.queued, 0);
}

#[test]
fn a_responder_sees_the_chaos_keys_greyed_and_gets_no_effects() {
    let mut a = console(running(), "bob", UserRole::Responder, 80, 24);
    assert_eq!(a.focus, Pane::Incidents);
    a.update(key('c'));
    assert_eq!(a.focus, Pane::Chaos);
    let buf = render(&mut a);
    let (x, y) = find(&buf, "s start");
    assert_eq!(buf[(x, y)].fg, a.theme.get("muted").fg.unwrap(), "greyed out");
    assert!(text(&buf).contains("(villains and admins only)"));
    for c in ['s', 'x', 'H', 'A'] {
        let effects = a.update(key(c));
        assert!(effects.is_empty(), "{c}: {effects:?}");
        assert!(a.overlay.is_none(), "{c} opened {:?}", a.overlay);
        assert!(
            a.flash.as_ref().is_some_and(|f| f.text.starts_with("responder may not")),
            "{c}: {:?}",
            a.flash
        );
    }
    a.update(key(':'));
    for c in "halt now".chars() {
        a.update(key(c));
    }
    assert!(a.update(enter()).is_empty());
}

#[test]
fn an_incident_a_run_caused_names_the_run_in_its_detail() {
    let mut a = console(running(), "alice", UserRole::Commander, 80, 24);
    a.prepare();
    assert_eq!(a.selected, Some(IncidentId(1)));
    let shown = text(&render(&mut a));
    assert!(shown.contains("caused by RUN-1 price-desync (victor, running)"), "{shown}");
    assert!(shown.contains("CHAOS: RUN-1 price-desync running, 13:00 left"), "{shown}");
}

/// Delivers what `actor` did to the console as the stream would; returns the effects.
fn arrive(a: &mut App, actor: &str, role: UserRole, intent: Intent) -> Vec<Effect> {
    let lib = library().library;
    let cx = Context { library: &lib, now: a.now, command_id: uuid::Uuid::nil(), role, actor };
    let facts = a.state.decide_with(&intent, &cx).unwrap_or_else(|e| panic!("{}: {e}", intent.kind()));
    let events = stamp(a.state.seq + 1, a.now, actor, role, uuid::Uuid::nil(), facts);
    events.into_iter().flat_map(|e| a.update(Msg::Sync(SyncEvent::Event(e)))).collect()
}

#[test]
fn a_halt_or_a_failed_rollback_by_someone_else_rings_and_toasts_every_role() {
    let mut hero = console(running(), "bob", UserRole::Responder, 120, 40);
    let effects = arrive(
        &mut hero,
        "warroom",
        UserRole::Admin,
        record(1, StepKind::Rollback, Some(0), false, "shop unreachable"),
    );
    assert_eq!(effects, [Effect::Bell]);
    assert!(
        hero.flash.as_ref().unwrap().text.contains("RUN-1 ROLLBACK FAILED: shop unreachable"),
        "{:?}",
        hero.flash
    );
    let effects =
        arrive(&mut hero, "victor", UserRole::Villain, Intent::HaltAll { reason: "customers hurt".into() });
    assert_eq!(effects, [Effect::Bell]);
    assert!(
        hero.flash.as_ref().unwrap().text.contains("victor HALTED all chaos: customers hurt"),
        "{:?}",
        hero.flash
    );
    assert!(text(&render(&mut hero)).contains("CHAOS DISARMED by victor"));
    // A run the server ends by itself is told to everyone too.
    let mut hero = console(running(), "bob", UserRole::Responder, 120, 40);
    let dead_man = Intent::EndScenario {
        run: RunId(1),
        cause: StopCause::DeadMan,
        reason: Some("no villain or admin connected for 120s".into()),
    };
    assert_eq!(arrive(&mut hero, "warroom", UserRole::Admin, dead_man), [Effect::Bell]);
    assert!(
        hero.flash.as_ref().unwrap().text.contains("RUN-1 is being rolled back (dead_man): no villain"),
        "{:?}",
        hero.flash
    );
    // The villain's own halt is no alarm to the villain.
    let mut me = villain(running());
    assert!(
        arrive(&mut me, "victor", UserRole::Villain, Intent::HaltAll { reason: "mine".into() }).is_empty()
    );
}
