//! Reading a console frame drawn on ratatui's `TestBackend`: its text, and where a needle is;
//! building the state a console shows, as the server's writer would.
#![allow(dead_code)]

use ratatui::buffer::Buffer;

/// The frame's rows, each trimmed at the end, one a line.
pub fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first cell whose row contains `needle`, at the needle's column.
pub fn find(buf: &Buffer, needle: &str) -> (u16, u16) {
    for y in 0..buf.area.height {
        let row: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        if let Some(byte) = row.find(needle) {
            return (row[..byte].chars().count() as u16, y);
        }
    }
    panic!("`{needle}` not on screen:\n{}", text(buf));
}

/// Who a test console is and what it shows: logged in, online, and synced to a state, as the
/// runner leaves a console before its first draw.
pub struct Setup<'a> {
    pub who: &'a str,
    pub role: warroom::model::UserRole,
    pub size: (u16, u16),
    pub now: chrono::DateTime<chrono::Utc>,
    pub theme: &'a str,
    /// The server's library, when the test needs its playbooks or scenarios.
    pub library: Option<warroom::protocol::Loaded>,
}

impl Setup<'_> {
    /// Alice, a commander, at `now`, on an 80×24 terminal in the default theme.
    pub fn alice(now: chrono::DateTime<chrono::Utc>) -> Setup<'static> {
        Setup {
            who: "alice",
            role: warroom::model::UserRole::Commander,
            size: (80, 24),
            now,
            theme: "default",
            library: None,
        }
    }
}

/// A console set up as `setup` says, holding `state`.
pub fn console(state: warroom::model::State, setup: Setup) -> warroom::tui::app::App {
    use warroom::client::sync::SyncEvent;
    use warroom::tui::app::Msg;
    let themes = warroom::tui::theme::Themes::presets();
    let theme = themes.get(setup.theme).expect("a preset theme").clone();
    let mut app = warroom::tui::app::App::new(
        "http://127.0.0.1:7800",
        warroom::tui::keymap::Keymap::default(),
        themes,
        theme,
        setup.now,
    );
    app.update(Msg::Resize(setup.size.0, setup.size.1));
    app.update(Msg::Me(warroom::protocol::Whoami { name: setup.who.into(), role: setup.role }));
    if let Some(library) = setup.library {
        app.update(Msg::Library(library));
    }
    app.update(Msg::Sync(SyncEvent::Online));
    let seq = state.seq;
    app.update(Msg::Sync(SyncEvent::Snapshot(warroom::protocol::Snapshot {
        log: uuid::Uuid::nil(),
        seq,
        state,
        probes: Vec::new(),
    })));
    app.prepare();
    app
}

/// Decides `intent` as `actor` (of `role`) at `now` against `library` and applies its events,
/// as the server's writer does; a refusal panics naming the intent. The events applied.
pub fn play(
    s: &mut warroom::model::State,
    library: &warroom::model::Library,
    now: chrono::DateTime<chrono::Utc>,
    actor: &str,
    role: warroom::model::UserRole,
    intent: &warroom::model::Intent,
) -> Vec<warroom::model::Event> {
    let cx = warroom::model::Context { library, now, command_id: uuid::Uuid::nil(), role, actor };
    let facts = s.decide_with(intent, &cx).unwrap_or_else(|e| panic!("{}: {e}", intent.kind()));
    let events = warroom::model::stamp(s.seq + 1, now, actor, role, uuid::Uuid::nil(), facts);
    for e in &events {
        s.apply(e);
    }
    events
}
