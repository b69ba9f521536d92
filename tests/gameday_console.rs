//! The console's game-day half: the scoreboard pane on ratatui's TestBackend (a full board, a
//! concealed one, a hidden one), what asks for a fresh board, chaos hidden from heroes, the
//! game day's toasts, the game master's verbs, `warroom scoreboard`'s read-only console, and
//! a real server's board updating in an observer's pane when a team scores.

mod common;
mod fixtures;
mod screen;

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fixtures::library;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use screen::{find, text};
use warroom::client::sync::SyncEvent;
use warroom::client::Client;
use warroom::model::chaos::{RunId, StepKind, StopCause, Verdict};
use warroom::model::gameday::score::Tally;
use warroom::model::gameday::{GameDayId, Style};
use warroom::model::probe::Health;
use warroom::model::{stamp, Event, Intent, Severity, State, UserRole};
use warroom::protocol::{Command, GamedayView, Snapshot, Whoami};
use warroom::tui::app::{App, Effect, Msg, Pane};
use warroom::tui::keymap::Keymap;
use warroom::tui::theme::Themes;
use warroom::tui::view;

fn t0() -> DateTime<Utc> {
    "2026-11-21T09:00:00Z".parse().unwrap()
}

/// One step of the story: at `secs` after 09:00, `actor` (of `role`) does `intent`.
type Step = (i64, &'static str, UserRole, Intent);

const GD: GameDayId = GameDayId(1);

/// Folds the steps as the server would, keeping the events for the scoring.
fn fold(steps: Vec<Step>) -> (State, Vec<Event>) {
    let lib = library().library;
    let mut s = State::default();
    let mut events = Vec::new();
    for (secs, actor, role, intent) in steps {
        events.extend(screen::play(&mut s, &lib, t0() + Duration::seconds(secs), actor, role, &intent));
    }
    (s, events)
}

fn admin(secs: i64, intent: Intent) -> Step {
    (secs, "root", UserRole::Admin, intent)
}

fn runner(secs: i64, run: u64, step: StepKind, ok: bool, output: &str) -> Step {
    let phase = (step == StepKind::Inject || step == StepKind::Rollback).then_some(0);
    let intent = Intent::RecordChaos {
        run: RunId(run),
        step,
        phase,
        driver: "demo".into(),
        ok,
        output: output.into(),
    };
    (secs, "warroom", UserRole::Admin, intent)
}

fn declare(title: &str, service: &str) -> Intent {
    Intent::DeclareIncident {
        title: title.into(),
        severity: Severity::Sev2,
        impact: String::new(),
        drill: false,
        services: vec![service.into()],
        private: false,
    }
}

/// A game day of `style` with three teams and two scenarios planned, started at 09:05.
fn planned(style: Style) -> Vec<Step> {
    let team = |t: &str| Intent::AddTeam { gameday: GD, team: t.into() };
    let plan = |s: &str| Intent::PlanScenario {
        gameday: GD,
        scenario: s.into(),
        briefing: None,
        note: "villains only: the indexer is paused".into(),
        par_detect_minutes: None,
        par_mitigate_minutes: None,
        weights: Default::default(),
    };
    vec![
        admin(0, Intent::CreateGameday { name: "Autumn drill".into(), style }),
        admin(10, team("red")),
        admin(11, team("blue")),
        admin(12, team("green")),
        (
            20,
            "alice",
            UserRole::Commander,
            Intent::JoinTeam { gameday: GD, team: "red".into(), person: None },
        ),
        (21, "bob", UserRole::Responder, Intent::JoinTeam { gameday: GD, team: "blue".into(), person: None }),
        admin(22, Intent::JoinTeam { gameday: GD, team: "green".into(), person: Some("dave".into()) }),
        admin(30, plan("price-desync")),
        admin(31, plan("table-lock")),
        admin(300, Intent::StartGameday { gameday: GD }),
    ]
}

/// The fire drill at 09:30: price-desync injected at 09:10:02, red declared at 09:12:15 and
/// was confirmed mitigated at 09:20:40; blue declared at 09:19:32 after a hint; listing came
/// back at 09:24; the run ended at 09:25 with search held and listing not (resilience 50%);
/// table-lock injected at 09:22:02, nobody on it yet.
fn played(style: Style) -> (State, Vec<Event>) {
    let mut steps = planned(style);
    steps.extend([
        (600, "victor", UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() }),
        runner(601, 1, StepKind::SteadyState, true, "search up, listing up"),
        runner(602, 1, StepKind::Inject, true, "indexer paused"),
        (
            660,
            "warroom",
            UserRole::Admin,
            Intent::RecordProbe {
                probe: "listing".into(),
                health: Health::Down,
                failed: vec!["[BODY].price (12.00) == 14.50".into()],
                auto_declare: None,
            },
        ),
        (735, "alice", UserRole::Commander, declare("Listing prices wrong", "listing")),
        admin(
            960,
            Intent::GiveHint { gameday: GD, team: "blue".into(), plan: Some(1), text: "the indexer".into() },
        ),
        (1172, "bob", UserRole::Responder, declare("Search shows old prices", "search")),
        (
            1240,
            "victor",
            UserRole::Villain,
            Intent::ConfirmMitigation { gameday: GD, team: "red".into(), plan: 1 },
        ),
        (1320, "victor", UserRole::Villain, Intent::StartScenario { scenario: "table-lock".into() }),
        runner(1321, 2, StepKind::SteadyState, true, "stock up"),
        runner(1322, 2, StepKind::Inject, true, "LOCK TABLE stock held"),
        (
            1440,
            "warroom",
            UserRole::Admin,
            Intent::RecordProbe {
                probe: "listing".into(),
                health: Health::Up,
                failed: vec![],
                auto_declare: None,
            },
        ),
        (
            1500,
            "warroom",
            UserRole::Admin,
            Intent::EndScenario { run: RunId(1), cause: StopCause::Duration, reason: None },
        ),
        runner(1510, 1, StepKind::Rollback, true, "cleared"),
        (
            1530,
            "warroom",
            UserRole::Admin,
            Intent::FinishScenario {
                run: RunId(1),
                verdict: Some(Verdict {
                    deviated: true,
                    probes: [("search".to_string(), Health::Up), ("listing".to_string(), Health::Down)]
                        .into_iter()
                        .collect(),
                }),
            },
        ),
    ]);
    fold(steps)
}

