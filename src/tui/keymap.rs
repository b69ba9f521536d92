//! One vocabulary of user actions, and the bindings from keys to them. The help overlay,
//! the hint bar and the README's key table are all generated from this table, so they
//! cannot drift; the user's `[keys]` in config.toml overrides bindings.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use serde::{Deserialize, Serialize};

use crate::model::incident::snake_enum;
use std::str::FromStr;

snake_enum! {
    /// Everything a key, a `:` command, a mouse click or the help can ask for.
    Action {
        Quit = "quit",
        Help = "help",
        CommandLine = "command_line",
        Filter = "filter",
        NextPane = "next_pane",
        PrevPane = "prev_pane",
        Down = "down",
        Up = "up",
        PageDown = "page_down",
        PageUp = "page_up",
        Top = "top",
        Bottom = "bottom",
        Open = "open",
        Back = "back",
        Zoom = "zoom",
        ToggleTime = "toggle_time",
        Declare = "declare",
        Note = "note",
        Status = "status",
        Severity = "severity",
        Assign = "assign",
        Tick = "tick",
        Compose = "compose",
        AttachPlaybook = "attach_playbook",
        DeclareFromProbe = "declare_from_probe",
        Chaos = "chaos",
        StartScenario = "start_scenario",
        StopRun = "stop_run",
        HaltAll = "halt_all",
        ArmChaos = "arm_chaos",
        Scoreboard = "scoreboard",
        SwitchUser = "switch_user",
        Stats = "stats",
        StatsRange = "stats_range",
        Pick = "pick",
        PickNumber = "pick_number",
        Submit = "submit",
        NewLine = "new_line",
        NextField = "next_field",
        PrevField = "prev_field",
        Complete = "complete",
        HistoryPrev = "history_prev",
        HistoryNext = "history_next",
        ClearLine = "clear_line",
        Cancel = "cancel",
        Postmortem = "postmortem",
        EditPostmortem = "edit_postmortem",
        Actions = "actions",
        Save = "save",
        Theirs = "theirs",
        Merge = "merge",
        ToggleOpen = "toggle_open",
    } what = "action"
}

