//! Totality properties of the model: random intents (and a damaged log's facts) at any time
//! never panic decide, apply or presentation, and every log folds the same live and from JSON.
//!
//! Bounded for `cargo test` (96 cases); `PROPTEST_CASES=N` runs more. The generator's seed is
//! fixed, so a run is deterministic and a failure in CI is the same failure on a laptop;
//! `PROPTEST_RNG_SEED=N` explores other inputs (a failure's seed is kept in `proptest-regressions/`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::comms::{clocks, describe, render_step, template_values};
use super::event::UnknownFact;
use super::incident::{format_duration, ComponentStatus};
use super::intent::{Rejection, MAX_NAME, MAX_TEXT, MAX_TITLE};
use super::library::ChannelInfo;
use super::probe::{self, Condition, Health, Observation};
use super::{
    playbook, stamp, Audience, Context, Event, Fact, IncidentId, Intent, Library, Milestone, Role, Severity,
    State, Status, UserRole,
};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(96)
}

/// The seed every property of the model starts from, unless `PROPTEST_RNG_SEED` names another.
const SEED: u64 = 0x0077_6172_726f_6f6d;

/// Proptest's configuration for the model's properties: `cases` of them, from a fixed seed.
pub(super) fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig { cases, ..ProptestConfig::default() };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(SEED);
    }
    config
}

/// The shipped playbooks and the channels they name: the comms paths run for real.
fn library() -> Library {
    let files = [
        include_str!("../../playbooks/data-loss.toml"),
        include_str!("../../playbooks/degraded-performance.toml"),
        include_str!("../../playbooks/gameday-hero.toml"),
        include_str!("../../playbooks/major-outage.toml"),
        include_str!("../../playbooks/security-incident.toml"),
    ];
    let channel = |kind: &str, audience| ChannelInfo { kind: kind.into(), audience, drills: false };
    Library {
        playbooks: files.iter().map(|f| playbook::parse(f).expect("shipped playbooks parse")).collect(),
        channels: BTreeMap::from([
            ("staff".into(), channel("webhook", Audience::Staff)),
            ("public".into(), channel("statuspage", Audience::StatusPage)),
            ("customers".into(), channel("email", Audience::Customers)),
            ("socials".into(), channel("dry_run", Audience::Socials)),
        ]),
        status_page_url: "https://status.example.com/".into(),
        components: vec!["search".into(), "payment".into()],
        users: Vec::new(),
        scenarios: vec![super::chaos::parse(super::chaos::tests::PRICE_DESYNC)
            .expect("the test scenario parses")
            .info()],
        gameday: Default::default(),
        postmortem: Default::default(),
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).expect("in range")
}

fn ymd(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|date| date.and_hms_opt(h, mi, s))
        .map_or(DateTime::UNIX_EPOCH, |n| n.and_utc())
}

/// Mostly near `t0`, often at the edges of what chrono can represent.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    let (min, max) = (DateTime::<Utc>::MIN_UTC.timestamp(), DateTime::<Utc>::MAX_UTC.timestamp());
    prop_oneof![
        6 => (-7200i64..7200).prop_map(|s| t0() + Duration::seconds(s)),
        2 => prop::sample::select(vec![
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::MAX_UTC - Duration::seconds(1),
            DateTime::<Utc>::MIN_UTC + Duration::seconds(1),
            DateTime::UNIX_EPOCH,
            DateTime::UNIX_EPOCH - Duration::seconds(1),
            t0() - Duration::seconds(1),
            t0() + Duration::seconds(1),
            t0() + Duration::days(1),
            t0() + Duration::days(1) + Duration::seconds(1),
            ymd(262142, 12, 31, 23, 59, 59),
            ymd(-262143, 1, 1, 0, 0, 0),
            ymd(0, 1, 1, 0, 0, 0),
            ymd(9999, 12, 31, 23, 59, 59),
            ymd(10000, 1, 1, 0, 0, 0),
        ]),
        // Anywhere, leap-second nanoseconds included.
        1 => (min..=max, 0u32..2_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap_or(DateTime::UNIX_EPOCH)),
    ]
}

