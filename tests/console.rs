//! The console drawn on ratatui's TestBackend with realistic data: snapshots of every pane at
//! 80×24 and 160×48, the cells that carry meaning checked by style, and the user's stories
//! driven through `update`.

mod screen;

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;
use screen::{find, text};
use warroom::client::sync::SyncEvent;
use warroom::model::{stamp, IncidentId, Intent, Milestone, Role, Severity, State, Status, UserRole};
use warroom::protocol::Whoami;
use warroom::tui::app::{App, Effect, Msg, Overlay, Pane};
use warroom::tui::keymap::Keymap;
use warroom::tui::theme::Themes;
use warroom::tui::view;

fn t0() -> DateTime<Utc> {
    "2026-11-21T09:00:00Z".parse().unwrap()
}

/// A war room mid-incident: a SEV1 being worked, a drill, a stale-price SEV3, a closed one.
fn realistic_state() -> State {
    let mut s = State::default();
    let mut minute = 0;
    let mut run = |s: &mut State, actor: &str, intent: Intent| {
        minute += 1;
        let facts = s.decide(&intent).unwrap();
        for e in stamp(
            s.seq + 1,
            t0() + Duration::minutes(minute),
            actor,
            UserRole::Commander,
            uuid::Uuid::nil(),
            facts,
        ) {
            s.apply(&e);
        }
    };
    let inc = |n| IncidentId(n);
    run(
        &mut s,
        "alice",
        Intent::DeclareIncident {
            title: "Checkout returns 502 for card payments".into(),
            severity: Severity::Sev1,
            impact: "Customers cannot pay by card; ~40% of orders failing.".into(),
            drill: false,
            services: Vec::new(),
            private: false,
        },
    );
    run(
        &mut s,
        "alice",
        Intent::SetMilestone {
            incident: inc(1),
            milestone: Milestone::Started,
            time: t0() - Duration::minutes(7),
        },
    );
    run(
        &mut s,
        "alice",
        Intent::SetMilestone {
            incident: inc(1),
            milestone: Milestone::Detected,
            time: t0() - Duration::minutes(3),
        },
    );
    run(&mut s, "alice", Intent::SetStatus { incident: inc(1), status: Status::Investigating, reason: None });
    run(&mut s, "alice", Intent::AssignRole { incident: inc(1), role: Role::Scribe, person: "carol".into() });
    run(
        &mut s,
        "bob",
        Intent::AddNote {
            incident: inc(1),
            text: "Staff told in #incidents.\nCustomer email queued.".into(),
        },
    );
    run(
        &mut s,
        "carol",
        Intent::AddNote { incident: inc(1), text: "PSP answers 502 on /authorize \x1b[31mred".into() },
    );
    run(
        &mut s,
        "bob",
        Intent::DeclareIncident {
            title: "Prices differ between listing and product page".into(),
            severity: Severity::Sev3,
            impact: "Search index sync stalled.".into(),
            drill: false,
            services: Vec::new(),
            private: false,
        },
    );
    run(&mut s, "bob", Intent::SetStatus { incident: inc(2), status: Status::Mitigating, reason: None });
    run(
        &mut s,
        "alice",
        Intent::DeclareIncident {
            title: "Game day: product pages degraded".into(),
            severity: Severity::Sev2,
            impact: String::new(),
            drill: true,
            services: Vec::new(),
            private: false,
        },
    );
    run(
        &mut s,
        "carol",
        Intent::DeclareIncident {
            title: "Stock counts wrong for 12 SKUs".into(),
            severity: Severity::Sev4,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: false,
        },
    );
    run(
        &mut s,
        "carol",
        Intent::SetStatus { incident: inc(4), status: Status::Closed, reason: Some("duplicate".into()) },
    );
    s
}

/// The server library with the shipped playbooks and the demo's channels.
fn library() -> warroom::protocol::Loaded {
    warroom::server::library::load(&warroom::demo::channels(), &[], "https://status.example.com", &[], &[])
}

/// The realistic war room with the shipped major-outage playbook on INC-1, two steps done.
fn with_playbook() -> State {
    let mut s = realistic_state();
    let lib = library();
    for (who, intent) in [
        ("alice", Intent::AttachPlaybook { incident: IncidentId(1), playbook: "major-outage".into() }),
        ("bob", Intent::TickStep { incident: IncidentId(1), step: "notify-staff".into() }),
        (
            "carol",
            Intent::AssignStep {
                incident: IncidentId(1),
                step: "email-customers".into(),
                person: "dana".into(),
            },
        ),
    ] {
        let cx = warroom::model::Context {
            library: &lib.library,
            now: t0(),
            command_id: uuid::Uuid::nil(),
            role: UserRole::Admin,
            actor: "",
        };
        let facts = s.decide_with(&intent, &cx).unwrap();
        for e in
            stamp(s.seq + 1, t0() + Duration::minutes(20), who, UserRole::Responder, uuid::Uuid::nil(), facts)
        {
            s.apply(&e);
        }
    }
    s
}

/// Five probes with an hour of samples; payment is down, search degraded.
fn probes(state: &mut State) -> Vec<warroom::protocol::ProbeView> {
    use warroom::model::probe::{Health, Sample};
    let now = t0() + Duration::minutes(30);
    let mut views = Vec::new();
    for (name, health, ms, failed) in [
        ("search", Health::Degraded, 480u64, vec!["[RESPONSE_TIME] (480) < 300".to_string()]),
        ("product-page", Health::Up, 42, vec![]),
        ("listing", Health::Up, 38, vec![]),
        ("payment", Health::Down, 0, vec!["[STATUS] (503) == 200".to_string()]),
        ("stock", Health::Up, 12, vec![]),
    ] {
        let mut down = 0;
        let samples = (0..120)
            .map(|i| {
                let at = now - Duration::seconds(30 * (120 - i));
                let recent = i >= 110;
                down += i64::from(recent && health == Health::Down);
                Sample {
                    uptime_hour: (i + 1 - down) as f64 * 100.0 / (i + 1) as f64,
                    probe: name.into(),
                    at,
                    scheduled: at,
                    health: if recent { health } else { Health::Up },
                    response_ms: if recent { ms } else { 20 + (i as u64 * 7) % 30 },
                    status: Some(if recent && health == Health::Down { 503 } else { 200 }),
                    failed: if recent { failed.clone() } else { vec![] },
                }
            })
            .collect();
        let samples: Vec<Sample> = samples;
        views.push(warroom::protocol::ProbeView {
            name: name.into(),
            kind: "http".into(),
            target: format!("http://127.0.0.1:9000/{name}/health"),
            interval_ms: 30_000,
            conditions: vec!["[STATUS] == 200".into(), "[RESPONSE_TIME] < 300".into()],
            degraded: vec!["[RESPONSE_TIME] < 1000".into()],
            auto_declare: (name == "payment").then_some(Severity::Sev2),
            samples,
        });
        for to in [Health::Up, health] {
            let from = state.probes.get(name).map_or(Health::Unknown, |p| p.health);
            if from == to {
                continue;
            }
            let fact =
                warroom::model::Fact::ProbeChanged { probe: name.into(), from, to, failed: failed.clone() };
            for e in stamp(
                state.seq + 1,
                now - Duration::minutes(5),
                "warroom",
                UserRole::Admin,
                uuid::Uuid::nil(),
                vec![fact],
            ) {
                state.apply(&e);
            }
        }
    }
    views
}

