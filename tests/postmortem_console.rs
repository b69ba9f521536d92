//! The console's postmortem editor and action items: TestBackend snapshots of the editor on a
//! draft from tagged notes, of the incident pane with its items and of the actions overlay;
//! the user's stories through `update`; and two consoles saving against a real server.

mod common;
mod screen;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use screen::{find, text};
use warroom::client::sync::SyncEvent;
use warroom::model::postmortem::Document;
use warroom::model::{stamp, Fact, IncidentId, Intent, Severity, State, Status, UserRole};
use warroom::tui::app::{App, Edited, Effect, ExternalEdit, Msg, Overlay, Pane, Refusal};
use warroom::tui::form::MenuPick;
use warroom::tui::keymap::Keymap;
use warroom::tui::theme::Themes;
use warroom::tui::view;

fn t0() -> DateTime<Utc> {
    "2026-11-21T09:00:00Z".parse().unwrap()
}

/// Decides and applies like the server, `minute` minutes after t0.
fn play(s: &mut State, minute: i64, actor: &str, intent: Intent) {
    let facts = s.decide(&intent).unwrap_or_else(|e| panic!("{intent:?}: {e}"));
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

fn note(incident: u64, text: &str) -> Intent {
    Intent::AddNote { incident: IncidentId(incident), text: text.into() }
}

/// A SEV1 at its postmortem, with notes tagged `#well`, `#badly` and `#lucky` among others.
fn after_the_fire() -> State {
    let mut s = State::default();
    play(&mut s, 0, "alice", declare("Checkout returns 502 for card payments", Severity::Sev1));
    play(&mut s, 2, "bob", note(1, "#well paging reached the on-call in under a minute"));
    play(&mut s, 5, "carol", note(1, "PSP answers 502 on authorize since the 13:40 deploy"));
    play(&mut s, 9, "alice", note(1, "the rollback took 25 minutes: the runbook was out of date #badly"));
    play(&mut s, 12, "bob", note(1, "#lucky it happened at 6am, with little traffic"));
    for (minute, status) in [(14, Status::Mitigated), (30, Status::Postmortem)] {
        play(&mut s, minute, "alice", Intent::SetStatus { incident: IncidentId(1), status, reason: None });
    }
    s
}

fn add_item(incident: u64, title: &str, owner: &str, due: Option<NaiveDate>, link: Option<&str>) -> Intent {
    Intent::AddActionItem {
        incident: IncidentId(incident),
        title: title.into(),
        owner: owner.into(),
        due,
        link: link.map(String::from),
    }
}

fn day(d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2026, 11, d)
}

/// The same, its postmortem written and three action items: one overdue (due the 20th, it is
/// the 23rd), one open, one done; and a second incident with items of its own.
fn with_items() -> State {
    let mut s = after_the_fire();
    let document = Document {
        summary: "Card payments failed for 12 minutes after the PSP adapter's deploy.".into(),
        failure_class: Some("deployment".into()),
        ..Document::default()
    };
    play(&mut s, 40, "bob", Intent::WritePostmortem { incident: IncidentId(1), document, base: Some(0) });
    play(&mut s, 41, "bob", add_item(1, "Alert on the PSP's 5xx rate", "carol", day(20), None));
    play(&mut s, 42, "bob", add_item(1, "Update the rollback runbook", "alice", day(30), Some("OPS-112")));
    play(&mut s, 43, "bob", add_item(1, "Canary for the payment adapter", "bob", None, None));
    play(&mut s, 44, "bob", Intent::CompleteActionItem { incident: IncidentId(1), item: 3 });
    play(&mut s, 50, "alice", declare("Search results are stale", Severity::Sev3));
    play(&mut s, 51, "alice", add_item(2, "Alarm on the index sync's lag", "dana", day(18), None));
    play(&mut s, 52, "alice", add_item(2, "Document the reindex", "erin", None, None));
    s
}

/// Two days after t0: the 23rd, so an item due the 20th is overdue.
fn now() -> DateTime<Utc> {
    t0() + Duration::days(2)
}