const WEIRD: &[&str] = &[
    "\u{202E}txet lanigiro\u{202C}",
    "e\u{301}\u{302}\u{303}",
    "🔥👩\u{200D}🚒🏳️\u{200D}🌈",
    "\0",
    "\x1b[2J\x1b]0;pwned\x07",
    "\u{9b}31m",
    "\r\n\t",
    "\u{FEFF}\u{200B}",
    "INC-1",
    "{{title}} {{next_update}} {{",
    "}}{{",
    "%H:%M %Y",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        14 => "[a-z][a-z -]{0,11}",
        1 => Just(String::new()),
        1 => Just("   ".to_string()),
        3 => prop::sample::select(WEIRD).prop_map(String::from),
        1 => any::<String>(),
        1 => (prop::sample::select(WEIRD), 1usize..200).prop_map(|(w, n)| w.repeat(n)),
        1 => prop::sample::select(vec![MAX_NAME, MAX_NAME + 1, MAX_TITLE + 1, MAX_TEXT, MAX_TEXT + 1])
            .prop_map(|n| "ж".repeat(n)),
    ]
}

/// A service, probe, component or person: usually one of a few, so they meet.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["payment", "search", "carol"]).prop_map(String::from),
        1 => text(),
    ]
}

/// A step id: usually one the shipped playbooks have.
fn step_id() -> impl Strategy<Value = String> {
    let ids: Vec<String> =
        library().playbooks.iter().flat_map(|p| p.steps.iter().map(|s| s.id.clone())).collect();
    prop_oneof![4 => prop::sample::select(ids), 1 => text()]
}

fn channel() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["staff", "public", "customers", "socials"]).prop_map(String::from),
        1 => text(),
    ]
}

fn playbook_id() -> impl Strategy<Value = String> {
    let ids: Vec<String> = library().playbooks.iter().map(|p| p.id.clone()).collect();
    prop_oneof![4 => prop::sample::select(ids), 1 => text()]
}

fn incident() -> impl Strategy<Value = IncidentId> {
    prop_oneof![
        8 => (1u64..4).prop_map(IncidentId),
        1 => Just(IncidentId(u64::MAX)),
        1 => any::<u64>().prop_map(|n| IncidentId(n.max(1))),
    ]
}

fn pick<T: Clone + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    prop::sample::select(all)
}

fn severity() -> impl Strategy<Value = Severity> {
    pick(&Severity::ALL)
}

fn minutes() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 1u32..=240, 1 => prop::sample::select(vec![0, 241, u32::MAX]), 1 => any::<u32>()]
}

fn names(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![4 => prop::collection::vec(name(), 0..4), 1 => prop::collection::vec(name(), 0..max)]
}

/// A free reason, or one that names a closure reason.
fn reason() -> impl Strategy<Value = Option<String>> {
    let closure = pick(&["resolved", "duplicate: of INC-1", "cancelled", "false_positive"]);
    prop_oneof![prop::option::of(text()), closure.prop_map(|c| Some(c.to_string()))]
}

