//! What the console's actions do, whether a key, a `:` verb, a menu pick or the mouse asked:
//! moving the cursor, opening overlays (menus, forms) and sending intents.

use super::{App, Effect, Level, Pane, TimelineView};
use crate::model::incident::{transition_rule, TransitionRule};
use crate::model::{ClosureReason, IncidentId, Intent, Role, Severity};
use crate::present::one_line;
use crate::tui::command::{self, Parsed};
use crate::tui::form::{Form, Menu, MenuPick};
use crate::tui::keymap::{Action, Scope};
use crate::tui::layout::list_rows;
use crate::tui::overlay::{CommandLine, Help, Overlay, Para, Reader};

impl App {
    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let selected = self.selected;
        if self.solo && !App::solo_allows(action) {
            self.flash(Level::Warn, super::gameday::READ_ONLY);
            return vec![];
        }
        // Anything else in between disarms it.
        let quit_armed = std::mem::take(&mut self.quit_armed);
        match action {
            // The demo's console runs its server: quitting it stops the room for every console
            // connected, so a stray `q` (it also closes readers and menus) only asks.
            Action::Quit if self.switch.is_some() && !quit_armed => {
                self.quit_armed = true;
                let key = self.keymap.first_key(Scope::Global, Action::Quit).unwrap_or_else(|| ":q".into());
                self.flash(
                    Level::Warn,
                    format!(
                        "{key} again quits the demo and stops its server for every console connected \
                         to it; any other key stays"
                    ),
                );
                return vec![];
            }
            Action::Quit => return vec![Effect::Quit],
            // Keys of an overlay's layer reach that overlay's component, never the panes.
            Action::Cancel
            | Action::Pick
            | Action::PickNumber
            | Action::Submit
            | Action::NewLine
            | Action::NextField
            | Action::PrevField
            | Action::Complete
            | Action::HistoryPrev
            | Action::HistoryNext
            | Action::ClearLine
            | Action::Save
            | Action::Theirs
            | Action::Merge
            | Action::ToggleOpen => {}
            Action::Postmortem => return self.postmortem_action(false),
            Action::EditPostmortem => return self.postmortem_action(true),
            Action::Actions => self.show_actions(false),
            Action::Help => self.overlay = Some(Overlay::Help(Help::default())),
            Action::CommandLine => self.overlay = Some(Overlay::Command(CommandLine::default())),
            Action::Filter => {
                self.focus = Pane::Incidents;
                self.filter_editing = true;
            }
            Action::NextPane | Action::PrevPane => {
                let i = Pane::ALL.iter().position(|p| *p == self.focus).unwrap_or(0);
                let n = Pane::ALL.len();
                // Skipping panes not offered now (chaos hidden, no game day): at most all.
                let mut next = i;
                for _ in 0..n {
                    next = if action == Action::NextPane { (next + 1) % n } else { (next + n - 1) % n };
                    if self.pane_offered(Pane::ALL[next]) {
                        break;
                    }
                }
                self.focus = Pane::ALL[next];
            }
            Action::Down => self.move_by(1),
            Action::Up => self.move_by(-1),
            Action::PageDown => self.move_by(self.page() as isize),
            Action::PageUp => self.move_by(-(self.page() as isize)),
            Action::Top => self.move_to_end(false),
            Action::Bottom => self.move_to_end(true),
            Action::Open => match self.focus {
                Pane::Incidents | Pane::Playbook => {
                    if selected.is_some() {
                        self.focus = Pane::Detail;
                    }
                }
                // A pane cuts what does not fit: the reader shows all of it.
                Pane::Detail => match self.entry_reader() {
                    Some(reader) => self.overlay = Some(Overlay::Reader(reader)),
                    None => self.flash(Level::Warn, "no entry selected"),
                },
                Pane::Health => match self.probe_reader() {
                    Some(reader) => self.overlay = Some(Overlay::Reader(reader)),
                    None => self.flash(Level::Warn, "no probe selected"),
                },
                // The pane already shows the selected row in full below the list.
                Pane::Chaos => {}
                Pane::Scoreboard | Pane::Stats => {}
            },
            // The scoreboard alone has nowhere to go back to.
            Action::Back if self.solo => {}
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
            Action::Chaos => {
                if !self.refuse_hidden_chaos() {
                    self.show_chaos();
                }
            }
            Action::Scoreboard => return self.show_scoreboard(),
            Action::Stats => {
                self.focus = Pane::Stats;
                self.zoom = false;
            }
            Action::StatsRange => self.stats.next_range(),
            Action::StartScenario => self.confirm_start(),
            Action::StopRun => self.confirm_stop(),
            Action::HaltAll => self.ask_halt(),
            Action::ArmChaos => return self.arm(),
            Action::SwitchUser => return self.switch_user(None),
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
                let Some(p) = self.probe_order().get(self.probe).and_then(|i| self.probes.get(*i)) else {
                    self.flash(Level::Warn, "no probe selected");
                    return vec![];
                };
                let name = p.name.clone();
                let severity = p.auto_declare.unwrap_or(Severity::Sev3);
                // An open incident already about this service is where to act: a second one
                // would split the room. In a running game day a player's room is their team:
                // another team's incident (or one from before the game) is not theirs to work.
                let team = self.my_team();
                let open = self
                    .state
                    .incidents_by_priority()
                    .into_iter()
                    .find(|i| {
                        i.status.is_open()
                            && i.services.contains(&name)
                            && team
                                .as_ref()
                                .is_none_or(|(g, t)| i.gameday == Some(*g) && i.team.as_ref() == Some(t))
                    })
                    .map(|i| i.id);
                if let Some(id) = open {
                    self.filter.clear();
                    self.list_stale = true;
                    self.select(Some(id));
                    self.flash(Level::Info, format!("{id} is already open for {name}: selected it"));
                    return vec![];
                }
                let state = self.state.probes.get(&name);
                let health = state.map_or(crate::model::probe::Health::Unknown, |s| s.health);
                // A sentence a customer may read: the raw probe error flowed into templates.
                let impact = state
                    .map(|s| format!("{name} is {health} since {} UTC", s.since.format("%H:%M")))
                    .unwrap_or_default();
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
                // Presses faster than the acks: the last press still on its way says what the
                // step will be, so each press flips it (commands go out in order) instead of
                // repeating one the server then refuses as already done.
                let ticked = self
                    .pending
                    .iter()
                    .rev()
                    .find_map(|p| match &p.intent {
                        Intent::TickStep { incident, step: s } if *incident == id && *s == step => Some(true),
                        Intent::UntickStep { incident, step: s } if *incident == id && *s == step => {
                            Some(false)
                        }
                        _ => None,
                    })
                    .unwrap_or(s.ticked.is_some());
                let intent = if ticked {
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
                            // Keys by status, not by position: 3 is always mitigating.
                            let items = choices
                                .into_iter()
                                .map(|s| (s as usize + 1, s.to_string(), MenuPick::Status(id, s)))
                                .collect();
                            self.overlay =
                                Some(Overlay::Menu(Menu::numbered(format!("{id}: {status} →"), items)));
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
    /// Whether this console's user may do what `action` sends, by the permission table
    /// (`UserRole::may`, which the server enforces), for the hint row to grey what is not
    /// theirs. Actions that send no incident command answer true.
    pub fn may_act(&self, action: Action) -> bool {
        let incident = IncidentId(1);
        let probe = match action {
            Action::Declare | Action::DeclareFromProbe => Intent::DeclareIncident {
                title: String::new(),
                severity: Severity::Sev3,
                impact: String::new(),
                drill: false,
                services: Vec::new(),
                private: false,
            },
            Action::Note => Intent::AddNote { incident, text: String::new() },
            Action::Status => {
                Intent::SetStatus { incident, status: crate::model::Status::Mitigated, reason: None }
            }
            Action::Severity => Intent::SetSeverity { incident, severity: Severity::Sev3 },
            Action::Assign => Intent::AssignRole { incident, role: Role::Scribe, person: String::new() },
            Action::Tick => Intent::TickStep { incident, step: String::new() },
            Action::Compose => Intent::SendMessage {
                incident,
                channel: String::new(),
                text: String::new(),
                step: None,
                status: None,
            },
            _ => return true,
        };
        self.may(&probe)
    }

    pub(super) fn guard(&mut self, intent: &Intent) -> bool {
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
            Pane::Chaos => self.areas().chaos.map_or(10, |a| a.height as usize / 4),
            Pane::Scoreboard => self.areas().scoreboard.map_or(10, |a| a.height as usize / 2),
            Pane::Stats => 1,
        }
        .max(1)
    }

    pub(super) fn move_by(&mut self, delta: isize) {
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
            Pane::Chaos => self.chaos_move(delta, None),
            Pane::Scoreboard => self.board_move(delta, None),
            // The pane shows everything at once: nothing to move.
            Pane::Stats => {}
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
            Pane::Chaos => self.chaos_move(0, Some(newest)),
            Pane::Scoreboard => self.board_move(0, Some(newest)),
            Pane::Stats => {}
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

    /// A menu choice: either a command, or the next step of a flow.
    pub(super) fn pick(&mut self, pick: MenuPick) -> Vec<Effect> {
        match pick {
            MenuPick::Status(id, status) => {
                let Some(inc) = self.state.incidents.get(&id) else { return vec![] };
                // Closing does not touch the public page, and stops the clocks that would
                // have reminded anyone: say so while there is still a menu to back out of.
                let page = crate::model::comms::public_status(inc).filter(|s| {
                    status == crate::model::Status::Closed && *s != crate::model::comms::PublicStatus::Fixed
                });
                if let Some(shown) = page {
                    self.flash(
                        Level::Warn,
                        format!("the public status page still shows {id} as {shown}: send the all-clear (m on its step)"),
                    );
                }
                let Some(inc) = self.state.incidents.get(&id) else { return vec![] };
                match transition_rule(inc.status, status) {
                    Some(TransitionRule::Reopen) => {
                        self.overlay = Some(Overlay::Form(Box::new(Form::reason(id, status, &self.theme))));
                        vec![]
                    }
                    Some(TransitionRule::CloseEarly) => {
                        // Resolved is offered when the server would take it: the postmortem is
                        // written, or the server's `[postmortem] required` does not ask for one
                        // (SEV1/SEV2 by default, until the library is loaded).
                        let needs_postmortem = inc.postmortem.is_none()
                            && self
                                .library
                                .as_ref()
                                .map_or(inc.severity.is_major(), |l| l.library.postmortem.requires(inc));
                        let items = ClosureReason::ALL
                            .iter()
                            .filter(|c| !(**c == ClosureReason::Resolved && needs_postmortem))
                            .map(|c| (c.to_string(), MenuPick::Close(id, *c)))
                            .collect();
                        let title = if inc.postmortem.is_some() {
                            format!("{id}: close, because…")
                        } else {
                            format!("{id}: close without postmortem, because…")
                        };
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
                self.overlay =
                    Some(Overlay::Form(Box::new(Form::assign(id, role, &self.theme, self.users()))));
                vec![]
            }
            MenuPick::ActionRow(_) | MenuPick::Postmortem(_) | MenuPick::CloseOther(_) => {
                self.postmortem_pick(pick)
            }
        }
    }

    pub fn run_command(&mut self, text: &str) -> Vec<Effect> {
        let target =
            command::Target { selected: self.selected, gameday: self.state.gamedays.open(), now: self.now };
        match command::parse_in(text, target) {
            Err(e) => {
                self.flash(Level::Error, e);
                vec![]
            }
            // A plan names a scenario of the catalogue: a typo is caught here, not by a 404.
            Ok(Parsed::Intent(Intent::PlanScenario { scenario, .. }))
                if self.library.is_some() && !self.scenarios().iter().any(|s| s.id == scenario) =>
            {
                let have: Vec<&str> = self.scenarios().iter().map(|s| s.id.as_str()).collect();
                self.flash(
                    Level::Error,
                    format!(
                        "no scenario `{}` in the catalogue (have: {})",
                        one_line(&scenario),
                        have.join(", ")
                    ),
                );
                vec![]
            }
            // A start by name still shows its blast radius first, as `s` does.
            Ok(Parsed::Intent(Intent::StartScenario { scenario })) => {
                match self.scenarios().iter().position(|s| s.id == scenario) {
                    Some(i) => {
                        self.chaos_sel = i;
                        self.focus = Pane::Chaos;
                        self.confirm_start();
                        vec![]
                    }
                    // Not loaded yet: the server checks the name (404 unknown_scenario).
                    None if self.library.is_none() => self.send(Intent::StartScenario { scenario }),
                    None => {
                        let have: Vec<&str> = self.scenarios().iter().map(|s| s.id.as_str()).collect();
                        self.flash(
                            Level::Error,
                            format!("no scenario `{scenario}` in the catalogue (have: {})", have.join(", ")),
                        );
                        vec![]
                    }
                }
            }
            Ok(Parsed::Intent(intent)) => self.send(intent),
            Ok(Parsed::Action(action)) => self.on_action(action),
            Ok(Parsed::SwitchUser(who)) => self.switch_user(Some(&who)),
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
            Ok(Parsed::Stats(range)) => {
                self.stats.set_range(range);
                self.focus = Pane::Stats;
                self.zoom = false;
                vec![]
            }
            Ok(Parsed::Actions { open_only }) => {
                self.show_actions(open_only);
                vec![]
            }
            Ok(Parsed::Filter(f)) => {
                self.filter = f;
                self.list_stale = true;
                vec![]
            }
        }
    }

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
        let probe = Intent::SendMessage {
            incident: id,
            channel: channel.clone(),
            text: String::new(),
            step: None,
            status: None,
        };
        if self.guard(&probe) {
            self.overlay =
                Some(Overlay::Form(Box::new(Form::message(id, channel, step, &text, &self.theme))));
        }
    }

    /// The timeline entry under the cursor (the newest one shown) in full: what it says,
    /// who wrote it and when, and what happened to a message sent with it.
    pub fn entry_reader(&self) -> Option<Reader> {
        let inc = self.selected_incident()?;
        let e = self.selected_entry()?;
        let mut paras = vec![Para::Text(e.kind.summary())];
        paras.push(Para::Heading("written".into()));
        let mut written =
            format!("{} by {} (entry {})", e.at.format("%Y-%m-%d %H:%M:%S UTC"), e.actor, e.seq);
        if let crate::model::EntryKind::Milestone { time, .. } = &e.kind {
            written.push_str(&format!("; about {}", time.format("%Y-%m-%d %H:%M:%S UTC")));
        }
        paras.push(Para::Text(written));
        let title = format!("{} · {} · {}", inc.id, e.kind.tag(), crate::present::one_line(&inc.title));
        Some(Reader::new(title, paras))
    }

    /// The timeline entry under the cursor in the incident pane: the newest one shown.
    pub fn selected_entry(&self) -> Option<&crate::model::TimelineEntry> {
        let timeline = &self.selected_incident()?.timeline;
        let newest = timeline.len().checked_sub(1)?;
        timeline.get(newest - self.timeline.offset.min(newest))
    }

    /// The probe under the cursor in the health pane in full: its state and every failed
    /// condition (the row cuts them), what it checks, its last samples, its incidents.
    pub fn probe_reader(&self) -> Option<Reader> {
        let p = self.probe_order().get(self.probe).and_then(|i| self.probes.get(*i))?;
        self.probe_reader_of(&p.name)
    }

    /// The reader of probe `name` as it is now (the open one is rebuilt each frame).
    pub fn probe_reader_of(&self, name: &str) -> Option<Reader> {
        use crate::model::probe::Health;
        let p = self.probes.iter().find(|p| p.name == name)?;
        let state = self.state.probes.get(&p.name);
        let health = state.map_or(Health::Unknown, |s| s.health);
        let mut paras = Vec::new();
        let since = state.map_or(String::new(), |s| {
            format!(
                " since {} ({} ago)",
                s.since.format("%H:%M:%S UTC"),
                crate::present::age(s.since, self.now)
            )
        });
        paras.push(Para::Text(format!("{health}{since}")));
        let failed = state
            .map(|s| s.failed.clone())
            .filter(|f| !f.is_empty())
            .or_else(|| p.samples.last().map(|s| s.failed.clone()))
            .unwrap_or_default();
        if !failed.is_empty() {
            paras.push(Para::Heading("why".into()));
            paras.extend(failed.into_iter().map(Para::Text));
        }
        paras.push(Para::Heading("checks".into()));
        paras.push(Para::Text(format!("{} {} every {}s", p.kind, p.target, p.interval_ms / 1000)));
        paras.extend(p.conditions.iter().map(|c| Para::Text(format!("up when {c}"))));
        paras.extend(p.degraded.iter().map(|c| Para::Text(format!("degraded, not down, when {c}"))));
        if let Some(sev) = p.auto_declare {
            paras.push(Para::Text(format!("declares a {sev} incident when down")));
        }
        paras.push(Para::Heading("last samples, newest first".into()));
        if p.samples.is_empty() {
            paras.push(Para::Text("none yet".into()));
        }
        for s in p.samples.iter().rev().take(READER_SAMPLES) {
            let status = s.status.map_or("–".to_string(), |c| c.to_string());
            let why = if s.failed.is_empty() { String::new() } else { format!("  {}", s.failed.join("; ")) };
            paras.push(Para::Text(format!(
                "{}  {:<8} {:>3} {:>6}ms{why}",
                s.at.format("%H:%M:%S"),
                s.health.as_str(),
                status,
                s.response_ms
            )));
        }
        paras.push(Para::Heading("incidents".into()));
        let linked: Vec<String> = self
            .state
            .incidents_by_priority()
            .into_iter()
            .filter(|i| i.services.contains(&p.name))
            .map(|i| format!("{} {} {}: {}", i.id, i.severity, i.status, i.title))
            .collect();
        if linked.is_empty() {
            paras.push(Para::Text("none linked: i declares one".into()));
        }
        paras.extend(linked.into_iter().map(Para::Text));
        let mut reader = Reader::new(format!("{} — {health}", p.name), paras);
        reader.probe = Some(p.name.clone());
        Some(reader)
    }

    /// The server's users, for completing names; empty until the library has loaded.
    pub fn users(&self) -> Vec<String> {
        self.library.as_ref().map(|l| l.library.users.clone()).unwrap_or_default()
    }
}

/// Samples the probe reader lists: enough to see a flap, few enough to read.
const READER_SAMPLES: usize = 10;