impl Action {
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit (terminal restored)",
            Action::Help => "this help",
            Action::CommandLine => "command line (:declare, :note, :status, :theme …)",
            Action::Filter => "filter incidents",
            Action::NextPane => "next pane",
            Action::PrevPane => "previous pane",
            Action::Down => "down / scroll down",
            Action::Up => "up / scroll up",
            Action::PageDown => "page down",
            Action::PageUp => "page up",
            Action::Top => "first / oldest",
            Action::Bottom => "last / newest (follow)",
            Action::Open => "open: the incident; the entry or probe in a reader",
            Action::Back => "back / close",
            Action::Zoom => "zoom the pane to full screen",
            Action::ToggleTime => "relative / absolute times",
            Action::Declare => "declare an incident",
            Action::Note => "add a note",
            Action::Status => "change status",
            Action::Severity => "change severity",
            Action::Assign => "assign a role",
            Action::Tick => "tick / untick the step",
            Action::Compose => "compose the step's message (rendered template)",
            Action::AttachPlaybook => "attach or switch the playbook",
            Action::DeclareFromProbe => "declare an incident for this service, prefilled",
            Action::Chaos => "the chaos pane: scenarios and runs",
            Action::StartScenario => "start the selected scenario (shows its blast radius first)",
            Action::StopRun => "stop the selected run: it is rolled back (asks first)",
            Action::HaltAll => "HALT ALL chaos: roll back every run and disarm (asks a reason)",
            Action::ArmChaos => "arm chaos again after a halt",
            Action::Scoreboard => "the game day's scoreboard: teams ranked, times, points (live)",
            Action::SwitchUser => {
                "the demo only: become another demo user (to the villain and back; :as NAME for any)"
            }
            Action::Stats => "the stats pane: times to detect, acknowledge, mitigate, recover (charts)",
            Action::StatsRange => "stats over the next range: 7d, 30d, 90d, all (:stats SPAN for any)",
            Action::Cancel => "close without doing anything",
            Action::Pick => "pick the highlighted choice",
            Action::PickNumber => "pick the choice with that number",
            Action::Submit => "send / confirm",
            Action::NewLine => "new line (notes, messages, impact)",
            Action::NextField => "next field",
            Action::PrevField => "previous field",
            Action::Complete => "complete the word (again: show the choices)",
            Action::HistoryPrev => "previous command from history",
            Action::HistoryNext => "next command from history",
            Action::ClearLine => "clear the line",
            Action::Postmortem => "write or edit the incident's postmortem (editor pane)",
            Action::EditPostmortem => "edit the postmortem in $VISUAL / $EDITOR, then save it",
            Action::Actions => "action items of every incident, overdue first",
            Action::Save => "save: a new revision, from the one opened",
            Action::Theirs => "show the newer revision someone else saved",
            Action::Merge => "reload the newer revision and merge your text into it",
            Action::ToggleOpen => "open items only / all items",
        }
    }

    /// Actions that only mean something inside an overlay (a menu's pick, a form's submit).
    pub fn is_overlay(self) -> bool {
        matches!(
            self,
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
                | Action::ToggleOpen
        )
    }

    /// The short word used in the hint bar.
    pub fn hint(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::CommandLine => "cmd",
            Action::Filter => "filter",
            Action::Open => "open",
            Action::Back => "back",
            Action::Zoom => "zoom",
            Action::Declare => "declare",
            Action::Note => "note",
            Action::Status => "status",
            Action::Severity => "severity",
            Action::Assign => "assign",
            Action::ToggleTime => "time",
            Action::Tick => "tick",
            Action::Compose => "message",
            Action::AttachPlaybook => "playbook",
            Action::DeclareFromProbe => "declare",
            Action::Chaos => "chaos",
            Action::StartScenario => "start",
            Action::StopRun => "stop",
            Action::HaltAll => "HALT",
            Action::ArmChaos => "arm",
            Action::Scoreboard => "score",
            Action::SwitchUser => "switch user",
            Action::Stats => "stats",
            Action::StatsRange => "range",
            Action::Cancel => "cancel",
            Action::Pick => "pick",
            Action::Submit => "ok",
            Action::NewLine => "new line",
            Action::NextField => "next field",
            Action::Complete => "complete",
            Action::HistoryPrev => "history",
            Action::Postmortem => "postmortem",
            Action::EditPostmortem => "$EDITOR",
            Action::Actions => "action items",
            Action::Save => "save",
            Action::Theirs => "theirs",
            Action::Merge => "merge",
            Action::ToggleOpen => "open only",
            _ => "",
        }
    }
}

/// Where a binding applies: everywhere, a pane, or an overlay (a layer over the panes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Global,
    Incidents,
    Detail,
    Playbook,
    Health,
    Chaos,
    Scoreboard,
    Stats,
    Help,
    Reader,
    Confirm,
    Menu,
    Form,
    CommandLine,
    Filter,
    Postmortem,
    Actions,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "everywhere",
            Scope::Incidents => "incidents pane",
            Scope::Detail => "incident & timeline pane",
            Scope::Playbook => "playbook pane",
            Scope::Health => "health pane",
            Scope::Chaos => "chaos pane (villains and admins)",
            Scope::Scoreboard => "scoreboard pane (game days)",
            Scope::Stats => "stats pane",
            Scope::Confirm => "confirmation (chaos start and stop)",
            Scope::Help => "help (any other key closes)",
            Scope::Reader => "reader (an entry or a probe in full)",
            Scope::Menu => "menus",
            Scope::Form => "forms",
            Scope::CommandLine => "command line (:)",
            Scope::Filter => "filter (/)",
            Scope::Postmortem => "postmortem editor (other keys edit the text)",
            Scope::Actions => "action items (:actions)",
        }
    }

    /// An overlay takes every key: its layer never falls back to the global bindings, so
    /// typing `q` in a form writes a q instead of quitting.
    pub fn is_overlay(self) -> bool {
        matches!(
            self,
            Scope::Help
                | Scope::Reader
                | Scope::Menu
                | Scope::Form
                | Scope::CommandLine
                | Scope::Filter
                | Scope::Confirm
                | Scope::Postmortem
                | Scope::Actions
        )
    }
}

/// A key with modifiers, written like `ctrl-c`, `shift-tab`, `G`, `?`, `enter`, `space`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// `KeyCode` subset with an order, so bindings sort stably.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeOrd {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Backspace,
    Delete,
    F(u8),
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let code = match e.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::F(n) => KeyCodeOrd::F(n),
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
            alt: e.modifiers.contains(KeyModifiers::ALT),
        })
    }
}