fn now() -> DateTime<Utc> {
    t0() + Duration::minutes(30)
}

/// The server's answer for someone who knows the plot (`concealed`: as heroes see it).
fn view_of(state: &State, events: &[Event], concealed: bool) -> GamedayView {
    let mut tally = Tally::new(GD);
    for e in events {
        tally.apply(e);
    }
    let board = tally.board(now()).unwrap();
    let mut gameday = state.gamedays.latest().cloned();
    if concealed {
        if let Some(g) = &mut gameday {
            g.plans.clear();
        }
    }
    GamedayView {
        gameday,
        board: Some(if concealed { board.concealed() } else { board }),
        board_hidden: None,
        share_url: (!concealed).then(|| "http://127.0.0.1:7800/gameday/scoreboard?token=ab12".into()),
    }
}

fn console(state: State, who: &str, role: UserRole, width: u16, height: u16) -> App {
    let library = Some(library());
    screen::console(
        state,
        screen::Setup { who, role, size: (width, height), now: now(), theme: "default", library },
    )
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

fn command(app: &mut App, line: &str) -> Vec<Effect> {
    app.update(key(':'));
    for c in line.chars() {
        app.update(key(c));
    }
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)))
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

fn flash(app: &App) -> String {
    app.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default()
}

#[test]
fn a_full_board_beside_the_incidents_at_160x48() {
    let (state, events) = played(Style::FireDrill);
    let view = view_of(&state, &events, false);
    let mut a = console(state, "root", UserRole::Admin, 160, 48);
    assert_eq!(a.update(key('b')), [Effect::FetchBoard], "b asks for the board it has not got");
    assert_eq!(a.focus, Pane::Scoreboard);
    a.update(Msg::Board(Ok(view)));
    let buf = render(&mut a);
    insta::assert_snapshot!(text(&buf));
    let shown = text(&buf);
    // Ranked: red (both within par) over blue (late, a hint) over green.
    let (red, blue, green) =
        (find(&buf, "1.   red").1, find(&buf, "2.   blue").1, find(&buf, "3.   green").1);
    assert!(red < blue && blue < green, "{shown}");
    assert!(shown.contains("#1 Prices differ") && shown.contains("#2 Stock table locked"), "{shown}");
    assert!(shown.contains("2:13") && shown.contains("10:38"), "red's times: {shown}");
    assert!(shown.contains("9:30") && shown.contains("h1"), "blue's late detection and its hint: {shown}");
    assert!(shown.contains("50%"), "price-desync's resilience: {shown}");
    assert!(shown.contains("fire_drill · running 25:00"), "style, stage and time played: {shown}");
    // Times within par are ok-coloured, those past it warn.
    let t = &a.theme;
    let (x, y) = find(&buf, "2:13");
    assert_eq!(buf[(x, y)].fg, t.get("ok").fg.unwrap());
    let (x, y) = find(&buf, "9:30");
    assert_eq!(buf[(x, y)].fg, t.get("warn").fg.unwrap());
}

