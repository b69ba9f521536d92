//! Acceptance 1 of game days (issue 14): a fire drill with two teams and three scenarios played
//! on the real demo shop, each team's times and points recomputed here from the event log.
//!
//! The scorer below is written again from the rules (the issue and score.rs's module doc),
//! not by calling `Tally`, so that a rule the server gets wrong shows as a difference. The
//! drill plays each rule at least once: a quick detection, an incident before the inject and
//! one after the scenario was over that do not count, a backdated declaration that must not
//! move a time, a team's own fix, a villain's confirmation, a rollback (not the team's
//! mitigation), comms before and after restore, a hint per scenario and a general one,
//! points within and past par, and the resilience of each scenario.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{all_events, eventually, token, users, DEADLINE};
use warroom::client::Client;
use warroom::config::UserConfig;
use warroom::demo::shop::Shop;
use warroom::model::chaos::{RunId, RunPhase, StepKind, Verdict};
use warroom::model::gameday::score::{Board, Cell, ScenarioScore, Tally, TeamScore};
use warroom::model::gameday::{GameDayId, Plan, Style, Weights};
use warroom::model::playbook::Section;
use warroom::model::probe::Health;
use warroom::model::{Event, Fact, IncidentId, Intent, Milestone, Severity, UserRole};
use warroom::protocol::{Ack, Command};
use warroom::server::{start, RunningServer, ServerOptions};

/// Blue's only player: a responder besides the common test users.
const CAROL: &str = "test-token-for-carol-0123456789";
const SHOP: [&str; 5] = ["search", "product-page", "listing", "payment", "stock"];
/// How long the whole drill may take to reach a wall-clock moment (it waits about a minute
/// once, so that one detection and one mitigation come past their one-minute par).
const CLOCK_DEADLINE: Duration = Duration::from_secs(150);

/// The demo shop and a server wired to it as `warroom demo` wires them (its channels too).
struct Drill {
    shop: Arc<Shop>,
    server: RunningServer,
    http: reqwest::Client,
    _network: Arc<warroom::server::chaos::network::Network>,
    _dir: tempfile::TempDir,
}