/// Every intent a client or the server can send. `RecordDelivery`'s nil message id is
/// resolved against the state when it runs, so deliveries reach real messages.
fn intent() -> impl Strategy<Value = Intent> {
    use Intent as I;
    let declare = (text(), severity(), text(), any::<bool>(), names(40), any::<bool>()).prop_map(
        |(title, severity, impact, drill, services, private)| I::DeclareIncident {
            title,
            severity,
            impact,
            drill,
            services,
            private,
        },
    );
    let probe =
        (name(), pick(Health::ALL), prop::collection::vec(text(), 0..40), prop::option::of(severity()))
            .prop_map(|(probe, health, failed, auto_declare)| I::RecordProbe {
                probe,
                health,
                failed,
                auto_declare,
            });
    let delivery =
        (incident(), any::<bool>(), text(), any::<bool>()).prop_map(|(incident, ok, detail, last)| {
            I::RecordDelivery { incident, message: Uuid::nil(), ok, detail, last }
        });
    let send = (incident(), channel(), text(), prop::option::of(step_id())).prop_map(
        |(incident, channel, text, step)| I::SendMessage { incident, channel, text, step, status: None },
    );
    use super::chaos::{RunId, StepKind, StopCause, Verdict};
    let run = || prop_oneof![4 => (1u64..4).prop_map(RunId), 1 => any::<u64>().prop_map(RunId)];
    let scenario = prop_oneof![3 => Just("price-desync".to_string()), 1 => text()];
    let chaos = prop_oneof![
        3 => scenario.prop_map(|scenario| I::StartScenario { scenario }),
        1 => (run(), reason()).prop_map(|(run, reason)| I::StopScenario { run, reason }),
        1 => text().prop_map(|reason| I::HaltAll { reason }),
        1 => Just(I::ArmChaos {}),
        3 => (run(), pick(StepKind::ALL), prop::option::of(0usize..3), name(), any::<bool>(), text())
            .prop_map(|(run, step, phase, driver, ok, output)| I::RecordChaos { run, step, phase, driver, ok, output }),
        1 => (run(), pick(StopCause::ALL), reason()).prop_map(|(run, cause, reason)| I::EndScenario { run, cause, reason }),
        1 => (run(), any::<bool>()).prop_map(|(run, deviated)| I::FinishScenario {
            run,
            verdict: Some(Verdict { deviated, probes: Default::default() }),
        }),
    ];
    use super::gameday::{GameDayId, Style};
    let gd = || prop_oneof![6 => Just(GameDayId(1)), 1 => (1u64..4).prop_map(GameDayId), 1 => any::<u64>().prop_map(GameDayId)];
    let team =
        || prop_oneof![4 => prop::sample::select(vec!["red", "blue"]).prop_map(String::from), 1 => text()];
    let plan = || prop_oneof![4 => 1u32..3, 1 => any::<u32>()];
    let weights = prop::collection::btree_map(
        prop_oneof![3 => Just("search".to_string()), 1 => text()],
        any::<u8>(),
        0..3,
    );
    let gameday = prop_oneof![
        2 => (text(), pick(Style::ALL)).prop_map(|(name, style)| I::CreateGameday { name, style }),
        2 => (gd(), team()).prop_map(|(gameday, team)| I::AddTeam { gameday, team }),
        3 => (gd(), team(), prop::option::of(name()))
            .prop_map(|(gameday, team, person)| I::JoinTeam { gameday, team, person }),
        2 => (
            gd(),
            prop_oneof![3 => Just("price-desync".to_string()), 1 => text()],
            prop::option::of(text()),
            text(),
            prop::option::of(any::<u32>()),
            prop::option::of(0u32..100),
            weights,
        )
            .prop_map(|(gameday, scenario, briefing, note, par_detect_minutes, par_mitigate_minutes, weights)| {
                I::PlanScenario { gameday, scenario, briefing, note, par_detect_minutes, par_mitigate_minutes, weights }
            }),
        2 => gd().prop_map(|gameday| I::StartGameday { gameday }),
        2 => (gd(), team(), prop::option::of(plan()), text())
            .prop_map(|(gameday, team, plan, text)| I::GiveHint { gameday, team, plan, text }),
        1 => (gd(), team(), plan()).prop_map(|(gameday, team, plan)| I::ConfirmMitigation { gameday, team, plan }),
        1 => gd().prop_map(|gameday| I::EndGameday { gameday }),
        1 => gd().prop_map(|gameday| I::FinishGameday { gameday }),
    ];
    let document = (
        text(),
        prop::option::of(prop_oneof![3 => Just("dependency".to_string()), 1 => text()]),
        text(),
        prop::collection::vec(text(), 0..3),
        prop_oneof![4 => Just(Vec::new()), 1 => prop::collection::vec(text(), 60..70)],
    )
        .prop_map(|(summary, failure_class, factors, well, badly)| super::postmortem::Document {
            summary,
            failure_class,
            factors,
            well,
            badly,
            lucky: Vec::new(),
        });
    let due = prop_oneof![
        2 => Just(None),
        3 => (-400i64..4000).prop_map(|d| Some(t0().date_naive() + chrono::Days::new(0) + chrono::TimeDelta::days(d))),
        1 => Just(Some(NaiveDate::MAX)),
        1 => Just(Some(NaiveDate::MIN)),
    ];
    let postmortem = prop_oneof![
        3 => (incident(), document, prop::option::of(prop_oneof![3 => 0u32..3, 1 => any::<u32>()]))
            .prop_map(|(incident, document, base)| I::WritePostmortem { incident, document, base }),
        2 => (incident(), text(), name(), due, prop::option::of(text()))
            .prop_map(|(incident, title, owner, due, link)| I::AddActionItem { incident, title, owner, due, link }),
        2 => (incident(), prop_oneof![4 => 1u32..3, 1 => any::<u32>()])
            .prop_map(|(incident, item)| I::CompleteActionItem { incident, item }),
    ];
    prop_oneof![
        2 => declare,
        3 => chaos,
        3 => gameday,
        3 => postmortem,
        2 => (incident(), text()).prop_map(|(incident, text)| I::AddNote { incident, text }),
        3 => (incident(), pick(Status::ALL), reason())
            .prop_map(|(incident, status, reason)| I::SetStatus { incident, status, reason }),
        1 => (incident(), severity()).prop_map(|(incident, severity)| I::SetSeverity { incident, severity }),
        1 => (incident(), pick(Role::ALL), name())
            .prop_map(|(incident, role, person)| I::AssignRole { incident, role, person }),
        1 => (incident(), name()).prop_map(|(incident, person)| I::AddMember { incident, person }),
        1 => (incident(), name()).prop_map(|(incident, person)| I::RemoveMember { incident, person }),
        3 => (incident(), pick(Milestone::ALL), time())
            .prop_map(|(incident, milestone, time)| I::SetMilestone { incident, milestone, time }),
        2 => (incident(), playbook_id())
            .prop_map(|(incident, playbook)| I::AttachPlaybook { incident, playbook }),
        2 => (incident(), step_id()).prop_map(|(incident, step)| I::TickStep { incident, step }),
        1 => (incident(), step_id()).prop_map(|(incident, step)| I::UntickStep { incident, step }),
        1 => (incident(), step_id(), name())
            .prop_map(|(incident, step, person)| I::AssignStep { incident, step, person }),
        3 => send,
        3 => (incident(), pick(Audience::ALL), minutes())
            .prop_map(|(incident, audience, minutes)| I::SnoozeClock { incident, audience, minutes }),
        1 => (name(), prop::option::of(pick(ComponentStatus::ALL)))
            .prop_map(|(component, status)| I::SetComponent { component, status }),
        2 => probe,
        3 => delivery,
    ]
}

