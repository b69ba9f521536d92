//! The console's stats pane (issue 15) on ratatui's TestBackend: bar charts of the median
//! times by severity, sparklines of incidents and recovery per day, drills vs real and the
//! failure classes, at 80×24 and 160×48 from a fixed state; `S`, `r` and `:stats` choose the
//! range, and the figures are computed once per state, not once per frame.

mod screen;

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use screen::text;
use warroom::model::postmortem::Document;
use warroom::model::stats::Since;
use warroom::model::{IncidentId, Intent, Library, Milestone, Severity, State, Status, UserRole};
use warroom::tui::app::{App, Msg, Pane};
use warroom::tui::view;

fn now() -> DateTime<Utc> {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

/// Thirty-six incidents over the last four weeks, a few each day: every severity, four
/// services, drills, three failure classes, milestones with gaps that grow with severity,
/// some missing and two set in the wrong order.
fn state() -> State {
    let library = Library::default();
    let mut s = State::default();
    let run = |s: &mut State, at: DateTime<Utc>, intent: Intent| {
        screen::play(s, &library, at, "alice", UserRole::Admin, &intent);
    };
    let services = ["checkout", "payments", "search", "stock"];
    let classes = ["deployment", "configuration", "dependency"];
    for i in 0..36i64 {
        let declared = now() - Duration::days(27) + Duration::minutes(i * 1090);
        let severity = Severity::ALL[(i * 7 % 5) as usize];
        let level = severity as i64 + 1;
        run(
            &mut s,
            declared,
            Intent::DeclareIncident {
                title: format!("incident {i}"),
                severity,
                impact: String::new(),
                drill: i % 6 == 0,
                services: vec![services[(i % 4) as usize].into()],
                private: false,
            },
        );
        let id = IncidentId(i as u64 + 1);
        let later = declared + Duration::minutes(1);
        let started = declared - Duration::minutes(3 * level + i % 5);
        let mut set =
            |milestone, time| run(&mut s, later, Intent::SetMilestone { incident: id, milestone, time });
        set(Milestone::Started, started);
        if i % 9 != 4 {
            set(Milestone::Detected, started + Duration::seconds(40 * level + 13 * (i % 4)));
        }
        set(Milestone::Acknowledged, declared + Duration::seconds(30 * level + 7 * (i % 3)));
        if i % 7 != 3 {
            set(Milestone::Mitigated, declared + Duration::minutes(11 * level + i % 6));
        }
        if i % 5 != 2 {
            let gap = if i == 13 || i == 29 {
                -Duration::minutes(5)
            } else {
                Duration::minutes(25 * level + 2 * i)
            };
            set(Milestone::Recovered, started + gap);
        }
        if i % 3 == 0 {
            let document = Document {
                summary: "what happened".into(),
                failure_class: Some(classes[(i % 4 % 3) as usize].into()),
                ..Default::default()
            };
            run(&mut s, later, Intent::WritePostmortem { incident: id, document, base: None });
        }
        if i < 30 {
            let reason = Some("duplicate".into());
            run(&mut s, later, Intent::SetStatus { incident: id, status: Status::Closed, reason });
        }
    }
    s
}

fn console(width: u16, height: u16) -> App {
    screen::console(state(), screen::Setup { size: (width, height), ..screen::Setup::alice(now()) })
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

fn command(app: &mut App, line: &str) {
    app.update(key(':'));
    for c in line.chars() {
        app.update(key(c));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
}

fn flash(app: &App) -> String {
    app.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default()
}

#[test]
fn the_stats_pane_at_80x24() {
    let mut app = console(80, 24);
    app.update(key('S'));
    assert_eq!(app.focus, Pane::Stats);
    let buf = render(&mut app);
    let shown = text(&buf);
    insta::assert_snapshot!(shown);
    assert!(shown.contains("Stats last 30d from 2026-10-22 12:00 UTC"), "{shown}");
    assert!(shown.contains("36 incidents · 6 open · 30 real · 6 drills"), "{shown}");
    assert!(shown.contains("2 inconsistent"), "the two recoveries before their start: {shown}");
    for chart in ["time to detect", "time to acknowledge", "time to mitigate", "time to recover"] {
        assert!(shown.contains(chart), "{chart}: {shown}");
    }
    assert!(shown.contains("incidents per day") && shown.contains("median recovery per day"), "{shown}");
    assert!(shown.contains("real 30") && shown.contains("drill 6"), "{shown}");
    assert!(shown.contains("failure classes deployment"), "{shown}");
    // Labels and bars wear their severity's colour.
    let sev1 = app.theme.severity(Severity::Sev1).fg.unwrap();
    let (x, y) = screen::find(&buf, "SEV1");
    assert_eq!((buf[(x, y)].fg, buf[(x + 5, y)].fg, buf[(x + 9, y)].fg), (sev1, sev1, sev1));
    assert_eq!(buf[(x + 9, y)].symbol(), "█");
}

#[test]
fn the_stats_pane_at_160x48() {
    let mut app = console(160, 48);
    command(&mut app, "stats");
    assert_eq!(app.focus, Pane::Stats);
    let shown = text(&render(&mut app));
    insta::assert_snapshot!(shown);
    for part in ["by service", "by failure class", "drill vs real, by severity", "checkout", "dependency"] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
}

#[test]
fn keys_and_the_command_line_choose_the_range_and_figures_are_kept_per_state() {
    let mut app = console(100, 30);
    app.update(key('S'));
    render(&mut app);
    render(&mut app);
    assert_eq!(app.stats.computations, 1, "a second frame of the same state reuses the figures");
    app.update(key('r'));
    assert_eq!(app.stats.range, Since::Last(Duration::days(90)));
    let shown = text(&render(&mut app));
    assert_eq!(app.stats.computations, 2, "a new range is counted at once");
    assert!(shown.contains("last 90d") && shown.contains("incidents per week"), "{shown}");
    command(&mut app, "stats 7d");
    let shown = text(&render(&mut app));
    assert_eq!(app.stats.range, Since::Last(Duration::days(7)));
    // 7 days hold the incidents declared from Nov 14 12:00: 1090-minute steps from Oct 25.
    let in_week = (0..36i64).filter(|i| Duration::minutes(i * 1090) >= Duration::days(20)).count();
    assert!(shown.contains(&format!("{in_week} incidents")), "{shown}");
    command(&mut app, "stats all");
    assert_eq!(app.stats.range, Since::All);
    command(&mut app, "stats 3x");
    assert!(flash(&app).contains(":stats: `3x` is not a time span"), "{}", flash(&app));
    assert_eq!(app.stats.range, Since::All, "a bad range changes nothing");
    // An empty range says so instead of drawing empty charts.
    command(&mut app, "stats 2026-12-01");
    let shown = text(&render(&mut app));
    assert!(shown.contains("no incidents declared since 2026-12-01"), "{shown}");
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    assert_eq!(app.focus, Pane::Incidents);
}