fn with_probes(width: u16, height: u16) -> App {
    let mut state = realistic_state();
    let views = probes(&mut state);
    let mut a = app_with(state, width, height, "default");
    a.probes = views;
    a
}

fn app_with(state: State, width: u16, height: u16, theme: &str) -> App {
    screen::console(
        state,
        screen::Setup { size: (width, height), theme, ..screen::Setup::alice(t0() + Duration::minutes(30)) },
    )
}

fn app(width: u16, height: u16) -> App {
    app_with(realistic_state(), width, height, "default")
}

fn render(app: &mut App) -> Buffer {
    app.prepare();
    let mut term = Terminal::new(TestBackend::new(app.size.width, app.size.height)).unwrap();
    term.draw(|f| view::draw(f, app)).unwrap();
    term.backend().buffer().clone()
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn type_text(app: &mut App, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| app.update(key(KeyCode::Char(c)))).collect()
}

#[test]
fn incidents_and_detail_at_80x24() {
    insta::assert_snapshot!(text(&render(&mut app(80, 24))));
}

#[test]
fn incidents_and_detail_side_by_side_at_160x48() {
    insta::assert_snapshot!(text(&render(&mut app(160, 48))));
}

#[test]
fn zoomed_timeline_at_80x24() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Enter));
    a.update(key(KeyCode::Char('z')));
    insta::assert_snapshot!(text(&render(&mut a)));
}

#[test]
fn help_overlay_at_80x24() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Char('?')));
    insta::assert_snapshot!(text(&render(&mut a)));
}

/// On a wide screen the help is as wide as its longest line: nothing is cut.
#[test]
fn the_help_at_160_columns_shows_every_line_whole() {
    let mut a = app(160, 48);
    a.update(key(KeyCode::Char('?')));
    let whole = "HALT ALL chaos: roll back every run and disarm (asks a reason)";
    for _ in 0..200 {
        if text(&render(&mut a)).contains(whole) {
            return;
        }
        a.update(key(KeyCode::Char('j')));
    }
    panic!("`{whole}` never shown whole:\n{}", text(&render(&mut a)));
}

#[test]
fn declare_form_at_80x24() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Char('d')));
    type_text(&mut a, "Search is slow");
    insta::assert_snapshot!(text(&render(&mut a)));
}

#[test]
fn status_menu_and_offline_bar_at_160x48() {
    let mut a = app(160, 48);
    a.update(Msg::Sync(SyncEvent::Offline("connection refused".into())));
    a.update(Msg::Queued(2));
    a.update(key(KeyCode::Char('s')));
    insta::assert_snapshot!(text(&render(&mut a)));
}

#[test]
fn playbook_pane_with_clocks_at_160x48() {
    let mut a = app_with(with_playbook(), 160, 48, "default");
    a.update(Msg::Library(library()));
    insta::assert_snapshot!(text(&render(&mut a)));
}

#[test]
fn playbook_pane_alone_at_80x24() {
    let mut a = app_with(with_playbook(), 80, 24, "default");
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Tab));
    assert_eq!(a.focus, Pane::Playbook);
    insta::assert_snapshot!(text(&render(&mut a)));
}

#[test]
fn an_overdue_clock_is_drawn_as_an_alert() {
    let mut a = app_with(with_playbook(), 160, 48, "default");
    // Declared at 09:01, no message delivered: the first updates were due at 09:06 (bob's
    // tick of notify-staff told staff outside warroom; the status page is still owed one).
    let buf = render(&mut a);
    let theme = Themes::presets().get("default").unwrap().clone();
    let (x, y) = find(&buf, "status_page update overdue");
    assert_eq!(buf[(x, y)].fg, theme.get("alert").fg.unwrap());
    // The list marks it too, so an overdue audience shows whichever incident is selected.
    let (_, inc1) = find(&buf, "SEV1 INC-1");
    let (x, y) = find(&buf, "◷");
    assert_eq!(y, inc1, "the first ◷ on screen is INC-1's row in the list:\n{}", text(&buf));
    assert_eq!(buf[(x, y)].fg, theme.get("alert").fg.unwrap());
    let shown = text(&buf);
    let closed = shown.lines().find(|l| l.contains("INC-4")).unwrap_or_default();
    assert!(!closed.contains('◷'), "a closed incident has no clock: {closed}");
}

