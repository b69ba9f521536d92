//! The console's chaos controls: the chaos pane's rows, start and stop behind a confirmation
//! that shows the blast radius, the halt (straight to the server), arming, and the banner.

use super::{App, Effect, Level, Pane};
use crate::model::chaos::{Run, RunId, ScenarioInfo};
use crate::model::incident::format_duration;
use crate::model::Intent;
use crate::present::one_line;
use crate::tui::form::Form;
use crate::tui::overlay::{Confirm, Overlay};

/// The reason the halt form starts with: halting is `H` then enter.
pub const HALT_REASON: &str = "halt from console";

/// A row of the chaos pane: the catalogue first, then the runs, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChaosItem {
    /// An index into the library's scenarios.
    Scenario(usize),
    Run(RunId),
}

impl App {
    /// The server's scenario catalogue, empty until the library has loaded.
    pub fn scenarios(&self) -> &[ScenarioInfo] {
        self.library.as_ref().map_or(&[][..], |l| l.library.scenarios.as_slice())
    }

    pub fn chaos_items(&self) -> Vec<ChaosItem> {
        let scenarios = (0..self.scenarios().len()).map(ChaosItem::Scenario);
        let runs = self.state.chaos.runs.keys().rev().map(|id| ChaosItem::Run(*id));
        scenarios.chain(runs).collect()
    }

    pub fn chaos_selected(&self) -> Option<ChaosItem> {
        let items = self.chaos_items();
        items.get(self.chaos_sel.min(items.len().saturating_sub(1))).copied()
    }

    /// Whether the signed-in user may drive chaos (villains, admins): what the pane greys out
    /// otherwise. Unknown until the server said who we are, when nothing is greyed.
    pub fn may_drive_chaos(&self) -> bool {
        self.me.as_ref().is_none_or(|me| crate::model::chaos::may_drive(me.role))
    }

    /// The scenario under the cursor: the row's, or the selected run's.
    fn selected_scenario(&self) -> Option<ScenarioInfo> {
        match self.chaos_selected()? {
            ChaosItem::Scenario(i) => self.scenarios().get(i).cloned(),
            ChaosItem::Run(id) => self.state.chaos.runs.get(&id).map(|r| r.scenario.clone()),
        }
    }

    /// The run under the cursor: the row's, or the selected scenario's active run.
    fn selected_run(&self) -> Option<&Run> {
        match self.chaos_selected()? {
            ChaosItem::Run(id) => self.state.chaos.runs.get(&id),
            ChaosItem::Scenario(i) => {
                let id = &self.scenarios().get(i)?.id;
                self.state.chaos.active().find(|r| &r.scenario.id == id)
            }
        }
    }

    /// `s`: the start confirmation, with the blast radius (Gremlin shows it before a start).
    pub(super) fn confirm_start(&mut self) {
        let Some(sc) = self.selected_scenario() else {
            let why = if self.library.is_none() {
                "the scenario catalogue has not loaded yet"
            } else {
                "no scenario: the server's catalogue (playbooks/chaos/) is empty"
            };
            self.flash(Level::Warn, why);
            return;
        };
        let intent = Intent::StartScenario { scenario: sc.id.clone() };
        if !self.guard(&intent) {
            return;
        }
        if let Some(d) = &self.state.chaos.disarmed {
            let why =
                format!("chaos is disarmed by {}: {} (A arms it)", one_line(&d.by), one_line(&d.reason));
            self.flash(Level::Warn, why);
            return;
        }
        let mut rows = vec![
            ("scenario".to_string(), format!("{} — {}", sc.id, sc.title)),
            ("targets".to_string(), sc.target.join(", ")),
        ];
        if !sc.hypothesis.is_empty() {
            rows.push(("hypothesis".into(), sc.hypothesis.clone()));
        }
        let steady = if sc.steady_state.is_empty() {
            "none checked".to_string()
        } else {
            format!("{} must be up", sc.steady_state.join(", "))
        };
        rows.push(("steady state".into(), steady));
        let duration = format_duration(chrono::Duration::seconds(sc.duration_secs as i64));
        rows.push(("duration".into(), format!("{duration}, then rolled back")));
        rows.push(("stops when".into(), sc.stop_when.clone()));
        for (i, p) in sc.phases.iter().enumerate() {
            rows.push((format!("phase {} +{}s", i + 1, p.at_secs), format!("[{}] {}", p.driver, p.title)));
        }
        let title = format!("Start {}? It breaks {} for real", sc.id, sc.target.join(", "));
        self.overlay = Some(Overlay::Confirm(Confirm { title, rows, intent, verb: "starts" }));
    }