/// A body no known fact reads: a newer kind, or a known kind with fields of the wrong type.
fn unknown_fact() -> impl Strategy<Value = Fact> {
    let kind =
        prop::sample::select(vec!["chaos_started", "gameday_scored", "note_added", "milestone_set", ""]);
    let incident =
        prop::option::of(prop_oneof![Just("INC-1".to_string()), Just("INC-0".to_string()), text()]);
    (kind, incident, text()).prop_map(|(kind, incident, junk)| {
        let mut body = serde_json::Map::new();
        if !kind.is_empty() {
            body.insert("kind".into(), kind.into());
        }
        if let Some(i) = incident {
            body.insert("incident".into(), i.into());
        }
        body.insert("text".into(), serde_json::json!({ "rich": junk }));
        body.insert("time".into(), "+999999-01-01T00:00:00Z".into());
        Fact::Unknown(UnknownFact::from_body(body))
    })
}

/// A fact no current `decide` would produce, as an older, damaged or newer log may hold.
fn raw_fact() -> impl Strategy<Value = Fact> {
    let declared = (incident(), text()).prop_map(|(incident, title)| Fact::IncidentDeclared {
        incident,
        title,
        severity: Severity::Sev1,
        impact: String::new(),
        drill: false,
        services: Vec::new(),
        private: false,
        gameday: None,
        team: None,
    });
    // An old playbook file's cadence, from before files were bounded: any positive i64.
    let cadence = prop_oneof![Just(i64::MAX), Just(1), 1..=i64::MAX];
    let attached = (incident(), playbook_id(), severity(), cadence).prop_map(|(incident, id, sev, every)| {
        let lib = library();
        let mut checklist = lib.checklist(&id).or_else(|| lib.checklist("major-outage")).expect("shipped");
        for s in &mut checklist.steps {
            s.step.every.insert(sev, playbook::Every(every));
        }
        Fact::PlaybookAttached { incident, checklist }
    });
    prop_oneof![
        1 => attached,
        2 => (incident(), pick(Milestone::ALL), time())
            .prop_map(|(incident, milestone, time)| Fact::MilestoneSet { incident, milestone, time }),
        2 => (incident(), pick(Audience::ALL), time())
            .prop_map(|(incident, audience, until)| Fact::ClockSnoozed { incident, audience, until }),
        1 => declared,
        1 => (incident(), text())
            .prop_map(|(incident, detail)| Fact::MessageDelivered { incident, message: Uuid::nil(), detail }),
        1 => (incident(), step_id(), proptest::option::of(pick(Audience::ALL)))
            .prop_map(|(incident, step, outside)| Fact::StepTicked { incident, step, by: None, outside }),
        1 => (incident(), text())
            .prop_map(|(incident, reason)| Fact::MessageWithheld { incident, message: Uuid::nil(), reason }),
        2 => unknown_fact(),
    ]
}

