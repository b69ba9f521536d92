//! Game days: a game master (an admin) runs a day where villains break planned scenarios and
//! hero teams detect, communicate and restore. One aggregate with its own decide/apply, like
//! the others. What heroes may not know yet (the plans, and in the hidden styles every chaos
//! fact) is tagged with the game day as its audience (`server::hub::Readers`) and revealed at
//! debrief; scoring (`score.rs`) is a fold over the log anyone can run.

pub mod score;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::event::{Event, Fact};
use super::incident::{numbered_id, snake_enum};
use super::intent::{check_len, check_name, check_text, Intent, Rejection, MAX_NAME, MAX_TEXT, MAX_TITLE};
use super::{Context, State, UserRole};

numbered_id!(
    /// `GD-3`: game days are numbered in the order they were created.
    GameDayId,
    "GD",
    "gd",
    "a game day id"
);

snake_enum! {
    /// How much heroes are told (the three styles played at the first game days).
    Style {
        Informed = "informed",
        DungeonsAndDragons = "dungeons_and_dragons",
        FireDrill = "fire_drill",
    } what = "game day style"
}

impl Style {
    /// Whether heroes see nothing of the chaos (scenario ids, targets, driver output) until
    /// debrief.
    pub fn hides_chaos(self) -> bool {
        matches!(self, Style::DungeonsAndDragons | Style::FireDrill)
    }

    /// Whether heroes see the scoreboard while the game runs (all do after it).
    pub fn board_for_all(self) -> bool {
        matches!(self, Style::Informed | Style::FireDrill)
    }
}

snake_enum! {
    /// `planned → running → debrief → finished`.
    Stage {
        Planned = "planned",
        Running = "running",
        Debrief = "debrief",
        Finished = "finished",
    } what = "game day stage"
}

impl Stage {
    /// Before debrief: what heroes may not know yet is still hidden.
    pub fn hides(self) -> bool {
        matches!(self, Stage::Planned | Stage::Running)
    }
}

/// What each part of a team's response is worth (from the server's `[gameday]` config, fixed
/// in the game day when it is created so that its scores are recomputable from the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// Points for detecting within par; fewer the longer past par (`par / time`).
    pub detect: u32,
    /// Points for mitigating within par, the same way.
    pub mitigate: u32,
    /// Points for communicating first (every communicate step done before the first restore
    /// step, and no communication clock ever overdue).
    pub comms_first: u32,
    /// Points a hint costs.
    pub hint: u32,
    /// Points for the detecting incident's postmortem, written before the game day finished.
    pub postmortem: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { detect: 100, mitigate: 100, comms_first: 50, hint: 25, postmortem: 0 }
    }
}

/// The most of anything one game day holds: enough for a company-wide day.
pub const MAX_TEAMS: usize = 64;
pub const MAX_TEAM_SIZE: usize = 64;
pub const MAX_PLANS: usize = 32;
pub const MAX_HINTS: usize = 1000;
/// Par times are minutes, up to a day.
pub const MAX_PAR_MINUTES: u32 = 24 * 60;
pub const DEFAULT_PAR_DETECT_MINUTES: u32 = 5;
pub const DEFAULT_PAR_MITIGATE_MINUTES: u32 = 15;
/// LitmusChaos's probe weights: 0 (ignored) to 10.
pub const MAX_PROBE_WEIGHT: u8 = 10;
pub const DEFAULT_PROBE_WEIGHT: u8 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub members: BTreeSet<String>,
}

/// A scenario planned for the day: what clients may see of it (copied from the catalogue,
/// so scores never depend on files that changed since), its briefing, the villains' note,
/// and what it is judged against. Hidden from heroes until debrief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// `#1`, `#2`…: how heroes and hints refer to it without naming it.
    pub n: u32,
    pub scenario: String,
    pub title: String,
    pub target: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steady_state: Vec<String>,
    pub duration_secs: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub briefing: String,
    /// The villains' note: never shown to heroes before debrief.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    pub par_detect_secs: u64,
    pub par_mitigate_secs: u64,
    /// Steady-state probe → weight (0–10) in the resilience score.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, u8>,
}

impl Plan {
    /// A steady-state probe's weight: as planned, else the default.
    pub fn weight(&self, probe: &str) -> u8 {
        self.weights.get(probe).copied().unwrap_or(DEFAULT_PROBE_WEIGHT)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hint {
    pub at: DateTime<Utc>,
    pub by: String,
    pub team: String,
    /// The plan it helps with (`None`: general advice, charged to the team).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<u32>,
    pub text: String,
}

/// A villain (or the game master) saw a team's mitigation work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub at: DateTime<Utc>,
    pub by: String,
    pub team: String,
    pub plan: u32,
}

/// What heroes of an informed game day are told when a planned scenario starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kickoff {
    pub plan: u32,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub briefing: String,
    pub target: Vec<String>,
    pub duration_secs: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub environment: String,
    /// Where it is posted (`[gameday] kickoff_channel`), if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// How posting it went, as the server recorded it; `settled` once delivered or given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted: Option<String>,
    #[serde(default, skip_serializing_if = "crate::model::is_false")]
    pub settled: bool,
}

impl Kickoff {
    /// The kick-off message as posted to the game day's channel.
    pub fn message(&self, gameday: &str) -> String {
        let mins = self.duration_secs.div_ceil(60);
        let env =
            if self.environment.is_empty() { String::new() } else { format!(" in {}", self.environment) };
        let briefing = if self.briefing.is_empty() { String::new() } else { format!(" {}", self.briefing) };
        format!(
            "[{gameday} #{}] Starting now{env}: {} on {} for {mins} min.{briefing}",
            self.plan,
            self.title,
            self.target.join(", ")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameDay {
    pub id: GameDayId,
    pub name: String,
    pub style: Style,
    /// The admin who created it.
    pub master: String,
    pub stage: Stage,
    pub created_at: DateTime<Utc>,
    /// The seq of its creation: scoring folds the log from here.
    pub created_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub weights: Weights,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub teams: BTreeMap<String, Team>,
    /// Hidden from heroes until debrief (their copy has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<Plan>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kickoffs: Vec<Kickoff>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirmations: Vec<Confirmation>,
}

impl GameDay {
    /// The team `person` plays in.
    pub fn team_of(&self, person: &str) -> Option<&Team> {
        self.teams.values().find(|t| t.members.contains(person))
    }

    pub fn plan(&self, n: u32) -> Option<&Plan> {
        self.plans.iter().find(|p| p.n == n)
    }

    pub fn planned(&self, scenario: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.scenario == scenario)
    }

    /// Whether heroes see nothing of its chaos now.
    pub fn hides_chaos(&self) -> bool {
        self.style.hides_chaos() && self.stage.hides()
    }
}

/// Every game day, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GameDays(pub BTreeMap<GameDayId, GameDay>);

impl GameDays {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, id: GameDayId) -> Result<&GameDay, Rejection> {
        self.0.get(&id).ok_or(Rejection::UnknownGameday(id))
    }

    /// The game day not finished yet, if any (there is at most one).
    pub fn open(&self) -> Option<&GameDay> {
        self.0.values().rev().find(|g| g.stage != Stage::Finished)
    }

    /// The game day being played now.
    pub fn running(&self) -> Option<&GameDay> {
        self.open().filter(|g| g.stage == Stage::Running)
    }

    /// The newest game day.
    pub fn latest(&self) -> Option<&GameDay> {
        self.0.values().next_back()
    }
}

/// Game-day defaults from the server's config (`[gameday]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub weights: Weights,
    /// Named in informed kick-off messages (`production`, `staging`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub environment: String,
    /// Where informed kick-off messages are posted (a channel that takes drills).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kickoff_channel: Option<String>,
}

