//! Scoring a game day: a fold over its events (from its creation on), so that anyone holding
//! the log recomputes the same board. Per team and planned scenario:
//!
//! - **time to detect**: from the scenario's first successful inject to the first incident the
//!   team declares about one of its targets (services are probe names) while the run is live
//!   (not yet stopped, the game not over), as the log timed the declaration (the `declared`
//!   milestone is the team's to edit, so it never counts); an incident catches one scenario,
//!   the live one injected last among those its services name;
//! - **time to mitigate**: from the inject to the first moment every target probe that went
//!   bad after it is up again (before the run was stopped: a rollback is not the team's
//!   work), or to a villain's confirmation of the team's mitigation, whichever is first, and
//!   never before the team detected it;
//! - **communicate first**: when the detecting incident's first restore step was ticked (or
//!   now, if none was), every communicate step its playbook lists before the restore steps was
//!   done, and no communication clock of it was ever overdue;
//! - **hints** given to the team for it;
//! - **postmortem**: whether the detecting incident's postmortem was written before the game
//!   day finished (it is written at the debrief, so this part is judged until the finish).
//!
//! Points: `weight` within par, `weight × par ÷ time` (whole points, rounded down) past it;
//! communicating first earns its weight; each hint costs its weight (general hints are charged
//! to the team's total). Beside the teams, each scenario's **resilience** in LitmusChaos's form:
//! the weighted share of its steady-state probes that held when the run was judged.
//!
//! Everything is judged up to the game day's end: what happens in the log after it (a clock
//! coming due on a drill left open, a probe coming back) no longer moves its board.

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
    /// The detecting incident's postmortem was written (before the game day finished).
    #[serde(default, skip_serializing_if = "crate::model::is_false")]
    pub postmortem: bool,
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
    /// What a hero may see before debrief: times and points, no scenario names or targets,
    /// nor which incident scored (its services would name the target, and another team's
    /// private incident would show it exists).
    pub fn concealed(mut self) -> Board {
        for c in self.teams.iter_mut().flat_map(|t| t.cells.iter_mut()) {
            c.incident = None;
        }
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

/// Per team and run, the team's first incident that caught the run, and when it was declared.
type Detections<'t> = BTreeMap<(&'t str, RunId), (DateTime<Utc>, &'t Incident)>;

/// Folds one game day's events into what its board needs.
#[derive(Debug, Clone)]
pub struct Tally {
    gameday: GameDayId,
    /// The state folded from the game day's creation on (older incidents are not its).
    state: State,
    /// When the log says each incident was declared.
    declared: BTreeMap<IncidentId, DateTime<Utc>>,
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
            declared: BTreeMap::new(),
            probes: Vec::new(),
            injected: BTreeMap::new(),
            stopped: BTreeMap::new(),
            comms_before_restore: BTreeMap::new(),
            overdue: BTreeSet::new(),
            last: DateTime::UNIX_EPOCH,
        }
    }

    /// The seq of the last event folded.
    pub fn seq(&self) -> u64 {
        self.state.seq
    }

    /// Whether its game day is finished: its board no longer moves, so nothing after needs
    /// folding (a server would otherwise keep a second copy of everything that follows).
    pub fn is_finished(&self) -> bool {
        self.state.gamedays.0.get(&self.gameday).is_some_and(|g| g.stage == Stage::Finished)
    }

    /// Folds the next event of the log (events before the game day's creation change nothing
    /// it scores; feed it from there).
    pub fn apply(&mut self, event: &Event) {
        if event.seq <= self.state.seq {
            return;
        }
        // A finished game day's board no longer moves: later events are only counted past.
        if self.is_finished() {
            self.state.seq = event.seq;
            return;
        }
        self.watch_clocks(event.at);
        match &event.fact {
            Fact::IncidentDeclared { incident, .. } => {
                self.declared.insert(*incident, event.at);
            }
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

    /// A clock overdue at `now` (at the latest the game day's end) on any open incident of the
    /// game day's teams.
    fn watch_clocks(&mut self, now: DateTime<Utc>) {
        let end = self.state.gamedays.0.get(&self.gameday).and_then(|g| g.ended_at);
        let now = end.map_or(now, |end| now.min(end));
        for inc in self.state.incidents.values() {
            if inc.gameday == Some(self.gameday)
                && inc.team.is_some()
                && crate::model::comms::clocks(inc).iter().any(|c| c.overdue(now))
            {
                self.overdue.insert(inc.id);
            }
        }
    }

    /// The board as of `now` (at the game day's end once it ended: a finished game's board no
    /// longer moves, its time included). `None` before the game day is in the events folded.
    pub fn board(&self, now: DateTime<Utc>) -> Option<Board> {
        let g = self.state.gamedays.0.get(&self.gameday)?;
        let now = g.ended_at.unwrap_or_else(|| now.max(self.last));
        let mut overdue = self.overdue.clone();
        for inc in self.state.incidents.values() {
            if inc.gameday == Some(g.id) && crate::model::comms::clocks(inc).iter().any(|c| c.overdue(now)) {
                overdue.insert(inc.id);
            }
        }
        let scenarios: Vec<ScenarioScore> = g.plans.iter().map(|p| self.scenario(g, p)).collect();
        // Each team's first incident that caught each run, worked out once per board rather
        // than once per cell (teams × plans × incidents × runs at a company-wide game day).
        let mut first: Detections = BTreeMap::new();
        for i in self.state.incidents.values().filter(|i| i.gameday == Some(g.id)) {
            let (Some(team), Some(&declared)) = (i.team.as_deref(), self.declared.get(&i.id)) else {
                continue;
            };
            if let Some(run) = self.caught(g, i, declared) {
                let seen = first.entry((team, run)).or_insert((declared, i));
                if (declared, i.id) < (seen.0, seen.1.id) {
                    *seen = (declared, i);
                }
            }
        }
        let mut teams: Vec<TeamScore> = g
            .teams
            .values()
            .map(|t| {
                let cells: Vec<Cell> = g
                    .plans
                    .iter()
                    .zip(&scenarios)
                    .map(|(p, s)| self.cell(g, &t.name, p, s, &first, &overdue))
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
        first: &Detections,
        overdue: &BTreeSet<IncidentId>,
    ) -> Cell {
        let hints = count(g.hints.iter().filter(|h| h.team == team && h.plan == Some(p.n)));
        let mut cell = Cell { plan: p.n, hints, ..Cell::default() };
        let w = g.weights;
        cell.points = -i64::from(hints) * i64::from(w.hint);
        let (Some(injected), Some(run)) = (s.injected_at, s.run) else { return cell };
        // The team's first incident that caught this run (see `caught`).
        let Some(&(detected, inc)) = first.get(&(team, run)) else { return cell };
        let detect_secs = secs(injected, detected);
        cell.incident = Some(inc.id);
        cell.detect_secs = Some(detect_secs);
        let confirmed =
            g.confirmations.iter().filter(|c| c.team == team && c.plan == p.n).map(|c| c.at).min();
        // The run's stop, or the game's end if it came first: what comes back later is not theirs.
        let until = [self.stopped.get(&run).copied(), g.ended_at].into_iter().flatten().min();
        let recovered = self.recovered(p, injected, until).filter(|t| *t >= detected);
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
        // The tally stops folding at the finish, so a postmortem written later is not seen.
        if inc.postmortem.is_some() {
            cell.postmortem = true;
            cell.points += i64::from(w.postmortem);
        }
        cell
    }

    /// The run an incident declared at `declared` caught: of the game day's runs live then
    /// (injected, not yet stopped, the game not over) with a target among its services, the one
    /// injected last. One incident catches one scenario: listing every service detects nothing
    /// more than the latest fault, and a scenario already over is detected by nobody.
    fn caught(&self, g: &GameDay, inc: &Incident, declared: DateTime<Utc>) -> Option<RunId> {
        self.state
            .chaos
            .runs
            .values()
            .filter(|r| r.gameday == Some(g.id) && r.scenario.target.iter().any(|t| inc.services.contains(t)))
            .filter_map(|r| {
                let injected = *self.injected.get(&r.id)?;
                let end = [self.stopped.get(&r.id).copied(), g.ended_at].into_iter().flatten().min();
                (injected <= declared && end.is_none_or(|e| declared <= e)).then_some((injected, r.id))
            })
            .max()
            .map(|(_, id)| id)
    }

    /// The first time after `injected` (and before `until`) at which every target probe that
    /// went bad since is up again; `None` if none went bad or one is still bad.
    fn recovered(
        &self,
        p: &Plan,
        injected: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let mut bad: BTreeSet<&str> = BTreeSet::new();
        let mut went_bad = false;
        for (at, probe, health) in &self.probes {
            if *at < injected || !p.target.iter().any(|t| t == probe) {
                continue;
            }
            if until.is_some_and(|s| *at > s) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chaos::{PhaseInfo, ScenarioInfo};
    use crate::model::gameday::Style;
    use crate::model::incident::{Milestone, Severity};
    use crate::model::library::ChannelInfo;
    use crate::model::playbook::Audience;
    use crate::model::{stamp, Library, UserRole};

    fn t(secs: i64) -> DateTime<Utc> {
        "2026-11-21T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::seconds(secs)
    }

    const GD: GameDayId = GameDayId(1);
    const RUN: RunId = RunId(1);
    const INC: IncidentId = IncidentId(1);

    /// A fire drill's log, written fact by fact at made-up times.
    struct Log(Vec<Event>);

    impl Log {
        fn at(&mut self, secs: i64, actor: &str, fact: Fact) {
            let seq = self.0.len() as u64 + 1;
            self.0.extend(stamp(seq, t(secs), actor, UserRole::Admin, uuid::Uuid::new_v4(), vec![fact]));
        }

        fn cell(&self, now: i64) -> Cell {
            let mut tally = Tally::new(GD);
            for e in &self.0 {
                tally.apply(e);
            }
            let board = tally.board(t(now)).expect("the game day");
            board.teams[0].cells[0].clone()
        }

        /// GD-1 with team red (alice) and one plan, #1 on `payment` with one-minute pars,
        /// injected at 0 s; payment goes down at 4 s; alice declares about it at 30 s, with a
        /// playbook whose staff step is due every 10 minutes.
        fn played() -> Log {
            let mut log = Log(Vec::new());
            log.at(
                -60,
                "root",
                Fact::GamedayCreated {
                    gameday: GD,
                    name: "drill".into(),
                    style: Style::FireDrill,
                    weights: Weights::default(),
                },
            );
            log.at(-59, "root", Fact::TeamAdded { gameday: GD, team: "red".into() });
            log.at(
                -58,
                "alice",
                Fact::TeamJoined { gameday: GD, team: "red".into(), person: "alice".into() },
            );
            let target = vec!["payment".to_string()];
            log.at(
                -57,
                "root",
                Fact::ScenarioPlanned {
                    gameday: GD,
                    plan: Box::new(Plan {
                        n: 1,
                        scenario: "payment-errors".into(),
                        title: "Payments fail".into(),
                        target: target.clone(),
                        steady_state: target.clone(),
                        duration_secs: 900,
                        briefing: String::new(),
                        note: String::new(),
                        par_detect_secs: 60,
                        par_mitigate_secs: 60,
                        weights: BTreeMap::new(),
                    }),
                },
            );
            log.at(-56, "root", Fact::GamedayStarted { gameday: GD });
            log.at(
                -1,
                "victor",
                Fact::ScenarioStarted {
                    run: RUN,
                    scenario: Box::new(ScenarioInfo {
                        id: "payment-errors".into(),
                        title: "Payments fail".into(),
                        briefing: String::new(),
                        hypothesis: String::new(),
                        target: target.clone(),
                        duration_secs: 900,
                        steady_state: target.clone(),
                        stop_when: "outside_blast_radius_down".into(),
                        phases: vec![PhaseInfo { at_secs: 0, title: "errors".into(), driver: "demo".into() }],
                        rollback: Vec::new(),
                    }),
                    ends_at: t(900),
                    gameday: Some(GD),
                },
            );
            log.at(
                0,
                "warroom",
                Fact::ChaosStep {
                    run: RUN,
                    step: StepKind::Inject,
                    phase: Some(0),
                    driver: "demo".into(),
                    ok: true,
                    output: String::new(),
                },
            );
            log.at(
                4,
                "warroom",
                Fact::ProbeChanged {
                    probe: "payment".into(),
                    from: Health::Up,
                    to: Health::Down,
                    failed: Vec::new(),
                },
            );
            log.at(
                30,
                "alice",
                Fact::IncidentDeclared {
                    incident: INC,
                    title: "Checkout fails".into(),
                    severity: Severity::Sev2,
                    impact: String::new(),
                    drill: true,
                    services: target,
                    private: false,
                    gameday: Some(GD),
                    team: Some("red".into()),
                },
            );
            let book = crate::model::playbook::parse(
                "id = \"hero\"\ntitle = \"Hero\"\nseverities = [\"SEV2\"]\n\
                 [[steps]]\nid = \"tell\"\ntitle = \"Tell staff\"\nsection = \"communicate\"\nchannel = \"staff\"\nevery = { SEV2 = \"10m\" }\n\
                 [[steps]]\nid = \"fix\"\ntitle = \"Fix\"\nsection = \"restore\"\n",
            )
            .unwrap();
            let lib = Library {
                playbooks: vec![book],
                channels: BTreeMap::from([(
                    "staff".to_string(),
                    ChannelInfo { kind: "dry-run".into(), audience: Audience::Staff, drills: false },
                )]),
                ..Library::default()
            };
            log.at(
                30,
                "alice",
                Fact::PlaybookAttached { incident: INC, checklist: lib.checklist("hero").unwrap() },
            );
            log
        }

        /// Alice tells staff at 40 s, then restores at 50 s: communicated first.
        fn communicated(mut self) -> Log {
            let tick = |step: &str, outside| Fact::StepTicked {
                incident: INC,
                step: step.into(),
                by: None,
                outside,
            };
            self.at(40, "alice", tick("tell", Some(Audience::Staff)));
            self.at(50, "alice", tick("fix", None));
            self
        }

        fn ended(mut self, secs: i64) -> Log {
            self.at(secs, "root", Fact::GamedayEnded { gameday: GD });
            self
        }

        fn probe(mut self, secs: i64, to: Health) -> Log {
            let from = if to == Health::Up { Health::Down } else { Health::Up };
            self.at(
                secs,
                "warroom",
                Fact::ProbeChanged { probe: "payment".into(), from, to, failed: Vec::new() },
            );
            self
        }
    }

    #[test]
    fn time_to_detect_is_the_declarations_time_in_the_log_not_the_editable_milestone() {
        let mut log = Log::played();
        log.at(45, "alice", Fact::MilestoneSet { incident: INC, milestone: Milestone::Declared, time: t(1) });
        let cell = log.cell(60);
        assert_eq!((cell.incident, cell.detect_secs), (Some(INC), Some(30)));
    }

    #[test]
    fn a_communication_clock_overdue_during_the_game_costs_communicating_first() {
        let log = Log::played().communicated();
        assert_eq!(log.cell(60).comms_first, Some(true));
        // The staff clock came due at 40 s + 10 min; any later event while the game runs sees it.
        let log = log.probe(700, Health::Up);
        assert_eq!(log.cell(700).comms_first, Some(false));
    }

    #[test]
    fn a_finished_games_board_no_longer_moves() {
        let log = Log::played().communicated().ended(120);
        let at_end = log.cell(120);
        assert_eq!((at_end.comms_first, at_end.mitigate_secs, at_end.points), (Some(true), None, 150));
        // Long after the end, the drill still open: its clock came due, and payment came back.
        let later = log.probe(3600, Health::Up);
        assert_eq!(later.cell(3600), at_end);
        let mut tally = Tally::new(GD);
        later.0.iter().for_each(|e| tally.apply(e));
        assert_eq!(tally.board(t(7200)).map(|b| b.at), Some(t(120)), "judged at the end");
    }

    #[test]
    fn payment_up_again_while_the_game_runs_is_the_teams_mitigation() {
        let cell = Log::played().communicated().probe(90, Health::Up).ended(120).cell(120);
        assert_eq!((cell.mitigate_secs, cell.points), (Some(90), 100 + 100 * 60 / 90 + 50));
    }

    #[test]
    fn a_postmortem_written_at_the_debrief_scores_its_weight_and_one_after_the_finish_does_not() {
        let mut log = Log::played().communicated().ended(120);
        if let Fact::GamedayCreated { weights, .. } = &mut log.0[0].fact {
            weights.postmortem = 40;
        }
        assert_eq!(log.cell(120).points, 150);
        let written = || Fact::PostmortemWritten {
            incident: INC,
            revision: 1,
            document: crate::model::postmortem::Document { summary: "s".into(), ..Default::default() },
        };
        let mut debrief = Log(log.0.clone());
        debrief.at(600, "alice", written());
        let cell = debrief.cell(600);
        assert_eq!((cell.postmortem, cell.points), (true, 190));
        log.at(500, "root", Fact::GamedayFinished { gameday: GD });
        log.at(600, "alice", written());
        let cell = log.cell(600);
        assert_eq!((cell.postmortem, cell.points), (false, 150));
    }
}
