//! Scoring a game day: a fold over its events (from its creation on), so that anyone holding
//! the log recomputes the same board. Per team and planned scenario:
//!
//! - **time to detect**: from the scenario's first successful inject to the first incident the
//!   team declares about one of its targets (services are probe names);
//! - **time to mitigate**: from the inject to the first moment every target probe that went
//!   bad after it is up again (before the run was stopped: a rollback is not the team's
//!   work), or to a villain's confirmation of the team's mitigation, whichever is first, and
//!   never before the team detected it;
//! - **communicate first**: when the detecting incident's first restore step was ticked (or
//!   now, if none was), every communicate step its playbook lists before the restore steps was
//!   done, and no communication clock of it was ever overdue;
//! - **hints** given to the team for it.
//!
//! Points: `weight` within par, `weight × par ÷ time` (whole points, rounded down) past it;
//! communicating first earns its weight; each hint costs its weight (general hints are charged
//! to the team's total). Beside the teams, each scenario's **resilience** in LitmusChaos's form:
//! the weighted share of its steady-state probes that held when the run was judged.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{GameDay, GameDayId, Plan, Stage, Style, Weights};
use crate::model::chaos::{Run, RunId, StepKind};
use crate::model::playbook::Section;
use crate::model::probe::Health;
use crate::model::{Event, Fact, Incident, IncidentId, State};