impl Intent {
    /// The game master's commands, and the heroes' and villains' parts in them.
    pub fn is_gameday(&self) -> bool {
        matches!(
            self,
            Intent::CreateGameday { .. }
                | Intent::AddTeam { .. }
                | Intent::JoinTeam { .. }
                | Intent::PlanScenario { .. }
                | Intent::StartGameday { .. }
                | Intent::GiveHint { .. }
                | Intent::ConfirmMitigation { .. }
                | Intent::EndGameday { .. }
                | Intent::FinishGameday { .. }
                | Intent::RecordKickoff { .. }
        )
    }
}

/// Who may do what in a game day: the game master's commands are an admin's; heroes
/// (commanders and responders) join teams themselves; villains (and the game master) confirm
/// a team's mitigation.
pub fn may(role: UserRole, intent: &Intent) -> bool {
    match intent {
        Intent::JoinTeam { .. } => {
            matches!(role, UserRole::Admin | UserRole::Commander | UserRole::Responder)
        }
        Intent::ConfirmMitigation { .. } => matches!(role, UserRole::Admin | UserRole::Villain),
        _ => role == UserRole::Admin,
    }
}

/// Who may send a game-day command, for a refusal to say.
pub fn who_may(intent: &Intent) -> Option<&'static str> {
    Some(match intent {
        Intent::JoinTeam { .. } => {
            ": commanders and responders join a team themselves; the game master (an admin) puts anyone in one"
        }
        Intent::ConfirmMitigation { .. } => ": only villains and the game master (an admin) confirm a mitigation",
        i if i.is_gameday() => ": only the game master (an admin) runs a game day",
        _ => return None,
    })
}

fn stage_is(g: &GameDay, allowed: &[Stage], doing: &str) -> Result<(), Rejection> {
    if allowed.contains(&g.stage) {
        return Ok(());
    }
    Err(Rejection::Conflict(format!("{} is {}: cannot {doing}", g.id, g.stage)))
}

fn team<'g>(g: &'g GameDay, name: &str) -> Result<&'g Team, Rejection> {
    g.teams.get(name.trim()).ok_or_else(|| Rejection::Invalid {
        field: "team",
        detail: format!(
            "{} has no team `{}` (teams: {})",
            g.id,
            name.trim(),
            g.teams.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    })
}

fn plan_of(g: &GameDay, n: u32) -> Result<&Plan, Rejection> {
    g.plan(n).ok_or_else(|| Rejection::Invalid {
        field: "plan",
        detail: format!("{} has no scenario #{n} planned ({} planned)", g.id, g.plans.len()),
    })
}

fn par(field: &'static str, minutes: Option<u32>, default: u32) -> Result<u64, Rejection> {
    let m = minutes.unwrap_or(default);
    if m == 0 || m > MAX_PAR_MINUTES {
        return Err(Rejection::Invalid { field, detail: format!("must be 1 to {MAX_PAR_MINUTES} minutes") });
    }
    Ok(u64::from(m) * 60)
}