impl FromStr for Key {
    type Err = String;
    fn from_str(s: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCodeOrd::Enter,
            "esc" => KeyCodeOrd::Esc,
            "tab" => KeyCodeOrd::Tab,
            "shift-tab" | "backtab" => KeyCodeOrd::BackTab,
            "up" => KeyCodeOrd::Up,
            "down" => KeyCodeOrd::Down,
            "left" => KeyCodeOrd::Left,
            "right" => KeyCodeOrd::Right,
            "pgup" | "pageup" => KeyCodeOrd::PageUp,
            "pgdn" | "pagedown" => KeyCodeOrd::PageDown,
            "home" => KeyCodeOrd::Home,
            "end" => KeyCodeOrd::End,
            "backspace" => KeyCodeOrd::Backspace,
            "delete" | "del" => KeyCodeOrd::Delete,
            "space" => KeyCodeOrd::Char(' '),
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeOrd::F(f[1..].parse().unwrap_or(1))
            }
            c if c.chars().count() == 1 => KeyCodeOrd::Char(c.chars().next().unwrap_or(' ')),
            _ => {
                return Err(format!(
                    "`{s}` is not a key (examples: q, G, ?, ctrl-c, shift-tab, enter, space, f1)"
                ))
            }
        };
        Ok(Key { code, ctrl, alt })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => f.write_str("space"),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::Enter => f.write_str("enter"),
            KeyCodeOrd::Esc => f.write_str("esc"),
            KeyCodeOrd::Tab => f.write_str("tab"),
            KeyCodeOrd::BackTab => f.write_str("shift-tab"),
            KeyCodeOrd::Up => f.write_str("↑"),
            KeyCodeOrd::Down => f.write_str("↓"),
            KeyCodeOrd::Left => f.write_str("←"),
            KeyCodeOrd::Right => f.write_str("→"),
            KeyCodeOrd::PageUp => f.write_str("pgup"),
            KeyCodeOrd::PageDown => f.write_str("pgdn"),
            KeyCodeOrd::Home => f.write_str("home"),
            KeyCodeOrd::End => f.write_str("end"),
            KeyCodeOrd::Backspace => f.write_str("backspace"),
            KeyCodeOrd::Delete => f.write_str("delete"),
            KeyCodeOrd::F(n) => write!(f, "f{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    bindings: BTreeMap<(Scope, Key), Action>,
}