/// The board as everyone sees it; [`Board::concealed`] for heroes before debrief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Board {
    pub gameday: GameDayId,
    pub name: String,
    pub style: Style,
    pub stage: Stage,
    /// The time the board was judged at.
    pub at: DateTime<Utc>,
    pub weights: Weights,
    /// Best first.
    pub teams: Vec<TeamScore>,
    pub scenarios: Vec<ScenarioScore>,
    /// Whether scenario names and targets were withheld (a hero's board before debrief).
    #[serde(default, skip_serializing_if = "crate::model::is_false")]
    pub concealed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamScore {
    pub rank: u32,
    pub team: String,
    pub members: Vec<String>,
    pub points: i64,
    /// Hints not about one scenario (charged here, not in a cell).
    pub general_hints: u32,
    /// One per planned scenario, in plan order.
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    pub plan: u32,
    /// The team's incident that detected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigate_secs: Option<u64>,
    /// `None` until the team has an incident about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comms_first: Option<bool>,
    pub hints: u32,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioScore {
    pub plan: u32,
    /// Withheld from heroes before debrief.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target: Vec<String>,
    pub par_detect_secs: u64,
    pub par_mitigate_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected_at: Option<DateTime<Utc>>,
    pub ended: bool,
    /// Percent of the weighted steady-state probes that held (LitmusChaos's resilience
    /// score), once the run was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resilience: Option<f64>,
}

impl Board {
    /// What a hero may see before debrief: times and points, no scenario names or targets.
    pub fn concealed(mut self) -> Board {
        for s in &mut self.scenarios {
            s.scenario = None;
            s.title = None;
            s.target = Vec::new();
            s.run = None;
        }
        self.concealed = true;
        self
    }
}

/// Points for a time against its par: the weight within par, `weight × par ÷ time` past it.
pub fn timed_points(weight: u32, par_secs: u64, secs: u64) -> i64 {
    let w = u64::from(weight);
    let pts = if secs <= par_secs { w } else { w.saturating_mul(par_secs) / secs.max(1) };
    i64::try_from(pts).unwrap_or(i64::MAX)
}

/// Folds one game day's events into what its board needs.
#[derive(Debug, Clone)]
pub struct Tally {
    gameday: GameDayId,
    /// The state folded from the game day's creation on (older incidents are not its).
    state: State,
    /// Every probe change since, in order.
    probes: Vec<(DateTime<Utc>, String, Health)>,
    /// Each run's first successful inject.
    injected: BTreeMap<RunId, DateTime<Utc>>,
    /// When each run was told to stop (or ended).
    stopped: BTreeMap<RunId, DateTime<Utc>>,
    /// Per incident: at its first restore step, whether every communicate step was done.
    comms_before_restore: BTreeMap<IncidentId, bool>,
    /// Incidents one of whose communication clocks was seen overdue.
    overdue: BTreeSet<IncidentId>,
    last: DateTime<Utc>,
}

impl Tally {
    pub fn new(gameday: GameDayId) -> Tally {
        Tally {
            gameday,
            state: State::default(),
            probes: Vec::new(),
            injected: BTreeMap::new(),
            stopped: BTreeMap::new(),
            comms_before_restore: BTreeMap::new(),
            overdue: BTreeSet::new(),
            last: DateTime::UNIX_EPOCH,
        }
    }

    pub fn gameday(&self) -> GameDayId {
        self.gameday
    }

    /// The seq of the last event folded.
    pub fn seq(&self) -> u64 {
        self.state.seq
    }

    /// Folds the next event of the log (events before the game day's creation change nothing
    /// it scores; feed it from there).
    pub fn apply(&mut self, event: &Event) {
        if event.seq <= self.state.seq {
            return;
        }
        self.watch_clocks(event.at);
        match &event.fact {
            Fact::ProbeChanged { probe, to, .. } => self.probes.push((event.at, probe.clone(), *to)),
            Fact::ChaosStep { run, step: StepKind::Inject, ok: true, .. } => {
                self.injected.entry(*run).or_insert(event.at);
            }
            Fact::ScenarioStopping { run, .. } | Fact::ScenarioEnded { run, .. } => {
                self.stopped.entry(*run).or_insert(event.at);
            }
            Fact::ChaosHalted { runs, .. } => {
                for run in runs {
                    self.stopped.entry(*run).or_insert(event.at);
                }
            }
            Fact::StepTicked { incident, step, .. } => {
                if let Some(inc) = self.state.incidents.get(incident) {
                    if section_of(inc, step) == Some(Section::Restore)
                        && !self.comms_before_restore.contains_key(incident)
                    {
                        self.comms_before_restore.insert(*incident, communicated(inc));
                    }
                }
            }
            _ => {}
        }
        self.state.apply(event);
        self.last = self.last.max(event.at);
    }

    /// A clock overdue at `now` on any open incident of the game day's teams.
    fn watch_clocks(&mut self, now: DateTime<Utc>) {
        for inc in self.state.incidents.values() {
            if inc.gameday == Some(self.gameday)
                && inc.team.is_some()
                && crate::model::comms::clocks(inc).iter().any(|c| c.overdue(now))
            {
                self.overdue.insert(inc.id);
            }
        }
    }

    /// The board as of `now` (capped at the game day's end: a finished game's board no longer
    /// moves). `None` before the game day is in the events folded.
    pub fn board(&self, now: DateTime<Utc>) -> Option<Board> {
        let g = self.state.gamedays.0.get(&self.gameday)?;
        let now = g.ended_at.map_or(now, |end| now.min(end)).max(self.last);
        let mut overdue = self.overdue.clone();
        for inc in self.state.incidents.values() {
            if inc.gameday == Some(g.id) && crate::model::comms::clocks(inc).iter().any(|c| c.overdue(now)) {
                overdue.insert(inc.id);
            }
        }
        let scenarios: Vec<ScenarioScore> = g.plans.iter().map(|p| self.scenario(g, p)).collect();
        let mut teams: Vec<TeamScore> = g
            .teams
            .values()
            .map(|t| {
                let cells: Vec<Cell> = g
                    .plans
                    .iter()
                    .zip(&scenarios)
                    .map(|(p, s)| self.cell(g, &t.name, p, s, &overdue))
                    .collect();
                let general_hints = count(g.hints.iter().filter(|h| h.team == t.name && h.plan.is_none()));
                let points = cells.iter().map(|c| c.points).sum::<i64>()
                    - i64::from(general_hints) * i64::from(g.weights.hint);
                TeamScore {
                    rank: 0,
                    team: t.name.clone(),
                    members: t.members.iter().cloned().collect(),
                    points,
                    general_hints,
                    cells,
                }
            })
            .collect();
        teams.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.team.cmp(&b.team)));
        // Equal points share a rank (1, 1, 3).
        let mut prev: Option<(i64, u32)> = None;
        for (i, t) in teams.iter_mut().enumerate() {
            t.rank = match prev {
                Some((points, rank)) if points == t.points => rank,
                _ => u32::try_from(i + 1).unwrap_or(u32::MAX),
            };
            prev = Some((t.points, t.rank));
        }
        Some(Board {
            gameday: g.id,
            name: g.name.clone(),
            style: g.style,
            stage: g.stage,
            at: now,
            weights: g.weights,
            teams,
            scenarios,
            concealed: false,
        })
    }

    /// The run that played a plan: the game day's first run of its scenario that injected
    /// (else its first run at all).
    fn run_of(&self, g: &GameDay, p: &Plan) -> Option<&Run> {
        let runs = || {
            self.state.chaos.runs.values().filter(|r| r.gameday == Some(g.id) && r.scenario.id == p.scenario)
        };
        runs().find(|r| self.injected.contains_key(&r.id)).or_else(|| runs().next())
    }

    fn scenario(&self, g: &GameDay, p: &Plan) -> ScenarioScore {
        let run = self.run_of(g, p);
        let resilience = run.and_then(|r| r.verdict.as_ref()).and_then(|v| {
            let (mut held, mut total) = (0u64, 0u64);
            for (probe, health) in &v.probes {
                let w = u64::from(p.weight(probe));
                total += w;
                if *health == Health::Up {
                    held += w;
                }
            }
            (total > 0).then(|| held as f64 * 100.0 / total as f64)
        });
        ScenarioScore {
            plan: p.n,
            scenario: Some(p.scenario.clone()),
            title: Some(p.title.clone()),
            target: p.target.clone(),
            par_detect_secs: p.par_detect_secs,
            par_mitigate_secs: p.par_mitigate_secs,
            run: run.map(|r| r.id),
            injected_at: run.and_then(|r| self.injected.get(&r.id).copied()),
            ended: run.is_some_and(|r| !r.is_active()),
            resilience,
        }
    }

    fn cell(
        &self,
        g: &GameDay,
        team: &str,
        p: &Plan,
        s: &ScenarioScore,
        overdue: &BTreeSet<IncidentId>,
    ) -> Cell {
        let hints = count(g.hints.iter().filter(|h| h.team == team && h.plan == Some(p.n)));
        let mut cell = Cell { plan: p.n, hints, ..Cell::default() };
        let w = g.weights;
        cell.points = -i64::from(hints) * i64::from(w.hint);
        let (Some(injected), Some(run)) = (s.injected_at, s.run) else { return cell };
        // The team's first incident about a target, declared after the inject.
        let Some(inc) = self
            .state
            .incidents
            .values()
            .filter(|i| {
                i.gameday == Some(g.id)
                    && i.team.as_deref() == Some(team)
                    && i.declared_at() >= injected
                    && i.services.iter().any(|svc| p.target.contains(svc))
            })
            .min_by_key(|i| (i.declared_at(), i.id))
        else {
            return cell;
        };
        let detected = inc.declared_at();
        let detect_secs = secs(injected, detected);
        cell.incident = Some(inc.id);
        cell.detect_secs = Some(detect_secs);
        let confirmed =
            g.confirmations.iter().filter(|c| c.team == team && c.plan == p.n).map(|c| c.at).min();
        let recovered =
            self.recovered(p, injected, self.stopped.get(&run).copied()).filter(|t| *t >= detected);
        let mitigated = match (confirmed, recovered) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mitigate_secs = mitigated.map(|m| secs(injected, m.max(detected)));
        cell.mitigate_secs = mitigate_secs;
        let comms = self.comms_before_restore.get(&inc.id).copied().unwrap_or_else(|| communicated(inc));
        let comms_first = comms && !overdue.contains(&inc.id);
        cell.comms_first = Some(comms_first);
        cell.points += timed_points(w.detect, p.par_detect_secs, detect_secs);
        if let Some(m) = mitigate_secs {
            cell.points += timed_points(w.mitigate, p.par_mitigate_secs, m);
        }
        if comms_first {
            cell.points += i64::from(w.comms_first);
        }
        cell
    }

    /// The first time after `injected` (and before `stopped`) at which every target probe
    /// that went bad since is up again; `None` if none went bad or one is still bad.
    fn recovered(
        &self,
        p: &Plan,
        injected: DateTime<Utc>,
        stopped: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let mut bad: BTreeSet<&str> = BTreeSet::new();
        let mut went_bad = false;
        for (at, probe, health) in &self.probes {
            if *at < injected || !p.target.iter().any(|t| t == probe) {
                continue;
            }
            if stopped.is_some_and(|s| *at > s) {
                return None;
            }
            match health {
                Health::Down | Health::Degraded => {
                    bad.insert(probe);
                    went_bad = true;
                }
                Health::Up => {
                    bad.remove(probe.as_str());
                    if went_bad && bad.is_empty() {
                        return Some(*at);
                    }
                }
                Health::Unknown => {}
            }
        }
        None
    }
}

fn count<T>(it: impl Iterator<Item = T>) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_seconds()).unwrap_or(0)
}

fn section_of(inc: &Incident, step: &str) -> Option<Section> {
    inc.checklist.as_ref()?.steps.iter().find(|s| s.step.id == step).map(|s| s.step.section)
}

/// Every communicate step the checklist lists before its first restore step is done (at
/// least one): the all-clear that follows the restore is not expected first.
fn communicated(inc: &Incident) -> bool {
    let Some(list) = &inc.checklist else { return false };
    let restore =
        list.steps.iter().position(|s| s.step.section == Section::Restore).unwrap_or(list.steps.len());
    let mut first =
        list.steps[..restore].iter().filter(|s| s.step.section == Section::Communicate).peekable();
    first.peek().is_some() && first.all(|s| s.ticked.is_some())
}