pub(super) fn decide(state: &State, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
    let days = &state.gamedays;
    let fact = match intent {
        Intent::CreateGameday { name, style } => {
            check_name("name", name, MAX_TITLE)?;
            if let Some(open) = days.open() {
                return Err(Rejection::Conflict(format!(
                    "{} ({}) is {}: finish it before creating another",
                    open.id, open.name, open.stage
                )));
            }
            let gameday = match days.0.keys().next_back() {
                None => GameDayId(1),
                Some(last) => GameDayId(last.0.checked_add(1).ok_or_else(|| {
                    Rejection::Conflict(format!("{last} is the last game day number there is"))
                })?),
            };
            Fact::GamedayCreated {
                gameday,
                name: name.trim().to_string(),
                style: *style,
                weights: cx.library.gameday.weights,
            }
        }
        Intent::AddTeam { gameday, team: name } => {
            let g = days.get(*gameday)?;
            stage_is(g, &[Stage::Planned, Stage::Running], "add teams")?;
            check_name("team", name, MAX_NAME)?;
            let name = name.trim();
            if let Some(t) = g.teams.keys().find(|t| t.to_lowercase() == name.to_lowercase()) {
                return Err(Rejection::Conflict(format!("{} already has a team `{t}`", g.id)));
            }
            if g.teams.len() >= MAX_TEAMS {
                return Err(Rejection::Conflict(format!("{} already has {MAX_TEAMS} teams", g.id)));
            }
            Fact::TeamAdded { gameday: *gameday, team: name.to_string() }
        }
        Intent::JoinTeam { gameday, team: name, person } => {
            let g = days.get(*gameday)?;
            stage_is(g, &[Stage::Planned, Stage::Running], "join teams")?;
            let t = team(g, name)?;
            let person = person.as_deref().map(str::trim).filter(|p| !p.is_empty()).unwrap_or(cx.actor);
            check_name("person", person, MAX_NAME)?;
            if person != cx.actor && cx.role != UserRole::Admin {
                return Err(Rejection::Forbidden("only the game master puts someone else in a team".into()));
            }
            if person == g.master {
                return Err(Rejection::Conflict(format!("{person} is {}'s game master, not a player", g.id)));
            }
            super::incident::check_person(person, cx)?;
            if t.members.contains(person) {
                return Err(Rejection::Conflict(format!("{person} is already in team {}", t.name)));
            }
            // Moving between teams once the game runs would let one person score for two.
            if let (Stage::Running, Some(other)) = (g.stage, g.team_of(person)) {
                return Err(Rejection::Conflict(format!(
                    "{person} plays in team {} and {} is running: teams are fixed once it starts",
                    other.name, g.id
                )));
            }
            if t.members.len() >= MAX_TEAM_SIZE {
                return Err(Rejection::Conflict(format!(
                    "team {} already has {MAX_TEAM_SIZE} people",
                    t.name
                )));
            }
            Fact::TeamJoined { gameday: *gameday, team: t.name.clone(), person: person.to_string() }
        }
        Intent::PlanScenario {
            gameday,
            scenario,
            briefing,
            note,
            par_detect_minutes,
            par_mitigate_minutes,
            weights,
        } => {
            let g = days.get(*gameday)?;
            stage_is(g, &[Stage::Planned, Stage::Running], "plan scenarios")?;
            check_text("scenario", scenario, MAX_NAME)?;
            let info = cx
                .library
                .scenario(scenario.trim())
                .ok_or_else(|| Rejection::UnknownScenario(scenario.clone()))?;
            if g.planned(&info.id).is_some() {
                return Err(Rejection::Conflict(format!("{} is already planned in {}", info.id, g.id)));
            }
            if let Some(r) =
                state.chaos.active().find(|r| r.scenario.id == info.id && r.gameday != Some(g.id))
            {
                return Err(Rejection::Conflict(format!(
                    "{} is running outside {} as {}: stop it before planning it",
                    info.id, g.id, r.id
                )));
            }
            if g.plans.len() >= MAX_PLANS {
                return Err(Rejection::Conflict(format!(
                    "{} already has {MAX_PLANS} scenarios planned",
                    g.id
                )));
            }
            if let Some(b) = briefing {
                check_len("briefing", b, MAX_TEXT)?;
            }
            check_len("note", note, MAX_TEXT)?;
            for (probe, w) in weights {
                if !info.steady_state.contains(probe) {
                    return Err(Rejection::Invalid {
                        field: "weights",
                        detail: format!(
                            "`{probe}` is not one of {}'s steady-state probes ({})",
                            info.id,
                            info.steady_state.join(", ")
                        ),
                    });
                }
                if *w > MAX_PROBE_WEIGHT {
                    return Err(Rejection::Invalid {
                        field: "weights",
                        detail: format!("{probe}: {w} is over {MAX_PROBE_WEIGHT} (weights go 0 to 10)"),
                    });
                }
            }
            let n = g.plans.iter().map(|p| p.n).max().unwrap_or(0) + 1;
            Fact::ScenarioPlanned {
                gameday: *gameday,
                plan: Box::new(Plan {
                    n,
                    scenario: info.id.clone(),
                    title: info.title.clone(),
                    target: info.target.clone(),
                    steady_state: info.steady_state.clone(),
                    duration_secs: info.duration_secs,
                    briefing: briefing.as_deref().unwrap_or(&info.briefing).trim().to_string(),
                    note: note.trim().to_string(),
                    par_detect_secs: par(
                        "par_detect_minutes",
                        *par_detect_minutes,
                        DEFAULT_PAR_DETECT_MINUTES,
                    )?,
                    par_mitigate_secs: par(
                        "par_mitigate_minutes",
                        *par_mitigate_minutes,
                        DEFAULT_PAR_MITIGATE_MINUTES,
                    )?,
                    weights: weights.clone(),
                }),
            }
        }
        Intent::StartGameday { gameday } => {
            let g = days.get(*gameday)?;
            stage_is(g, &[Stage::Planned], "start")?;
            if g.teams.values().all(|t| t.members.is_empty()) {
                return Err(Rejection::Conflict(format!(
                    "{} has no players yet: add a team and join it",
                    g.id
                )));
            }
            if let Some(r) = state.chaos.active().find(|r| g.planned(&r.scenario.id).is_some()) {
                return Err(Rejection::Conflict(format!(
                    "{} is already running as {}, outside the game: stop it first",
                    r.scenario.id, r.id
                )));
            }
            Fact::GamedayStarted { gameday: *gameday }
        }
        Intent::GiveHint { gameday, team: name, plan, text } => {
            let g = days.get(*gameday)?;
            stage_is(g, &[Stage::Running], "give hints")?;
            let t = team(g, name)?;
            if let Some(n) = plan {
                plan_of(g, *n)?;
            }
            check_text("text", text, MAX_TEXT)?;
            if g.hints.len() >= MAX_HINTS {
                return Err(Rejection::Conflict(format!("{} already has {MAX_HINTS} hints", g.id)));
            }
            Fact::HintGiven {
                gameday: *gameday,
                team: t.name.clone(),
                plan: *plan,
                text: text.trim().to_string(),
            }
        }
        Intent::ConfirmMitigation { gameday, team: name, plan } => {
            let g = days.get(*gameday)?;
            stage_is(g, &[Stage::Running], "confirm mitigations")?;
            let t = team(g, name)?;
            let p = plan_of(g, *plan)?;
            // Only a fault that is in and a team that is on it can be mitigated.
            let injected = state
                .chaos
                .runs
                .values()
                .any(|r| r.gameday == Some(g.id) && r.scenario.id == p.scenario && r.injected > 0);
            if !injected {
                return Err(Rejection::Conflict(format!(
                    "#{plan} ({}) has not been injected yet",
                    p.scenario
                )));
            }
            let on_it = state.incidents.values().any(|i| {
                i.gameday == Some(g.id)
                    && i.team.as_deref() == Some(t.name.as_str())
                    && i.services.iter().any(|s| p.target.contains(s))
            });
            if !on_it {
                return Err(Rejection::Conflict(format!(
                    "team {} has no incident about #{plan}'s targets: nothing of theirs to confirm",
                    t.name
                )));
            }
            if g.confirmations.iter().any(|c| c.team == t.name && c.plan == *plan) {
                return Err(Rejection::Conflict(format!(
                    "team {}'s mitigation of #{plan} is already confirmed",
                    t.name
                )));
            }
            Fact::MitigationConfirmed { gameday: *gameday, team: t.name.clone(), plan: *plan }
        }
        Intent::EndGameday { gameday } => {
            let g = days.get(*gameday)?;
            stage_is(g, &[Stage::Running], "end")?;
            // Hidden runs were not linked to the heroes' incidents while the game ran (the link
            // names the scenario): linked now, at the reveal.
            let mut facts = vec![Fact::GamedayEnded { gameday: *gameday }];
            // The game is over: its chaos is rolled back.
            for r in state.chaos.active().filter(|r| r.gameday == Some(g.id)) {
                if r.phase != crate::model::chaos::RunPhase::Stopping {
                    facts.push(Fact::ScenarioStopping {
                        run: r.id,
                        cause: crate::model::chaos::StopCause::Stopped,
                        reason: Some(format!("{} ended", g.id)),
                    });
                }
            }
            if g.style.hides_chaos() {
                facts.extend(deferred_links(state, g, cx.now));
            }
            return Ok(facts);
        }
        Intent::FinishGameday { gameday } => {
            let g = days.get(*gameday)?;
            stage_is(g, &[Stage::Debrief], "finish")?;
            Fact::GamedayFinished { gameday: *gameday }
        }
        Intent::RecordKickoff { gameday, plan, ok, detail, last } => {
            let g = days.get(*gameday)?;
            let k = g
                .kickoffs
                .iter()
                .find(|k| k.plan == *plan)
                .ok_or_else(|| Rejection::Conflict(format!("{} has no kick-off for #{plan}", g.id)))?;
            if k.settled {
                return Err(Rejection::Conflict(format!(
                    "{}'s kick-off of #{plan} is already settled",
                    g.id
                )));
            }
            Fact::KickoffPosted {
                gameday: *gameday,
                plan: *plan,
                ok: *ok,
                detail: super::intent::clip(detail, super::intent::MAX_DETAIL),
                last: *last,
            }
        }
        other => return Err(super::misrouted("game day", other)),
    };
    Ok(vec![fact])
}