fn app_with(state: State, width: u16, height: u16) -> App {
    screen::console(state, screen::Setup { size: (width, height), ..screen::Setup::alice(now()) })
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

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn type_text(app: &mut App, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| app.update(key(KeyCode::Char(c)))).collect()
}

fn flash(app: &App) -> String {
    app.flash.as_ref().map(|f| f.text.clone()).unwrap_or_default()
}

fn editor(app: &App) -> &warroom::tui::postmortem::Editor {
    match &app.overlay {
        Some(Overlay::Postmortem(e)) => e,
        other => panic!("the postmortem editor is not open: {other:?}"),
    }
}

fn sent(effects: &[Effect]) -> Vec<warroom::protocol::Command> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_editor_on_a_draft_from_tagged_notes_at_80x24() {
    let mut a = app_with(after_the_fire(), 80, 24);
    assert!(a.update(key(KeyCode::Char('P'))).is_empty());
    insta::assert_snapshot!(text(&render(&mut a)));
}

#[test]
fn the_editor_on_a_draft_from_tagged_notes_at_160x48() {
    let mut a = app_with(after_the_fire(), 160, 48);
    a.update(key(KeyCode::Char('P')));
    type_text(&mut a, "Card payments failed for 12 minutes after the PSP adapter's deploy.");
    let buf = render(&mut a);
    let shown = text(&buf);
    assert!(shown.contains("draft from #well/#badly/#lucky notes · 1 unsaved change"), "{shown}");
    assert!(shown.contains("- paging reached the on-call in under a minute"), "{shown}");
    assert!(!shown.contains("PSP answers 502"), "untagged notes stay out:\n{shown}");
    insta::assert_snapshot!(shown);
}

#[test]
fn the_incident_pane_shows_the_postmortem_and_its_items_one_overdue() {
    let mut a = app_with(with_items(), 160, 48);
    a.selected = Some(IncidentId(1));
    let buf = render(&mut a);
    let shown = text(&buf);
    assert!(
        shown.contains("postmortem revision 1 by bob · deployment · 2 of 3 items open, 1 OVERDUE"),
        "{shown}"
    );
    assert!(shown.contains("#1  OVERDUE Alert on the PSP's 5xx rate — carol, due 2026-11-20"), "{shown}");
    assert!(shown.contains("#2  Update the rollback runbook — alice, due 2026-11-30, OPS-112"), "{shown}");
    assert!(shown.contains("#3  ✓ Canary for the payment adapter — bob · done by bob 2026-11-21"), "{shown}");
    let theme = a.theme.clone();
    let (x, y) = find(&buf, "OVERDUE Alert");
    assert_eq!(buf[(x, y)].style().fg, theme.get("alert").fg, "OVERDUE in the alert style");
    let (x, y) = find(&buf, "Canary for the payment");
    assert_eq!(buf[(x, y)].style().fg, theme.get("muted").fg, "done ones dimmed");
    insta::assert_snapshot!(shown);
}

#[test]
fn the_actions_overlay_lists_every_incidents_items_overdue_first() {
    let mut a = app_with(with_items(), 120, 30);
    a.update(key(KeyCode::Char(':')));
    type_text(&mut a, "actions");
    a.update(key(KeyCode::Enter));
    let shown = text(&render(&mut a));
    let at = |needle: &str| shown.find(needle).unwrap_or_else(|| panic!("{needle} not shown:\n{shown}"));
    assert!(at("Alarm on the index sync") < at("Alert on the PSP"), "the longest overdue first");
    assert!(at("Alert on the PSP") < at("Update the rollback") && at("Document the reindex") < at("Canary"));
    insta::assert_snapshot!(shown);
    // o: open ones only; enter opens the highlighted one's incident.
    a.update(key(KeyCode::Char('o')));
    let shown = text(&render(&mut a));
    assert!(shown.contains("open ones shown") && !shown.contains("INC-1 #3"), "{shown}");
    a.update(key(KeyCode::Char('j')));
    a.update(key(KeyCode::Enter));
    assert!(a.overlay.is_none());
    assert_eq!((a.selected, a.focus), (Some(IncidentId(1)), Pane::Detail));
}