#[test]
fn space_ticks_and_m_composes_the_steps_rendered_message() {
    let mut a = app_with(with_playbook(), 160, 48, "default");
    a.update(Msg::Library(library()));
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Tab));
    // The first step is already ticked by bob: space unticks it.
    let effects = a.update(key(KeyCode::Char(' ')));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    let untick = Intent::UntickStep { incident: IncidentId(1), step: "notify-staff".into() };
    assert_eq!(cmd.intent, untick);
    // Pressed again before the server answered: each press flips what the last one asked for.
    let tick = Intent::TickStep { incident: IncidentId(1), step: "notify-staff".into() };
    for want in [&tick, &untick, &tick] {
        let effects = a.update(key(KeyCode::Char(' ')));
        let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
        assert_eq!(&cmd.intent, want);
    }
    a.update(key(KeyCode::Char('j')));
    a.update(key(KeyCode::Char('j')));
    a.update(key(KeyCode::Char('m')));
    assert!(text(&render(&mut a)).contains("INC-1 → public (step status-page)"));
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    match &cmd.intent {
        Intent::SendMessage { incident, channel, text, step, .. } => {
            assert_eq!(
                (*incident, channel.as_str(), step.as_deref()),
                (IncidentId(1), "public", Some("status-page"))
            );
            assert!(text.starts_with("We are investigating: Customers cannot pay by card"), "{text}");
            assert!(text.contains("Next update by 09:50 UTC"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_composer_sends_exactly_the_rendered_text_and_wraps_it_only_on_screen() {
    let mut a = app_with(with_playbook(), 80, 24, "default");
    a.update(Msg::Library(library()));
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Tab));
    a.update(key(KeyCode::Char('j')));
    a.update(key(KeyCode::Char('j')));
    a.update(key(KeyCode::Char('m')));
    let inc = a.state.incidents.get(&IncidentId(1)).unwrap();
    let step = inc.checklist.as_ref().unwrap().step("status-page").unwrap().step.clone();
    let rendered =
        warroom::model::comms::render_step(inc, &step, "https://status.example.com", a.now).unwrap();
    assert!(rendered.chars().count() > 80, "long enough to need wrapping: {rendered}");
    let shown = text(&render(&mut a));
    // The end of the message is on screen: it wrapped instead of running off the form.
    let tail: String = rendered
        .split_whitespace()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(shown.contains(&tail), "`{tail}` not shown:\n{shown}");
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    let Intent::SendMessage { text, .. } = &cmd.intent else { panic!("{:?}", cmd.intent) };
    assert_eq!(text, rendered.trim(), "no line breaks added at the form's width");
}

#[test]
fn health_board_beside_everything_at_160x48() {
    insta::assert_snapshot!(text(&render(&mut with_probes(160, 48))));
}

#[test]
fn health_pane_at_80x24() {
    let mut a = with_probes(80, 24);
    for _ in 0..2 {
        a.update(key(KeyCode::Tab));
    }
    assert_eq!(a.focus, Pane::Health);
    insta::assert_snapshot!(text(&render(&mut a)));
}

#[test]
fn i_on_a_down_probe_declares_prefilled_with_the_service() {
    let mut a = with_probes(80, 24);
    for _ in 0..2 {
        a.update(key(KeyCode::Tab));
    }
    // Worst first: payment (down) heads the board.
    a.update(key(KeyCode::Char('i')));
    let shown = text(&render(&mut a));
    assert!(shown.contains("payment is down") && shown.contains("services  payment"), "{shown}");
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(
        cmd.intent,
        Intent::DeclareIncident {
            title: "payment is down".into(),
            severity: Severity::Sev2,
            impact: "payment is down since 09:25 UTC".into(),
            drill: false,
            services: vec!["payment".into()],
            private: false,
        }
    );
    // Once it is declared, `i` on the same service selects it instead of offering another.
    let facts = a.state.decide(&cmd.intent).unwrap();
    for e in stamp(a.state.seq + 1, a.now, "alice", UserRole::Commander, uuid::Uuid::nil(), facts) {
        a.update(Msg::Sync(SyncEvent::Event(e)));
    }
    a.selected = Some(IncidentId(2));
    assert_eq!(a.focus, Pane::Health);
    let effects = a.update(key(KeyCode::Char('i')));
    assert!(effects.is_empty() && a.overlay.is_none(), "no second declare form");
    assert_eq!(a.selected, Some(IncidentId(5)));
    assert!(a.flash.as_ref().unwrap().text.contains("INC-5 is already open for payment"), "{:?}", a.flash);
    // In a running game day, alice plays for red: INC-5 is not red's, so `i` offers red's own.
    use warroom::model::gameday::{GameDayId, Style};
    let g = GameDayId(1);
    for intent in [
        Intent::CreateGameday { name: "drill".into(), style: Style::FireDrill },
        Intent::AddTeam { gameday: g, team: "red".into() },
        Intent::JoinTeam { gameday: g, team: "red".into(), person: Some("alice".into()) },
        Intent::StartGameday { gameday: g },
    ] {
        let facts = a.state.decide(&intent).unwrap();
        for e in stamp(a.state.seq + 1, a.now, "root", UserRole::Admin, uuid::Uuid::nil(), facts) {
            a.update(Msg::Sync(SyncEvent::Event(e)));
        }
    }
    a.flash = None;
    a.update(key(KeyCode::Char('i')));
    assert!(a.overlay.is_some(), "a declare form for red's drill: {:?}", a.flash);
}

#[test]
fn probe_samples_wait_for_the_clock_instead_of_costing_a_frame_each() {
    let mut a = with_probes(160, 48);
    render(&mut a);
    a.dirty = false;
    let mut sample = a.probes[0].samples.last().unwrap().clone();
    sample.response_ms = 999;
    a.update(Msg::Sync(SyncEvent::Sample(sample)));
    assert!(!a.dirty, "a sample alone does not redraw");
    assert_eq!(a.probes[0].samples.last().unwrap().response_ms, 999, "but it is kept");
    a.update(Msg::Tick(a.now + Duration::seconds(1)));
    assert!(a.dirty);
    assert!(text(&render(&mut a)).contains("999ms"));
}

#[test]
fn a_tiny_terminal_gets_a_notice_not_a_panic() {
    for (w, h) in [(59, 24), (80, 14), (30, 3), (1, 1)] {
        let shown = text(&render(&mut app(w, h)));
        if w >= 20 && h >= 2 {
            assert!(shown.contains("terminal too small"), "{w}x{h}:\n{shown}");
        }
    }
}

#[test]
fn severity_and_focus_carry_their_theme_styles() {
    let mut a = app(160, 48);
    let buf = render(&mut a);
    let theme = Themes::presets().get("default").unwrap().clone();
    let (x, y) = find(&buf, "SEV1");
    assert_eq!(buf[(x, y)].fg, theme.severity(Severity::Sev1).fg.unwrap());
    assert_eq!(buf[(x, y)].fg, Color::Rgb(0xff, 0x55, 0x55));
    let (x, y) = find(&buf, "SEV3");
    assert_eq!(buf[(x, y)].fg, theme.severity(Severity::Sev3).fg.unwrap());
    // The focused pane (incidents) has the focus colour and a thick border; the other not.
    assert_eq!(buf[(0, 0)].symbol(), "┏");
    assert_eq!(buf[(0, 0)].fg, theme.get("focus").fg.unwrap());
    let (dx, _) = find(&buf, "┌");
    assert_eq!(buf[(dx, 0)].fg, theme.get("border").fg.unwrap());
    a.update(key(KeyCode::Tab));
    let buf = render(&mut a);
    assert_eq!(buf[(0, 0)].symbol(), "┌");
    assert_eq!(buf[(dx, 0)].symbol(), "┏");
    assert_eq!(buf[(dx, 0)].fg, theme.get("focus").fg.unwrap());
}

#[test]
fn mono_shows_meaning_without_colour() {
    let mut a = app_with(realistic_state(), 80, 24, "mono");
    let buf = render(&mut a);
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            assert!(matches!(buf[(x, y)].fg, Color::Reset), "colour at {x},{y}");
        }
    }
    let (x, y) = find(&buf, "SEV1");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    assert_eq!(buf[(x - 2, y)].symbol(), "█", "severity has a glyph too");
}