    /// `x`: the stop confirmation for the selected run.
    pub(super) fn confirm_stop(&mut self) {
        let Some(r) = self.selected_run().filter(|r| r.is_active()) else {
            self.flash(Level::Warn, "no active run selected");
            return;
        };
        let (id, scenario, phase) = (r.id, r.scenario.id.clone(), r.phase);
        let rollback = r.scenario.rollback.join("; ");
        let intent = Intent::StopScenario { run: id, reason: Some("stopped from the console".into()) };
        if !self.guard(&intent) {
            return;
        }
        let rows = vec![
            ("run".to_string(), format!("{id} {scenario} ({phase})")),
            ("rollback".to_string(), if rollback.is_empty() { "none listed".into() } else { rollback }),
        ];
        let title = format!("Stop {id} and roll it back?");
        self.overlay = Some(Overlay::Confirm(Confirm { title, rows, intent, verb: "stops" }));
    }

    /// `H`: the halt-all form, its reason prefilled.
    pub(super) fn ask_halt(&mut self) {
        if self.guard(&Intent::HaltAll { reason: HALT_REASON.into() }) {
            self.overlay = Some(Overlay::Form(Box::new(Form::halt(&self.theme, HALT_REASON))));
        }
    }

    /// The halt itself (from the form or `:halt`): straight to the server. Offline it is
    /// still tried, since the stream may be down while a request gets through, but the
    /// console says the network is needed rather than pretending it is queued.
    pub(super) fn halt(&mut self, reason: String) -> Vec<Effect> {
        if self.conn.online {
            self.flash(Level::Warn, "halting all chaos…");
        } else {
            self.flash(Level::Error, "offline: a halt needs the server, trying it directly (never queued)…");
        }
        vec![Effect::Halt(reason)]
    }

    pub(super) fn halted(&mut self, result: Result<crate::protocol::HaltReport, String>) {
        match result {
            Err(why) => self.flash(
                Level::Error,
                format!("HALT NOT DONE: {} — retry H, or `warroom chaos halt`", one_line(&why)),
            ),
            Ok(report) if !report.failed.is_empty() => self.flash(
                Level::Error,
                format!("halted, but ROLLBACK FAILED (retried by the server): {}", report.failed.join("; ")),
            ),
            Ok(report) => {
                let runs: Vec<String> = report.runs.iter().map(RunId::to_string).collect();
                let what = if runs.is_empty() { "no run was active".into() } else { runs.join(", ") };
                let log = if report.recorded.is_some() { "" } else { " (not in the log yet)" };
                self.flash(Level::Info, format!("halted: {what}; chaos disarmed{log}"));
            }
        }
    }

    pub(super) fn arm(&mut self) -> Vec<Effect> {
        if !self.guard(&Intent::ArmChaos {}) {
            return vec![];
        }
        if self.state.chaos.disarmed.is_none() {
            self.flash(Level::Info, "chaos is already armed");
            return vec![];
        }
        self.send(Intent::ArmChaos {})
    }

    pub(super) fn show_chaos(&mut self) {
        self.focus = Pane::Chaos;
        if self.zoom {
            self.zoom = false;
        }
    }

    pub(super) fn chaos_move(&mut self, delta: isize, to_end: Option<bool>) {
        let len = self.chaos_items().len();
        let last = len.saturating_sub(1) as isize;
        self.chaos_sel = match to_end {
            Some(true) => last as usize,
            Some(false) => 0,
            None => (self.chaos_sel as isize + delta).clamp(0, last) as usize,
        };
    }

    /// Whether the banner shows: chaos disarmed, or a run not ended.
    pub fn chaos_banner(&self) -> bool {
        self.state.chaos.disarmed.is_some() || self.state.chaos.active().next().is_some()
    }

    /// The banner's parts, each with whether it is an alarm (a failed rollback).
    pub fn banner_parts(&self) -> Vec<(String, bool)> {
        let mut parts = Vec::new();
        if let Some(d) = &self.state.chaos.disarmed {
            parts.push((format!("CHAOS DISARMED by {}: {}", one_line(&d.by), one_line(&d.reason)), false));
        }
        for r in self.state.chaos.active() {
            let mut text = format!("CHAOS: {} {} {}", r.id, one_line(&r.scenario.id), r.phase);
            let left = r.ends_at - self.now;
            if left > chrono::Duration::zero() && r.phase != crate::model::chaos::RunPhase::Stopping {
                text.push_str(&format!(", {} left", countdown(left)));
            }
            match &r.rollback_failed {
                Some(why) => {
                    text.push_str(&format!(" — ROLLBACK FAILED: {}", one_line(why)));
                    parts.push((text, true));
                }
                None => parts.push((text, false)),
            }
        }
        parts
    }
}

/// `12:04`, or `1:02:03` past an hour: a countdown reads as a clock.
pub fn countdown(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}
