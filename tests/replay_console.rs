//! The replay console on ratatui's TestBackend: a scripted incident mid-way at 80×24 (playing)
//! and at 160×48 (paused, the playbook beside it), and the keys that move through it.

mod screen;

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use screen::text;
use warroom::client::replay::{Player, Replay, MAX_GAP};
use warroom::model::probe::Health;
use warroom::model::{Event, IncidentId, Intent, Library, Severity, State, Status, UserRole};
use warroom::protocol::Whoami;
use warroom::tui::keymap::Keymap;
use warroom::tui::replay::{control, Control, ReplayConsole};
use warroom::tui::theme::Themes;
use warroom::tui::Look;

fn t0() -> DateTime<Utc> {
    "2026-11-21T09:00:00Z".parse().unwrap()
}

/// INC-2 "Card payments fail" over 45 minutes with a quiet half hour, INC-1 and the search
/// probe busy meanwhile; the state just before INC-2 and every event.
fn script() -> (State, State, Vec<Event>) {
    let degraded = include_str!("../playbooks/degraded-performance.toml");
    let library =
        Library { playbooks: vec![warroom::model::playbook::parse(degraded).unwrap()], ..Library::default() };
    let (one, two) = (IncidentId(1), IncidentId(2));
    let declare = |title: &str, service: &str| Intent::DeclareIncident {
        title: title.into(),
        severity: Severity::Sev3,
        impact: "Card payments fail for about a third of orders.".into(),
        drill: false,
        services: vec![service.into()],
        private: false,
    };
    let probe = |name: &str, health| Intent::RecordProbe {
        probe: name.into(),
        health,
        failed: if health == Health::Down { vec!["[STATUS] (502) == 200".into()] } else { vec![] },
        auto_declare: None,
    };
    let status = |incident, status| Intent::SetStatus { incident, status, reason: None };
    let note = |incident, text: &str| Intent::AddNote { incident, text: text.into() };
    let steps: Vec<(i64, &str, Intent)> = vec![
        (-600, "bob", declare("Search results slow", "search")),
        (0, "alice", declare("Card payments fail", "payment")),
        (20, "warroom", probe("payment", Health::Down)),
        (60, "alice", status(two, Status::Investigating)),
        (100, "bob", note(one, "search is fine again")),
        (150, "carol", note(two, "PSP answers 502 on /authorize")),
        (200, "warroom", probe("search", Health::Down)),
        (240, "alice", Intent::TickStep { incident: two, step: "notify-staff".into() }),
        (300, "carol", note(two, "failing over to the second PSP")),
        (360, "alice", status(two, Status::Mitigating)),
        (420, "warroom", probe("payment", Health::Up)),
        (480, "alice", status(two, Status::Mitigated)),
        (480 + 1800, "alice", status(two, Status::Postmortem)),
        (480 + 1860, "alice", status(two, Status::Closed)),
    ];
    let mut s = State::default();
    let mut base = None;
    let mut log = Vec::new();
    for (secs, actor, intent) in steps {
        let now = t0() + chrono::Duration::seconds(secs);
        let role = if actor == "warroom" { UserRole::Admin } else { UserRole::Commander };
        if matches!(&intent, Intent::DeclareIncident { title, .. } if title == "Card payments fail") {
            base = Some(s.clone());
        }
        log.extend(screen::play(&mut s, &library, now, actor, role, &intent));
    }
    (base.unwrap(), s, log)
}

fn console(width: u16, height: u16, now: Duration) -> ReplayConsole {
    let (base, live, log) = script();
    let replay = Replay::new(&live.incidents[&IncidentId(2)], base, log).unwrap();
    let player = Player::new(replay, 10.0, MAX_GAP, Duration::ZERO);
    let themes = Themes::presets();
    let theme = themes.get("default").unwrap().clone();
    let look = Look { keymap: Keymap::default(), themes, theme, bell: false };
    let me = Whoami { name: "olivia".into(), role: UserRole::Observer };
    let mut c = ReplayConsole::new(player, &look, "http://127.0.0.1:7800", Some(me));
    c.resize(width, height);
    c.tick(now);
    c
}