#[test]
fn other_peoples_escape_sequences_are_drawn_escaped() {
    let mut a = app(160, 48);
    let shown = text(&render(&mut a));
    assert!(shown.contains("\\u{1b}[31mred"), "{shown}");
}

#[test]
fn writing_a_note_sends_exactly_that_note() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Char('n')));
    assert!(matches!(a.overlay, Some(Overlay::Form(_))));
    type_text(&mut a, "Rolled back 4412");
    let effects = a.update(key(KeyCode::Enter));
    match effects.as_slice() {
        [Effect::Send(cmd)] => {
            assert_eq!(
                cmd.intent,
                Intent::AddNote { incident: IncidentId(1), text: "Rolled back 4412".into() }
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(a.overlay.is_none());
}

#[test]
fn closing_early_asks_why_and_never_offers_resolved_for_a_major() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Char('s')));
    // The menu lists only the allowed transitions of an investigating incident.
    let Some(Overlay::Menu(menu)) = &a.overlay else { panic!() };
    let labels: Vec<_> = menu.items.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["mitigating", "mitigated", "postmortem", "closed"]);
    // Keys are the status's own: closed is 6 whatever is offered.
    let Some(Overlay::Menu(menu)) = &a.overlay else { panic!() };
    assert_eq!(menu.numbers, [3, 4, 5, 6]);
    a.update(key(KeyCode::Char('6')));
    let Some(Overlay::Menu(menu)) = &a.overlay else { panic!("closure menu expected") };
    let labels: Vec<_> = menu.items.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["duplicate", "false_positive", "cancelled"]);
    enter_closes_inc1_as(&mut a, "duplicate");
}

/// Enter on the open closure menu closes INC-1 with `reason`.
fn enter_closes_inc1_as(a: &mut App, reason: &str) {
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    let close =
        Intent::SetStatus { incident: IncidentId(1), status: Status::Closed, reason: Some(reason.into()) };
    assert_eq!(cmd.intent, close);
}

/// The closure menu offers `resolved` exactly when the server would take it: once the
/// postmortem is written, or when the server's `[postmortem] required` does not ask for one.
#[test]
fn closing_early_offers_resolved_once_the_postmortem_is_written_or_not_required() {
    let closures = |a: &mut App| {
        a.overlay = None;
        a.update(key(KeyCode::Char('s')));
        a.update(key(KeyCode::Char('6')));
        let Some(Overlay::Menu(menu)) = &a.overlay else { panic!("closure menu expected") };
        (menu.title.clone(), menu.items.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>())
    };
    // The shipped policy requires one for SEV1 and SEV2: INC-1 is a SEV1 without one.
    let mut a = app(80, 24);
    a.update(Msg::Library(library()));
    assert_eq!(closures(&mut a).1, ["duplicate", "false_positive", "cancelled"]);
    let mut lenient = library();
    lenient.library.postmortem.required.clear();
    a.update(Msg::Library(lenient));
    assert_eq!(closures(&mut a).1, ["resolved", "duplicate", "false_positive", "cancelled"]);
    // Required again, and now written: resolved is back, and the title no longer says "without".
    a.update(Msg::Library(library()));
    let document = warroom::model::postmortem::Document {
        summary: "The PSP's certificate expired.".into(),
        ..Default::default()
    };
    arrive(&mut a, "alice", Intent::WritePostmortem { incident: IncidentId(1), document, base: Some(0) });
    let (title, items) = closures(&mut a);
    assert_eq!(items, ["resolved", "duplicate", "false_positive", "cancelled"]);
    assert_eq!(title, "INC-1: close, because…");
    enter_closes_inc1_as(&mut a, "resolved");
}

#[test]
fn the_command_line_completes_and_declares() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Char(':')));
    type_text(&mut a, "dec");
    a.update(key(KeyCode::Tab));
    type_text(&mut a, "sev2 Checkout is down");
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(
        cmd.intent,
        Intent::DeclareIncident {
            title: "Checkout is down".into(),
            severity: Severity::Sev2,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: false,
        }
    );
    // History brings it back.
    a.update(key(KeyCode::Char(':')));
    a.update(key(KeyCode::Up));
    let Some(Overlay::Command(line)) = &a.overlay else { panic!() };
    assert_eq!(line.input, "declare sev2 Checkout is down");
}

#[test]
fn observers_are_told_no_before_the_server_has_to() {
    let mut a = app(80, 24);
    a.update(Msg::Me(Whoami { name: "olivia".into(), role: UserRole::Observer }));
    // The keys they may not use are greyed in the hint row, as chaos keys are for non-villains.
    let buf = render(&mut a);
    let theme = Themes::presets().get("default").unwrap().clone();
    let (x, y) = find(&buf, "n note");
    assert_eq!(buf[(x, y)].fg, theme.get("muted").fg.unwrap(), "the note key is greyed");
    let (x, y) = find(&buf, "? help");
    assert_eq!(buf[(x, y)].fg, theme.get("focus").fg.unwrap(), "help is not");
    // By the same table the server enforces: a responder writes notes but hands over no role.
    let mut r = app(80, 24);
    r.update(Msg::Me(Whoami { name: "bob".into(), role: UserRole::Responder }));
    let buf = render(&mut r);
    let (x, y) = find(&buf, "n note");
    assert_eq!(buf[(x, y)].fg, theme.get("focus").fg.unwrap(), "a responder's note key");
    let (x, y) = find(&buf, "a assign");
    assert_eq!(buf[(x, y)].fg, theme.get("muted").fg.unwrap(), "a responder's assign key");
    assert!(a.update(key(KeyCode::Char('n'))).is_empty());
    assert!(a.overlay.is_none());
    assert!(a.flash.as_ref().unwrap().text.contains("observer may not add note"));
}

#[test]
fn offline_actions_are_still_accepted() {
    let mut a = app(80, 24);
    a.update(Msg::Sync(SyncEvent::Offline("connection refused".into())));
    a.update(key(KeyCode::Char('n')));
    type_text(&mut a, "written offline");
    let effects = a.update(key(KeyCode::Enter));
    assert!(matches!(effects.as_slice(), [Effect::Send(_)]));
    a.update(Msg::Queued(1));
    let shown = text(&render(&mut a));
    assert!(shown.contains("OFFLINE") && shown.contains("1 queued"), "{shown}");
}