#[test]
fn ctrl_s_saves_from_the_revision_opened_and_a_bad_line_is_named_with_the_cursor_on_it() {
    let mut a = app_with(after_the_fire(), 80, 24);
    a.update(key(KeyCode::Char('P')));
    // An empty summary is refused before sending, pointing at its line.
    assert!(a.update(ctrl('s')).is_empty());
    assert!(flash(&a).contains("the summary is empty"), "{}", flash(&a));
    let e = editor(&a);
    let line = e.error.as_deref().and_then(|x| x.strip_prefix("line ")).and_then(|x| x.split(':').next());
    assert_eq!(line, Some((e.text.cursor().0 + 1).to_string().as_str()), "{:?}", e.error);
    type_text(&mut a, "Card payments failed.");
    // A heading that is no section: named, and nothing typed is lost.
    a.update(key(KeyCode::Enter));
    type_text(&mut a, "## Lessons");
    let before = editor(&a).current();
    assert!(a.update(ctrl('s')).is_empty());
    let e = editor(&a);
    assert!(e.error.as_deref().unwrap().contains("`## Lessons` is not a section"), "{:?}", e.error);
    assert_eq!(e.text.lines()[e.text.cursor().0], "## Lessons");
    assert_eq!(e.current(), before);
    // The cursor was moved to the line's start: to its end, and the line goes.
    a.update(key(KeyCode::End));
    for _ in 0.."\n## Lessons".len() {
        a.update(key(KeyCode::Backspace));
    }
    let effects = a.update(ctrl('s'));
    let [cmd] = &sent(&effects)[..] else { panic!("{effects:?}") };
    let Intent::WritePostmortem { incident, document, base } = &cmd.intent else {
        panic!("{:?}", cmd.intent)
    };
    assert_eq!((*incident, *base), (IncidentId(1), Some(0)));
    assert_eq!(document.summary, "Card payments failed.");
    assert_eq!(document.lucky, ["it happened at 6am, with little traffic"]);
    assert!(text(&render(&mut a)).contains("saving revision 1…"));
    // The log has it: saved.
    let facts = a.state.decide(&cmd.intent).unwrap();
    for e in stamp(a.state.seq + 1, now(), "alice", UserRole::Commander, cmd.id, facts) {
        a.update(Msg::Sync(SyncEvent::Event(e)));
    }
    let shown = text(&render(&mut a));
    assert!(shown.contains("revision 1 by alice · saved"), "{shown}");
    assert!(flash(&a).contains("INC-1: postmortem revision 1 saved"), "{}", flash(&a));
}

#[test]
fn esc_with_unsaved_changes_asks_first() {
    let mut a = app_with(after_the_fire(), 80, 24);
    a.update(key(KeyCode::Char('P')));
    a.update(key(KeyCode::Esc));
    assert!(a.overlay.is_none(), "nothing typed: esc just closes");
    a.update(key(KeyCode::Char('P')));
    type_text(&mut a, "half a thought");
    a.update(key(KeyCode::Esc));
    assert!(editor(&a).asking);
    assert!(text(&render(&mut a)).contains("1 unsaved change will be lost."));
    a.update(key(KeyCode::Char('x')));
    assert!(editor(&a).asking, "a stray key neither leaves nor types");
    a.update(key(KeyCode::Esc));
    assert!(!editor(&a).asking);
    assert!(editor(&a).current().contains("half a thought"));
    a.update(key(KeyCode::Esc));
    a.update(key(KeyCode::Char('y')));
    assert!(a.overlay.is_none());
}