const DEFAULTS: &[(Scope, &str, Action)] = &[
    (Scope::Global, "q", Action::Quit),
    (Scope::Global, "ctrl-c", Action::Quit),
    (Scope::Global, "?", Action::Help),
    (Scope::Global, ":", Action::CommandLine),
    (Scope::Global, "tab", Action::NextPane),
    (Scope::Global, "shift-tab", Action::PrevPane),
    (Scope::Global, "z", Action::Zoom),
    (Scope::Global, "t", Action::ToggleTime),
    (Scope::Global, "d", Action::Declare),
    (Scope::Global, "j", Action::Down),
    (Scope::Global, "down", Action::Down),
    (Scope::Global, "k", Action::Up),
    (Scope::Global, "up", Action::Up),
    (Scope::Global, "pgdn", Action::PageDown),
    (Scope::Global, "ctrl-d", Action::PageDown),
    (Scope::Global, "pgup", Action::PageUp),
    (Scope::Global, "ctrl-u", Action::PageUp),
    (Scope::Global, "g", Action::Top),
    (Scope::Global, "home", Action::Top),
    (Scope::Global, "G", Action::Bottom),
    (Scope::Global, "end", Action::Bottom),
    (Scope::Global, "n", Action::Note),
    (Scope::Global, "s", Action::Status),
    (Scope::Global, "v", Action::Severity),
    (Scope::Global, "a", Action::Assign),
    // From any pane: it moves to the incidents pane, so a filter typed in the wrong pane
    // never runs as keys (`/drill` in the stats pane declared an incident titled "rill").
    (Scope::Global, "/", Action::Filter),
    (Scope::Incidents, "enter", Action::Open),
    (Scope::Detail, "enter", Action::Open),
    (Scope::Health, "enter", Action::Open),
    (Scope::Incidents, "esc", Action::Back),
    (Scope::Detail, "esc", Action::Back),
    (Scope::Playbook, "space", Action::Tick),
    (Scope::Playbook, "m", Action::Compose),
    (Scope::Playbook, "esc", Action::Back),
    (Scope::Global, "p", Action::AttachPlaybook),
    (Scope::Health, "i", Action::DeclareFromProbe),
    (Scope::Health, "esc", Action::Back),
    // Chaos: one key to the pane for everyone (the banner says what runs); halt-all from
    // anywhere, because the moment to stop chaos is seldom spent looking at the chaos pane.
    (Scope::Global, "c", Action::Chaos),
    (Scope::Global, "H", Action::HaltAll),
    (Scope::Chaos, "s", Action::StartScenario),
    (Scope::Chaos, "x", Action::StopRun),
    (Scope::Chaos, "A", Action::ArmChaos),
    (Scope::Chaos, "esc", Action::Back),
    // The game day's board: `b`oard, since `g` is the first row and `s` a status.
    (Scope::Global, "b", Action::Scoreboard),
    (Scope::Scoreboard, "esc", Action::Back),
    // The demo's console can become any demo user (a normal console has no other tokens).
    // `U` is free in every pane and typed as text in every overlay.
    (Scope::Global, "U", Action::SwitchUser),
    // Incident statistics: `S`, since `s` is a status.
    (Scope::Global, "S", Action::Stats),
    (Scope::Stats, "r", Action::StatsRange),
    (Scope::Stats, "esc", Action::Back),
    // Overlay layers. Keys not listed here are typed into the overlay's text, if it has one.
    (Scope::Help, "j", Action::Down),
    (Scope::Help, "down", Action::Down),
    (Scope::Help, "k", Action::Up),
    (Scope::Help, "up", Action::Up),
    (Scope::Help, "esc", Action::Cancel),
    (Scope::Reader, "j", Action::Down),
    (Scope::Reader, "down", Action::Down),
    (Scope::Reader, "k", Action::Up),
    (Scope::Reader, "up", Action::Up),
    (Scope::Reader, "pgdn", Action::PageDown),
    (Scope::Reader, "ctrl-d", Action::PageDown),
    (Scope::Reader, "pgup", Action::PageUp),
    (Scope::Reader, "ctrl-u", Action::PageUp),
    (Scope::Reader, "g", Action::Top),
    (Scope::Reader, "G", Action::Bottom),
    (Scope::Reader, "esc", Action::Cancel),
    (Scope::Reader, "q", Action::Cancel),
    (Scope::Menu, "j", Action::Down),
    (Scope::Menu, "down", Action::Down),
    (Scope::Menu, "k", Action::Up),
    (Scope::Menu, "up", Action::Up),
    (Scope::Menu, "enter", Action::Pick),
    (Scope::Menu, "space", Action::Pick),
    (Scope::Menu, "1", Action::PickNumber),
    (Scope::Menu, "2", Action::PickNumber),
    (Scope::Menu, "3", Action::PickNumber),
    (Scope::Menu, "4", Action::PickNumber),
    (Scope::Menu, "5", Action::PickNumber),
    (Scope::Menu, "6", Action::PickNumber),
    (Scope::Menu, "7", Action::PickNumber),
    (Scope::Menu, "8", Action::PickNumber),
    (Scope::Menu, "9", Action::PickNumber),
    (Scope::Menu, "esc", Action::Cancel),
    (Scope::Menu, "q", Action::Cancel),
    (Scope::Form, "enter", Action::Submit),
    (Scope::Form, "ctrl-s", Action::Submit),
    (Scope::Form, "alt-enter", Action::NewLine),
    (Scope::Form, "ctrl-j", Action::NewLine),
    (Scope::Form, "tab", Action::NextField),
    (Scope::Form, "shift-tab", Action::PrevField),
    (Scope::Form, "esc", Action::Cancel),
    (Scope::CommandLine, "enter", Action::Submit),
    (Scope::CommandLine, "tab", Action::Complete),
    (Scope::CommandLine, "up", Action::HistoryPrev),
    (Scope::CommandLine, "down", Action::HistoryNext),
    (Scope::CommandLine, "ctrl-u", Action::ClearLine),
    (Scope::CommandLine, "esc", Action::Cancel),
    (Scope::Confirm, "enter", Action::Submit),
    (Scope::Confirm, "y", Action::Submit),
    (Scope::Confirm, "esc", Action::Cancel),
    (Scope::Confirm, "n", Action::Cancel),
    (Scope::Confirm, "q", Action::Cancel),
    (Scope::Filter, "enter", Action::Submit),
    (Scope::Filter, "esc", Action::Cancel),
    // Postmortems: `P` the editor pane, `E` the user's own editor, `I` every action item.
    (Scope::Global, "P", Action::Postmortem),
    (Scope::Global, "E", Action::EditPostmortem),
    (Scope::Global, "I", Action::Actions),
    // The editor's keys are chords: every plain key is text. tui-textarea's own chords
    // (ctrl-a/e/k/u/r/y/w…) are left to it.
    (Scope::Postmortem, "ctrl-s", Action::Save),
    (Scope::Postmortem, "ctrl-o", Action::EditPostmortem),
    (Scope::Postmortem, "ctrl-t", Action::Theirs),
    (Scope::Postmortem, "ctrl-l", Action::Merge),
    (Scope::Postmortem, "esc", Action::Cancel),
    (Scope::Actions, "j", Action::Down),
    (Scope::Actions, "down", Action::Down),
    (Scope::Actions, "k", Action::Up),
    (Scope::Actions, "up", Action::Up),
    (Scope::Actions, "pgdn", Action::PageDown),
    (Scope::Actions, "pgup", Action::PageUp),
    (Scope::Actions, "g", Action::Top),
    (Scope::Actions, "G", Action::Bottom),
    (Scope::Actions, "enter", Action::Pick),
    (Scope::Actions, "o", Action::ToggleOpen),
    (Scope::Actions, "esc", Action::Cancel),
    (Scope::Actions, "q", Action::Cancel),
];