#[test]
fn the_timeline_follows_new_entries_unless_scrolled_up() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Enter));
    assert_eq!(a.focus, Pane::Detail);
    assert!(a.timeline.follow);
    a.update(key(KeyCode::Char('k')));
    assert!(!a.timeline.follow);
    assert_eq!(a.timeline.offset, 1);
    // A new entry arrives: the reader's place is kept.
    let facts = a.state.decide(&Intent::AddNote { incident: IncidentId(1), text: "new".into() }).unwrap();
    let e = stamp(
        a.state.seq + 1,
        t0() + Duration::minutes(40),
        "bob",
        UserRole::Responder,
        uuid::Uuid::nil(),
        facts,
    );
    a.update(Msg::Sync(SyncEvent::Event(e[0].clone())));
    assert_eq!(a.timeline.offset, 2);
    a.update(key(KeyCode::Char('G')));
    assert!(a.timeline.follow);
    assert!(text(&render(&mut a)).contains(" new"));
}

#[test]
fn clicking_a_row_selects_it_and_focuses_the_pane() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Tab));
    let buf = render(&mut a);
    let (_, y) = find(&buf, "INC-2");
    a.update(Msg::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 5,
        row: y,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(a.focus, Pane::Incidents);
    assert_eq!(a.selected, Some(IncidentId(2)));
}

#[test]
fn filtering_narrows_the_list() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Char('/')));
    type_text(&mut a, "drill");
    a.update(key(KeyCode::Enter));
    a.prepare();
    assert_eq!(a.list, [IncidentId(3)]);
    assert_eq!(a.selected, Some(IncidentId(3)));
    a.update(key(KeyCode::Esc));
    a.prepare();
    assert_eq!(a.list.len(), 4);
}

#[test]
fn the_readme_key_table_is_the_keymap() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&Keymap::default().markdown()),
        "README's key table drifted: paste the output of `warroom keys --markdown`"
    );
}

#[test]
fn a_bare_verb_does_what_its_key_does() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Char(':')));
    type_text(&mut a, "note");
    a.update(key(KeyCode::Enter));
    let Some(Overlay::Form(form)) = &a.overlay else { panic!("`:note` opens the note form like n") };
    assert_eq!(form.title(), "Note on INC-1");
    // The form's layer has no `q`: it is typed, not a quit.
    type_text(&mut a, "quick fix");
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(cmd.intent, Intent::AddNote { incident: IncidentId(1), text: "quick fix".into() });
    // An action's own name is a verb too.
    a.update(key(KeyCode::Char(':')));
    type_text(&mut a, "zoom");
    a.update(key(KeyCode::Enter));
    assert!(a.zoom);
}

#[test]
fn hints_and_help_list_the_open_overlays_keys_from_the_keymap() {
    let mut a = app(80, 24);
    a.update(key(KeyCode::Char('v')));
    let shown = text(&render(&mut a));
    assert!(shown.contains("enter pick  esc cancel"), "{shown}");
    a.update(key(KeyCode::Esc));
    assert!(a.overlay.is_none());
    a.update(key(KeyCode::Char('?')));
    let help: Vec<String> = warroom::tui::panes::overlay::help_lines(&a)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    let has = |needle: &str| help.iter().any(|l| l.contains(needle));
    assert!(has("menus") && has("pick the highlighted choice"), "{help:#?}");
    assert!(has("previous command from history"), "{help:#?}");
    assert!(has(":note [TEXT…]") && has("bare: as n"), "{help:#?}");
}

#[test]
fn a_private_incident_is_marked_private_with_its_members() {
    let mut state = realistic_state();
    for intent in [
        Intent::DeclareIncident {
            title: "Leaked API keys".into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: true,
        },
        Intent::AddMember { incident: IncidentId(5), person: "bob".into() },
    ] {
        let facts = state.decide(&intent).unwrap();
        for e in stamp(state.seq + 1, t0(), "alice", UserRole::Commander, uuid::Uuid::nil(), facts) {
            state.apply(&e);
        }
    }
    let mut a = app_with(state, 160, 48, "default");
    a.selected = Some(IncidentId(5));
    let shown = text(&render(&mut a));
    assert!(shown.contains("PRIVATE Leaked API keys"), "the list marks it:\n{shown}");
    assert!(shown.contains("PRIVATE (members: bob)"), "the detail says who else sees it:\n{shown}");
}

/// Applies what `actor` did to the console as the stream would deliver it; returns the effects.
fn arrive(a: &mut App, actor: &str, intent: Intent) -> Vec<Effect> {
    let facts = a.state.decide(&intent).unwrap();
    let events = stamp(a.state.seq + 1, a.now, actor, UserRole::Commander, uuid::Uuid::nil(), facts);
    events.into_iter().flat_map(|e| a.update(Msg::Sync(SyncEvent::Event(e)))).collect()
}

fn declare(title: &str, severity: Severity) -> Intent {
    Intent::DeclareIncident {
        title: title.into(),
        severity,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
        private: false,
    }
}

#[test]
fn a_sev1_or_a_role_given_to_me_rings_toasts_and_marks_it_mine() {
    let mut a = app(80, 24);
    a.selected = Some(IncidentId(2));
    assert_eq!(arrive(&mut a, "bob", declare("Database on fire", Severity::Sev1)), [Effect::Bell]);
    assert_eq!(a.selected, Some(IncidentId(5)), "the selection moves to the new SEV1");
    assert!(a.flash.as_ref().unwrap().text.contains("SEV1 INC-5 declared by bob: Database on fire"));
    assert!(text(&render(&mut a)).contains("SEV1 INC-5 declared by bob"));
    // A lesser incident is no alarm; neither is my own SEV1.
    assert!(arrive(&mut a, "bob", declare("Typo on the about page", Severity::Sev4)).is_empty());
    assert!(arrive(&mut a, "alice", declare("Mine", Severity::Sev1)).is_empty());

    let assign = Intent::AssignRole { incident: IncidentId(2), role: Role::Scribe, person: "alice".into() };
    assert_eq!(arrive(&mut a, "bob", assign), [Effect::Bell]);
    assert!(a.flash.as_ref().unwrap().text.contains("bob made you scribe on INC-2"), "{:?}", a.flash);
    let shown = text(&render(&mut a));
    assert!(shown.contains("★ Prices differ"), "yours is marked:\n{shown}");

    // Quiet: still told, no bell.
    a.bell = false;
    let assign = Intent::AssignRole { incident: IncidentId(2), role: Role::Deputy, person: "alice".into() };
    assert!(arrive(&mut a, "bob", assign).is_empty());
    assert!(a.flash.as_ref().unwrap().text.contains("bob made you deputy on INC-2"));
}