#[test]
fn a_stale_save_keeps_its_text_says_who_wrote_what_and_merges() {
    let mut a = app_with(after_the_fire(), 120, 30);
    a.update(key(KeyCode::Char('P')));
    type_text(&mut a, "Payments failed.");
    let effects = a.update(ctrl('s'));
    let [cmd] = &sent(&effects)[..] else { panic!("{effects:?}") };
    // Bob saved first: the server refuses, the stream then brings his revision.
    let theirs = Document {
        summary: "The PSP refused authorizations.".into(),
        well: vec!["paging reached the on-call in under a minute".into(), "the status page was quick".into()],
        ..Document::default()
    };
    let bobs = Intent::WritePostmortem { incident: IncidentId(1), document: theirs, base: Some(0) };
    let facts = a.state.decide(&bobs).unwrap();
    let refusal = Refusal {
        id: cmd.id,
        intent: cmd.intent.clone(),
        status: Some(409),
        detail: "INC-1's postmortem is at revision 1 (by bob), not 0: reload it and apply your changes again"
            .into(),
    };
    a.update(Msg::Refused(vec![refusal]));
    assert!(flash(&a).contains("NOT saved") && flash(&a).contains("Your text is kept"), "{}", flash(&a));
    for e in stamp(a.state.seq + 1, now(), "bob", UserRole::Commander, uuid::Uuid::new_v4(), facts) {
        a.update(Msg::Sync(SyncEvent::Event(e)));
    }
    let shown = text(&render(&mut a));
    assert!(shown.contains("NOT SAVED: bob saved revision 1 since you opened 0"), "{shown}");
    assert!(editor(&a).current().contains("Payments failed."), "your text is kept");
    // ctrl-s again is stopped here: merge first.
    assert!(a.update(ctrl('s')).is_empty());
    assert!(flash(&a).contains("merges it into your text first"), "{}", flash(&a));
    // Theirs in a reader, yours untouched behind it.
    a.update(ctrl('t'));
    let shown = text(&render(&mut a));
    assert!(
        shown.contains("revision 1 by bob (yours is kept)") && shown.contains("The PSP refused"),
        "{shown}"
    );
    a.update(key(KeyCode::Esc));
    assert!(editor(&a).theirs.is_none());
    // Merged: his new item comes in, the two summaries clash and are marked.
    a.update(ctrl('l'));
    let merged = editor(&a).current();
    assert!(merged.contains("- the status page was quick"), "{merged}");
    // (The draft's summary was its blank line, which the typing filled; theirs kept one.)
    let clash = "<<<<<<< yours\nPayments failed.\n=======\nThe PSP refused authorizations.\n\n>>>>>>> revision 1 (bob)\n";
    assert!(merged.contains(clash), "{merged}");
    assert!(flash(&a).contains("1 clash(es) marked"), "{}", flash(&a));
    assert!(a.update(ctrl('s')).is_empty(), "a marked clash is not saved");
    assert!(editor(&a).error.as_deref().unwrap().contains("merge clash"));
    // Resolved by hand: saved from revision 1.
    let resolved = merged.replace(clash, "The PSP refused authorizations: payments failed.\n\n");
    let theme = a.theme.clone();
    if let Some(Overlay::Postmortem(e)) = &mut a.overlay {
        e.replace(&resolved, &theme);
    }
    let effects = a.update(ctrl('s'));
    let [cmd] = &sent(&effects)[..] else { panic!("{effects:?}") };
    assert!(matches!(cmd.intent, Intent::WritePostmortem { base: Some(1), .. }), "{:?}", cmd.intent);
}

#[test]
fn an_editor_left_while_saving_comes_back_with_its_text_when_the_save_is_refused() {
    let mut a = app_with(after_the_fire(), 80, 24);
    a.update(key(KeyCode::Char('P')));
    type_text(&mut a, "Payments failed.");
    let effects = a.update(ctrl('s'));
    let [cmd] = &sent(&effects)[..] else { panic!("{effects:?}") };
    a.update(key(KeyCode::Esc));
    assert!(a.overlay.is_none(), "nothing unsaved: the save is on its way");
    assert!(flash(&a).contains("saving in the background; P reopens it"), "{}", flash(&a));
    a.update(Msg::Refused(vec![Refusal {
        id: cmd.id,
        intent: cmd.intent.clone(),
        status: Some(400),
        detail: "summary: must not be empty (400 invalid)".into(),
    }]));
    let e = editor(&a);
    assert!(e.current().contains("Payments failed.") && e.refused.is_some(), "back, text and all");
    assert!(text(&render(&mut a)).contains("notes · NOT SAVED — summary"));
}