impl Default for Keymap {
    fn default() -> Self {
        let bindings = DEFAULTS
            .iter()
            .map(|(scope, key, action)| ((*scope, key.parse().expect("default keys parse")), *action))
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// Applies `[keys]` from the user's config: `"ctrl-n" = "note"` binds everywhere,
    /// `"x" = "none"` unbinds. Errors name the entry. Overlay layers keep their keys: a
    /// rebound `j` must not stop `j` from scrolling the help or being typed into a form.
    pub fn with_overrides(overrides: &BTreeMap<String, String>) -> Result<Keymap, String> {
        let mut map = Keymap::default();
        for (key_text, action_text) in overrides {
            let key: Key = key_text.parse().map_err(|e| format!("keys.{key_text}: {e}"))?;
            map.bindings.retain(|(s, k), _| *k != key || s.is_overlay());
            if action_text != "none" {
                let action: Action = action_text.parse().map_err(|e| format!("keys.{key_text}: {e}"))?;
                map.bindings.insert((Scope::Global, key), action);
            }
        }
        Ok(map)
    }

    /// The pane's own binding wins over a global one; an overlay has only its own.
    pub fn lookup(&self, scope: Scope, key: Key) -> Option<Action> {
        let own = self.bindings.get(&(scope, key));
        if scope.is_overlay() {
            return own.copied();
        }
        own.or_else(|| self.bindings.get(&(Scope::Global, key))).copied()
    }

    /// Keys for an action in a pane, plain keys before chords: `["q", "ctrl-c"]`.
    pub fn keys_for(&self, scope: Scope, action: Action) -> Vec<String> {
        let mut keys: Vec<&Key> = self
            .bindings
            .iter()
            .filter(|((s, _), a)| {
                **a == action && (*s == scope || (*s == Scope::Global && !scope.is_overlay()))
            })
            .map(|((_, k), _)| k)
            // A pane's own binding shadows a global one (`s` starts a scenario in the chaos
            // pane): the shadowed key is not this action's key there.
            .filter(|k| self.lookup(scope, **k) == Some(action))
            .collect();
        keys.sort_by_key(|k| (k.ctrl || k.alt, **k));
        keys.into_iter().map(Key::to_string).collect()
    }

    /// The key to show for an action in a hint or a footer: the first default binding still
    /// in force (so `enter picks`, not `space picks`), else the first of `keys_for`.
    pub fn first_key(&self, scope: Scope, action: Action) -> Option<String> {
        DEFAULTS
            .iter()
            .filter(|(s, _, a)| *a == action && (*s == scope || (*s == Scope::Global && !scope.is_overlay())))
            .filter_map(|(_, text, _)| text.parse::<Key>().ok())
            .find(|k| self.lookup(scope, *k) == Some(action))
            .map(|k| k.to_string())
            .or_else(|| self.keys_for(scope, action).into_iter().next())
    }

    /// (scope, keys, action) rows in a stable order: the source for help, hints, README.
    pub fn rows(&self) -> Vec<(Scope, String, Action)> {
        let mut by: BTreeMap<(Scope, usize), Action> = BTreeMap::new();
        for ((scope, _), action) in &self.bindings {
            let order = Action::ALL.iter().position(|a| a == action).unwrap_or(usize::MAX);
            by.insert((*scope, order), *action);
        }
        by.into_iter()
            .map(|((scope, _), action)| {
                let keys: Vec<String> = self
                    .bindings
                    .iter()
                    .filter(|((s, _), a)| *s == scope && **a == action)
                    .map(|((_, k), _)| *k)
                    .collect::<Vec<Key>>()
                    .into_iter()
                    .map(|k| (k.ctrl || k.alt, k))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|(_, k)| k.to_string())
                    .collect();
                (scope, keys.join(" "), action)
            })
            .collect()
    }