#[derive(Debug, Clone)]
enum Action {
    /// What a command does on the server: decide at `now`, stamp at `now`, apply.
    Decide { intent: Intent, now: DateTime<Utc>, pick: usize },
    /// A fact straight into the log, stamped at `at`.
    Raw { fact: Fact, at: DateTime<Utc>, pick: usize },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (intent(), time(), any::<usize>())
            .prop_map(|(intent, now, pick)| Action::Decide { intent, now, pick }),
        1 => (raw_fact(), time(), any::<usize>()).prop_map(|(fact, at, pick)| Action::Raw { fact, at, pick }),
    ]
}

/// Points a nil message id at one of the incident's messages, when it has any.
fn real_message(state: &State, incident: IncidentId, message: &mut Uuid, pick: usize) {
    if message.is_nil() {
        if let Some(msgs) = state.incidents.get(&incident).map(|i| &i.messages).filter(|m| !m.is_empty()) {
            *message = msgs[pick % msgs.len()].id;
        }
    }
}

/// Everything the CLI and the console compute from a state, at a few instants.
fn present_everything(state: &State, lib: &Library, nows: &[DateTime<Utc>]) {
    for inc in state.incidents_by_priority() {
        let d = inc.durations();
        for x in [d.time_to_detect, d.time_to_acknowledge, d.time_to_mitigate, d.time_to_recover]
            .into_iter()
            .flatten()
        {
            format_duration(x);
        }
        for entry in &inc.timeline {
            entry.kind.summary();
            entry.kind.tag();
        }
        let cs = clocks(inc);
        for &now in nows {
            crate::present::age(inc.updated_at, now);
            crate::present::age(inc.declared_at(), now);
            for c in &cs {
                describe(c, now);
                c.overdue(now);
            }
            for audience in Audience::ALL.iter().copied().map(Some).chain([None]) {
                template_values(inc, audience, &lib.status_page_url, now);
            }
            for s in inc.checklist.iter().flat_map(|l| &l.steps) {
                render_step(inc, &s.step, &lib.status_page_url, now);
            }
        }
    }
}