#[test]
fn closing_refused_for_want_of_a_postmortem_offers_to_write_it() {
    let mut a = app_with(after_the_fire(), 80, 24);
    let close = Intent::SetStatus { incident: IncidentId(1), status: Status::Closed, reason: None };
    a.update(Msg::Refused(vec![Refusal {
        id: uuid::Uuid::new_v4(),
        intent: close,
        status: Some(409),
        detail: "INC-1 is a SEV1 incident: write its postmortem before closing it as resolved".into(),
    }]));
    assert!(flash(&a).contains("write its postmortem before closing it"), "{}", flash(&a));
    let Some(Overlay::Menu(menu)) = &a.overlay else { panic!("{:?}", a.overlay) };
    assert_eq!(
        menu.items[0],
        ("write its postmortem now (P)".to_string(), MenuPick::Postmortem(IncidentId(1)))
    );
    a.update(key(KeyCode::Enter));
    assert_eq!(editor(&a).incident, IncidentId(1));
    // The other way out: a reason that is not "resolved".
    a.update(key(KeyCode::Esc));
    a.update(Msg::Refused(vec![Refusal {
        id: uuid::Uuid::new_v4(),
        intent: Intent::SetStatus { incident: IncidentId(1), status: Status::Closed, reason: None },
        status: Some(409),
        detail: "INC-1 is a SEV1 incident: write its postmortem before closing it as resolved".into(),
    }]));
    a.update(key(KeyCode::Char('2')));
    let Some(Overlay::Menu(menu)) = &a.overlay else { panic!("{:?}", a.overlay) };
    let labels: Vec<&str> = menu.items.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["duplicate", "false_positive", "cancelled"]);
}

#[test]
fn a_closed_incident_held_as_a_summary_is_fetched_before_its_draft_opens() {
    let mut full = after_the_fire();
    play(
        &mut full,
        60,
        "alice",
        Intent::SetStatus {
            incident: IncidentId(1),
            status: Status::Closed,
            reason: Some("duplicate".into()),
        },
    );
    let windowed = full.clone().windowed(warroom::model::window::Window::Summaries);
    assert!(!windowed.incidents[&IncidentId(1)].is_full());
    let mut a = app_with(windowed, 80, 24);
    // Being looked at, it is fetched anyway; P waits for it.
    let effects = a.update(key(KeyCode::Char('P')));
    assert!(a.overlay.is_none());
    assert!(a.fetching.contains(&IncidentId(1)), "{effects:?}");
    assert!(flash(&a).contains("fetching INC-1 in full for its notes"), "{}", flash(&a));
    let incident = full.incidents[&IncidentId(1)].as_ref().clone();
    a.update(Msg::Fetched(Box::new(warroom::protocol::FullIncident {
        log: uuid::Uuid::nil(),
        seq: full.seq,
        incident,
    })));
    assert!(editor(&a).current().contains("- paging reached the on-call in under a minute"));
}

#[test]
fn e_hands_the_text_to_the_editor_and_saves_what_comes_back() {
    let mut a = app_with(after_the_fire(), 80, 24);
    let effects = a.update(key(KeyCode::Char('E')));
    let [Effect::Edit(request)] = &effects[..] else { panic!("{effects:?}") };
    assert_eq!((request.incident, request.base), (IncidentId(1), 0));
    assert!(request.text.contains("## Summary") && request.text.contains("- paging reached"));
    let request: ExternalEdit = (**request).clone();
    // The editor failed: said, with the file kept; nothing opens or is sent.
    let failed = Edited {
        request: request.clone(),
        outcome: Err("`vi` ended with exit status: 1; nothing saved, your text is in /tmp/x.md".into()),
    };
    assert!(a.update(Msg::Edited(Box::new(failed))).is_empty());
    assert!(flash(&a).contains("your text is in /tmp/x.md") && a.overlay.is_none());
    // Unchanged: nothing saved.
    let same = Edited { request: request.clone(), outcome: Ok(request.text.clone()) };
    assert!(a.update(Msg::Edited(Box::new(same))).is_empty());
    assert!(flash(&a).contains("nothing changed"), "{}", flash(&a));
    // Edited: saved from the revision it started at, shown in the editor pane.
    let text = request.text.replace("## Summary\n", "## Summary\nWritten in vi.\n");
    let effects = a.update(Msg::Edited(Box::new(Edited { request, outcome: Ok(text) })));
    let [cmd] = &sent(&effects)[..] else { panic!("{effects:?}") };
    assert!(
        matches!(&cmd.intent, Intent::WritePostmortem { base: Some(0), document, .. } if document.summary == "Written in vi.")
    );
    assert!(editor(&a).saving.is_some());
}