impl Drill {
    async fn start() -> Drill {
        let dir = tempfile::tempdir().unwrap();
        let shop = Shop::start().await.unwrap();
        let wired = warroom::demo::wire(&shop, Default::default()).await.unwrap();
        let proxies = wired.chaos.proxies.clone();
        let mut people = users();
        people.push(UserConfig { name: "carol".into(), role: UserRole::Responder, token: CAROL.into() });
        let server = start(ServerOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            users: people,
            channels: warroom::demo::channels(),
            probes: wired.probes,
            chaos: wired.chaos,
            network: Some(wired.network.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        warroom::demo::write_network_run(&server.app.chaos().shipped_dir(), &proxies).unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let drill = Drill { shop, server, http, _network: wired.network, _dir: dir };
        drill.until_health(&SHOP, Health::Up).await;
        drill
    }

    fn client(&self, token: &str) -> Client {
        Client::new(&self.server.url(), token).unwrap()
    }

    async fn run(&self, who: &Client, intent: Intent) -> Ack {
        let what = serde_json::to_string(&intent).unwrap();
        who.send(&Command::new(intent)).await.unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// A SEV2 about `services`, declared as an ordinary incident (`drill: false`): the game day
    /// makes it a drill of the declarer's team.
    async fn declare(&self, who: &Client, title: &str, services: &[&str]) -> IncidentId {
        let ack = self
            .run(
                who,
                Intent::DeclareIncident {
                    title: title.into(),
                    severity: Severity::Sev2,
                    impact: format!("{title} (seen by a player)"),
                    drill: false,
                    services: services.iter().map(|s| s.to_string()).collect(),
                    private: false,
                },
            )
            .await;
        ack.events
            .iter()
            .find_map(|e| match &e.fact {
                Fact::IncidentDeclared { incident, .. } => Some(*incident),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no declaration in {:?}", ack.events))
    }

    async fn tick(&self, who: &Client, incident: IncidentId, steps: &[&str]) {
        for step in steps {
            self.run(who, Intent::TickStep { incident, step: step.to_string() }).await;
        }
    }

    fn health(&self, probe: &str) -> Health {
        self.server.app.hub().state().probes.get(probe).map_or(Health::Unknown, |p| p.health)
    }

    async fn until_health(&self, probes: &[&str], want: Health) {
        eventually(&format!("{} {want}", probes.join(", ")), || async {
            probes.iter().all(|p| self.health(p) == want)
        })
        .await;
    }

    /// Starts a planned scenario as the villain; its run and the moment it injected.
    async fn start_run(&self, villain: &Client, scenario: &str) -> (RunId, DateTime<Utc>) {
        let ack = self.run(villain, Intent::StartScenario { scenario: scenario.into() }).await;
        let Fact::ScenarioStarted { run, .. } = &ack.events[0].fact else { panic!("{:?}", ack.events) };
        let run = *run;
        eventually(&format!("{scenario} injected"), || async {
            self.server.app.hub().state().chaos.runs[&run].injected == 1
        })
        .await;
        let state = self.server.app.hub().state();
        let at =
            state.chaos.runs[&run].steps.iter().find(|s| s.step == StepKind::Inject && s.ok).map(|s| s.at);
        (run, at.expect("an inject step"))
    }

    /// The villain stops the run; waits until it ended with its rollback.
    async fn stop(&self, villain: &Client, run: RunId) {
        self.run(villain, Intent::StopScenario { run, reason: Some("time is up".into()) }).await;
        eventually("the run ended", || async {
            self.server.app.hub().state().chaos.runs[&run].phase == RunPhase::Ended
        })
        .await;
    }

    fn active(&self, run: RunId) -> bool {
        self.server.app.hub().state().chaos.runs[&run].is_active()
    }

    /// A hero repairs the shop through its admin API (what a team does to mitigate).
    async fn repair(&self, fault: &str) {
        let r = self
            .http
            .delete(format!("{}/admin/faults/{fault}", self.shop.admin_url.trim_end_matches('/')))
            .bearer_auth(&self.shop.admin_token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(status.is_success(), "clearing {fault}: {status} {}", r.text().await.unwrap_or_default());
    }
}

/// Waits (bounded) until the wall clock is past `t`: par times are whole minutes.
async fn until_past(t: DateTime<Utc>) {
    let deadline = Instant::now() + CLOCK_DEADLINE;
    while Utc::now() <= t {
        assert!(Instant::now() < deadline, "the clock never reached {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_seconds()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_drill_scores_both_teams_exactly_as_the_log_says() {
    let d = Drill::start().await;
    let root = d.client(&token(UserRole::Admin));
    let victor = d.client(&token(UserRole::Villain));
    let alice = d.client(&token(UserRole::Commander));
    let bob = d.client(&token(UserRole::Responder));
    let carol = d.client(CAROL);

    // The game master sets the day up: two teams, three scenarios whose probes go red.
    let ack = d
        .run(&root, Intent::CreateGameday { name: "Spring fire drill".into(), style: Style::FireDrill })
        .await;
    let Fact::GamedayCreated { gameday: gd, .. } = ack.events[0].fact else { panic!("{:?}", ack.events) };
    for team in ["red", "blue"] {
        d.run(&root, Intent::AddTeam { gameday: gd, team: team.into() }).await;
    }
    for (who, team) in [(&alice, "red"), (&bob, "red"), (&carol, "blue")] {
        d.run(who, Intent::JoinTeam { gameday: gd, team: team.into(), person: None }).await;
    }
    let plan = |scenario: &str, par: Option<u32>, weights: &[(&str, u8)]| Intent::PlanScenario {
        gameday: gd,
        scenario: scenario.into(),
        briefing: None,
        note: format!("villains: {scenario}"),
        par_detect_minutes: par,
        par_mitigate_minutes: par,
        weights: weights.iter().map(|(p, w)| (p.to_string(), *w)).collect(),
    };
    d.run(&root, plan("payment-errors", Some(1), &[])).await;
    d.run(&root, plan("price-desync", Some(1), &[("search", 10), ("listing", 4)])).await;
    d.run(&root, plan("stock-corruption", None, &[])).await;
    d.run(&root, Intent::StartGameday { gameday: gd }).await;

    // #1 payments fail. Red declares at once, tells staff and the status page before restoring,
    // and repairs the shop itself while the run still goes on.
    let (run1, _) = d.start_run(&victor, "payment-errors").await;
    let r1 = d.declare(&alice, "Checkout fails with 502", &["payment"]).await;
    d.until_health(&["payment"], Health::Down).await;
    d.tick(&bob, r1, &["notify-staff", "status-page", "all-clear", "restore"]).await;
    d.repair("error_rate").await;
    d.until_health(&["payment"], Health::Up).await;
    assert!(d.active(run1), "red's repair must come before the villain's rollback");
    d.stop(&victor, run1).await;
    d.until_health(&SHOP, Health::Up).await;

    // #2 prices differ. Blue declares about the listing and restores before telling anyone,
    // with a hint; red declares about search and never restores: only the rollback does.
    let (run2, t2) = d.start_run(&victor, "price-desync").await;
    let b2 = d.declare(&carol, "Listing shows other prices", &["listing"]).await;
    d.tick(&carol, b2, &["restore", "notify-staff"]).await;
    d.run(
        &root,
        Intent::GiveHint {
            gameday: gd,
            team: "blue".into(),
            plan: Some(2),
            text: "Compare the listing with a product page.".into(),
        },
    )
    .await;
    let r2 = d.declare(&alice, "Search shows stale prices", &["search"]).await;
    // Red suspects the stock too, before that scenario even started: not a detection of it.
    let r0 = d.declare(&bob, "Stock counts look odd", &["stock"]).await;
    d.until_health(&["search", "listing"], Health::Down).await;
    // Past the one-minute pars: blue notices #1 only now, when it is long over (no detection),
    // and the villain confirms blue's mitigation of #2.
    until_past(t2 + chrono::Duration::seconds(61)).await;
    d.declare(&carol, "Payments failed for a while?", &["payment"]).await;
    d.run(&victor, Intent::ConfirmMitigation { gameday: gd, team: "blue".into(), plan: 2 }).await;
    assert!(
        d.health("search") == Health::Down && d.active(run2),
        "#2 must still be broken when the villain stops it"
    );
    d.stop(&victor, run2).await;
    d.until_health(&SHOP, Health::Up).await;

    // #3 stock counts drift. Red restores first; blue communicates first, backdates its
    // declaration to the inject (the score keeps the log's time), and repairs the shop, which
    // mitigates it for both teams that had detected it. Red gets a general hint.
    let (run3, t3) = d.start_run(&victor, "stock-corruption").await;
    let r3 = d.declare(&bob, "Stock counts are wrong", &["stock"]).await;
    d.tick(&bob, r3, &["restore", "notify-staff"]).await;
    until_past(t3 + chrono::Duration::seconds(1)).await;
    let b3 = d.declare(&carol, "Sold-out products show as available", &["stock"]).await;
    d.tick(&carol, b3, &["notify-staff", "status-page", "all-clear", "restore"]).await;
    d.run(&carol, Intent::SetMilestone { incident: b3, milestone: Milestone::Declared, time: t3 }).await;
    d.until_health(&["stock"], Health::Down).await;
    d.repair("stock_corruption").await;
    d.until_health(&["stock"], Health::Up).await;
    assert!(d.active(run3), "blue's repair must come before the villain's rollback");
    d.run(
        &root,
        Intent::GiveHint {
            gameday: gd,
            team: "red".into(),
            plan: None,
            text: "Read the probes' failures.".into(),
        },
    )
    .await;
    d.stop(&victor, run3).await;
    d.until_health(&SHOP, Health::Up).await;
    d.run(&root, Intent::EndGameday { gameday: gd }).await;

    // The server's board, the log it came from, and the same log folded by `Tally`: read
    // until the log stood still around the board (the board follows the log asynchronously).
    let deadline = Instant::now() + DEADLINE;
    let (events, board, folded) = loop {
        let events = all_events(&root).await;
        let board = root.gameday().await.unwrap().board.expect("the game master sees the board");
        let head = events.last().map_or(0, |e| e.seq);
        let still = root.events(head, 1).await.unwrap().events.is_empty();
        let folded = tally(gd, &events);
        if still && board == folded {
            break (events, board, folded);
        }
        assert!(
            Instant::now() < deadline,
            "the server's board never matched Tally over its own log:\n{board:#?}\n{folded:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Recomputable by anyone: the board is `Tally` folded over the log.
    assert_eq!(board, folded);

    // And written again from the rules, it is the same to the second and the point.
    let mine = Rules::read(gd, &events);
    mine.no_clock_could_come_due();
    assert_eq!(board.teams, mine.teams(), "teams: the server's board, then the rules' (left: server)");
    assert_eq!(board.scenarios, mine.scenarios(), "scenarios: the server's board, then the rules'");
    assert_eq!(board.weights, Weights::default());

    // Each rule mattered: the story the board tells.
    let w = Weights::default();
    let cell = |team: &str, n: usize| -> Cell {
        board.teams.iter().find(|t| t.team == team).unwrap().cells[n - 1].clone()
    };
    let (red1, blue1) = (cell("red", 1), cell("blue", 1));
    assert_eq!(red1.incident, Some(r1));
    assert!(red1.detect_secs.unwrap() <= 60 && red1.mitigate_secs.unwrap() <= 60, "{red1:?}");
    assert_eq!(red1.comms_first, Some(true));
    assert_eq!(red1.points, i64::from(w.detect + w.mitigate + w.comms_first));
    // #1 was over (stopped and rolled back) when blue declared about payment: a scenario
    // already over is detected by nobody.
    assert_eq!((blue1.incident, blue1.detect_secs, blue1.mitigate_secs, blue1.points), (None, None, None, 0));
    let (red2, blue2) = (cell("red", 2), cell("blue", 2));
    assert_eq!(red2.incident, Some(r2));
    assert_eq!(red2.mitigate_secs, None, "the rollback is not red's mitigation");
    assert_eq!(red2.comms_first, Some(false));
    assert_eq!((blue2.incident, blue2.comms_first, blue2.hints), (Some(b2), Some(false), 1));
    let confirmed = blue2.mitigate_secs.unwrap();
    assert!(confirmed > 60, "{blue2:?}");
    assert_eq!(
        blue2.points,
        i64::from(w.detect) + i64::from(w.mitigate) * 60 / confirmed as i64 - i64::from(w.hint)
    );
    let (red3, blue3) = (cell("red", 3), cell("blue", 3));
    assert_eq!(red3.incident, Some(r3), "{r0} was declared before the inject");
    assert_eq!(blue3.incident, Some(b3));
    assert!(blue3.detect_secs.unwrap() >= 1, "the backdated milestone moved blue's time: {blue3:?}");
    assert!(red3.mitigate_secs.is_some() && red3.mitigate_secs == blue3.mitigate_secs, "{red3:?} {blue3:?}");
    assert_eq!((red3.comms_first, blue3.comms_first), (Some(false), Some(true)));
    let red = board.teams.iter().find(|t| t.team == "red").unwrap();
    assert_eq!(red.general_hints, 1);
    assert_eq!(red.points, red.cells.iter().map(|c| c.points).sum::<i64>() - i64::from(w.hint));
    assert_eq!(red.members, ["alice", "bob"]);
    assert_eq!(board.scenarios[0].resilience, Some(100.0), "payment was up again when #1 was judged");
    assert_eq!(board.scenarios[2].resilience, Some(100.0), "stock was up again when #3 was judged");
    assert!(board.scenarios.iter().all(|s| s.ended && s.injected_at.is_some()), "{:?}", board.scenarios);
    assert!(
        mine.came_up_after_the_stop(run2, &["search", "listing"]),
        "#2's probes came up only after the rollback"
    );
}

/// The board `Tally` folds from the log, from the game day's creation on.
fn tally(gd: GameDayId, events: &[Event]) -> Board {
    let created = events
        .iter()
        .find(|e| matches!(&e.fact, Fact::GamedayCreated { gameday, .. } if *gameday == gd))
        .map_or(0, |e| e.seq);
    let mut t = Tally::new(gd);
    for e in events.iter().filter(|e| e.seq >= created) {
        t.apply(e);
    }
    t.board(Utc::now()).expect("the game day is in the log")
}

/// A team's incident as scoring needs it.
struct Inc {
    /// When the log says it was declared (not its `declared` milestone, which people edit).
    declared: DateTime<Utc>,
    team: String,
    services: Vec<String>,
    sections: BTreeMap<String, Section>,
    ticked: BTreeSet<String>,
    /// At its first restore tick: whether every communicate step was done.
    comms_at_restore: Option<bool>,
}

impl Inc {
    fn communicate(&self) -> impl Iterator<Item = &String> {
        self.sections.iter().filter(|(_, s)| **s == Section::Communicate).map(|(id, _)| id)
    }

    /// Every communicate step is done.
    fn communicated(&self) -> bool {
        self.communicate().all(|s| self.ticked.contains(s))
    }
}

struct RunSeen {
    id: RunId,
    scenario: String,
    injected: Option<DateTime<Utc>>,
    /// Told to stop (or ended, or halted): what comes up after is the rollback's work.
    stopped: Option<DateTime<Utc>>,
    ended: bool,
    verdict: Option<Verdict>,
}

/// The rules of issue 14 and score.rs's module doc, applied to the log by hand.
struct Rules {
    weights: Weights,
    ended: Option<DateTime<Utc>>,
    teams: BTreeMap<String, BTreeSet<String>>,
    plans: Vec<Plan>,
    runs: Vec<RunSeen>,
    incidents: BTreeMap<IncidentId, Inc>,
    probes: Vec<(DateTime<Utc>, String, Health)>,
    hints: Vec<(String, Option<u32>)>,
    confirmations: Vec<(DateTime<Utc>, String, u32)>,
}

impl Rules {
    fn read(gd: GameDayId, events: &[Event]) -> Rules {
        let mut r = Rules {
            weights: Weights::default(),
            ended: None,
            teams: BTreeMap::new(),
            plans: Vec::new(),
            runs: Vec::new(),
            incidents: BTreeMap::new(),
            probes: Vec::new(),
            hints: Vec::new(),
            confirmations: Vec::new(),
        };
        let ours = |g: &GameDayId| *g == gd;
        for e in events {
            let run = |runs: &mut Vec<RunSeen>, id: &RunId| runs.iter_mut().position(|r| r.id == *id);
            match &e.fact {
                Fact::GamedayCreated { gameday, weights, .. } if ours(gameday) => r.weights = *weights,
                Fact::TeamAdded { gameday, team } if ours(gameday) => {
                    r.teams.entry(team.clone()).or_default();
                }
                Fact::TeamJoined { gameday, team, person } if ours(gameday) => {
                    for members in r.teams.values_mut() {
                        members.remove(person);
                    }
                    r.teams.entry(team.clone()).or_default().insert(person.clone());
                }
                Fact::ScenarioPlanned { gameday, plan } if ours(gameday) => r.plans.push((**plan).clone()),
                Fact::HintGiven { gameday, team, plan, .. } if ours(gameday) => {
                    r.hints.push((team.clone(), *plan))
                }
                Fact::MitigationConfirmed { gameday, team, plan } if ours(gameday) => {
                    r.confirmations.push((e.at, team.clone(), *plan))
                }
                Fact::GamedayEnded { gameday } if ours(gameday) => r.ended = Some(e.at),
                Fact::ScenarioStarted { run, scenario, gameday: Some(g), .. } if ours(g) => {
                    r.runs.push(RunSeen {
                        id: *run,
                        scenario: scenario.id.clone(),
                        injected: None,
                        stopped: None,
                        ended: false,
                        verdict: None,
                    })
                }
                Fact::ChaosStep { run: id, step: StepKind::Inject, ok: true, .. } => {
                    if let Some(i) = run(&mut r.runs, id) {
                        r.runs[i].injected.get_or_insert(e.at);
                    }
                }
                Fact::ScenarioStopping { run: id, .. } => {
                    if let Some(i) = run(&mut r.runs, id) {
                        r.runs[i].stopped.get_or_insert(e.at);
                    }
                }
                Fact::ScenarioEnded { run: id, verdict } => {
                    if let Some(i) = run(&mut r.runs, id) {
                        r.runs[i].stopped.get_or_insert(e.at);
                        r.runs[i].ended = true;
                        r.runs[i].verdict = verdict.clone();
                    }
                }
                Fact::ChaosHalted { runs, .. } => {
                    for id in runs {
                        if let Some(i) = run(&mut r.runs, id) {
                            r.runs[i].stopped.get_or_insert(e.at);
                        }
                    }
                }
                Fact::ProbeChanged { probe, to, .. } => r.probes.push((e.at, probe.clone(), *to)),
                Fact::IncidentDeclared { incident, services, gameday: Some(g), team: Some(team), .. }
                    if ours(g) =>
                {
                    r.incidents.insert(
                        *incident,
                        Inc {
                            declared: e.at,
                            team: team.clone(),
                            services: services.clone(),
                            sections: BTreeMap::new(),
                            ticked: BTreeSet::new(),
                            comms_at_restore: None,
                        },
                    );
                }
                Fact::PlaybookAttached { incident, checklist } => {
                    if let Some(inc) = r.incidents.get_mut(incident) {
                        // Switching playbooks keeps what was done on the steps they share.
                        inc.sections =
                            checklist.steps.iter().map(|s| (s.step.id.clone(), s.step.section)).collect();
                        let sections = &inc.sections;
                        inc.ticked.retain(|s| sections.contains_key(s));
                        inc.ticked.extend(
                            checklist.steps.iter().filter(|s| s.ticked.is_some()).map(|s| s.step.id.clone()),
                        );
                    }
                }
                Fact::StepTicked { incident, step, .. } => {
                    if let Some(inc) = r.incidents.get_mut(incident) {
                        if inc.sections.get(step) == Some(&Section::Restore) && inc.comms_at_restore.is_none()
                        {
                            let done = inc.communicated();
                            inc.comms_at_restore = Some(done);
                        }
                        inc.ticked.insert(step.clone());
                    }
                }
                Fact::StepUnticked { incident, step } => {
                    if let Some(inc) = r.incidents.get_mut(incident) {
                        inc.ticked.remove(step);
                    }
                }
                _ => {}
            }
        }
        r
    }

    /// Comms clocks: the first message is due 5 minutes after declaring and the shipped
    /// playbooks' cadences are longer, so no clock can have come due if every team incident
    /// was declared less than 5 minutes before the end. The scorer here relies on it (the
    /// overdue rule is covered by score.rs's unit tests with made-up times).
    fn no_clock_could_come_due(&self) {
        let end = self.ended.expect("the game day ended");
        for (id, inc) in &self.incidents {
            assert!(secs(inc.declared, end) < 300, "{id} was open 5 minutes: a clock may have come due");
        }
    }

    /// The run that played a plan: the first of its scenario that injected, else the first.
    /// The run an incident caught: of the runs live when it was declared (injected, not yet
    /// stopped, the game not over) whose plan targets one of its services, the one injected last.
    fn caught(&self, inc: &Inc) -> Option<RunId> {
        self.runs
            .iter()
            .filter_map(|r| {
                let p = self.plans.iter().find(|p| p.scenario == r.scenario)?;
                if !p.target.iter().any(|t| inc.services.contains(t)) {
                    return None;
                }
                let injected = r.injected?;
                let end = [r.stopped, self.ended].into_iter().flatten().min();
                (injected <= inc.declared && end.is_none_or(|e| inc.declared <= e))
                    .then_some((injected, r.id))
            })
            .max()
            .map(|(_, id)| id)
    }

    fn run_of(&self, p: &Plan) -> Option<&RunSeen> {
        let mut runs = self.runs.iter().filter(|r| r.scenario == p.scenario);
        let first = self.runs.iter().find(|r| r.scenario == p.scenario);
        runs.find(|r| r.injected.is_some()).or(first)
    }

    /// The first moment after the inject, before the stop and the game's end, at which every
    /// target probe that went bad since is up again.
    fn recovered(&self, p: &Plan, run: &RunSeen) -> Option<DateTime<Utc>> {
        let injected = run.injected?;
        let mut bad = BTreeSet::new();
        let mut went_bad = false;
        for (at, probe, health) in
            self.probes.iter().filter(|(at, probe, _)| *at >= injected && p.target.contains(probe))
        {
            if run.stopped.is_some_and(|s| *at > s) || self.ended.is_some_and(|end| *at > end) {
                return None;
            }
            match health {
                Health::Down | Health::Degraded => {
                    bad.insert(probe.clone());
                    went_bad = true;
                }
                Health::Up => {
                    bad.remove(probe);
                    if went_bad && bad.is_empty() {
                        return Some(*at);
                    }
                }
                Health::Unknown => {}
            }
        }
        None
    }

    fn came_up_after_the_stop(&self, run: RunId, probes: &[&str]) -> bool {
        let r = self.runs.iter().find(|r| r.id == run).expect("the run");
        let stopped = r.stopped.expect("stopped");
        probes
            .iter()
            .all(|p| self.probes.iter().any(|(at, probe, h)| probe == p && *h == Health::Up && *at > stopped))
    }

    /// Points for a time against its par.
    fn timed(weight: u32, par: u64, secs: u64) -> i64 {
        let w = i64::from(weight);
        if secs <= par {
            w
        } else {
            w * par as i64 / secs as i64
        }
    }

    fn cell(&self, team: &str, p: &Plan) -> Cell {
        let w = self.weights;
        let hints = self.hints.iter().filter(|(t, n)| t == team && *n == Some(p.n)).count() as u32;
        let mut cell =
            Cell { plan: p.n, hints, points: -i64::from(hints) * i64::from(w.hint), ..Cell::default() };
        let Some(run) = self.run_of(p) else { return cell };
        let Some(injected) = run.injected else { return cell };
        // Detected: the team's first incident about a target, declared after the inject.
        let Some((id, inc)) = self
            .incidents
            .iter()
            .filter(|(_, i)| i.team == team && i.declared >= injected && self.caught(i) == Some(run.id))
            .min_by_key(|(id, i)| (i.declared, **id))
        else {
            return cell;
        };
        cell.incident = Some(*id);
        let detect = secs(injected, inc.declared);
        cell.detect_secs = Some(detect);
        cell.points += Self::timed(w.detect, p.par_detect_secs, detect);
        // Mitigated: the probes back up before the rollback (only if the team had noticed by
        // then: someone else's repair is not theirs), or a villain's confirmation, whichever
        // is first, and never before the team detected it.
        let recovered = self.recovered(p, run).filter(|t| *t >= inc.declared);
        let confirmed =
            self.confirmations.iter().filter(|(_, t, n)| t == team && *n == p.n).map(|(at, _, _)| *at).min();
        let mitigated = [recovered, confirmed].into_iter().flatten().min();
        if let Some(m) = mitigated {
            let m = secs(injected, m.max(inc.declared));
            cell.mitigate_secs = Some(m);
            cell.points += Self::timed(w.mitigate, p.par_mitigate_secs, m);
        }
        // Communicated first: every communicate step done before the first restore step
        // (with no restore step yet: done by now); no clock came due (see above).
        let communicated = inc.comms_at_restore.unwrap_or_else(|| inc.communicated());
        let comms_first = communicated && inc.communicate().next().is_some();
        cell.comms_first = Some(comms_first);
        if comms_first {
            cell.points += i64::from(w.comms_first);
        }
        cell
    }

    fn teams(&self) -> Vec<TeamScore> {
        let mut teams: Vec<TeamScore> = self
            .teams
            .iter()
            .map(|(team, members)| {
                let cells: Vec<Cell> = self.plans.iter().map(|p| self.cell(team, p)).collect();
                let general = self.hints.iter().filter(|(t, n)| t == team && n.is_none()).count() as u32;
                TeamScore {
                    rank: 0,
                    team: team.clone(),
                    members: members.iter().cloned().collect(),
                    points: cells.iter().map(|c| c.points).sum::<i64>()
                        - i64::from(general) * i64::from(self.weights.hint),
                    general_hints: general,
                    cells,
                }
            })
            .collect();
        teams.sort_by(|a, b| b.points.cmp(&a.points).then(a.team.cmp(&b.team)));
        // Equal points, equal rank: 1, 1, 3.
        for i in 0..teams.len() {
            teams[i].rank = if i > 0 && teams[i - 1].points == teams[i].points {
                teams[i - 1].rank
            } else {
                i as u32 + 1
            };
        }
        teams
    }

    fn scenarios(&self) -> Vec<ScenarioScore> {
        self.plans
            .iter()
            .map(|p| {
                let run = self.run_of(p);
                // LitmusChaos: the weighted share of steady-state probes that held when judged.
                let resilience = run.and_then(|r| r.verdict.as_ref()).and_then(|v| {
                    let weight = |probe: &str| u64::from(p.weights.get(probe).copied().unwrap_or(10));
                    let total: u64 = v.probes.keys().map(|probe| weight(probe)).sum();
                    let held: u64 = v
                        .probes
                        .iter()
                        .filter(|(_, h)| **h == Health::Up)
                        .map(|(probe, _)| weight(probe))
                        .sum();
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
                    injected_at: run.and_then(|r| r.injected),
                    ended: run.is_some_and(|r| r.ended),
                    resilience,
                }
            })
            .collect()
    }
}