/// Each incident of a hidden game day's teams, linked to the run that caused it: the run of
/// the game day that was active when it was declared and targets one of its services.
fn deferred_links(state: &State, g: &GameDay, now: chrono::DateTime<chrono::Utc>) -> Vec<Fact> {
    let mut facts = Vec::new();
    for inc in state.incidents.values().filter(|i| i.gameday == Some(g.id) && i.caused_by.is_none()) {
        let declared = inc.declared_at();
        let run = state.chaos.runs.values().find(|r| {
            r.gameday == Some(g.id)
                && r.started_at <= declared
                && r.ended_at.is_none_or(|end| declared <= end)
                && r.scenario.target.iter().any(|t| inc.services.contains(t))
        });
        if let Some(r) = run {
            facts.push(Fact::RunLinked { incident: inc.id, run: r.id, scenario: r.scenario.id.clone() });
            facts.extend(super::chaos::started_milestone(state, inc.id, r.id, now));
        }
    }
    facts
}

/// Whether an incident declared now belongs to the running game day, and to which team:
/// - a player's is their team's drill;
/// - any other hero's (a commander or responder not playing) is a drill of the game day, so
///   that no declaration can test whether a service is a target, and nothing they declare
///   reaches customers during the game;
/// - an admin's (the game master's) is what they ask: a real outage can still be declared;
/// - a probe's (the server's) is a drill when it is about what one of the game day's runs breaks.
pub(super) fn declaring(
    state: &State,
    cx: &Context,
    drill: bool,
    services: &[String],
) -> Option<(GameDayId, Option<String>)> {
    let g = state.gamedays.running()?;
    if let Some(t) = g.team_of(cx.actor) {
        return Some((g.id, Some(t.name.clone())));
    }
    let chaos = || {
        state
            .chaos
            .active()
            .any(|r| r.gameday == Some(g.id) && r.scenario.target.iter().any(|t| services.contains(t)))
    };
    let system = cx.actor == super::incident::SYSTEM_ACTOR || cx.actor.is_empty();
    let drill = match cx.role {
        UserRole::Admin if system => chaos(),
        UserRole::Admin => drill,
        _ => true,
    };
    drill.then_some((g.id, None))
}

/// Folds the game-day facts.
pub(super) fn apply(state: &mut State, event: &Event) {
    let days = &mut state.gamedays.0;
    match &event.fact {
        Fact::GamedayCreated { gameday, name, style, weights } => {
            days.insert(
                *gameday,
                GameDay {
                    id: *gameday,
                    name: name.clone(),
                    style: *style,
                    master: event.actor.clone(),
                    stage: Stage::Planned,
                    created_at: event.at,
                    created_seq: event.seq,
                    started_at: None,
                    ended_at: None,
                    finished_at: None,
                    weights: *weights,
                    teams: BTreeMap::new(),
                    plans: Vec::new(),
                    kickoffs: Vec::new(),
                    hints: Vec::new(),
                    confirmations: Vec::new(),
                },
            );
        }
        Fact::TeamAdded { gameday, team } => {
            if let Some(g) = days.get_mut(gameday) {
                g.teams
                    .entry(team.clone())
                    .or_insert_with(|| Team { name: team.clone(), members: BTreeSet::new() });
            }
        }
        Fact::TeamJoined { gameday, team, person } => {
            if let Some(g) = days.get_mut(gameday) {
                // One team per person: joining another moves them.
                for t in g.teams.values_mut() {
                    t.members.remove(person);
                }
                if let Some(t) = g.teams.get_mut(team) {
                    t.members.insert(person.clone());
                }
            }
        }
        Fact::ScenarioPlanned { gameday, plan } => {
            if let Some(g) = days.get_mut(gameday) {
                g.plans.push((**plan).clone());
            }
        }
        Fact::GamedayStarted { gameday } => {
            if let Some(g) = days.get_mut(gameday) {
                g.stage = Stage::Running;
                g.started_at = Some(event.at);
            }
        }
        Fact::ScenarioKickedOff { gameday, kickoff } => {
            if let Some(g) = days.get_mut(gameday) {
                g.kickoffs.push(kickoff.clone());
            }
        }
        Fact::HintGiven { gameday, team, plan, text } => {
            if let Some(g) = days.get_mut(gameday) {
                g.hints.push(Hint {
                    at: event.at,
                    by: event.actor.clone(),
                    team: team.clone(),
                    plan: *plan,
                    text: text.clone(),
                });
            }
        }
        Fact::MitigationConfirmed { gameday, team, plan } => {
            if let Some(g) = days.get_mut(gameday) {
                g.confirmations.push(Confirmation {
                    at: event.at,
                    by: event.actor.clone(),
                    team: team.clone(),
                    plan: *plan,
                });
            }
        }
        Fact::GamedayEnded { gameday } => {
            if let Some(g) = days.get_mut(gameday) {
                g.stage = Stage::Debrief;
                g.ended_at = Some(event.at);
            }
        }
        Fact::GamedayFinished { gameday } => {
            if let Some(g) = days.get_mut(gameday) {
                g.stage = Stage::Finished;
                g.finished_at = Some(event.at);
            }
        }
        Fact::KickoffPosted { gameday, plan, ok, detail, last } => {
            if let Some(k) =
                days.get_mut(gameday).and_then(|g| g.kickoffs.iter_mut().find(|k| k.plan == *plan))
            {
                k.posted = Some(if *ok { format!("posted: {detail}") } else { format!("failed: {detail}") });
                k.settled = *ok || *last;
            }
        }
        _ => {}
    }
}