/// A game day already running with the two actors in two teams and the test scenario planned,
/// decided by an admin: most cases would never get that far by chance.
fn game_on(style: super::gameday::Style, lib: &Library, state: &mut State, log: &mut Vec<Event>) {
    use super::gameday::GameDayId;
    let g = GameDayId(1);
    let script = [
        Intent::CreateGameday { name: "GameDay #2".into(), style },
        Intent::AddTeam { gameday: g, team: "red".into() },
        Intent::AddTeam { gameday: g, team: "blue".into() },
        Intent::JoinTeam { gameday: g, team: "red".into(), person: Some("bob".into()) },
        Intent::JoinTeam { gameday: g, team: "blue".into(), person: Some("carol".into()) },
        Intent::PlanScenario {
            gameday: g,
            scenario: "price-desync".into(),
            briefing: None,
            note: "lock the indexer".into(),
            par_detect_minutes: Some(1),
            par_mitigate_minutes: None,
            weights: BTreeMap::new(),
        },
        Intent::StartGameday { gameday: g },
    ];
    for intent in script {
        let cx =
            Context { library: lib, now: t0(), command_id: Uuid::nil(), role: UserRole::Admin, actor: "gm" };
        let Ok(facts) = state.decide_with(&intent, &cx) else { continue };
        for e in stamp(state.seq + 1, t0(), "gm", UserRole::Admin, Uuid::nil(), facts) {
            state.apply(&e);
            log.push(e);
        }
    }
}