#[test]
fn a_concealed_board_alone_in_warroom_scoreboard_at_100x30() {
    let (mut state, events) = played(Style::FireDrill);
    // An observer's copy has none of a fire drill's chaos (the server redacts it).
    state.chaos = Default::default();
    let view = view_of(&state, &events, true);
    let themes = Themes::presets();
    let theme = themes.get("default").unwrap().clone();
    let mut a = App::new("http://127.0.0.1:7800", Keymap::default(), themes, theme, now()).solo();
    a.update(Msg::Resize(100, 30));
    a.update(Msg::Me(Whoami { name: "olivia".into(), role: UserRole::Observer }));
    a.update(Msg::Sync(SyncEvent::Online));
    let seq = state.seq;
    let effects = a.update(Msg::Sync(SyncEvent::Snapshot(Snapshot {
        log: uuid::Uuid::nil(),
        seq,
        state,
        probes: vec![],
    })));
    assert_eq!(effects, [Effect::FetchBoard], "a snapshot with a game day asks for its board");
    a.update(Msg::Board(Ok(view)));
    let shown = text(&render(&mut a));
    insta::assert_snapshot!(shown);
    assert!(shown.contains("Scenario #1") && shown.contains("Scenario #2"), "{shown}");
    assert!(!shown.contains("price-desync") && !shown.contains("Prices differ"), "concealed: {shown}");
    assert!(!shown.contains("Incidents"), "the board alone: {shown}");
}

#[test]
fn a_hidden_board_says_why_and_who_plays_at_80x24() {
    let (state, _) = fold(planned(Style::DungeonsAndDragons));
    let mut gameday = state.gamedays.latest().cloned();
    gameday.as_mut().unwrap().plans.clear();
    let view = GamedayView {
        gameday,
        board: None,
        board_hidden: Some("GD-1 is played dungeons_and_dragons: its scoreboard is shown at debrief".into()),
        share_url: None,
    };
    let mut a = console(state, "alice", UserRole::Commander, 80, 24);
    a.update(key('b'));
    a.update(Msg::Board(Ok(view)));
    let shown = text(&render(&mut a));
    insta::assert_snapshot!(shown);
    assert!(shown.contains("its scoreboard is shown at debrief"), "{shown}");
    assert!(shown.contains("★ red alice"), "my team, marked: {shown}");
}

#[test]
fn news_that_can_move_the_board_asks_for_it_and_the_clock_keeps_a_running_one_fresh() {
    let (state, events) = played(Style::FireDrill);
    let mut a = console(State::default(), "olivia", UserRole::Observer, 120, 36);
    // No game day: nothing is asked, and the pane says how one starts.
    assert!(a.update(key('b')).is_empty());
    assert!(text(&render(&mut a)).contains(":gameday create NAME --style"));
    a.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    let (mut asked, mut library) = (0, Vec::new());
    for e in &events {
        let effects = a.update(Msg::Sync(SyncEvent::Event(e.clone())));
        asked += effects.iter().filter(|e| **e == Effect::FetchBoard).count();
        if effects.contains(&Effect::FetchLibrary) {
            library.push(e.fact.kind().to_string());
        }
    }
    assert_eq!(asked, events.len(), "every event of this story can move the board");
    // The catalogue is hidden from heroes from the game day's creation: the library is asked
    // for again then (and at the debrief, and on every reload).
    assert_eq!(library, ["gameday_created"], "{library:?}");
    // A note moves nothing.
    let mut s = state.clone();
    let note = Intent::AddNote { incident: warroom::model::IncidentId(1), text: "looking".into() };
    let e =
        stamp(s.seq + 1, now(), "alice", UserRole::Commander, uuid::Uuid::nil(), s.decide(&note).unwrap());
    s.apply(&e[0]);
    assert!(a.update(Msg::Sync(SyncEvent::Event(e[0].clone()))).is_empty());
    // While the game day runs, the clock asks again every few seconds.
    let asked_at = a.board.asked.unwrap();
    assert!(a.update(Msg::Tick(asked_at + Duration::seconds(1))).is_empty());
    assert_eq!(a.update(Msg::Tick(asked_at + Duration::seconds(5))), [Effect::FetchBoard]);
    // An error shows in the pane, over the last answer; nothing panics.
    a.update(Msg::Board(Ok(view_of(&state, &events, true))));
    a.update(key('b'));
    a.update(Msg::Board(Err("server unreachable: connection refused".into())));
    let shown = text(&render(&mut a));
    assert!(
        shown.contains("cannot get the board: server unreachable") && shown.contains("last answer"),
        "{shown}"
    );
    assert!(shown.contains("Scenario #1"), "the last answer stays: {shown}");
}