impl fmt::Display for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "detect {} · mitigate {} · comms first {} · hint −{} · postmortem {}",
            self.detect, self.mitigate, self.comms_first, self.hint, self.postmortem
        )
    }
}

#[cfg(test)]
mod tests {
    use super::score::{timed_points, Tally};
    use super::*;
    use crate::model::chaos::StepKind;
    use crate::model::library::Library;
    use crate::model::probe::Health;
    use crate::model::tests::t;
    use crate::model::{stamp, Severity};
    use uuid::Uuid;

    fn library() -> Library {
        let hero = crate::model::playbook::parse(include_str!("../../playbooks/gameday-hero.toml")).unwrap();
        Library {
            playbooks: vec![hero],
            scenarios: vec![
                crate::model::chaos::parse(crate::model::chaos::tests::PRICE_DESYNC).unwrap().info(),
                crate::model::chaos::parse(STOCK_LOCK).unwrap().info(),
            ],
            ..Library::default()
        }
    }

    const STOCK_LOCK: &str = r#"
id = "stock-lock"
title = "The stock table is locked"
target = ["stock"]
duration = "10m"
steady_state = ["stock"]
[[phase]]
after = "0s"
inject = { driver = "demo", fault = "table_lock", table = "stock" }
"#;

    /// A log being written: decides as `actor` with `role` at `t(secs)`, keeping every event.
    struct Day {
        state: State,
        log: Vec<Event>,
        lib: Library,
    }

    impl Day {
        fn new() -> Day {
            Day { state: State::default(), log: Vec::new(), lib: library() }
        }

        fn try_as(
            &mut self,
            secs: u32,
            actor: &str,
            role: UserRole,
            intent: Intent,
        ) -> Result<Vec<Event>, Rejection> {
            let cx = Context { library: &self.lib, now: t(secs), command_id: Uuid::nil(), role, actor };
            if !role.may(&intent) {
                return Err(Rejection::Forbidden(format!("{role} may not {}", intent.kind())));
            }
            let facts = self.state.decide_with(&intent, &cx)?;
            let events = stamp(self.state.seq + 1, t(secs), actor, role, Uuid::nil(), facts);
            for e in &events {
                self.state.apply(e);
                self.log.push(e.clone());
            }
            Ok(events)
        }

        fn act(&mut self, secs: u32, actor: &str, role: UserRole, intent: Intent) -> Vec<Event> {
            let kind = intent.kind();
            self.try_as(secs, actor, role, intent).unwrap_or_else(|e| panic!("{kind}: {e}"))
        }

        fn gm(&mut self, secs: u32, intent: Intent) -> Vec<Event> {
            self.act(secs, "gm", UserRole::Admin, intent)
        }

        /// The runner's records, as the server's own.
        fn runner(&mut self, secs: u32, intent: Intent) -> Vec<Event> {
            let cx = Context {
                library: &self.lib,
                now: t(secs),
                command_id: Uuid::nil(),
                role: UserRole::Admin,
                actor: "warroom",
            };
            let facts = self.state.decide_with(&intent, &cx).unwrap();
            let events = stamp(self.state.seq + 1, t(secs), "warroom", UserRole::Admin, Uuid::nil(), facts);
            for e in &events {
                self.state.apply(e);
                self.log.push(e.clone());
            }
            events
        }

        fn probe(&mut self, secs: u32, probe: &str, health: Health) {
            self.runner(
                secs,
                Intent::RecordProbe { probe: probe.into(), health, failed: Vec::new(), auto_declare: None },
            );
        }

        fn board(&self, now: u32) -> score::Board {
            let mut tally = Tally::new(GameDayId(1));
            for e in &self.log {
                tally.apply(e);
            }
            tally.board(t(now)).unwrap()
        }
    }

    fn declare(services: &[&str]) -> Intent {
        Intent::DeclareIncident {
            title: "prices look wrong".into(),
            severity: Severity::Sev2,
            impact: String::new(),
            drill: false,
            services: services.iter().map(|s| s.to_string()).collect(),
            private: false,
        }
    }

    fn tick(incident: u64, step: &str) -> Intent {
        Intent::TickStep { incident: crate::model::IncidentId(incident), step: step.into() }
    }

    const G: GameDayId = GameDayId(1);

    /// Created, two teams (alice+bob red, carol blue), price-desync planned (par 5m/15m), started.
    fn playing(style: Style) -> Day {
        let mut d = Day::new();
        d.probe(0, "search", Health::Up);
        d.probe(0, "listing", Health::Up);
        d.gm(1, Intent::CreateGameday { name: "GameDay #2".into(), style });
        d.gm(2, Intent::AddTeam { gameday: G, team: "red".into() });
        d.gm(3, Intent::AddTeam { gameday: G, team: "blue".into() });
        d.act(
            4,
            "alice",
            UserRole::Commander,
            Intent::JoinTeam { gameday: G, team: "red".into(), person: None },
        );
        d.gm(5, Intent::JoinTeam { gameday: G, team: "red".into(), person: Some("bob".into()) });
        d.act(
            6,
            "carol",
            UserRole::Responder,
            Intent::JoinTeam { gameday: G, team: "blue".into(), person: None },
        );
        d.gm(
            7,
            Intent::PlanScenario {
                gameday: G,
                scenario: "price-desync".into(),
                briefing: None,
                note: "the indexer is paused, not dead".into(),
                par_detect_minutes: None,
                par_mitigate_minutes: None,
                weights: BTreeMap::from([("listing".into(), 5)]),
            },
        );
        d.gm(8, Intent::StartGameday { gameday: G });
        d
    }