fn run(
    prelude: Vec<(Severity, bool)>,
    game: Option<super::gameday::Style>,
    actions: Vec<Action>,
) -> Result<(), TestCaseError> {
    let lib = library();
    let mut state = State::default();
    // The server's copy: closed incidents without timelines. It must decide as the full does.
    let mut server = State::default().windowed(crate::model::Window::Timelines);
    // Which events each incident's own fold reads (the log's per-incident index).
    let mut touches: std::collections::BTreeMap<IncidentId, Vec<usize>> = Default::default();
    let mut log: Vec<Event> = Vec::new();
    if let Some(style) = game {
        game_on(style, &lib, &mut state, &mut log);
        for e in &log {
            server.apply(e);
        }
    }
    // A few incidents first (with their default playbooks), so most intents find one.
    let declare = prelude.into_iter().map(|(severity, drill)| Action::Decide {
        intent: Intent::DeclareIncident {
            title: "Checkout is down".into(),
            severity,
            impact: String::new(),
            drill,
            services: vec!["payment".into()],
            private: false,
        },
        now: t0(),
        pick: 0,
    });
    for action in declare.chain(actions) {
        let (facts, at, actor, role) = match action {
            Action::Decide { mut intent, now, pick } => {
                if let Intent::RecordDelivery { incident, message, .. } = &mut intent {
                    real_message(&state, *incident, message, pick);
                }
                // Two actors, so private incidents are declared by one and hidden from the other.
                let actor = ["alice\u{1b}[31m", "bob"][log.len() / 3 % 2];
                let cx = Context {
                    library: &lib,
                    now,
                    command_id: Uuid::from_u128(log.len() as u128 + 1),
                    role: UserRole::ALL[log.len() % UserRole::ALL.len()],
                    actor,
                };
                let hidden = intent
                    .incident()
                    .filter(|id| state.incidents.get(id).is_some_and(|i| !i.visible_to(actor, cx.role)));
                let decided = state.decide_with(&intent, &cx);
                prop_assert_eq!(&server.decide_with(&intent, &cx), &decided, "windowed decide differs");
                if let Some(id) = hidden {
                    // Nothing about a hidden incident may differ from a missing one.
                    prop_assert_eq!(decided, Err(Rejection::UnknownIncident(id)));
                    continue;
                }
                let Ok(facts) = decided else { continue };
                for f in &facts {
                    prop_assert!(!matches!(f, Fact::Unknown(_)), "decide made {f:?}");
                    if let Fact::MilestoneSet { time, .. } = f {
                        let latest =
                            now.checked_add_signed(Duration::days(1)).unwrap_or(DateTime::<Utc>::MAX_UTC);
                        prop_assert!(
                            DateTime::UNIX_EPOCH <= *time && *time <= latest,
                            "{time} accepted at {now}"
                        );
                    }
                    if let Fact::IncidentDeclared { title, impact, services, .. } = f {
                        prop_assert!(
                            title.chars().count() <= MAX_TITLE && impact.chars().count() <= MAX_TEXT
                        );
                        prop_assert!(services.iter().all(|s| s.chars().count() <= MAX_NAME));
                    }
                }
                let role = if intent.is_internal() { UserRole::Admin } else { UserRole::Commander };
                (facts, now, actor, role)
            }
            Action::Raw { mut fact, at, pick } => {
                if let Fact::MessageDelivered { incident, message, .. }
                | Fact::MessageWithheld { incident, message, .. } = &mut fact
                {
                    real_message(&state, *incident, message, pick);
                }
                (vec![fact], at, "mallory", UserRole::Responder)
            }
        };
        let command_id = Uuid::from_u128(log.len() as u128 + 1);
        for e in stamp(state.seq + 1, at, actor, role, command_id, facts) {
            for id in state.touched(&e) {
                touches.entry(id).or_default().push(log.len());
            }
            state.apply(&e);
            server.apply(&e);
            crate::present::event_line(&e);
            log.push(e);
        }
    }
    let nows = [t0(), DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, DateTime::UNIX_EPOCH];
    present_everything(&state, &lib, &nows);

    // Every game day's board judges at any time, and folding its events again judges the same.
    for g in state.gamedays.0.values() {
        let mut tally = super::gameday::score::Tally::new(g.id);
        for e in log.iter().filter(|e| e.seq >= g.created_seq) {
            tally.apply(e);
        }
        let mut again = super::gameday::score::Tally::new(g.id);
        for e in &log {
            again.apply(e);
        }
        for &now in &nows {
            let board = tally.board(now);
            prop_assert!(board.is_some(), "{} has no board", g.id);
            if let Some(b) = &board {
                prop_assert_eq!(b.teams.len(), g.teams.len());
                prop_assert!(b.teams.iter().all(|t| t.cells.len() == g.plans.len()));
                let concealed = b.clone().concealed();
                prop_assert!(concealed.scenarios.iter().all(|s| s.scenario.is_none() && s.target.is_empty()));
                let whole = again.board(now).map(|a| (a.teams, a.scenarios));
                prop_assert_eq!(whole, Some((b.teams.clone(), b.scenarios.clone())), "folded from the start");
            }
        }
    }

    // An event already applied changes nothing when it comes again.
    if let Some(last) = log.last() {
        let mut again = state.clone();
        again.apply(last);
        prop_assert_eq!(&again, &state);
    }

    // Every event survives the wire, and a replica folding the wire copy agrees.
    let mut replica = State::default();
    for e in &log {
        let wire = serde_json::to_string(e).map_err(|err| TestCaseError::fail(format!("{e:?}: {err}")))?;
        let back: Event =
            serde_json::from_str(&wire).map_err(|err| TestCaseError::fail(format!("{wire}: {err}")))?;
        prop_assert_eq!(&back, e);
        replica.apply(&back);
    }
    prop_assert_eq!(&replica, &state);

    // So does the snapshot a client starts from.
    let snapshot = serde_json::to_string(&state).map_err(|err| TestCaseError::fail(err.to_string()))?;
    let back: State = serde_json::from_str(&snapshot).map_err(|err| TestCaseError::fail(format!("{err}")))?;
    prop_assert_eq!(&back, &state);

    // Each incident's own events fold to exactly what the whole log holds of it; windowed
    // copies count every entry and hold the newest ones as they are.
    let client = replica.windowed(crate::model::Window::Summaries);
    for (id, full) in &state.incidents {
        let mine =
            touches.get(id).map(|ix| ix.iter().map(|&i| &log[i]).collect::<Vec<_>>()).unwrap_or_default();
        let own = crate::model::window::fold_incident(*id, mine);
        prop_assert_eq!(own.as_ref(), Some(&**full));
        for copy in [&server.incidents[id], &client.incidents[id]] {
            prop_assert_eq!(copy.timeline_len(), full.timeline_len());
            prop_assert!(full.timeline.ends_with(&copy.timeline));
            prop_assert!(full.status.is_open() || !copy.is_full(), "a closed incident held whole");
            prop_assert!(full.status.is_open() || copy.timeline.is_empty(), "a closed summary grew a tail");
            prop_assert_eq!(
                (copy.status, &copy.roles, &copy.milestones),
                (full.status, &full.roles, &full.milestones)
            );
        }
    }
    Ok(())
}