#[test]
fn steps_name_the_person_holding_their_role() {
    let mut a = app_with(with_playbook(), 160, 48, "default");
    let assign =
        Intent::AssignRole { incident: IncidentId(1), role: Role::CustomerLiaison, person: "bob".into() };
    arrive(&mut a, "alice", assign);
    let shown = text(&render(&mut a));
    assert!(shown.contains("bob (customer_liaison)"), "{shown}");
    assert!(!shown.contains("  (customer_liaison)"), "{shown}");
}

#[test]
fn offline_the_view_is_marked_stale_with_its_age_and_health_gives_no_verdict() {
    let mut a = with_probes(160, 48);
    for p in ["search", "payment"] {
        // Everything up, as a view would say just before the server went away.
        let from = a.state.probes.get(p).unwrap().health;
        let fact = warroom::model::Fact::ProbeChanged {
            probe: p.into(),
            from,
            to: warroom::model::probe::Health::Up,
            failed: vec![],
        };
        for e in stamp(a.state.seq + 1, a.now, "warroom", UserRole::Admin, uuid::Uuid::nil(), vec![fact]) {
            a.update(Msg::Sync(SyncEvent::Event(e)));
        }
    }
    let shown = text(&render(&mut a));
    assert!(shown.contains("Health 5 up") && shown.contains("live"), "{shown}");
    a.update(Msg::Sync(SyncEvent::Offline("connection refused".into())));
    a.update(Msg::Tick(a.now + Duration::seconds(125)));
    let buf = render(&mut a);
    let shown = text(&buf);
    assert!(!shown.contains("5 up"), "no green verdict from a stale view:\n{shown}");
    assert!(shown.contains("STALE 2m05s old"), "{shown}");
    assert!(shown.contains("view 2m05s old"), "{shown}");
    let theme = Themes::presets().get("default").unwrap().clone();
    let (x, y) = find(&buf, "● up");
    assert_eq!(buf[(x, y)].fg, theme.get("muted").fg.unwrap(), "rows are dimmed");
}

#[test]
fn a_refused_token_says_not_signed_in_and_how_to_fix_it() {
    let mut a = app_with(State::default(), 80, 24, "default");
    a.update(Msg::Sync(SyncEvent::Offline("unknown token (401 unauthorized)".into())));
    a.update(Msg::NotSignedIn("unknown token (401 unauthorized)".into()));
    let shown = text(&render(&mut a));
    assert!(shown.contains("not signed in: the server refused this token"), "{shown}");
    assert!(shown.contains("WARROOM_TOKEN"), "{shown}");
    assert!(!shown.contains("no incidents — d declares one"), "{shown}");
}

#[test]
fn commands_written_offline_show_as_pending_entries_with_their_time() {
    let mut a = app(80, 24);
    a.update(Msg::Sync(SyncEvent::Offline("connection refused".into())));
    a.update(Msg::Tick(a.now + Duration::seconds(61)));
    a.update(key(KeyCode::Char('n')));
    type_text(&mut a, "restarted the PSP adapter");
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    let cmd = cmd.clone();
    a.update(Msg::Queued(1));
    let shown = text(&render(&mut a));
    assert!(shown.contains("⧗ pending restarted the PSP adapter (written 09:31:01)"), "{shown}");
    // Back online, the log shows it: the pending entry gives way to the real one.
    a.update(Msg::Sync(SyncEvent::Online));
    let facts = a.state.decide(&cmd.intent).unwrap();
    for e in stamp(a.state.seq + 1, a.now, "alice", UserRole::Commander, cmd.id, facts) {
        a.update(Msg::Sync(SyncEvent::Event(e)));
    }
    let shown = text(&render(&mut a));
    assert!(!shown.contains("⧗ pending") && shown.contains("restarted the PSP adapter"), "{shown}");
}

#[test]
fn wide_terminals_give_titles_their_width() {
    let shown = text(&render(&mut app(250, 50)));
    assert!(shown.contains("Prices differ between listing and product page"), "{shown}");
}

#[test]
fn at_80x24_rows_out_of_sight_are_counted_and_help_stays_in_the_hints() {
    let mut state = realistic_state();
    for n in 0..8 {
        let facts = state.decide(&declare(&format!("Minor thing {n}"), Severity::Sev4)).unwrap();
        for e in stamp(state.seq + 1, t0(), "bob", UserRole::Responder, uuid::Uuid::nil(), facts) {
            state.apply(&e);
        }
    }
    let mut a = app_with(state, 80, 24, "default");
    let shown = text(&render(&mut a));
    assert!(shown.contains("? help") && shown.contains("q quit"), "{shown}");
    assert!(shown.contains("↓ 7 more"), "{shown}");
    a.update(key(KeyCode::Char('G')));
    let shown = text(&render(&mut a));
    assert!(shown.contains("↑ 7 more, 1 SEV1"), "the hidden SEV1 is named:\n{shown}");
}

#[test]
fn the_help_explains_the_symbols() {
    let a = app(80, 24);
    let help: Vec<String> = warroom::tui::panes::overlay::help_lines(&a)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    for glyph in ["█ ▓ ▒ ░", "● ◐ ✖ ○", "◷", "★", "⧗ pending"] {
        assert!(help.iter().any(|l| l.contains(glyph)), "{glyph} not explained: {help:#?}");
    }
}

#[test]
fn the_health_board_is_sorted_worst_first_under_headers() {
    let shown = text(&render(&mut with_probes(160, 48)));
    let row = |name: &str| shown.lines().position(|l| l.contains(&format!(" {name} "))).unwrap();
    assert!(row("payment") < row("search") && row("search") < row("listing"), "{shown}");
    assert!(shown.contains("STATE") && shown.contains("UP 1h"), "{shown}");
}

#[test]
fn long_timeline_entries_wrap_instead_of_being_cut() {
    let mut a = app(80, 24);
    let long = "the adapter pool was exhausted by retries from the mobile app, which ignore backoff; \
                raising the pool is a stopgap, the fix is in the app release planned for tomorrow END";
    arrive(&mut a, "bob", Intent::AddNote { incident: IncidentId(1), text: long.into() });
    let shown = text(&render(&mut a));
    assert!(shown.contains("tomorrow END"), "{shown}");
}