    #[test]
    fn who_runs_a_game_day_and_what_its_stages_allow() {
        let mut d = Day::new();
        let create = Intent::CreateGameday { name: "x".into(), style: Style::FireDrill };
        assert!(matches!(
            d.try_as(0, "alice", UserRole::Commander, create.clone()),
            Err(Rejection::Forbidden(_))
        ));
        d.gm(0, create.clone());
        assert!(
            matches!(d.try_as(1, "gm", UserRole::Admin, create), Err(Rejection::Conflict(_))),
            "one at a time"
        );
        assert_eq!(
            d.try_as(1, "gm", UserRole::Admin, Intent::StartGameday { gameday: GameDayId(9) }),
            Err(Rejection::UnknownGameday(GameDayId(9)))
        );
        assert!(
            matches!(d.try_as(1, "gm", UserRole::Admin, Intent::StartGameday { gameday: G }), Err(Rejection::Conflict(m)) if m.contains("no players"))
        );
        d.gm(2, Intent::AddTeam { gameday: G, team: "red".into() });
        let join_other = Intent::JoinTeam { gameday: G, team: "red".into(), person: Some("bob".into()) };
        assert!(matches!(
            d.try_as(3, "alice", UserRole::Commander, join_other),
            Err(Rejection::Forbidden(_))
        ));
        let villain_joins = Intent::JoinTeam { gameday: G, team: "red".into(), person: None };
        assert!(matches!(
            d.try_as(3, "vera", UserRole::Villain, villain_joins),
            Err(Rejection::Forbidden(_))
        ));
        let bad_team = Intent::AddTeam { gameday: G, team: "red\u{1b}[2J".into() };
        assert!(matches!(
            d.try_as(3, "gm", UserRole::Admin, bad_team),
            Err(Rejection::Invalid { field: "team", .. })
        ));
        d.act(
            4,
            "alice",
            UserRole::Commander,
            Intent::JoinTeam { gameday: G, team: "red".into(), person: None },
        );
        d.gm(5, Intent::StartGameday { gameday: G });
        assert!(matches!(
            d.try_as(6, "gm", UserRole::Admin, Intent::FinishGameday { gameday: G }),
            Err(Rejection::Conflict(_))
        ));
        d.gm(7, Intent::EndGameday { gameday: G });
        assert!(matches!(
            d.try_as(
                8,
                "gm",
                UserRole::Admin,
                Intent::GiveHint { gameday: G, team: "red".into(), plan: None, text: "x".into() }
            ),
            Err(Rejection::Conflict(_))
        ));
        d.gm(9, Intent::FinishGameday { gameday: G });
        // Finished: the next one may be created.
        d.gm(10, Intent::CreateGameday { name: "next".into(), style: Style::Informed });
        assert_eq!(d.state.gamedays.open().map(|g| g.id), Some(GameDayId(2)));
    }

