//! The console's state and its one entry point, `update(msg) -> effects`: synchronous and
//! pure (time arrives in messages), so every behaviour is testable without a terminal.
//! Only the effect runner in `tui::run` touches the network or the outbox.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::command::Pools;
use super::keymap::{Key, Keymap, Scope};
use super::layout::{layout, list_rows, Areas};
use super::overlay::{filter, Context, Input, Outcome, Reader};
use super::theme::{Theme, Themes};
use crate::client::sync::SyncEvent;
use crate::model::{Fact, IncidentId, Intent, State, UserRole};
use crate::protocol::{Command, Whoami};

mod actions;
mod chaos;
mod gameday;
mod postmortem;
mod switch;

pub use chaos::{countdown as chaos_countdown, ChaosItem, HALT_REASON};
pub use gameday::{BoardView, BOARD_REFRESH_SECS};
pub use postmortem::{Edited, ExternalEdit, Refusal, DETAIL_ITEMS};
pub use switch::{find_user, Switch};

pub use super::overlay::{CommandLine, Overlay};

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
    /// The server refused this console's token (401): nothing will work until it changes.
    NotSignedIn(String),
    Flushed {
        sent: usize,
        refused: Vec<String>,
        remaining: usize,
        stopped: Option<String>,
    },
    /// A closed incident in full, fetched because it is being looked at.
    Fetched(Box<crate::protocol::FullIncident>),
    /// Fetching it failed (the server said why); it is asked again after a reconnect.
    FetchFailed(IncidentId, String),
    /// What the emergency halt did, or why it could not be done.
    Halted(Result<crate::protocol::HaltReport, String>),
    /// The newest game day and its board as the server lets this user see them, or why
    /// asking failed.
    Board(Result<crate::protocol::GamedayView, String>),
    /// Commands the server refused for good, with what they asked (sent after `Flushed`).
    Refused(Vec<Refusal>),
    /// What `$EDITOR` left in its file, or why it could not be read.
    Edited(Box<Edited>),
}

/// What `update` asks the runner to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Command),
    /// Fetch this incident in full: the console holds closed ones as summaries.
    Fetch(IncidentId),
    /// Ring the terminal bell: something the room must notice happened.
    Bell,
    /// Halt all chaos with this reason: `POST /api/v1/chaos/halt` at once, never the outbox
    /// (a halt that waits for the network to come back is no halt).
    Halt(String),
    /// The demo only: end this console and start it again as this demo user.
    SwitchUser(String),
    /// Ask for the game day's board (`GET /api/v1/gameday`); the runner spaces these out.
    FetchBoard,
    /// Fetch the server's library again: what a caller may see of it (the scenario catalogue)
    /// changes when a game day starts hiding its chaos or reveals it.
    FetchLibrary,
    /// Hand the terminal to `$VISUAL`/`$EDITOR` on this postmortem text; the answer comes
    /// back as `Msg::Edited`.
    Edit(Box<ExternalEdit>),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Incidents,
    Detail,
    Playbook,
    Health,
    Chaos,
    Scoreboard,
    Stats,
}

impl Pane {
    /// In `tab` order: the list and the incident, then the lower panes top to bottom as the
    /// wide layout draws them (health above the playbook), then the panes that replace them.
    pub const ALL: [Pane; 7] = [
        Pane::Incidents,
        Pane::Detail,
        Pane::Health,
        Pane::Playbook,
        Pane::Chaos,
        Pane::Scoreboard,
        Pane::Stats,
    ];