    /// The key table as Markdown, for the README (`warroom keys --markdown`).
    pub fn markdown(&self) -> String {
        let mut out = String::from("| where | keys | action |\n|---|---|---|\n");
        for (scope, keys, action) in self.rows() {
            let keys = keys.split(' ').map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" ");
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                scope.title(),
                keys.replace('|', "\\|"),
                action.describe()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        for text in ["q", "G", "?", "ctrl-c", "shift-tab", "enter", "space", "f5", "alt-x"] {
            let k: Key = text.parse().unwrap();
            assert_eq!(k.to_string(), text);
        }
        assert!("ctrl-".parse::<Key>().is_err());
        assert!("hyper-x".parse::<Key>().is_err());
    }

    #[test]
    fn pane_bindings_win_and_user_overrides_apply() {
        let km = Keymap::default();
        let esc: Key = "esc".parse().unwrap();
        assert_eq!(km.lookup(Scope::Detail, esc), Some(Action::Back));
        assert_eq!(km.lookup(Scope::Detail, "x".parse().unwrap()), None);
        assert_eq!(km.lookup(Scope::Stats, "/".parse().unwrap()), Some(Action::Filter));
        let user = BTreeMap::from([
            ("ctrl-n".to_string(), "note".to_string()),
            ("n".to_string(), "none".to_string()),
        ]);
        let km = Keymap::with_overrides(&user).unwrap();
        assert_eq!(km.lookup(Scope::Incidents, "ctrl-n".parse().unwrap()), Some(Action::Note));
        assert_eq!(km.lookup(Scope::Incidents, "n".parse().unwrap()), None);
        let bad = BTreeMap::from([("x".to_string(), "explode".to_string())]);
        assert!(Keymap::with_overrides(&bad)
            .unwrap_err()
            .starts_with("keys.x: `explode` is not a known action"));
    }

    #[test]
    fn overlays_take_their_own_keys_and_never_the_global_ones() {
        let km = Keymap::default();
        let key = |t: &str| t.parse::<Key>().unwrap();
        assert_eq!(km.lookup(Scope::Form, key("q")), None, "q is typed, not quit");
        assert_eq!(km.lookup(Scope::Menu, key("q")), Some(Action::Cancel));
        assert_eq!(km.lookup(Scope::CommandLine, key("up")), Some(Action::HistoryPrev));
        assert_eq!(km.keys_for(Scope::Form, Action::Quit), Vec::<String>::new());
        assert_eq!(km.keys_for(Scope::Menu, Action::Pick), ["space", "enter"]);
        assert_eq!(km.first_key(Scope::Menu, Action::Pick).as_deref(), Some("enter"));
        assert_eq!(km.first_key(Scope::Form, Action::NewLine).as_deref(), Some("alt-enter"));
        let user = BTreeMap::from([("j".to_string(), "none".to_string())]);
        let km = Keymap::with_overrides(&user).unwrap();
        assert_eq!(km.lookup(Scope::Incidents, key("j")), None);
        assert_eq!(km.lookup(Scope::Help, key("j")), Some(Action::Down));
    }

    #[test]
    fn every_action_has_a_default_key() {
        let km = Keymap::default();
        for a in Action::ALL {
            assert!(km.rows().iter().any(|(_, _, b)| b == a), "{a} has no key");
        }
    }
}