#[test]
fn heroes_lose_the_chaos_pane_while_a_game_day_hides_chaos_and_villains_keep_it() {
    let (state, _) = fold(planned(Style::DungeonsAndDragons));
    let mut hero = console(State::default(), "alice", UserRole::Commander, 120, 36);
    hero.update(key('c'));
    assert_eq!(hero.focus, Pane::Chaos, "no game day: the pane opens");
    let seq = state.seq;
    let snap = Snapshot { log: uuid::Uuid::nil(), seq, state: state.clone(), probes: vec![] };
    hero.update(Msg::Sync(SyncEvent::Snapshot(snap.clone())));
    assert_eq!(hero.focus, Pane::Incidents, "moved off the hidden pane");
    hero.update(key('c'));
    assert_eq!(hero.focus, Pane::Incidents);
    assert!(
        flash(&hero).contains("GD-1 is played dungeons_and_dragons: heroes see no chaos"),
        "{}",
        flash(&hero)
    );
    // Tab goes round without it, through the scoreboard.
    let mut seen = Vec::new();
    for _ in 0..6 {
        hero.update(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)));
        seen.push(hero.focus);
    }
    assert!(!seen.contains(&Pane::Chaos) && seen.contains(&Pane::Scoreboard), "{seen:?}");
    let hints = text(&render(&mut hero));
    assert!(!hints.contains("c chaos"), "{hints}");

    let villain = console(state, "victor", UserRole::Villain, 120, 36);
    assert_eq!(villain.focus, Pane::Chaos, "a villain's console still opens on chaos");
}

#[test]
fn an_informed_kick_off_toasts_everyone_and_a_hint_only_its_team() {
    let (state, _) = fold(planned(Style::Informed));
    let lib = library().library;
    let mut later = state.clone();
    let mut news = Vec::new();
    for (actor, role, intent) in [
        ("victor", UserRole::Villain, Intent::StartScenario { scenario: "table-lock".into() }),
        (
            "root",
            UserRole::Admin,
            Intent::GiveHint { gameday: GD, team: "red".into(), plan: None, text: "check stock".into() },
        ),
    ] {
        news.extend(screen::play(&mut later, &lib, now(), actor, role, &intent));
    }
    let kickoff = news.iter().find(|e| e.fact.kind() == "scenario_kicked_off").expect("an informed kick-off");
    let hint = news.iter().find(|e| e.fact.kind() == "hint_given").unwrap();
    for (who, role) in
        [("alice", UserRole::Commander), ("bob", UserRole::Responder), ("victor", UserRole::Villain)]
    {
        let mut a = console(state.clone(), who, role, 120, 36);
        let effects = a.update(Msg::Sync(SyncEvent::Event(kickoff.clone())));
        assert!(effects.contains(&Effect::Bell), "{who}: {effects:?}");
        assert!(flash(&a).contains("Starting now") && flash(&a).contains("stock"), "{who}: {}", flash(&a));
        a.flash = None;
        a.update(Msg::Sync(SyncEvent::Event(hint.clone())));
        if who == "alice" {
            assert_eq!(flash(&a), "hint for team red: check stock");
        } else {
            assert_eq!(flash(&a), "", "{who} is not in red");
        }
    }
}

