//! The console's game-day half: the scoreboard pane's board (asked for as an effect, never
//! awaited), which news moves it, the toasts a game day sends, and chaos hidden from heroes.

use chrono::{DateTime, Utc};

use super::{App, Effect, Level, Pane};
use crate::client::sync::SyncEvent;
use crate::model::gameday::GameDay;
use crate::model::Fact;
use crate::present::one_line;
use crate::protocol::GamedayView;
use crate::tui::keymap::Action;

/// While a game day runs, its board is asked for again this often without news: the server
/// judges it every 5 s (clocks come due), and an answer may have raced the event behind it.
pub const BOARD_REFRESH_SECS: i64 = 5;

/// What `warroom scoreboard` says to a key it does not take.
pub(super) const READ_ONLY: &str = "this scoreboard is read-only: q quits, j/k scroll, ? help";

/// The scoreboard pane's data: the server's last answer, and how asking for it went.
#[derive(Debug, Clone, Default)]
pub struct BoardView {
    /// `GET /api/v1/gameday` as last answered.
    pub view: Option<GamedayView>,
    /// Why the last ask failed; the answer before it stays shown beside it.
    pub error: Option<String>,
    /// When the board was last asked for.
    pub asked: Option<DateTime<Utc>>,
    /// The team row under the cursor.
    pub sel: usize,
}

impl App {
    /// The game day the header shows: the newest in the log (live), else the server's answer.
    pub fn shown_gameday(&self) -> Option<&GameDay> {
        self.state.gamedays.latest().or_else(|| self.board.view.as_ref()?.gameday.as_ref())
    }

    /// Whether this sync news may change the board: anything scored (a game day's facts,
    /// chaos, probes, declarations, steps, messages, hidden facts), or a new state altogether.
    pub(super) fn moves_board(&self, ev: &SyncEvent) -> bool {
        let e = match ev {
            SyncEvent::Snapshot(_) => return true,
            SyncEvent::Event(e) => e,
            _ => return false,
        };
        matches!(
            e.fact,
            Fact::GamedayCreated { .. }
                | Fact::TeamAdded { .. }
                | Fact::TeamJoined { .. }
                | Fact::ScenarioPlanned { .. }
                | Fact::GamedayStarted { .. }
                | Fact::ScenarioKickedOff { .. }
                | Fact::HintGiven { .. }
                | Fact::MitigationConfirmed { .. }
                | Fact::GamedayEnded { .. }
                | Fact::GamedayFinished { .. }
                | Fact::ScenarioStarted { .. }
                | Fact::ScenarioStopping { .. }
                | Fact::ChaosStep { .. }
                | Fact::ScenarioEnded { .. }
                | Fact::ChaosHalted { .. }
                | Fact::RunLinked { .. }
                | Fact::ProbeChanged { .. }
                | Fact::IncidentDeclared { .. }
                | Fact::StepTicked { .. }
                | Fact::StepUnticked { .. }
                | Fact::MessageQueued { .. }
                | Fact::MessageDelivered { .. }
                | Fact::MessageWithheld { .. }
                | Fact::MessageFailed { .. }
                | Fact::ClockSnoozed { .. }
                | Fact::Redacted
        )
    }

    /// Whether this sync news may change what the library shows this user: a game day that
    /// starts or stops hiding its chaos, or a reload (the debrief's among them).
    pub(super) fn moves_library(&self, ev: &SyncEvent) -> bool {
        match ev {
            SyncEvent::Snapshot(_) => !self.state.gamedays.is_empty(),
            SyncEvent::Event(e) => matches!(
                e.fact,
                Fact::GamedayCreated { .. } | Fact::GamedayEnded { .. } | Fact::GamedayFinished { .. }
            ),
            _ => false,
        }
    }

    /// Asks for the board, when there is a game day to ask about (or an old answer to clear):
    /// a console that never saw a game day costs the server nothing more.
    pub(super) fn ask_board(&mut self) -> Vec<Effect> {
        if self.state.gamedays.is_empty() && self.board.view.is_none() {
            return vec![];
        }
        self.board.asked = Some(self.now);
        vec![Effect::FetchBoard]
    }

    /// The clock: a running game day's board is asked for again every few seconds.
    pub(super) fn board_tick(&mut self) -> Vec<Effect> {
        let due =
            self.board.asked.is_none_or(|at| self.now - at >= chrono::Duration::seconds(BOARD_REFRESH_SECS));
        if self.state.gamedays.running().is_some() && due {
            return self.ask_board();
        }
        vec![]
    }

    pub(super) fn on_board(&mut self, result: Result<GamedayView, String>) {
        match result {
            Ok(view) => {
                let teams = view.board.as_ref().map_or(0, |b| b.teams.len());
                self.board.sel = self.board.sel.min(teams.saturating_sub(1));
                self.board.view = Some(view);
                self.board.error = None;
            }
            Err(why) => self.board.error = Some(why),
        }
    }