    #[test]
    fn while_a_game_day_runs_incidents_are_its_teams_drills_and_chaos_is_its_plan() {
        let mut d = playing(Style::DungeonsAndDragons);
        let unplanned = Intent::StartScenario { scenario: "other".into() };
        assert!(d.try_as(10, "vera", UserRole::Villain, unplanned).is_err());
        let started =
            d.act(10, "vera", UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() });
        assert!(matches!(&started[0].fact, Fact::ScenarioStarted { gameday: Some(G), .. }));
        assert_eq!(started.len(), 1, "no kick-off in dungeons & dragons");
        let declared = d.act(20, "bob", UserRole::Responder, declare(&["search"]));
        let Fact::IncidentDeclared { drill, gameday, team, .. } = &declared[0].fact else { panic!() };
        assert_eq!((*drill, *gameday, team.as_deref()), (true, Some(G), Some("red")));
        assert!(
            !declared.iter().any(|e| matches!(e.fact, Fact::RunLinked { .. })),
            "the link would name the scenario"
        );
        // The game master (not a player) declares as asked: a real incident stays real.
        let real = d.gm(21, declare(&["payment"]));
        assert!(matches!(
            &real[0].fact,
            Fact::IncidentDeclared { drill: false, team: None, gameday: None, .. }
        ));
        // At debrief the hidden run is linked to the team's incident.
        let ended = d.gm(30, Intent::EndGameday { gameday: G });
        assert!(
            ended.iter().any(|e| matches!(&e.fact, Fact::RunLinked { incident, .. } if incident.0 == 1)),
            "{ended:?}"
        );
        // The game is over: its run is rolled back.
        assert!(ended
            .iter()
            .any(|e| matches!(&e.fact, Fact::ScenarioStopping { reason: Some(r), .. } if r == "GD-1 ended")));
        assert_eq!(
            d.state.incidents[&crate::model::IncidentId(1)].caused_by,
            Some(crate::model::chaos::RunId(1))
        );
    }

    #[test]
    fn an_informed_game_day_kicks_each_scenario_off_in_the_open() {
        let mut d = playing(Style::Informed);
        let started =
            d.act(10, "vera", UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() });
        let Fact::ScenarioKickedOff { kickoff, .. } = &started[1].fact else { panic!("{started:?}") };
        assert_eq!(
            (kickoff.plan, kickoff.target.clone(), kickoff.duration_secs),
            (1, vec!["search".into(), "listing".into()], 1200)
        );
        assert_eq!(
            kickoff.message("GD-1"),
            "[GD-1 #1] Starting now: Prices differ between product page and listing on search, listing for 20 min. Our CTO sees different prices"
        );
        // Informed: the link is made at once, as outside a game day.
        let declared = d.act(20, "bob", UserRole::Responder, declare(&["search"]));
        assert!(declared.iter().any(|e| matches!(e.fact, Fact::RunLinked { .. })));
    }

    /// The worked example of the README: par 5 min to detect, 15 to mitigate, default weights.
    #[test]
    fn a_fire_drill_scores_detection_mitigation_comms_and_hints_against_par() {
        let mut d = playing(Style::FireDrill);
        d.act(100, "vera", UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() });
        d.runner(
            100,
            Intent::RecordChaos {
                run: crate::model::chaos::RunId(1),
                step: StepKind::SteadyState,
                phase: None,
                driver: String::new(),
                ok: true,
                output: String::new(),
            },
        );
        d.runner(
            120,
            Intent::RecordChaos {
                run: crate::model::chaos::RunId(1),
                step: StepKind::Inject,
                phase: Some(0),
                driver: "demo".into(),
                ok: true,
                output: "ok".into(),
            },
        );
        d.probe(150, "listing", Health::Down);
        // Red: detects in 3 min (within par), tells staff and the status page first, restores.
        d.act(300, "alice", UserRole::Commander, declare(&["listing"]));
        d.act(310, "alice", UserRole::Commander, tick(1, "notify-staff"));
        d.act(320, "bob", UserRole::Responder, tick(1, "status-page"));
        d.act(700, "bob", UserRole::Responder, tick(1, "restore"));
        // Blue: a hint, then detects at 10 min (twice par), restores before telling anyone.
        d.gm(
            400,
            Intent::GiveHint {
                gameday: G,
                team: "blue".into(),
                plan: Some(1),
                text: "look at the listing".into(),
            },
        );
        d.act(720, "carol", UserRole::Responder, declare(&["search", "listing"]));
        d.act(730, "carol", UserRole::Responder, tick(2, "restore"));
        // The listing probe recovers at 20 min: mitigated for both teams that had detected.
        d.probe(1320, "listing", Health::Up);
        d.gm(
            1330,
            Intent::GiveHint { gameday: G, team: "blue".into(), plan: None, text: "talk first".into() },
        );
        let b = d.board(1400);
        let red = b.teams.iter().find(|t| t.team == "red").unwrap();
        let blue = b.teams.iter().find(|t| t.team == "blue").unwrap();
        // Red: detect 180 s ≤ 300 → 100; mitigate 1200 s > 900 → 100 × 900 / 1200 = 75; comms 50.
        assert_eq!(
            (red.cells[0].detect_secs, red.cells[0].mitigate_secs, red.cells[0].comms_first),
            (Some(180), Some(1200), Some(true))
        );
        assert_eq!((red.cells[0].points, red.points, red.rank), (225, 225, 1));
        // Blue: detect 600 s → 100 × 300 / 600 = 50; mitigate 1200 s → 75; no comms; a hint on
        // it −25; a general hint −25.
        assert_eq!(
            (blue.cells[0].detect_secs, blue.cells[0].mitigate_secs, blue.cells[0].comms_first),
            (Some(600), Some(1200), Some(false))
        );
        assert_eq!(
            (blue.cells[0].hints, blue.cells[0].points, blue.general_hints, blue.points, blue.rank),
            (1, 100, 1, 75, 2)
        );
        assert_eq!(timed_points(100, 300, 600), 50);
        // Resilience once judged: listing (weight 5) held, search (default 10) did not: 5/15.
        d.runner(
            1500,
            Intent::FinishScenario {
                run: crate::model::chaos::RunId(1),
                verdict: Some(crate::model::chaos::Verdict {
                    deviated: true,
                    probes: BTreeMap::from([("listing".into(), Health::Up), ("search".into(), Health::Down)]),
                }),
            },
        );
        let b = d.board(1500);
        assert_eq!(b.scenarios[0].resilience.map(|r| (r * 10.0).round()), Some(333.0));
        // Concealed for heroes: no names, nor which incident scored (its services name the
        // target); the same numbers.
        let c = b.clone().concealed();
        assert!(c.scenarios[0].scenario.is_none() && c.scenarios[0].target.is_empty());
        let points =
            |b: &score::Board| b.teams.iter().map(|t| (t.points, t.cells[0].detect_secs)).collect::<Vec<_>>();
        assert_eq!(points(&c), points(&b));
        assert!(
            c.teams.iter().all(|t| t.cells[0].incident.is_none()) && b.teams[0].cells[0].incident.is_some()
        );

        // One incident catches one scenario, and only while it is live: blue's second incident,
        // declared after the run was judged, naming every service, catches nothing.
        d.act(1600, "carol", UserRole::Responder, declare(&["search", "listing", "payment"]));
        assert_eq!(d.board(1700).teams, b.teams);
    }

    #[test]
    fn a_rollback_is_not_the_teams_mitigation_but_a_villains_confirmation_is() {
        let mut d = playing(Style::FireDrill);
        d.act(100, "vera", UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() });
        d.runner(
            120,
            Intent::RecordChaos {
                run: crate::model::chaos::RunId(1),
                step: StepKind::Inject,
                phase: Some(0),
                driver: "demo".into(),
                ok: true,
                output: String::new(),
            },
        );
        d.probe(130, "search", Health::Down);
        d.act(200, "carol", UserRole::Responder, declare(&["search"]));
        // Detected before the inject does not count; a declaration about another service neither.
        d.act(210, "alice", UserRole::Commander, declare(&["payment"]));
        d.act(
            400,
            "vera",
            UserRole::Villain,
            Intent::StopScenario { run: crate::model::chaos::RunId(1), reason: None },
        );
        d.probe(410, "search", Health::Up);
        let b = d.board(500);
        let blue = b.teams.iter().find(|t| t.team == "blue").unwrap();
        let red = b.teams.iter().find(|t| t.team == "red").unwrap();
        assert_eq!((blue.cells[0].detect_secs, blue.cells[0].mitigate_secs), (Some(80), None));
        assert_eq!((red.cells[0].detect_secs, red.cells[0].incident), (None, None));
        // A villain saw red's... no: red never detected, so a confirmation for red scores nothing
        // but the confirmation for blue does.
        d.act(
            450,
            "vera",
            UserRole::Villain,
            Intent::ConfirmMitigation { gameday: G, team: "blue".into(), plan: 1 },
        );
        let b = d.board(500);
        let blue = b.teams.iter().find(|t| t.team == "blue").unwrap();
        assert_eq!(blue.cells[0].mitigate_secs, Some(330));
        assert!(matches!(
            d.try_as(
                460,
                "bob",
                UserRole::Responder,
                Intent::ConfirmMitigation { gameday: G, team: "red".into(), plan: 1 }
            ),
            Err(Rejection::Forbidden(_))
        ));
    }

    /// What the attacker's pass found, refused: a planned scenario started before its game day
    /// (it ran in the open, unscored), moving teams mid-game, confirming a mitigation before
    /// the fault or without the team on it, look-alike names, and a non-player hero testing
    /// which services are targets by declaring.
    #[test]
    fn the_games_rules_hold_against_a_cheat() {
        let mut d = Day::new();
        d.gm(1, Intent::CreateGameday { name: "GameDay".into(), style: Style::DungeonsAndDragons });
        d.gm(2, Intent::AddTeam { gameday: G, team: "red".into() });
        for bad in ["RED", "r\u{200B}ed", "\u{202E}der", "blue\u{2066}"] {
            let refused =
                d.try_as(3, "gm", UserRole::Admin, Intent::AddTeam { gameday: G, team: bad.into() });
            assert!(refused.is_err(), "{bad:?} accepted");
        }
        d.gm(4, Intent::AddTeam { gameday: G, team: "blue".into() });
        d.act(
            5,
            "alice",
            UserRole::Commander,
            Intent::JoinTeam { gameday: G, team: "red".into(), person: None },
        );
        let plan = Intent::PlanScenario {
            gameday: G,
            scenario: "price-desync".into(),
            briefing: None,
            note: String::new(),
            par_detect_minutes: None,
            par_mitigate_minutes: None,
            weights: BTreeMap::new(),
        };
        d.gm(6, plan);
        let early =
            d.try_as(7, "vera", UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() });
        assert!(matches!(early, Err(Rejection::Conflict(m)) if m.contains("has not started")));
        d.gm(8, Intent::StartGameday { gameday: G });
        let moved = d.try_as(
            9,
            "alice",
            UserRole::Commander,
            Intent::JoinTeam { gameday: G, team: "blue".into(), person: None },
        );
        assert!(matches!(moved, Err(Rejection::Conflict(m)) if m.contains("teams are fixed")));
        let confirm = Intent::ConfirmMitigation { gameday: G, team: "red".into(), plan: 1 };
        let before = d.try_as(10, "vera", UserRole::Villain, confirm.clone());
        assert!(matches!(before, Err(Rejection::Conflict(m)) if m.contains("not been injected")));
        d.act(11, "vera", UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() });
        d.runner(
            12,
            Intent::RecordChaos {
                run: crate::model::chaos::RunId(1),
                step: StepKind::Inject,
                phase: Some(0),
                driver: "demo".into(),
                ok: true,
                output: String::new(),
            },
        );
        let idle = d.try_as(13, "vera", UserRole::Villain, confirm.clone());
        assert!(matches!(idle, Err(Rejection::Conflict(m)) if m.contains("no incident")));
        // bob plays in no team: whatever he declares is a drill of the game day, target or not,
        // so the drill flag tells him nothing.
        for services in [["search"], ["payment"]] {
            let ev = d.act(14, "bob", UserRole::Responder, declare(&services));
            assert!(
                matches!(
                    &ev[0].fact,
                    Fact::IncidentDeclared { drill: true, gameday: Some(G), team: None, .. }
                ),
                "{services:?}"
            );
        }
        d.act(15, "alice", UserRole::Commander, declare(&["listing"]));
        d.act(16, "vera", UserRole::Villain, confirm);
    }

    /// Two scenarios live at once: an incident naming every service catches only the one
    /// injected last; the other needs an incident of its own.
    #[test]
    fn one_incident_catches_one_live_scenario() {
        let mut d = playing(Style::FireDrill);
        let plan = Intent::PlanScenario {
            gameday: G,
            scenario: "stock-lock".into(),
            briefing: None,
            note: String::new(),
            par_detect_minutes: None,
            par_mitigate_minutes: None,
            weights: BTreeMap::new(),
        };
        d.gm(9, plan);
        for (secs, scenario, run) in [(100, "price-desync", 1), (110, "stock-lock", 2)] {
            d.act(secs, "vera", UserRole::Villain, Intent::StartScenario { scenario: scenario.into() });
            d.runner(
                secs + 1,
                Intent::RecordChaos {
                    run: crate::model::chaos::RunId(run),
                    step: StepKind::Inject,
                    phase: Some(0),
                    driver: "demo".into(),
                    ok: true,
                    output: String::new(),
                },
            );
        }
        d.act(200, "carol", UserRole::Responder, declare(&["search", "listing", "stock"]));
        let blue = |d: &Day| d.board(300).teams.into_iter().find(|t| t.team == "blue").unwrap();
        let cells = blue(&d).cells;
        assert_eq!((cells[0].detect_secs, cells[1].detect_secs), (None, Some(89)), "{cells:?}");
        d.act(250, "carol", UserRole::Responder, declare(&["search"]));
        assert_eq!(blue(&d).cells[0].detect_secs, Some(149));
    }

    #[test]
    fn a_finished_game_days_board_no_longer_moves() {
        let mut d = playing(Style::FireDrill);
        d.gm(10, Intent::EndGameday { gameday: G });
        d.gm(11, Intent::FinishGameday { gameday: G });
        let mut tally = Tally::new(G);
        for e in &d.log {
            tally.apply(e);
        }
        assert!(tally.is_finished());
        let before = tally.board(t(20)).unwrap();
        let seq = tally.seq();
        d.act(30, "alice", UserRole::Commander, declare(&["search"]));
        d.probe(40, "search", Health::Down);
        for e in &d.log {
            if !tally.is_finished() {
                tally.apply(e);
            }
        }
        assert_eq!((tally.seq(), tally.board(t(9000)).unwrap()), (seq, before));
    }

    /// Game-day facts as this version writes them: logs are kept for years, so these bodies
    /// must always read as these facts.
    #[test]
    fn gameday_facts_read_as_written_today() {
        let env = r#""seq":9,"at":"2026-11-22T10:00:00Z","actor":"gm","role":"admin","command_id":"00000000-0000-0000-0000-000000000000""#;
        let bodies = [
            r#""kind":"gameday_created","gameday":"GD-1","name":"GameDay #2","style":"fire_drill","weights":{"detect":100,"mitigate":100,"comms_first":50,"hint":25,"postmortem":0}"#,
            r#""kind":"team_added","gameday":"GD-1","team":"red""#,
            r#""kind":"team_joined","gameday":"GD-1","team":"red","person":"bob""#,
            r#""kind":"scenario_planned","gameday":"GD-1","plan":{"n":1,"scenario":"price-desync","title":"Prices","target":["search"],"steady_state":["search"],"duration_secs":1200,"briefing":"two prices","note":"paused","par_detect_secs":300,"par_mitigate_secs":900,"weights":{"search":5}}"#,
            r#""kind":"gameday_started","gameday":"GD-1""#,
            r#""kind":"scenario_kicked_off","gameday":"GD-1","kickoff":{"plan":1,"title":"Prices","briefing":"two prices","target":["search"],"duration_secs":1200,"environment":"staging","channel":"gameday"}"#,
            r#""kind":"kickoff_posted","gameday":"GD-1","plan":1,"ok":true,"detail":"HTTP 200""#,
            r#""kind":"hint_given","gameday":"GD-1","team":"red","plan":1,"text":"look at the indexer""#,
            r#""kind":"mitigation_confirmed","gameday":"GD-1","team":"red","plan":1"#,
            r#""kind":"incident_declared","incident":"INC-3","title":"two prices","severity":"SEV2","impact":"","drill":true,"services":["search"],"gameday":"GD-1","team":"red""#,
            r#""kind":"scenario_started","run":"RUN-1","scenario":{"id":"price-desync","title":"Prices","target":["search"],"duration_secs":1200,"stop_when":"never","phases":[]},"ends_at":"2026-11-22T10:20:00Z","gameday":"GD-1""#,
            r#""kind":"gameday_ended","gameday":"GD-1""#,
            r#""kind":"gameday_finished","gameday":"GD-1""#,
        ];
        let mut s = State::default();
        for body in bodies {
            let json = format!("{{{env},{body}}}");
            let e: Event = serde_json::from_str(&json).unwrap_or_else(|err| panic!("{json}: {err}"));
            assert!(!matches!(e.fact, Fact::Unknown(_)), "{json} read as unknown");
            let back = serde_json::to_value(&e).unwrap();
            assert_eq!(back, serde_json::from_str::<serde_json::Value>(&json).unwrap(), "{json}");
            s.seq = 0;
            s.apply(&e);
        }
        let g = &s.gamedays.0[&G];
        assert_eq!(
            (g.stage, g.teams["red"].members.len(), g.plans.len(), g.hints.len()),
            (Stage::Finished, 1, 1, 1)
        );
        assert_eq!(g.kickoffs[0].posted.as_deref(), Some("posted: HTTP 200"));
        assert!(g.kickoffs[0].settled);
        let inc = &s.incidents[&crate::model::IncidentId(3)];
        assert_eq!((inc.gameday, inc.team.as_deref()), (Some(G), Some("red")));
        assert_eq!(s.chaos.runs[&crate::model::chaos::RunId(1)].gameday, Some(G));
    }
}