#[test]
fn the_game_masters_verbs_go_through_the_outbox_and_others_are_told_no() {
    let (state, _) = fold(planned(Style::FireDrill));
    let mut gm = console(state.clone(), "root", UserRole::Admin, 120, 36);
    assert_eq!(sent(&command(&mut gm, "gameday end")), [Intent::EndGameday { gameday: GD }]);
    assert_eq!(
        sent(&command(&mut gm, "hint blue #2 look at the stock table")),
        [Intent::GiveHint {
            gameday: GD,
            team: "blue".into(),
            plan: Some(2),
            text: "look at the stock table".into()
        }]
    );
    assert_eq!(
        sent(&command(&mut gm, "confirm red #1")),
        [Intent::ConfirmMitigation { gameday: GD, team: "red".into(), plan: 1 }]
    );
    assert!(sent(&command(&mut gm, "plan price-desink")).is_empty());
    assert!(flash(&gm).contains("no scenario `price-desink` in the catalogue"), "{}", flash(&gm));
    // Completion knows the teams.
    gm.update(key(':'));
    for c in "team join gr".chars() {
        gm.update(key(c));
    }
    gm.update(Msg::Key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)));
    let Some(warroom::tui::app::Overlay::Command(line)) = &gm.overlay else { panic!("the command line") };
    assert_eq!(line.input, "team join green ");
    gm.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));

    let mut hero = console(state.clone(), "bob", UserRole::Responder, 120, 36);
    assert!(sent(&command(&mut hero, "gameday end")).is_empty());
    assert!(flash(&hero).contains("responder may not end gameday"), "{}", flash(&hero));
    assert_eq!(
        sent(&command(&mut hero, "team join red")),
        [Intent::JoinTeam { gameday: GD, team: "red".into(), person: None }],
        "heroes join teams themselves"
    );
    let mut villain = console(state, "victor", UserRole::Villain, 120, 36);
    assert_eq!(sent(&command(&mut villain, "confirm blue 2")).len(), 1, "villains confirm mitigations");
    let help: String = warroom::tui::panes::overlay::help_lines(&hero)
        .iter()
        .flat_map(|l| l.spans.iter().map(|s| s.content.to_string()))
        .collect();
    assert!(help.contains("not for a responder"), "greyed in the help: {help}");
}

#[test]
fn warroom_scoreboard_only_reads() {
    let (state, events) = played(Style::FireDrill);
    let themes = Themes::presets();
    let theme = themes.get("default").unwrap().clone();
    let mut a = App::new("http://127.0.0.1:7800", Keymap::default(), themes, theme, now()).solo();
    a.update(Msg::Resize(100, 30));
    a.update(Msg::Me(Whoami { name: "root".into(), role: UserRole::Admin }));
    let seq = state.seq;
    a.update(Msg::Sync(SyncEvent::Snapshot(Snapshot {
        log: uuid::Uuid::nil(),
        seq,
        state: state.clone(),
        probes: vec![],
    })));
    a.update(Msg::Board(Ok(view_of(&state, &events, false))));
    for c in ['d', 'n', 'H', ':', 'c', 'z', '\t'] {
        assert!(a.update(key(c)).is_empty(), "{c:?} does nothing");
        assert!(a.overlay.is_none(), "{c:?} opens nothing");
        assert_eq!(a.focus, Pane::Scoreboard);
    }
    assert!(flash(&a).contains("read-only"), "{}", flash(&a));
    a.update(key('j'));
    assert_eq!(a.board.sel, 1, "j scrolls the teams");
    let shown = text(&render(&mut a));
    assert!(shown.contains("read-only") && !shown.contains("queued"), "{shown}");
    assert_eq!(a.update(key('q')), [Effect::Quit]);
}