#[test]
fn help_and_completion_know_the_new_keys_and_verbs() {
    let mut a = app_with(with_items(), 80, 24);
    a.update(key(KeyCode::Char('?')));
    let help: Vec<String> = warroom::tui::panes::overlay::help_lines(&a)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    let has = |needle: &str| help.iter().any(|l| l.contains(needle));
    assert!(has("write or edit the incident's postmortem"), "{help:#?}");
    assert!(has("postmortem editor") && has("merge your text"), "{help:#?}");
    assert!(has(":action add TITLE @OWNER") && has(":actions [--open]"), "{help:#?}");
    a.update(key(KeyCode::Esc));
    a.selected = Some(IncidentId(1));
    a.update(key(KeyCode::Char(':')));
    type_text(&mut a, "action done ");
    a.update(key(KeyCode::Tab));
    let Some(Overlay::Command(line)) = &a.overlay else { panic!() };
    assert_eq!(line.candidates, ["1", "2"], "the open items of the selected incident");
}

/// A console against a real server, run the way `tui::run` runs it: effects through a real
/// outbox, flushes turned into messages by the same function, the stream followed.
struct Console {
    app: App,
    client: warroom::client::Client,
    outbox: warroom::client::outbox::Outbox,
    rx: tokio::sync::mpsc::Receiver<Msg>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Console {
    async fn open(server: &common::TestServer, role: UserRole) -> Console {
        let client = server.client(role);
        let dir = tempfile::tempdir().unwrap();
        let outbox = warroom::client::outbox::Outbox::open(dir.path(), &client);
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let (sync_tx, mut sync_rx) = tokio::sync::mpsc::channel(4096);
        let mut tasks = vec![tokio::spawn(warroom::client::sync::follow(client.clone(), sync_tx))];
        let (t, ob) = (tx.clone(), outbox.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(ev) = sync_rx.recv().await {
                if let SyncEvent::Snapshot(snap) = &ev {
                    ob.reached(Some(snap.log), None).unwrap();
                }
                if t.send(Msg::Sync(ev)).await.is_err() {
                    return;
                }
            }
        }));
        let me = client.whoami().await.unwrap();
        outbox.reached(None, Some(&me.name)).unwrap();
        let library = client.library().await.unwrap();
        let themes = Themes::presets();
        let theme = themes.get("default").unwrap().clone();
        let mut app = App::new(&server.url, Keymap::default(), themes, theme, Utc::now());
        app.update(Msg::Resize(120, 36));
        app.update(Msg::Me(me));
        app.update(Msg::Library(library));
        Console { app, client, outbox, rx, tasks, _dir: dir }
    }

    /// Handles `effects` as the runner does: sends through the outbox (flushed at once),
    /// fetches incidents.
    async fn run(&mut self, effects: Vec<Effect>) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.pop_front() {
            let msgs = match effect {
                Effect::Send(cmd) => {
                    self.outbox.push(&cmd).unwrap();
                    warroom::tui::flushed_msgs(self.outbox.flush(&self.client).await.unwrap())
                }
                Effect::Fetch(id) => vec![Msg::Fetched(Box::new(self.client.incident(id).await.unwrap()))],
                _ => vec![],
            };
            for m in msgs {
                queue.extend(self.app.update(m));
            }
        }
    }

    async fn press(&mut self, msg: Msg) {
        let effects = self.app.update(msg);
        self.run(effects).await;
    }

    async fn type_text(&mut self, s: &str) {
        for c in s.chars() {
            self.press(key(KeyCode::Char(c))).await;
        }
    }

    /// Takes what the server sent until `cond` holds.
    async fn until(&mut self, what: &str, cond: impl Fn(&App) -> bool) {
        let deadline = std::time::Instant::now() + common::DEADLINE;
        // As the runner does before each frame: the list (and so the selection) is rebuilt.
        self.app.prepare();
        while !cond(&self.app) {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            if let Ok(Some(m)) =
                tokio::time::timeout(std::time::Duration::from_millis(100), self.rx.recv()).await
            {
                let effects = self.app.update(m);
                self.run(effects).await;
                self.app.prepare();
            }
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_save_is_revision_1_and_a_second_consoles_stale_save_is_refused_and_kept() {
    let server = common::TestServer::start().await;
    let admin = server.client(UserRole::Commander);
    for intent in [
        declare("Checkout returns 502 for card payments", Severity::Sev1),
        note(1, "#well paging reached the on-call in under a minute"),
        note(1, "the rollback took 25 minutes #badly"),
        Intent::SetStatus { incident: IncidentId(1), status: Status::Postmortem, reason: None },
    ] {
        admin.send(&warroom::protocol::Command::new(intent)).await.unwrap();
    }
    let mut alice = Console::open(&server, UserRole::Commander).await;
    let mut bob = Console::open(&server, UserRole::Responder).await;
    for c in [&mut alice, &mut bob] {
        c.until("INC-1 at its postmortem", |a| {
            a.selected == Some(IncidentId(1))
                && a.state.incidents.get(&IncidentId(1)).is_some_and(|i| i.status == Status::Postmortem)
        })
        .await;
    }

    // Closing it as resolved is refused by the server, and P is offered right there.
    alice.press(key(KeyCode::Char(':'))).await;
    alice.type_text("status closed").await;
    alice.press(key(KeyCode::Enter)).await;
    let Some(Overlay::Menu(menu)) = &alice.app.overlay else {
        panic!("{:?} {}", alice.app.overlay, flash(&alice.app))
    };
    assert_eq!(menu.items[0].1, MenuPick::Postmortem(IncidentId(1)));
    assert!(
        flash(&alice.app).contains("write its postmortem before closing it as resolved"),
        "{}",
        flash(&alice.app)
    );
    alice.press(key(KeyCode::Esc)).await;

    // Both open the draft; bob stops reading the stream while alice saves.
    alice.press(key(KeyCode::Char('P'))).await;
    bob.press(key(KeyCode::Char('P'))).await;
    assert_eq!(editor(&bob.app).base, 0);
    alice.type_text("Card payments failed for 12 minutes.").await;
    alice.press(ctrl('s')).await;
    alice
        .until(
            "alice's revision 1 saved",
            |a| matches!(&a.overlay, Some(Overlay::Postmortem(e)) if e.base == 1 && e.saving.is_none()),
        )
        .await;
    assert!(text(&render(&mut alice.app)).contains("revision 1 by alice · saved"));
    let pm = admin.snapshot().await.unwrap().state.incidents[&IncidentId(1)].postmortem.clone().unwrap();
    assert_eq!((pm.revision(), pm.document.summary.as_str()), (1, "Card payments failed for 12 minutes."));

    bob.type_text("The PSP refused authorizations.").await;
    bob.press(ctrl('s')).await;
    let e = editor(&bob.app);
    assert!(
        e.refused.as_deref().is_some_and(|r| r.contains("at revision 1 (by alice), not 0")),
        "{:?}",
        e.refused
    );
    assert!(e.current().contains("The PSP refused authorizations."), "bob's text is kept");
    bob.until(
        "alice's revision reaching bob",
        |a| matches!(&a.overlay, Some(Overlay::Postmortem(e)) if e.newer.is_some()),
    )
    .await;
    assert!(text(&render(&mut bob.app)).contains("NOT SAVED: alice saved revision 1 since you opened 0"));
    let events = common::all_events(&admin).await;
    let written: Vec<u32> = events
        .iter()
        .filter_map(|e| match &e.fact {
            Fact::PostmortemWritten { revision, .. } => Some(*revision),
            _ => None,
        })
        .collect();
    assert_eq!(written, [1], "the stale save wrote nothing");
}