#[test]
fn a_later_success_clears_an_earlier_refusal() {
    let mut a = app(80, 24);
    a.update(Msg::Flushed {
        sent: 0,
        refused: vec!["INC-9 does not exist".into()],
        remaining: 0,
        stopped: None,
    });
    assert!(a.flash.as_ref().unwrap().text.contains("refused"));
    a.update(Msg::Flushed { sent: 1, refused: vec![], remaining: 0, stopped: None });
    assert!(a.flash.is_none(), "{:?}", a.flash);
}

/// Runs `intent` as `actor` with the shipped library (channels, playbooks), as the server would.
fn run_with_library(s: &mut State, actor: &str, intent: Intent) -> Vec<warroom::model::Event> {
    let lib = library();
    let cx = warroom::model::Context {
        library: &lib.library,
        now: t0(),
        command_id: uuid::Uuid::nil(),
        role: UserRole::Admin,
        actor,
    };
    let facts = s.decide_with(&intent, &cx).unwrap();
    let events =
        stamp(s.seq + 1, t0() + Duration::minutes(25), actor, UserRole::Admin, uuid::Uuid::nil(), facts);
    for e in &events {
        s.apply(e);
    }
    events
}

/// Sends `send` (a status page update) as alice and records the notifier's report that it was
/// published.
fn published(s: &mut State, send: Intent) {
    let Intent::SendMessage { incident, .. } = send else { panic!("{send:?}") };
    let queued = run_with_library(s, "alice", send);
    let Some(warroom::model::Fact::MessageQueued { message, .. }) = queued.first().map(|e| &e.fact) else {
        panic!("{queued:?}")
    };
    let report = Intent::RecordDelivery {
        incident,
        message: *message,
        ok: true,
        detail: "published on the status page".into(),
        last: false,
    };
    run_with_library(s, "warroom", report);
}

#[test]
fn a_withheld_drill_update_is_tagged_withheld_not_failed() {
    let mut s = realistic_state();
    let drill = Intent::DeclareIncident {
        title: "Game day: payment down".into(),
        severity: Severity::Sev2,
        impact: String::new(),
        drill: true,
        services: Vec::new(),
        private: false,
    };
    run_with_library(&mut s, "alice", drill);
    let id = IncidentId(s.incidents.len() as u64);
    let send = Intent::SendMessage {
        incident: id,
        channel: "public".into(),
        text: "We are investigating.".into(),
        step: None,
        status: None,
    };
    published(&mut s, send);
    let mut a = app_with(s, 160, 48, "default");
    a.selected = Some(id);
    let buf = render(&mut a);
    let shown = text(&buf);
    assert!(shown.contains("withheld  public: not published: drill"), "{shown}");
    assert!(!shown.contains("failed"), "{shown}");
    let theme = Themes::presets().get("default").unwrap().clone();
    let (x, y) = find(&buf, "withheld  public");
    assert_eq!(buf[(x, y)].fg, theme.get("entry.withheld").fg.unwrap(), "its own colour, not a failure's");
    assert_ne!(theme.get("entry.withheld"), theme.get("entry.failed"));
}

/// Closing does not touch the public status page: an incident over for us that the page
/// still shows as going on says so, in the detail pane and when the close is picked.
#[test]
fn a_closed_incident_the_status_page_still_shows_as_ongoing_says_so() {
    let mut s = realistic_state();
    let id = IncidentId(1);
    let publish = |s: &mut State, status| {
        let send = Intent::SendMessage {
            incident: id,
            channel: "public".into(),
            text: "We are on it.".into(),
            step: None,
            status,
        };
        published(s, send);
    };
    let mut fixed = s.clone();
    publish(&mut s, None);
    let postmortem = Intent::SetStatus { incident: id, status: Status::Postmortem, reason: None };
    run_with_library(&mut s, "alice", postmortem.clone());
    let mut a = app_with(s, 160, 48, "default");
    a.selected = Some(id);
    let shown = text(&render(&mut a));
    assert!(shown.contains("the status page still shows investigating: send the all-clear"), "{shown}");
    // Picking closed warns while the menu can still be left.
    a.update(Msg::Key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE)));
    a.update(Msg::Key(KeyEvent::new(KeyCode::Char('6'), KeyModifiers::NONE)));
    let flash = a.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default();
    assert!(flash.contains("still shows INC-1 as investigating"), "{flash}");
    // Where the page was given the all-clear, nothing to say.
    publish(&mut fixed, Some(warroom::model::comms::PublicStatus::Fixed));
    run_with_library(&mut fixed, "alice", postmortem);
    let mut a = app_with(fixed, 160, 48, "default");
    a.selected = Some(id);
    let shown = text(&render(&mut a));
    assert!(!shown.contains("still shows"), "{shown}");
}

#[test]
fn enter_on_a_probe_opens_its_full_reason_conditions_samples_and_incidents() {
    let mut a = with_probes(80, 24);
    let why = "[BODY].checks[0].status (\"payment-provider-eu-west unreachable: TLS handshake \
               timed out after 5000ms\") == ok END-OF-REASON";
    let fact = warroom::model::Fact::ProbeChanged {
        probe: "payment".into(),
        from: warroom::model::probe::Health::Down,
        to: warroom::model::probe::Health::Down,
        failed: vec![why.into()],
    };
    for e in stamp(a.state.seq + 1, a.now, "warroom", UserRole::Admin, uuid::Uuid::nil(), vec![fact]) {
        a.update(Msg::Sync(SyncEvent::Event(e)));
    }
    a.focus = Pane::Health;
    let shown = text(&render(&mut a));
    assert!(!shown.contains("END-OF-REASON"), "the row cuts it (else this test proves nothing):\n{shown}");
    a.update(key(KeyCode::Enter));
    assert!(matches!(a.overlay, Some(Overlay::Reader(_))), "enter opens the probe in a reader");
    let shown = text(&render(&mut a));
    insta::assert_snapshot!("probe_reader_at_80x24", shown);
    for needle in ["payment — down", "END-OF-REASON", "up when [STATUS] == 200", "last samples", "503"] {
        assert!(shown.contains(needle), "`{needle}` missing:\n{shown}");
    }
    // Linked incidents are further down: the reader scrolls to them.
    a.update(key(KeyCode::Char('G')));
    let shown = text(&render(&mut a));
    assert!(shown.contains("none linked: i declares one"), "{shown}");
    // It follows the probe: a recovery and the clock show while it is open, where it was.
    let fact = warroom::model::Fact::ProbeChanged {
        probe: "payment".into(),
        from: warroom::model::probe::Health::Down,
        to: warroom::model::probe::Health::Up,
        failed: vec![],
    };
    for e in stamp(a.state.seq + 1, a.now, "warroom", UserRole::Admin, uuid::Uuid::nil(), vec![fact]) {
        a.update(Msg::Sync(SyncEvent::Event(e)));
    }
    a.update(Msg::Tick(a.now + Duration::seconds(75)));
    let shown = text(&render(&mut a));
    assert!(shown.contains("payment — up"), "{shown}");
    assert!(shown.contains("none linked: i declares one"), "still scrolled down:\n{shown}");
    a.update(key(KeyCode::Char('g')));
    let shown = text(&render(&mut a));
    assert!(shown.contains("up since") && shown.contains("(1m15s ago)"), "{shown}");
    a.update(key(KeyCode::Esc));
    assert!(a.overlay.is_none());
    assert_eq!(a.focus, Pane::Health);
}