/// Records what the chaos runner asks of the shop: enough of its admin API for a run.
async fn stand_in() -> String {
    use axum::routing::{delete, get, post};
    let router = axum::Router::new()
        .route("/admin/faults", post(|| async { axum::Json(serde_json::json!({ "detail": "slowed" })) }))
        .route("/admin/faults", delete(|| async { axum::Json(serde_json::json!({ "detail": "cleared" })) }))
        .route("/health/{name}", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

/// An App fed by the real sync and board fetcher, as `tui::run` feeds it, without a terminal.
struct Watcher {
    app: App,
    rx: tokio::sync::mpsc::Receiver<Msg>,
    board: tokio::sync::mpsc::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    snapshots: usize,
}

impl Watcher {
    fn start(client: Client) -> Watcher {
        use tokio::sync::mpsc;
        let (tx, rx) = mpsc::channel(4096);
        let (sync_tx, mut sync_rx) = mpsc::channel(4096);
        let (board, board_rx) = mpsc::channel(1);
        let mut tasks = vec![tokio::spawn(warroom::client::sync::follow(client.clone(), sync_tx))];
        let t = tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(ev) = sync_rx.recv().await {
                if t.send(Msg::Sync(ev)).await.is_err() {
                    return;
                }
            }
        }));
        tasks.push(tokio::spawn(warroom::tui::scoreboard::fetcher(client.clone(), board_rx, tx.clone())));
        let t = tx.clone();
        tasks.push(tokio::spawn(async move {
            let me = client.whoami().await.unwrap();
            let _ = t.send(Msg::Me(me)).await;
        }));
        let themes = Themes::presets();
        let theme = themes.get("default").unwrap().clone();
        let mut app = App::new("http://test", Keymap::default(), themes, theme, Utc::now()).solo();
        app.update(Msg::Resize(120, 30));
        Watcher { app, rx, board, tasks, snapshots: 0 }
    }

    /// Runs messages through the app (and its board asks through the fetcher, the clock
    /// every second) until `cond` holds of it.
    async fn until(&mut self, what: &str, cond: impl Fn(&mut Watcher) -> bool) {
        let deadline = Instant::now() + common::DEADLINE;
        let mut tick = Instant::now();
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}:\n{}", self.screen());
            let msg = match tokio::time::timeout(StdDuration::from_millis(100), self.rx.recv()).await {
                Ok(Some(m)) => m,
                Ok(None) => panic!("the feeds ended"),
                Err(_) if tick.elapsed() >= StdDuration::from_secs(1) => {
                    tick = Instant::now();
                    Msg::Tick(Utc::now())
                }
                Err(_) => continue,
            };
            if matches!(msg, Msg::Sync(SyncEvent::Snapshot(_))) {
                self.snapshots += 1;
            }
            for effect in self.app.update(msg) {
                if effect == Effect::FetchBoard {
                    warroom::tui::scoreboard::ask(&self.board);
                }
            }
        }
    }

    fn screen(&mut self) -> String {
        text(&render(&mut self.app))
    }

    /// The screen row of `team`'s board line.
    fn row(&mut self, team: &str) -> String {
        let needle = format!(" {team} ");
        self.screen().lines().find(|l| l.contains(&needle) && l.contains('│')).unwrap_or_default().to_string()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Whether a line shows a time (`m:ss`).
fn has_time(line: &str) -> bool {
    let b = line.as_bytes();
    (1..b.len().saturating_sub(2)).any(|i| {
        b[i] == b':' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit() && b[i + 2].is_ascii_digit()
    })
}

/// A fire drill on a real server: an observer's scoreboard shows the concealed board, a team's
/// declaration about the running scenario's target puts its detection time and points on it
/// live, and the debrief reloads the observer's console and names the scenarios.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pane_updates_when_a_team_scores_and_names_the_scenarios_at_debrief() {
    let dir = tempfile::tempdir().unwrap();
    let url = stand_in().await;
    let chaos_dir = dir.path().join("chaos");
    std::fs::create_dir_all(&chaos_dir).unwrap();
    std::fs::write(
        chaos_dir.join("slow-a.toml"),
        "id = \"slow-a\"\ntitle = \"Service a slowed\"\ntarget = [\"a\"]\nduration = \"10m\"\n\
         stop_when = \"never\"\n\n[[phase]]\ninject = { driver = \"demo\", fault = \"latency\", service = \"a\", ms = 500 }\n\n\
         [[rollback]]\ndriver = \"demo\"\nfault = \"clear\"\n",
    )
    .unwrap();
    let probe: warroom::config::ProbeConfig = toml::from_str(&format!(
        "name = \"a\"\nurl = \"{url}/health/a\"\ninterval = \"1s\"\ntimeout = \"1s\"\nconditions = [\"[STATUS] == 200\"]\n"
    ))
    .unwrap();
    let server = warroom::server::start(warroom::server::ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        users: common::users(),
        probes: vec![probe],
        chaos: warroom::config::ChaosConfig {
            demo_url: Some(url),
            demo_token: Some("shop-token".into()),
            ..Default::default()
        },
        scenario_dirs: vec![chaos_dir],
        ..Default::default()
    })
    .await
    .unwrap();
    let client = |role| Client::new(&server.url(), &common::token(role)).unwrap();
    let (root, bob, victor) =
        (client(UserRole::Admin), client(UserRole::Responder), client(UserRole::Villain));
    let send = |c: &Client, intent: Intent| {
        let c = c.clone();
        async move { c.send(&Command::new(intent)).await.unwrap() }
    };
    send(&root, Intent::CreateGameday { name: "Friday drill".into(), style: Style::FireDrill }).await;
    send(&root, Intent::AddTeam { gameday: GD, team: "red".into() }).await;
    send(&root, Intent::AddTeam { gameday: GD, team: "blue".into() }).await;
    send(&bob, Intent::JoinTeam { gameday: GD, team: "red".into(), person: None }).await;
    let plan = Intent::PlanScenario {
        gameday: GD,
        scenario: "slow-a".into(),
        briefing: None,
        note: String::new(),
        par_detect_minutes: None,
        par_mitigate_minutes: None,
        weights: Default::default(),
    };
    send(&root, plan).await;
    send(&root, Intent::StartGameday { gameday: GD }).await;

    let mut olivia = Watcher::start(client(UserRole::Observer));
    olivia.until("the concealed board", |w| w.screen().contains("Scenario #1")).await;
    assert!(!olivia.screen().contains("slow-a"), "concealed from an observer:\n{}", olivia.screen());

    let ack = send(&victor, Intent::StartScenario { scenario: "slow-a".into() }).await;
    let warroom::model::Fact::ScenarioStarted { run, .. } = &ack.events[0].fact else {
        panic!("{:?}", ack.events)
    };
    let run = *run;
    common::eventually("injected", || async { server.app.hub().state().chaos.runs[&run].injected == 1 })
        .await;
    olivia.until("the inject on the board", |w| w.screen().contains("injected")).await;
    let before = olivia.row("red");
    assert!(!has_time(&before), "red has detected nothing yet: {before}");

    send(&bob, declare("a is slow", "a")).await;
    olivia.until("red's detection on the board", |w| has_time(&w.row("red"))).await;
    let after = olivia.row("red");
    let board = olivia.app.board.view.as_ref().and_then(|v| v.board.as_ref()).unwrap();
    let red = board.teams.iter().find(|t| t.team == "red").unwrap();
    assert_eq!(red.rank, 1);
    assert!(red.points > 0 && after.contains(&red.points.to_string()), "{after}");
    assert!(red.cells[0].detect_secs.is_some());

    // The debrief: the observer's stream ends with a resync, the console reloads, and the
    // board names the scenario.
    let snapshots = olivia.snapshots;
    send(&root, Intent::EndGameday { gameday: GD }).await;
    olivia
        .until("the reload and the named board", |w| {
            w.snapshots > snapshots && w.screen().contains("#1 Service a slowed")
        })
        .await;
    let g = olivia.app.state.gamedays.latest().unwrap();
    assert_eq!(g.plans.len(), 1, "the reloaded state has the plans heroes could not see");
    assert!(olivia.screen().contains("debrief"), "{}", olivia.screen());
    // The game's end rolled its run back.
    let reason = server.app.hub().state().chaos.runs[&run].reason.clone();
    assert_eq!(reason.as_deref(), Some("GD-1 ended"));
}

/// A burst of news costs one ask, not one per event: asks made while one is answered (or
/// within its gap) wait as one.
#[tokio::test]
async fn a_burst_of_asks_for_the_board_is_answered_once() {
    let server = common::TestServer::start().await;
    let (kick, kicked) = tokio::sync::mpsc::channel(1);
    let (tx, mut answers) = tokio::sync::mpsc::channel(16);
    let fetcher =
        tokio::spawn(warroom::tui::scoreboard::fetcher(server.client(UserRole::Observer), kicked, tx));
    warroom::tui::scoreboard::ask(&kick);
    let Some(Msg::Board(Ok(first))) = answers.recv().await else { panic!("an answer") };
    assert!(first.gameday.is_none() && first.board.is_none(), "no game day yet: {first:?}");
    for _ in 0..100 {
        warroom::tui::scoreboard::ask(&kick);
    }
    let Some(Msg::Board(Ok(_))) = answers.recv().await else { panic!("a second answer") };
    // No more asks: the fetcher ends once it has answered what was asked.
    drop(kick);
    fetcher.await.unwrap();
    assert!(answers.recv().await.is_none(), "a third answer for the same burst");
}