    pub fn scope(self) -> Scope {
        match self {
            Pane::Incidents => Scope::Incidents,
            Pane::Detail => Scope::Detail,
            Pane::Playbook => Scope::Playbook,
            Pane::Health => Scope::Health,
            Pane::Chaos => Scope::Chaos,
            Pane::Scoreboard => Scope::Scoreboard,
            Pane::Stats => Scope::Stats,
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

/// A command sent from this console that the log has not shown back yet (queued offline,
/// or in flight): drawn as a pending timeline entry with the time it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: uuid::Uuid,
    pub intent: Intent,
    pub written: DateTime<Utc>,
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
    /// The selected row in the chaos pane (see [`App::chaos_items`]).
    pub chaos_sel: usize,
    /// Something visible changed since the last draw.
    pub dirty: bool,
    /// Closed incidents being fetched in full, and fetched ones newer than the state, kept
    /// until the state reaches their seq (see [`State::adopt`]).
    pub fetching: std::collections::BTreeSet<IncidentId>,
    pub fetched: std::collections::BTreeMap<IncidentId, crate::protocol::FullIncident>,
    /// Open incidents held as summaries (reopened after closing): to fetch in full.
    reopened: Vec<IncidentId>,
    /// Whether alerts ring the terminal bell (config `bell`, `--quiet`).
    pub bell: bool,
    /// An alert arrived with the last sync message: ring once.
    ring: bool,
    /// Commands sent but not yet seen in the log, oldest first.
    pub pending: Vec<Pending>,
    /// Why the server refused this console's token, once it did.
    pub not_signed_in: Option<String>,
    /// A SEV1 someone else declared while a form or menu was open: selected once it closes,
    /// so the form being written keeps its incident and nothing typed is lost.
    pub alerted: Option<IncidentId>,
    /// The demo's users this console may become (`U`, `:as`); None in any other console.
    pub switch: Option<Switch>,
    /// The demo: quit was asked for once; asked again at once, it quits (see `on_action`).
    pub quit_armed: bool,
    /// The scoreboard pane's board, as last fetched.
    pub board: BoardView,
    /// `warroom scoreboard`: the scoreboard alone, read-only; nothing is ever sent.
    pub solo: bool,
    /// The stats pane's range and figures (computed in `prepare`, kept by seq).
    pub stats: super::panes::stats::StatsPane,
    /// A postmortem editor left while its save was on the way: a refusal brings it back.
    pub parked: Option<Box<super::postmortem::Editor>>,
    /// A postmortem to open once its incident arrives in full (its notes make the draft).
    wanted: Option<(IncidentId, postmortem::Want)>,
    /// Whether the action-items overlay lists open items only.
    pub actions_open_only: bool,
}

const FLASH_SECS: i64 = 6;
const MAX_PENDING: usize = 200;

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
            chaos_sel: 0,
            dirty: true,
            fetching: Default::default(),
            fetched: Default::default(),
            reopened: Vec::new(),
            bell: true,
            ring: false,
            pending: Vec::new(),
            not_signed_in: None,
            alerted: None,
            switch: None,
            quit_armed: false,
            board: BoardView::default(),
            solo: false,
            stats: Default::default(),
            parked: None,
            wanted: None,
            actions_open_only: false,
        }
    }

    /// `warroom scoreboard`'s console: the scoreboard pane alone, full screen, read-only.
    pub fn solo(mut self) -> App {
        self.solo = true;
        self.focus = Pane::Scoreboard;
        self.zoom = true;
        self
    }

    pub fn areas(&self) -> Areas {
        layout(self.size, self.focus, self.zoom, self.probes.len(), self.chaos_banner())
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
        if self.focus == Pane::Stats {
            self.stats.refresh(&self.state, self.now);
        }
        // A probe's reader follows the probe (its health, its clock, new samples).
        if let Some(Overlay::Reader(open)) = &self.overlay {
            if let Some(fresh) = open.probe.as_deref().and_then(|name| self.probe_reader_of(name)) {
                let scroll = open.scroll;
                self.overlay = Some(Overlay::Reader(Reader { scroll, ..fresh }));
            }
        }
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
        self.selected.and_then(|id| self.state.incidents.get(&id)).map(|i| &**i)
    }

    /// The step under the cursor in the playbook pane.
    pub fn selected_step(&self) -> Option<&crate::model::comms::StepState> {
        self.selected_incident()?.checklist.as_ref()?.steps.get(self.step)
    }

    fn status_page_url(&self) -> String {
        self.library.as_ref().map(|l| l.library.status_page_url.clone()).unwrap_or_default()
    }

    /// Opens the message form for a channel, prefilled with the step's rendered template.
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
        if self.solo {
            self.flash(Level::Warn, gameday::READ_ONLY);
            return vec![];
        }
        if !self.may(&intent) {
            let role = self.role().map_or("this role".into(), |r| r.to_string());
            self.flash(Level::Error, format!("{role} may not {}", intent.kind().replace('_', " ")));
            return vec![];
        }
        if let Intent::HaltAll { reason } = intent {
            return self.halt(reason);
        }
        if !self.conn.online {
            self.flash(
                Level::Warn,
                format!("offline: {} queued, sent when the server is back", intent.kind().replace('_', " ")),
            );
        }
        let cmd = Command::new(intent);
        // Bounded: a console left offline all day still draws a screenful, not a day.
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(Pending { id: cmd.id, intent: cmd.intent.clone(), written: self.now });
        vec![Effect::Send(cmd)]
    }

    /// The health pane's rows, worst first (down, degraded, not probed, up), then by name:
    /// indices into `probes`; `probe` is a position in this order.
    pub fn probe_order(&self) -> Vec<usize> {
        use crate::model::probe::Health;
        let rank = |name: &str| match self.state.probes.get(name).map_or(Health::Unknown, |p| p.health) {
            Health::Down => 0,
            Health::Degraded => 1,
            Health::Unknown => 2,
            Health::Up => 3,
        };
        let mut order: Vec<usize> = (0..self.probes.len()).collect();
        order.sort_by(|a, b| {
            let (a, b) = (&self.probes[*a].name, &self.probes[*b].name);
            rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
        });
        order
    }

    /// How old the view is when it is stale (the server is away): everything drawn from
    /// it is marked with this age. None while the stream is live.
    pub fn stale(&self) -> Option<chrono::Duration> {
        if self.conn.online {
            return None;
        }
        self.conn.last_sync.map(|last| self.now - last)
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let mut effects = self.handle(msg);
        effects.extend(self.open_wanted());
        self.leave_hidden_chaos();
        if self.overlay.is_none() {
            if let Some(id) = self.alerted.take() {
                self.filter.clear();
                self.list_stale = true;
                self.select(Some(id));
            }
        }
        // The incident being looked at is shown whole: a closed one held as a summary is
        // fetched (once at a time) whatever brought it into view. So is a reopened one, being
        // worked again (its checklist and clocks matter), looked at or not.
        // Offline, they wait for the connection (a snapshot may arrive before `Online`).
        let reopened = if self.conn.online { std::mem::take(&mut self.reopened) } else { Vec::new() };
        // The scoreboard alone shows no incident: it fetches none.
        let solo = self.solo;
        for id in self.selected.into_iter().chain(reopened).filter(move |_| !solo) {
            let summary = self.state.incidents.get(&id).is_some_and(|i| !i.is_full());
            if summary && !self.fetching.contains(&id) && self.conn.online {
                self.fetching.insert(id);
                effects.push(Effect::Fetch(id));
            }
        }
        effects
    }

    /// Takes a fetched full incident if the state is at its seq, keeps it for later if the
    /// state is behind, and drops it (to be asked again) if the state moved past it.
    fn adopt(&mut self, full: crate::protocol::FullIncident) {
        let id = full.incident.id;
        match self.state.adopt(full.incident.clone(), full.seq) {
            crate::model::Adopted::Done => {
                self.fetching.remove(&id);
                self.fetched.remove(&id);
                self.list_stale = true;
            }
            crate::model::Adopted::Later => {
                self.fetched.insert(id, full);
            }
            crate::model::Adopted::Stale => {
                self.fetching.remove(&id);
                self.fetched.remove(&id);
            }
        }
    }

    fn handle(&mut self, msg: Msg) -> Vec<Effect> {
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
                self.board_tick()
            }
            Msg::Sync(ev) => {
                let news = self.moves_board(&ev);
                let library = self.moves_library(&ev);
                self.on_sync(ev);
                let mut effects = if news { self.ask_board() } else { vec![] };
                if library {
                    effects.push(Effect::FetchLibrary);
                }
                if std::mem::take(&mut self.ring) && self.bell {
                    effects.push(Effect::Bell);
                }
                effects
            }
            Msg::Board(result) => {
                self.on_board(result);
                vec![]
            }
            Msg::Refused(refusals) => {
                self.on_refused(refusals);
                vec![]
            }
            Msg::Edited(edited) => self.on_edited(*edited),
            Msg::Me(me) => {
                // A villain's console opens on the chaos pane: breaking the shop is why they
                // came (unless they already moved somewhere themselves).
                if me.role == UserRole::Villain && self.focus == Pane::Incidents && self.overlay.is_none() {
                    self.focus = Pane::Chaos;
                }
                self.me = Some(me);
                vec![]
            }
            Msg::Halted(result) => {
                self.halted(result);
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
            Msg::NotSignedIn(why) => {
                self.not_signed_in = Some(why);
                vec![]
            }
            Msg::Error(e) => {
                self.flash(Level::Error, e);
                vec![]
            }
            Msg::Fetched(full) => {
                self.adopt(*full);
                vec![]
            }
            Msg::FetchFailed(id, why) => {
                self.flash(Level::Error, format!("cannot fetch {id} in full: {why}"));
                vec![]
            }
            Msg::Flushed { sent, refused, remaining, stopped } => {
                self.queued = remaining;
                if refused.is_empty()
                    && sent > 0
                    && self.flash.as_ref().is_some_and(|f| f.level == Level::Error)
                {
                    // A later success makes an earlier refusal old news.
                    self.flash = None;
                }
                if remaining == 0 {
                    // Everything was answered: sent ones arrive as events (or already did),
                    // refused ones are in the rejected file and the flash.
                    self.pending.clear();
                }
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
                // A new state (a reconnect, a reset log): what was fetched is asked again.
                self.fetching.clear();
                self.fetched.clear();
                self.reopened = self
                    .state
                    .incidents
                    .values()
                    .filter(|i| i.status.is_open() && !i.is_full())
                    .map(|i| i.id)
                    .collect();
                self.probes = snap.probes;
                self.conn.last_sync = Some(self.now);
                self.list_stale = true;
            }
            SyncEvent::Event(e) => {
                let affects_selected = e.fact.incident().is_some() && e.fact.incident() == self.selected;
                self.alert(&e);
                self.pending.retain(|p| p.id != e.command_id);
                if let Fact::IncidentDeclared { incident, .. } = &e.fact {
                    // Your own declaration opens itself: you will want to act on it next.
                    if self.me.as_ref().is_some_and(|m| m.name == e.actor) {
                        self.selected = Some(*incident);
                        self.timeline = TimelineView { follow: true, offset: 0 };
                    }
                }
                self.state.apply(&e);
                self.postmortem_news(&e);
                if let Fact::StatusChanged { incident, .. } = &e.fact {
                    if self.state.incidents.get(incident).is_some_and(|i| i.status.is_open() && !i.is_full())
                    {
                        self.reopened.push(*incident);
                    }
                }
                if let Some(id) =
                    self.fetched.iter().find(|(_, f)| f.seq <= self.state.seq).map(|(id, _)| *id)
                {
                    if let Some(full) = self.fetched.remove(&id) {
                        self.adopt(full);
                    }
                }
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

    /// The name this console acts as, once the server said.
    pub fn my_name(&self) -> Option<&str> {
        self.me.as_ref().map(|m| m.name.as_str())
    }

    /// What the room must notice, done by someone else: a SEV1 declared (selected, so the
    /// next key acts on it), a role or a step given to me. A toast names who and what; the
    /// bell rings unless silenced.
    fn alert(&mut self, e: &crate::model::Event) {
        // A game day's news is for everyone it concerns, whoever caused it.
        if let Some(toast) = self.gameday_toast(e) {
            self.ring = true;
            self.flash(Level::Warn, toast);
            return;
        }
        let Some(me) = self.my_name().map(str::to_string) else { return };
        if e.actor == me {
            return;
        }
        let who = crate::present::one_line(&e.actor);
        let toast = match &e.fact {
            Fact::IncidentDeclared { incident, severity: crate::model::Severity::Sev1, title, .. } => {
                // Moved now, or when the open form or menu closes (see `update`).
                self.alerted = Some(*incident);
                format!("SEV1 {incident} declared by {who}: {}", crate::present::one_line(title))
            }
            Fact::RoleAssigned { incident, assigned_role, person, .. } if *person == me => {
                format!("{who} made you {assigned_role} on {incident}")
            }
            Fact::StepAssigned { incident, step, person } if *person == me => {
                format!("{who} gave you step {} on {incident}", crate::present::one_line(step))
            }
            Fact::ChaosHalted { reason, .. } => {
                format!("{who} HALTED all chaos: {}", crate::present::one_line(reason))
            }
            // A run the server ends by itself (dead man, stop condition, a failed inject or
            // steady state, its duration): nobody pressed a key, so the room is told.
            Fact::ScenarioStopping { run, cause, reason }
                if !matches!(
                    cause,
                    crate::model::chaos::StopCause::Stopped | crate::model::chaos::StopCause::Halted
                ) =>
            {
                let why = reason.as_deref().map(crate::present::one_line).unwrap_or_default();
                format!("{run} is being rolled back ({cause}): {why}")
            }
            Fact::ChaosStep {
                run, step: crate::model::chaos::StepKind::Rollback, ok: false, output, ..
            } => {
                format!("{run} ROLLBACK FAILED: {}", crate::present::one_line(output))
            }
            _ => return,
        };
        self.ring = true;
        self.flash(Level::Warn, toast);
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
        if matches!(self.overlay, Some(Overlay::Postmortem(_))) {
            return self.on_editor_key(key);
        }
        if let Some(mut overlay) = self.overlay.take() {
            let input = Input::read(&self.keymap, overlay.scope(), key);
            let themes = self.themes.names();
            let users = self.library.as_ref().map_or(&[][..], |l| l.library.users.as_slice());
            let scenarios: Vec<String> = self.scenarios().iter().map(|s| s.id.clone()).collect();
            let (teams, plans) = self.gameday_names();
            let items = self.open_items();
            let pools = Pools {
                themes: &themes,
                users,
                scenarios: &scenarios,
                teams: &teams,
                plans: &plans,
                items: &items,
            };
            let cx = Context { history: &self.history, pools };
            let outcome = overlay.handle(&input, &cx);
            if let Overlay::Reader(reader) = &mut overlay {
                reader.clamp(self.size);
            }
            if let Overlay::Actions(view) = &mut overlay {
                self.actions_keyed(view);
            }
            if outcome == Outcome::Stay {
                self.overlay = Some(overlay);
            }
            return self.on_outcome(outcome);
        }
        if self.filter_editing {
            let input = Input::read(&self.keymap, Scope::Filter, key);
            if filter::handle(&mut self.filter, &input) == Outcome::Close {
                self.filter_editing = false;
            }
            self.list_stale = true;
            return vec![];
        }
        match Key::from_event(&key).and_then(|k| self.keymap.lookup(self.focus.scope(), k)) {
            Some(action) => self.on_action(action),
            None => vec![],
        }
    }

    /// The keymap layer keys are read through now: the open overlay's, the filter's, or
    /// the focused pane's. The hint bar lists this layer's keys.
    pub fn key_scope(&self) -> Scope {
        match &self.overlay {
            Some(overlay) => overlay.scope(),
            None if self.filter_editing => Scope::Filter,
            None => self.focus.scope(),
        }
    }

    /// What an overlay asked for once a key closed it (or kept it open).
    fn on_outcome(&mut self, outcome: Outcome) -> Vec<Effect> {
        match outcome {
            Outcome::Stay | Outcome::Close => vec![],
            Outcome::Send(intent) => self.send(intent),
            Outcome::Pick(pick) => self.pick(pick),
            Outcome::Run(text) => {
                if self.history.last() != Some(&text) {
                    self.history.push(text.clone());
                }
                self.run_command(&text)
            }
        }
    }

    fn on_paste(&mut self, text: &str) {
        if let Some(overlay) = &mut self.overlay {
            overlay.paste(text);
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
        } else if over(areas.chaos) {
            Pane::Chaos
        } else if over(areas.scoreboard) {
            Pane::Scoreboard
        } else if over(areas.stats) {
            Pane::Stats
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