fn render(c: &ReplayConsole, width: u16, height: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(width, height)).unwrap();
    term.draw(|f| c.draw(f)).unwrap();
    term.backend().buffer().clone()
}

fn press(c: &mut ReplayConsole, code: KeyCode, modifiers: KeyModifiers, now: Duration) -> bool {
    c.key(&KeyEvent::new(code, modifiers), now)
}

#[test]
fn replay_console_mid_way_playing_at_80x24() {
    // 32 s at 10×: T+5:20, after the note about failing over.
    let c = console(80, 24, Duration::from_secs(32));
    assert_eq!(c.player.replay().incident().map(|i| i.status), Some(Status::Investigating));
    let shown = text(&render(&c, 80, 24));
    assert!(shown.contains("failing over") && !shown.contains("mitigating"), "{shown}");
    insta::assert_snapshot!(shown);
}

#[test]
fn replay_console_paused_after_the_quiet_half_hour_at_160x48() {
    let mut c = console(160, 48, Duration::from_secs(32));
    let now = Duration::from_secs(32);
    press(&mut c, KeyCode::Char(' '), KeyModifiers::NONE, now);
    assert!(!c.player.is_playing());
    // Two status changes on (mitigating, mitigated), then over the cut half hour.
    for _ in 0..4 {
        press(&mut c, KeyCode::Right, KeyModifiers::NONE, now);
    }
    assert_eq!(c.player.replay().incident().map(|i| i.status), Some(Status::Postmortem));
    assert!(c.player.schedule().shortened(c.player.replay().position()), "the half hour was cut");
    let shown = text(&render(&c, 160, 48));
    assert!(shown.contains("❚❚ paused") && shown.contains("Degraded performance 1/6 done"), "{shown}");
    insta::assert_snapshot!(shown);
}

#[test]
fn keys_step_seek_and_quit_and_nothing_else_moves() {
    let now = Duration::ZERO;
    let mut c = console(80, 24, now);
    press(&mut c, KeyCode::Char(' '), KeyModifiers::NONE, now);
    let at = |c: &ReplayConsole| c.player.replay().seq();
    let first = at(&c);
    // → skips the other incident's note and the search probe; ← comes back.
    press(&mut c, KeyCode::Right, KeyModifiers::NONE, now);
    press(&mut c, KeyCode::Right, KeyModifiers::NONE, now);
    let two_on = at(&c);
    assert!(c.player.replay().concerns(c.player.replay().position()));
    press(&mut c, KeyCode::Left, KeyModifiers::NONE, now);
    press(&mut c, KeyCode::Left, KeyModifiers::NONE, now);
    assert_eq!(at(&c), first);
    // A minute on, both ways of asking; a minute back.
    press(&mut c, KeyCode::Right, KeyModifiers::SHIFT, now);
    let minute = at(&c);
    press(&mut c, KeyCode::Home, KeyModifiers::NONE, now);
    press(&mut c, KeyCode::Char(']'), KeyModifiers::NONE, now);
    assert_eq!(at(&c), minute);
    assert!(minute > first && minute <= two_on + 2);
    // Back to the first event within the minute before: the declaration, at T+0.
    press(&mut c, KeyCode::Char('['), KeyModifiers::NONE, now);
    assert_eq!(c.player.replay().position(), 0);
    press(&mut c, KeyCode::End, KeyModifiers::NONE, now);
    assert!(c.player.at_end());
    assert_eq!(c.player.replay().incident().map(|i| i.status), Some(Status::Closed));
    press(&mut c, KeyCode::Char('+'), KeyModifiers::NONE, now);
    assert_eq!(c.player.speed(), 20.0);
    press(&mut c, KeyCode::Char('-'), KeyModifiers::NONE, now);
    press(&mut c, KeyCode::Char('-'), KeyModifiers::NONE, now);
    assert_eq!(c.player.speed(), 5.0);
    // Keys that mean something in the live console do nothing here.
    for k in ['d', 'n', 's', 'x', 'c'] {
        assert_eq!(control(&KeyEvent::new(KeyCode::Char(k), KeyModifiers::NONE)), None, "{k}");
    }
    assert_eq!(control(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Control::Quit));
    assert!(press(&mut c, KeyCode::Char('q'), KeyModifiers::NONE, now));
}
