//! The console's state and its one entry point, `update(msg) -> effects`: synchronous and
//! pure (time arrives in messages), so every behaviour is testable without a terminal.
//! Only the effect runner in `tui::run` touches the network or the outbox.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::command::{self, Parsed};
use super::form::{Form, FormOutcome, Menu, MenuPick};
use super::keymap::{Action, Key, Keymap, Scope};
use super::layout::{layout, list_rows, Areas};
use super::theme::{Theme, Themes};
use crate::client::sync::SyncEvent;
use crate::model::incident::{transition_rule, TransitionRule};
use crate::model::{ClosureReason, Fact, IncidentId, Intent, Role, Severity, State, UserRole};
use crate::protocol::{Command, Whoami};

/// Everything that can happen to the console.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    Resize(u16, u16),
    /// The 1 Hz clock: ages and flash expiry.
    Tick(DateTime<Utc>),
    Sync(SyncEvent),
    Me(Whoami),
    /// The server's playbooks and channels.
    Library(crate::protocol::Loaded),
    /// Commands waiting in the outbox.
    Queued(usize),
    /// Something the user should know went wrong.
    Error(String),
    /// Leave now (a signal): whatever is open.
    Quit,
    Flushed {
        sent: usize,
        refused: Vec<String>,
        remaining: usize,
        stopped: Option<String>,
    },
}