/// Pieces Gatus conditions and bodies are made of, to reach deep into the parser.
const CONDITION_PARTS: &[&str] = &[
    "[STATUS]",
    "[BODY]",
    "[RESPONSE_TIME]",
    "[CONNECTED]",
    "[IP]",
    "[CERTIFICATE_EXPIRATION]",
    ".a",
    ".",
    "[0]",
    "[99999999999999999999]",
    "[",
    "]",
    " == ",
    " != ",
    " < ",
    " <= ",
    " > ",
    " >= ",
    "len(",
    "has(",
    "pat(",
    "any(",
    ")",
    ",",
    "*",
    "?",
    "200",
    "-1e309",
    "true",
    "é",
    "\u{9b}",
    "🔥",
    " ",
];

fn condition_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(CONDITION_PARTS), 0..10).prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

fn observation() -> impl Strategy<Value = Observation> {
    let body = prop_oneof![
        Just(r#"{"a":[1,2,{"a":"x"}],"b":1e308,"c":null}"#.to_string()),
        Just("[[[[[]]]]]".to_string()),
        any::<String>(),
    ];
    (
        prop::option::of(any::<u16>()),
        any::<u64>(),
        prop::option::of(body),
        any::<bool>(),
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(|(status, response_ms, body, connected, ip, error)| Observation {
            status,
            response_ms,
            body,
            connected,
            ip,
            error,
        })
}

/// Lines playbook files are made of, some of them wrong.
const PLAYBOOK_PARTS: &[&str] = &[
    "id = \"x\"\n",
    "title = \"é\"\n",
    "[[steps]]\n",
    "section = \"communicate\"\n",
    "channel = \"staff\"\n",
    "every = { SEV1 = \"99999999999999999999h\" }\n",
    "every = { SEV1 = \"720h1s\" }\n",
    "message = \"{{eta}}\"\n",
    "steps = [ {",
    "\u{9b}",
    "é",
    "\n",
];

proptest! {
    #![proptest_config(config(cases()))]

    #[test]
    fn any_sequence_of_intents_at_any_time_is_total_and_folds_the_same_from_json(
        prelude in prop::collection::vec((severity(), any::<bool>()), 1..4),
        game in prop::option::of(pick(super::gameday::Style::ALL)),
        actions in prop::collection::vec(action(), 1..60)
    ) {
        run(prelude, game, actions)?;
    }

    #[test]
    fn probe_conditions_and_thresholds_never_panic(
        texts in prop::collection::vec(condition_text(), 0..4),
        degraded in prop::collection::vec(condition_text(), 0..2),
        o in observation(),
        current in pick(Health::ALL),
        recent in prop::collection::vec(pick(Health::ALL), 0..6),
        failure in prop_oneof![0usize..5, Just(usize::MAX)],
        success in prop_oneof![0usize..5, Just(usize::MAX)],
    ) {
        let parsed: Vec<Condition> = texts.iter().filter_map(|t| t.parse().ok()).collect();
        let relaxed: Vec<Condition> = degraded.iter().filter_map(|t| t.parse().ok()).collect();
        probe::parse_all(&texts).ok();
        for c in &parsed {
            c.check(&o).ok();
        }
        probe::classify(&parsed, &relaxed, &o);
        probe::next_health(current, &recent, failure, success);
    }

    #[test]
    fn playbook_text_and_templates_never_panic(
        text in prop_oneof![
            any::<String>(),
            prop::collection::vec(prop::sample::select(PLAYBOOK_PARTS), 0..12).prop_map(|p| p.concat()),
        ],
        template in any::<String>(),
        every in any::<String>(),
    ) {
        playbook::parse(&text).ok();
        playbook::placeholders(&template);
        playbook::render(&template, &BTreeMap::from([("title", "t".to_string())]));
        if let Ok(e) = every.parse::<playbook::Every>() {
            prop_assert!(e.0 > 0);
            prop_assert_eq!(e.to_string().parse::<playbook::Every>(), Ok(e));
            e.duration();
        }
    }
}