#[test]
fn enter_on_a_timeline_entry_taller_than_the_pane_opens_it_whole_in_a_reader() {
    let mut a = app(80, 24);
    let long: String =
        (1..=30).map(|i| format!("step {i} of the runbook\n")).collect::<String>() + "LAST LINE";
    arrive(&mut a, "bob", Intent::AddNote { incident: IncidentId(1), text: long });
    arrive(&mut a, "bob", Intent::AddNote { incident: IncidentId(1), text: "newest note".into() });
    a.update(key(KeyCode::Enter));
    assert_eq!(a.focus, Pane::Detail);
    // Up selects the long entry; the pane shows its head (when, who, what), cut below.
    a.update(key(KeyCode::Char('k')));
    let shown = text(&render(&mut a));
    assert!(shown.contains("step 1 of") && !shown.contains("LAST LINE"), "{shown}");
    assert!(shown.contains("bob        note"), "{shown}");
    a.update(key(KeyCode::Enter));
    let Some(Overlay::Reader(reader)) = &a.overlay else { panic!("enter opens the entry: {:?}", a.overlay) };
    assert!(reader.title.contains("note"), "{}", reader.title);
    let shown = text(&render(&mut a));
    assert!(shown.contains("step 1 of the runbook"), "the reader starts at the top:\n{shown}");
    assert!(!shown.contains("newest note"), "it is the selected entry, not the newest:\n{shown}");
    a.update(key(KeyCode::Char('G')));
    let shown = text(&render(&mut a));
    assert!(shown.contains("LAST LINE") && shown.contains("by bob"), "{shown}");
    a.update(key(KeyCode::Esc));
    assert!(a.overlay.is_none());
    // Down again selects the newest entry, and Enter opens that one.
    a.update(key(KeyCode::Char('j')));
    a.update(key(KeyCode::Enter));
    let Some(Overlay::Reader(reader)) = &a.overlay else { panic!("{:?}", a.overlay) };
    assert_eq!(reader.rows(60)[0].1, "newest note");
}

#[test]
fn a_sev1_declared_while_a_form_is_open_alerts_at_once_and_is_selected_when_the_form_closes() {
    let mut a = app(80, 24);
    assert_eq!(a.selected, Some(IncidentId(1)));
    a.update(key(KeyCode::Char('n')));
    type_text(&mut a, "half a sentence");
    assert_eq!(arrive(&mut a, "bob", declare("Database on fire", Severity::Sev1)), [Effect::Bell]);
    assert!(a.flash.as_ref().unwrap().text.contains("SEV1 INC-5 declared by bob"), "{:?}", a.flash);
    assert!(text(&render(&mut a)).contains("SEV1 INC-5 declared by bob"), "the toast shows over the form");
    assert_eq!(a.selected, Some(IncidentId(1)), "the note being written stays on its incident");
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(cmd.intent, Intent::AddNote { incident: IncidentId(1), text: "half a sentence".into() });
    assert_eq!(a.selected, Some(IncidentId(5)), "the form closed: the new SEV1 is selected");

    // A menu cancelled is the same: the selection moves when it closes, not before.
    a.update(key(KeyCode::Char('v')));
    arrive(&mut a, "carol", declare("Second fire", Severity::Sev1));
    assert_eq!(a.selected, Some(IncidentId(5)));
    a.update(key(KeyCode::Esc));
    assert_eq!(a.selected, Some(IncidentId(6)));
}

#[test]
fn the_assign_form_and_the_command_line_complete_names_from_the_servers_users() {
    let mut a = app(80, 24);
    let mut lib = library();
    lib.library.users = vec!["alice".into(), "bob".into(), "bobby".into(), "carol".into()];
    a.update(Msg::Library(lib));
    a.update(key(KeyCode::Char('a')));
    a.update(key(KeyCode::Enter));
    let Some(Overlay::Form(form)) = &a.overlay else { panic!("a role picked opens the name form") };
    assert!(form.title().contains("who is"), "{}", form.title());
    type_text(&mut a, "b");
    a.update(key(KeyCode::Tab));
    let shown = text(&render(&mut a));
    assert!(shown.contains("users: bob  bobby"), "the choices are shown:\n{shown}");
    // The common prefix was filled in: "bob". Clear it and complete another name.
    for _ in 0..3 {
        a.update(key(KeyCode::Backspace));
    }
    type_text(&mut a, "ca");
    a.update(key(KeyCode::Tab));
    let effects = a.update(key(KeyCode::Enter));
    let [Effect::Send(cmd)] = effects.as_slice() else { panic!("{effects:?}") };
    let Intent::AssignRole { person, .. } = &cmd.intent else { panic!("{:?}", cmd.intent) };
    assert_eq!(person, "carol");

    a.update(key(KeyCode::Char(':')));
    type_text(&mut a, "assign scribe bobb");
    a.update(key(KeyCode::Tab));
    let Some(Overlay::Command(line)) = &a.overlay else { panic!() };
    assert_eq!(line.input, "assign scribe bobby ");
}

/// `/` filters from any pane: the filter typed in the stats pane is a filter, never keys (it
/// once declared an incident titled "rill" from `/drill`).
#[test]
fn a_filter_typed_in_another_pane_filters_the_incidents_and_sends_nothing() {
    let mut a = app(120, 40);
    a.focus = Pane::Stats;
    let mut effects = type_text(&mut a, "/prices");
    effects.extend(a.update(key(KeyCode::Enter)));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Send(_))), "{effects:?}");
    assert!(a.overlay.is_none(), "no form opened");
    assert_eq!((a.focus, a.filter.as_str()), (Pane::Incidents, "prices"));
    assert_eq!(a.state.incidents.len(), 4, "nothing declared");
    let shown = text(&render(&mut a));
    assert!(shown.contains("Prices differ between listing"), "{shown}");
}