    /// The teams shown on the board now.
    pub fn board_teams(&self) -> usize {
        self.board.view.as_ref().and_then(|v| v.board.as_ref()).map_or(0, |b| b.teams.len())
    }

    pub(super) fn board_move(&mut self, delta: isize, to_end: Option<bool>) {
        let last = self.board_teams().saturating_sub(1) as isize;
        self.board.sel = match to_end {
            Some(true) => last as usize,
            Some(false) => 0,
            None => (self.board.sel as isize + delta).clamp(0, last) as usize,
        };
    }

    /// `b`, `:scoreboard`: the board, asked for at once if none came yet.
    pub(super) fn show_scoreboard(&mut self) -> Vec<Effect> {
        self.focus = Pane::Scoreboard;
        if self.zoom && !self.solo {
            self.zoom = false;
        }
        if self.board.view.is_none() {
            return self.ask_board();
        }
        vec![]
    }

    /// The running game day and this user's team in it, when they play.
    pub fn my_team(&self) -> Option<(crate::model::gameday::GameDayId, String)> {
        let me = self.me.as_ref()?;
        let g = self.state.gamedays.running()?;
        g.team_of(&me.name).map(|t| (g.id, t.name.clone()))
    }

    /// Why this console shows no chaos pane now: a game day hides chaos from heroes (the
    /// server already withholds it), and this user is no villain or game master.
    pub fn chaos_hidden(&self) -> Option<String> {
        let me = self.me.as_ref()?;
        if crate::model::chaos::may_drive(me.role) {
            return None;
        }
        let g = self.state.gamedays.open().filter(|g| g.hides_chaos())?;
        Some(format!(
            "{} is played {}: heroes see no chaos until its debrief (b: the scoreboard)",
            g.id, g.style
        ))
    }

    /// A hero whose chaos pane was open when a hiding game day began is moved off it.
    pub(super) fn leave_hidden_chaos(&mut self) {
        if self.focus == Pane::Chaos && self.chaos_hidden().is_some() {
            self.focus = Pane::Incidents;
            self.zoom = false;
        }
    }

    /// Whether `Tab` stops at a pane: chaos unless hidden, the scoreboard once there is a
    /// game day.
    pub(super) fn pane_offered(&self, pane: Pane) -> bool {
        match pane {
            Pane::Chaos => self.chaos_hidden().is_none(),
            Pane::Scoreboard => !self.state.gamedays.is_empty() || self.board.view.is_some(),
            _ => true,
        }
    }

    /// What `warroom scoreboard` does with an action: reading yes, anything else no.
    pub(super) fn solo_allows(action: Action) -> bool {
        matches!(
            action,
            Action::Quit
                | Action::Help
                | Action::Down
                | Action::Up
                | Action::PageDown
                | Action::PageUp
                | Action::Top
                | Action::Bottom
                | Action::Back
                | Action::Scoreboard
        )
    }

    /// The open game day's team names and plan numbers, for the command line's completion.
    pub(super) fn gameday_names(&self) -> (Vec<String>, Vec<u32>) {
        let Some(g) = self.state.gamedays.open() else { return (Vec::new(), Vec::new()) };
        let teams = g.teams.keys().cloned().collect();
        // Heroes have no plans before debrief, but their board numbers the scenarios.
        let mut plans: Vec<u32> = g.plans.iter().map(|p| p.n).collect();
        if plans.is_empty() {
            let board = self.board.view.as_ref().and_then(|v| v.board.as_ref()).filter(|b| b.gameday == g.id);
            plans = board.map(|b| b.scenarios.iter().map(|s| s.plan).collect()).unwrap_or_default();
        }
        (teams, plans)
    }

    /// A game day's news for this user: an informed game day's kick-off (everyone), a hint
    /// for my team.
    pub(super) fn gameday_toast(&self, e: &crate::model::Event) -> Option<String> {
        match &e.fact {
            Fact::ScenarioKickedOff { gameday, kickoff } => {
                Some(one_line(&kickoff.message(&gameday.to_string())))
            }
            Fact::HintGiven { gameday, team, plan, text } => {
                let me = self.my_name()?;
                let g = self.state.gamedays.0.get(gameday)?;
                if g.team_of(me).is_none_or(|t| t.name != *team) {
                    return None;
                }
                let on = plan.map(|n| format!(" on #{n}")).unwrap_or_default();
                Some(format!("hint for team {}{on}: {}", one_line(team), one_line(text)))
            }
            _ => None,
        }
    }

    /// `c` for a hero while chaos is hidden: the status line says why, nothing opens.
    pub(super) fn refuse_hidden_chaos(&mut self) -> bool {
        match self.chaos_hidden() {
            Some(why) => {
                self.flash(Level::Warn, why);
                true
            }
            None => false,
        }
    }
}