/// What `update` asks the runner to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Command),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Incidents,
    Detail,
    Playbook,
    Health,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Incidents, Pane::Detail, Pane::Playbook, Pane::Health];

    pub fn scope(self) -> Scope {
        match self {
            Pane::Incidents => Scope::Incidents,
            Pane::Detail => Scope::Detail,
            Pane::Playbook => Scope::Playbook,
            Pane::Health => Scope::Health,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    pub level: Level,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub online: bool,
    /// When the current state (online or offline) began.
    pub since: Option<DateTime<Utc>>,
    /// The last time anything arrived from the server.
    pub last_sync: Option<DateTime<Utc>>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandLine {
    pub input: String,
    pub history_pos: Option<usize>,
    pub candidates: Vec<String>,
}

#[derive(Debug)]
pub enum Overlay {
    Help { scroll: u16 },
    Command(CommandLine),
    Form(Box<Form>),
    Menu(Menu),
}

/// Where the timeline is scrolled: following the newest entry, or held `offset` entries up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineView {
    pub follow: bool,
    pub offset: usize,
}

pub struct App {
    pub state: State,
    pub now: DateTime<Utc>,
    pub server: String,
    pub me: Option<Whoami>,
    pub conn: Connection,
    pub queued: usize,
    pub flash: Option<Flash>,
    pub focus: Pane,
    pub zoom: bool,
    pub selected: Option<IncidentId>,
    pub filter: String,
    pub filter_editing: bool,
    /// Incident ids in display order after the filter; rebuilt by `prepare`.
    pub list: Vec<IncidentId>,
    pub list_offset: usize,
    list_stale: bool,
    pub timeline: TimelineView,
    pub absolute_time: bool,
    pub overlay: Option<Overlay>,
    pub keymap: Keymap,
    pub themes: Themes,
    pub theme: Theme,
    pub size: Rect,
    pub history: Vec<String>,
    pub library: Option<crate::protocol::Loaded>,
    /// Probe definitions and recent samples (telemetry, from the snapshot and the stream).
    pub probes: Vec<crate::protocol::ProbeView>,
    /// The selected probe in the health pane.
    pub probe: usize,
    /// The selected step in the playbook pane.
    pub step: usize,
    /// Something visible changed since the last draw.
    pub dirty: bool,
}

const FLASH_SECS: i64 = 6;

impl App {
    pub fn new(server: &str, keymap: Keymap, themes: Themes, theme: Theme, now: DateTime<Utc>) -> App {
        App {
            state: State::default(),
            now,
            server: server.to_string(),
            me: None,
            conn: Connection {
                online: false,
                since: None,
                last_sync: None,
                problem: Some("connecting…".into()),
            },
            queued: 0,
            flash: None,
            focus: Pane::Incidents,
            zoom: false,
            selected: None,
            filter: String::new(),
            filter_editing: false,
            list: Vec::new(),
            list_offset: 0,
            list_stale: true,
            timeline: TimelineView { follow: true, offset: 0 },
            absolute_time: false,
            overlay: None,
            keymap,
            themes,
            theme,
            size: Rect::new(0, 0, 80, 24),
            history: Vec::new(),
            library: None,
            probes: Vec::new(),
            probe: 0,
            step: 0,
            dirty: true,
        }
    }

    pub fn areas(&self) -> Areas {
        layout(self.size, self.focus, self.zoom, self.probes.len())
    }

    /// Brings derived view data up to date; the runner calls it once before each draw.
    pub fn prepare(&mut self) {
        if self.list_stale {
            self.list_stale = false;
            let needle = self.filter.to_lowercase();
            self.list = self
                .state
                .incidents_by_priority()
                .into_iter()
                .filter(|i| needle.is_empty() || matches_filter(i, &needle))
                .map(|i| i.id)
                .collect();
            if self.selected.is_none_or(|s| !self.list.contains(&s)) {
                self.select(self.list.first().copied());
            }
        }
        let rows = self.areas().incidents.map_or(1, list_rows).max(1);
        if let Some(pos) = self.selected_pos() {
            if pos < self.list_offset {
                self.list_offset = pos;
            } else if pos >= self.list_offset + rows {
                self.list_offset = pos + 1 - rows;
            }
        }
        self.list_offset = self.list_offset.min(self.list.len().saturating_sub(rows));
    }

    pub fn selected_pos(&self) -> Option<usize> {
        self.selected.and_then(|s| self.list.iter().position(|i| *i == s))
    }

    fn select(&mut self, id: Option<IncidentId>) {
        if self.selected != id {
            self.selected = id;
            self.timeline = TimelineView { follow: true, offset: 0 };
            self.step = 0;
        }
    }

    pub fn selected_incident(&self) -> Option<&crate::model::Incident> {
        self.selected.and_then(|id| self.state.incidents.get(&id))
    }

    /// The step under the cursor in the playbook pane.
    pub fn selected_step(&self) -> Option<&crate::model::comms::StepState> {
        self.selected_incident()?.checklist.as_ref()?.steps.get(self.step)
    }

    fn status_page_url(&self) -> String {
        self.library.as_ref().map(|l| l.library.status_page_url.clone()).unwrap_or_default()
    }

    /// Opens the message form for a channel, prefilled with the step's rendered template.
    fn compose(&mut self, channel: String, step: Option<String>) {
        let Some(inc) = self.selected_incident() else {
            self.flash(Level::Warn, "select an incident first");
            return;
        };
        let id = inc.id;
        let text = step
            .as_ref()
            .and_then(|s| inc.checklist.as_ref()?.step(s))
            .and_then(|s| crate::model::comms::render_step(inc, &s.step, &self.status_page_url(), self.now))
            .unwrap_or_default();
        let probe =
            Intent::SendMessage { incident: id, channel: channel.clone(), text: String::new(), step: None };
        if self.guard(&probe) {
            self.overlay =
                Some(Overlay::Form(Box::new(Form::message(id, channel, step, &text, &self.theme))));
        }
    }

    pub fn flash(&mut self, level: Level, text: impl Into<String>) {
        self.flash =
            Some(Flash { text: text.into(), level, until: self.now + chrono::Duration::seconds(FLASH_SECS) });
    }

    fn may(&self, intent: &Intent) -> bool {
        self.me.as_ref().is_none_or(|me| me.role.may(intent))
    }

    fn role(&self) -> Option<UserRole> {
        self.me.as_ref().map(|m| m.role)
    }

    /// Sends an intent, or explains why it would be refused.
    fn send(&mut self, intent: Intent) -> Vec<Effect> {
        if !self.may(&intent) {
            let role = self.role().map_or("this role".into(), |r| r.to_string());
            self.flash(Level::Error, format!("{role} may not {}", intent.kind().replace('_', " ")));
            return vec![];
        }
        if !self.conn.online {
            self.flash(
                Level::Warn,
                format!("offline: {} queued, sent when the server is back", intent.kind().replace('_', " ")),
            );
        }
        vec![Effect::Send(Command::new(intent))]
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        // Probe samples stream constantly (a thousand probes: ~200 a second); they are shown
        // with the next 1 Hz tick instead of costing a frame each.
        if let Msg::Sync(SyncEvent::Sample(sample)) = msg {
            self.on_sync(SyncEvent::Sample(sample));
            return vec![];
        }
        self.dirty = true;
        match msg {
            Msg::Key(key) => self.on_key(key),
            Msg::Mouse(m) => {
                self.on_mouse(m);
                vec![]
            }
            Msg::Paste(text) => {
                self.on_paste(&text);
                vec![]
            }
            Msg::Resize(w, h) => {
                self.size = Rect::new(0, 0, w, h);
                vec![]
            }
            Msg::Tick(now) => {
                self.now = now;
                if self.flash.as_ref().is_some_and(|f| f.until <= now) {
                    self.flash = None;
                }
                vec![]
            }
            Msg::Sync(ev) => {
                self.on_sync(ev);
                vec![]
            }
            Msg::Me(me) => {
                self.me = Some(me);
                vec![]
            }
            Msg::Library(lib) => {
                self.library = Some(lib);
                vec![]
            }
            Msg::Queued(n) => {
                self.queued = n;
                vec![]
            }
            Msg::Quit => vec![Effect::Quit],
            Msg::Error(e) => {
                self.flash(Level::Error, e);
                vec![]
            }
            Msg::Flushed { sent: _, refused, remaining, stopped } => {
                self.queued = remaining;
                if let Some(why) = refused.into_iter().next() {
                    self.flash(Level::Error, format!("refused: {why}"));
                } else if let (Some(why), true) = (stopped, remaining > 0) {
                    self.conn.problem = Some(why);
                }
                vec![]
            }
        }
    }

    fn on_sync(&mut self, ev: SyncEvent) {
        match ev {
            SyncEvent::Snapshot(snap) => {
                self.state = snap.state;
                self.probes = snap.probes;
                self.conn.last_sync = Some(self.now);
                self.list_stale = true;
            }
            SyncEvent::Event(e) => {
                let affects_selected = e.fact.incident().is_some() && e.fact.incident() == self.selected;
                if let Fact::IncidentDeclared { incident, .. } = &e.fact {
                    // Your own declaration opens itself: you will want to act on it next.
                    if self.me.as_ref().is_some_and(|m| m.name == e.actor) {
                        self.selected = Some(*incident);
                        self.timeline = TimelineView { follow: true, offset: 0 };
                    }
                }
                self.state.apply(&e);
                self.conn.last_sync = Some(self.now);
                self.list_stale = true;
                if affects_selected && !self.timeline.follow {
                    // Keep the lines the reader is looking at where they are.
                    self.timeline.offset += 1;
                }
            }
            SyncEvent::Online => {
                if !self.conn.online {
                    self.conn = Connection {
                        online: true,
                        since: Some(self.now),
                        last_sync: Some(self.now),
                        problem: None,
                    };
                }
            }
            SyncEvent::Heartbeat => self.conn.last_sync = Some(self.now),
            SyncEvent::Sample(sample) => {
                if let Some(p) = self.probes.iter_mut().find(|p| p.name == sample.probe) {
                    // Sparklines need only the recent ones; uptime comes with each sample.
                    if p.samples.len() >= crate::protocol::SNAPSHOT_SAMPLES {
                        p.samples.remove(0);
                    }
                    p.samples.push(sample);
                }
            }
            SyncEvent::Offline(why) => {
                if self.conn.online || self.conn.since.is_none() {
                    self.conn.since = Some(self.now);
                }
                self.conn.online = false;
                self.conn.problem = Some(why);
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind != crossterm::event::KeyEventKind::Press {
            return vec![];
        }
        if key.code == KeyCode::Char('c')
            && key.modifiers.contains(KeyModifiers::CONTROL)
            && self.overlay.is_none()
        {
            return vec![Effect::Quit];
        }
        if let Some(overlay) = self.overlay.take() {
            return self.on_overlay_key(overlay, key);
        }
        if self.filter_editing {
            self.on_filter_key(key);
            return vec![];
        }
        match Key::from_event(&key).and_then(|k| self.keymap.lookup(self.focus.scope(), k)) {
            Some(action) => self.on_action(action),
            None => vec![],
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Enter => self.filter_editing = false,
            KeyCode::Esc => {
                self.filter_editing = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => self.filter.push(c),
            _ => {}
        }
        self.list_stale = true;
    }

    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let selected = self.selected;
        match action {
            Action::Quit => return vec![Effect::Quit],
            Action::Help => self.overlay = Some(Overlay::Help { scroll: 0 }),
            Action::CommandLine => self.overlay = Some(Overlay::Command(CommandLine::default())),
            Action::Filter => {
                self.focus = Pane::Incidents;
                self.filter_editing = true;
            }
            Action::NextPane | Action::PrevPane => {
                let i = Pane::ALL.iter().position(|p| *p == self.focus).unwrap_or(0);
                let n = Pane::ALL.len();
                let next = if action == Action::NextPane { (i + 1) % n } else { (i + n - 1) % n };
                self.focus = Pane::ALL[next];
            }
            Action::Down => self.move_by(1),
            Action::Up => self.move_by(-1),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::Top => self.move_to_end(false),
            Action::Bottom => self.move_to_end(true),
            Action::Open => {
                if selected.is_some() {
                    self.focus = Pane::Detail;
                }
            }
            Action::Back => {
                if self.zoom {
                    self.zoom = false;
                } else if self.focus != Pane::Incidents {
                    self.focus = Pane::Incidents;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                    self.list_stale = true;
                }
            }
            Action::Zoom => self.zoom = !self.zoom,
            Action::ToggleTime => self.absolute_time = !self.absolute_time,
            Action::Declare => {
                let probe = Intent::DeclareIncident {
                    title: String::new(),
                    severity: Severity::Sev1,
                    impact: String::new(),
                    drill: false,
                    services: Vec::new(),
                    private: false,
                };
                if self.guard(&probe) {
                    self.overlay = Some(Overlay::Form(Box::new(Form::declare(&self.theme))));
                }
            }
            Action::DeclareFromProbe => {
                let Some(p) = self.probes.get(self.probe) else {
                    self.flash(Level::Warn, "no probe selected");
                    return vec![];
                };
                let name = p.name.clone();
                let severity = p.auto_declare.unwrap_or(Severity::Sev3);
                let state = self.state.probes.get(&name);
                let health = state.map_or(crate::model::probe::Health::Unknown, |s| s.health);
                let impact = state.map(|s| s.failed.join("; ")).unwrap_or_default();
                let probe = Intent::DeclareIncident {
                    title: String::new(),
                    severity,
                    impact: String::new(),
                    drill: false,
                    services: Vec::new(),
                    private: false,
                };
                if self.guard(&probe) {
                    let title = format!("{name} is {health}");
                    let form = Form::declare_prefilled(&self.theme, &title, severity, &impact, vec![name]);
                    self.overlay = Some(Overlay::Form(Box::new(form)));
                }
            }
            Action::Tick => {
                let (Some(id), Some(s)) = (selected, self.selected_step()) else {
                    self.flash(Level::Warn, "no step selected: attach a playbook with p");
                    return vec![];
                };
                let step = s.step.id.clone();
                let intent = if s.ticked.is_some() {
                    Intent::UntickStep { incident: id, step }
                } else {
                    Intent::TickStep { incident: id, step }
                };
                return self.send(intent);
            }
            Action::Compose => {
                let Some(s) = self.selected_step() else {
                    self.flash(Level::Warn, "no step selected");
                    return vec![];
                };
                match s.step.channel.clone() {
                    Some(channel) => {
                        let step = Some(s.step.id.clone());
                        self.compose(channel, step);
                    }
                    None => self.flash(Level::Warn, "this step has no channel: use :send <channel>"),
                }
            }
            Action::AttachPlaybook => {
                let Some(id) = selected else {
                    self.flash(Level::Warn, "select an incident first");
                    return vec![];
                };
                let Some(lib) = &self.library else {
                    self.flash(Level::Warn, "the playbook library has not loaded yet");
                    return vec![];
                };
                let items = lib
                    .library
                    .playbooks
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (format!("{} — {}", p.id, p.title), MenuPick::Playbook(id, i)))
                    .collect();
                let probe = Intent::AttachPlaybook { incident: id, playbook: String::new() };
                if self.guard(&probe) {
                    self.overlay = Some(Overlay::Menu(Menu::new(format!("{id}: playbook"), items)));
                }
            }
            Action::Note | Action::Status | Action::Severity | Action::Assign => {
                let Some(id) = selected else {
                    self.flash(Level::Warn, "select an incident first");
                    return vec![];
                };
                let Some(inc) = self.state.incidents.get(&id) else { return vec![] };
                // Copy what the menus need: `guard` may flash, which borrows `self`.
                let (status, severity, roles) = (inc.status, inc.severity, inc.roles.clone());
                match action {
                    Action::Note => {
                        if self.guard(&Intent::AddNote { incident: id, text: String::new() }) {
                            self.overlay = Some(Overlay::Form(Box::new(Form::note(id, &self.theme))));
                        }
                    }
                    Action::Status => {
                        let choices = status.next_choices();
                        if choices.is_empty() {
                            self.flash(Level::Warn, format!("{id} is {status}: no further status"));
                        } else if self.guard(&Intent::SetStatus {
                            incident: id,
                            status: choices[0],
                            reason: None,
                        }) {
                            let items = choices
                                .into_iter()
                                .map(|s| (s.to_string(), MenuPick::Status(id, s)))
                                .collect();
                            self.overlay = Some(Overlay::Menu(Menu::new(format!("{id}: {status} →"), items)));
                        }
                    }
                    Action::Severity => {
                        if self.guard(&Intent::SetSeverity { incident: id, severity }) {
                            let items = Severity::ALL
                                .iter()
                                .map(|s| {
                                    let mark = if *s == severity { " (now)" } else { "" };
                                    (format!("{s}{mark}"), MenuPick::Severity(id, *s))
                                })
                                .collect();
                            let mut menu = Menu::new(format!("{id}: severity"), items);
                            menu.selected = severity as usize;
                            self.overlay = Some(Overlay::Menu(menu));
                        }
                    }
                    _ => {
                        let probe =
                            Intent::AssignRole { incident: id, role: Role::Scribe, person: String::new() };
                        if self.guard(&probe) {
                            let items = Role::ALL
                                .iter()
                                .map(|r| {
                                    let holder = roles.get(r).map(|p| format!("  ({p})")).unwrap_or_default();
                                    (format!("{r}{holder}"), MenuPick::Role(id, *r))
                                })
                                .collect();
                            self.overlay =
                                Some(Overlay::Menu(Menu::new(format!("{id}: assign role"), items)));
                        }
                    }
                }
            }
        }
        vec![]
    }

    /// True when the user's role may do this; otherwise says so.
    fn guard(&mut self, intent: &Intent) -> bool {
        if self.may(intent) {
            return true;
        }
        let role = self.role().map_or("this role".into(), |r| r.to_string());
        self.flash(Level::Error, format!("{role} may not {}", intent.kind().replace('_', " ")));
        false
    }

    fn page(&self) -> usize {
        match self.focus {
            Pane::Incidents => self.areas().incidents.map_or(10, list_rows),
            Pane::Detail => self.areas().detail.map_or(10, |a| a.height as usize / 2),
            Pane::Playbook => self.areas().playbook.map_or(10, |a| a.height as usize / 2),
            Pane::Health => self.areas().health.map_or(10, |a| a.height as usize / 2),
        }
        .max(1)
    }

    fn move_by(&mut self, delta: isize) {
        match self.focus {
            Pane::Incidents => {
                if self.list.is_empty() {
                    return;
                }
                let pos = self.selected_pos().unwrap_or(0) as isize;
                let next = (pos + delta).clamp(0, self.list.len() as isize - 1) as usize;
                self.select(Some(self.list[next]));
            }
            Pane::Playbook => {
                let len =
                    self.selected_incident().and_then(|i| i.checklist.as_ref()).map_or(0, |l| l.steps.len());
                self.step = (self.step as isize + delta).clamp(0, len.saturating_sub(1) as isize) as usize;
            }
            Pane::Health => {
                let len = self.probes.len();
                self.probe = (self.probe as isize + delta).clamp(0, len.saturating_sub(1) as isize) as usize;
            }
            Pane::Detail => {
                let len =
                    self.selected.and_then(|s| self.state.incidents.get(&s)).map_or(0, |i| i.timeline.len());
                // Down moves towards the newest entry (offset 0).
                let offset =
                    (self.timeline.offset as isize - delta).clamp(0, len.saturating_sub(1) as isize) as usize;
                self.timeline = TimelineView { follow: offset == 0, offset };
            }
        }
    }

    fn move_to_end(&mut self, newest: bool) {
        match self.focus {
            Pane::Incidents => {
                let pick = if newest { self.list.last() } else { self.list.first() };
                self.select(pick.copied());
            }
            Pane::Playbook => {
                let len =
                    self.selected_incident().and_then(|i| i.checklist.as_ref()).map_or(0, |l| l.steps.len());
                self.step = if newest { len.saturating_sub(1) } else { 0 };
            }
            Pane::Health => self.probe = if newest { self.probes.len().saturating_sub(1) } else { 0 },
            Pane::Detail => {
                let len =
                    self.selected.and_then(|s| self.state.incidents.get(&s)).map_or(0, |i| i.timeline.len());
                self.timeline = if newest {
                    TimelineView { follow: true, offset: 0 }
                } else {
                    TimelineView { follow: false, offset: len.saturating_sub(1) }
                };
            }
        }
    }

    fn on_overlay_key(&mut self, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
        match overlay {
            Overlay::Help { scroll } => {
                match key.code {
                    KeyCode::Char('j') | KeyCode::Down => {
                        self.overlay = Some(Overlay::Help { scroll: scroll + 1 })
                    }
                    KeyCode::Char('k') | KeyCode::Up => {
                        self.overlay = Some(Overlay::Help { scroll: scroll.saturating_sub(1) })
                    }
                    _ => {} // any other key closes help
                }
                vec![]
            }
            Overlay::Command(line) => self.on_command_key(line, key),
            Overlay::Menu(mut menu) => match key.code {
                KeyCode::Esc | KeyCode::Char('q') => vec![],
                KeyCode::Char('j') | KeyCode::Down => {
                    menu.selected = (menu.selected + 1).min(menu.items.len().saturating_sub(1));
                    self.overlay = Some(Overlay::Menu(menu));
                    vec![]
                }
                KeyCode::Char('k') | KeyCode::Up => {
                    menu.selected = menu.selected.saturating_sub(1);
                    self.overlay = Some(Overlay::Menu(menu));
                    vec![]
                }
                KeyCode::Char(c) if c.is_ascii_digit() && c != '0' => {
                    let i = c as usize - '1' as usize;
                    if i < menu.items.len() {
                        menu.selected = i;
                        self.pick(menu.items[i].1)
                    } else {
                        self.overlay = Some(Overlay::Menu(menu));
                        vec![]
                    }
                }
                KeyCode::Enter | KeyCode::Char(' ') => match menu.items.get(menu.selected) {
                    Some((_, pick)) => self.pick(*pick),
                    None => vec![],
                },
                _ => {
                    self.overlay = Some(Overlay::Menu(menu));
                    vec![]
                }
            },
            Overlay::Form(mut form) => match form.on_key(key) {
                FormOutcome::Continue => {
                    self.overlay = Some(Overlay::Form(form));
                    vec![]
                }
                FormOutcome::Cancel => vec![],
                FormOutcome::Submit(intent) => self.send(intent),
            },
        }
    }

    /// A menu choice: either a command, or the next step of a flow.
    fn pick(&mut self, pick: MenuPick) -> Vec<Effect> {
        match pick {
            MenuPick::Status(id, status) => {
                let Some(inc) = self.state.incidents.get(&id) else { return vec![] };
                match transition_rule(inc.status, status) {
                    Some(TransitionRule::Reopen) => {
                        self.overlay = Some(Overlay::Form(Box::new(Form::reason(id, status, &self.theme))));
                        vec![]
                    }
                    Some(TransitionRule::CloseEarly) => {
                        let items = ClosureReason::ALL
                            .iter()
                            .filter(|c| !(**c == ClosureReason::Resolved && inc.severity.is_major()))
                            .map(|c| (c.to_string(), MenuPick::Close(id, *c)))
                            .collect();
                        let title = format!("{id}: close without postmortem, because…");
                        self.overlay = Some(Overlay::Menu(Menu::new(title, items)));
                        vec![]
                    }
                    _ => self.send(Intent::SetStatus { incident: id, status, reason: None }),
                }
            }
            MenuPick::Close(id, closure) => self.send(Intent::SetStatus {
                incident: id,
                status: crate::model::Status::Closed,
                reason: Some(closure.to_string()),
            }),
            MenuPick::Severity(id, severity) => {
                if self.state.incidents.get(&id).is_some_and(|i| i.severity == severity) {
                    return vec![];
                }
                self.send(Intent::SetSeverity { incident: id, severity })
            }
            MenuPick::Playbook(id, index) => {
                let Some(pb) = self.library.as_ref().and_then(|l| l.library.playbooks.get(index)) else {
                    return vec![];
                };
                let playbook = pb.id.clone();
                self.send(Intent::AttachPlaybook { incident: id, playbook })
            }
            MenuPick::Role(id, role) => {
                self.overlay = Some(Overlay::Form(Box::new(Form::assign(id, role, &self.theme))));
                vec![]
            }
        }
    }

    fn on_command_key(&mut self, mut line: CommandLine, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => return vec![],
            KeyCode::Enter => {
                let text = line.input.trim().to_string();
                if text.is_empty() {
                    return vec![];
                }
                if self.history.last() != Some(&text) {
                    self.history.push(text.clone());
                }
                return self.run_command(&text);
            }
            KeyCode::Tab => {
                let names: Vec<&str> = self.themes.names();
                let (new, candidates) = command::complete(&line.input, &names);
                line.input = new;
                line.candidates = candidates;
            }
            KeyCode::Up | KeyCode::Down if !self.history.is_empty() => {
                let last = self.history.len() - 1;
                let pos = match (line.history_pos, key.code) {
                    (None, KeyCode::Up) => Some(last),
                    (Some(p), KeyCode::Up) => Some(p.saturating_sub(1)),
                    (Some(p), _) if p < last => Some(p + 1),
                    _ => None,
                };
                line.history_pos = pos;
                line.input = pos.map(|p| self.history[p].clone()).unwrap_or_default();
            }
            KeyCode::Backspace => {
                if line.input.is_empty() {
                    return vec![];
                }
                line.input.pop();
                line.candidates.clear();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => line.input.clear(),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                line.input.push(c);
                line.candidates.clear();
            }
            _ => {}
        }
        self.overlay = Some(Overlay::Command(line));
        vec![]
    }

    pub fn run_command(&mut self, text: &str) -> Vec<Effect> {
        match command::parse(text, self.selected, self.now) {
            Err(e) => {
                self.flash(Level::Error, e);
                vec![]
            }
            Ok(Parsed::Intent(intent)) => self.send(intent),
            Ok(Parsed::Quit) => vec![Effect::Quit],
            Ok(Parsed::Help) => {
                self.overlay = Some(Overlay::Help { scroll: 0 });
                vec![]
            }
            Ok(Parsed::Theme(name)) => {
                match self.themes.get(&name) {
                    Some(t) => {
                        self.theme = t.clone();
                        self.flash(Level::Info, format!("theme {name}"));
                    }
                    None => self.flash(
                        Level::Error,
                        format!("no theme `{name}` (have: {})", self.themes.names().join(", ")),
                    ),
                }
                vec![]
            }
            Ok(Parsed::Open(id)) => {
                if self.state.incidents.contains_key(&id) {
                    self.filter.clear();
                    self.list_stale = true;
                    self.select(Some(id));
                    self.focus = Pane::Detail;
                } else {
                    self.flash(Level::Error, format!("{id} does not exist"));
                }
                vec![]
            }
            Ok(Parsed::Compose(channel)) => {
                self.compose(channel, None);
                vec![]
            }
            Ok(Parsed::Filter(f)) => {
                self.filter = f;
                self.list_stale = true;
                vec![]
            }
        }
    }

    fn on_paste(&mut self, text: &str) {
        match &mut self.overlay {
            Some(Overlay::Form(form)) => form.paste(text),
            Some(Overlay::Command(line)) => line.input.push_str(&text.replace(['\n', '\r'], " ")),
            _ => {}
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        if self.overlay.is_some() {
            return;
        }
        let at = Position::new(m.column, m.row);
        let areas = self.areas();
        let over = |r: Option<Rect>| r.is_some_and(|r| r.contains(at));
        let pane = if over(areas.incidents) {
            Pane::Incidents
        } else if over(areas.detail) {
            Pane::Detail
        } else if over(areas.playbook) {
            Pane::Playbook
        } else if over(areas.health) {
            Pane::Health
        } else {
            return;
        };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                if let (Pane::Incidents, Some(r)) = (pane, areas.incidents) {
                    // Border and header rows come first.
                    let row = m.row.saturating_sub(r.y + 2) as usize;
                    if m.row >= r.y + 2 {
                        if let Some(id) = self.list.get(self.list_offset + row).copied() {
                            self.select(Some(id));
                        }
                    }
                }
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let before = self.focus;
                self.focus = pane;
                self.move_by(if m.kind == MouseEventKind::ScrollDown { 3 } else { -3 });
                self.focus = before;
            }
            _ => {}
        }
    }
}

fn matches_filter(i: &crate::model::Incident, needle: &str) -> bool {
    i.title.to_lowercase().contains(needle)
        || i.id.to_string().to_lowercase().contains(needle)
        || i.status.as_str().contains(needle)
        || i.severity.to_string().to_lowercase().contains(needle)
        || i.commander().is_some_and(|c| c.to_lowercase().contains(needle))
        || (i.drill && "drill".contains(needle))
}
