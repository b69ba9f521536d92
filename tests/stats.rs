//! Incident statistics (issue 15): a thousand generated incidents — varied severities,
//! services, drills, failure classes, milestones with random gaps, some missing, some set in
//! the wrong order — folded into a client's windowed state, whose statistics must equal what
//! this test works out on its own from what it generated; and `warroom stats` against a real
//! server.

mod common;

use std::collections::BTreeMap;
use std::process::Command as Proc;

use chrono::{DateTime, Duration, Utc};
use common::{token, TestServer};
use warroom::model::postmortem::Document;
use warroom::model::stats::{compute, Bucket, Group, Stats};
use warroom::model::{
    stamp, Context, IncidentId, Intent, Library, Milestone, Severity, State, Status, UserRole, Window,
};
use warroom::protocol::Command;

/// splitmix64: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }
}

const SERVICES: [&str; 5] = ["checkout", "payments", "search", "stock", "catalog"];
const CLASSES: [&str; 4] = ["deployment", "configuration", "capacity", "dependency"];

/// One generated incident as the test knows it, times in unix seconds.
#[derive(Debug, Clone)]
struct Planned {
    severity: Severity,
    services: Vec<String>,
    drill: bool,
    postmortem: bool,
    /// Its postmortem's failure class; None without a postmortem or without a class.
    class: Option<String>,
    declared: i64,
    started: Option<i64>,
    detected: Option<i64>,
    acknowledged: Option<i64>,
    mitigated: Option<i64>,
    recovered: Option<i64>,
    open: bool,
}

fn t0() -> i64 {
    "2026-03-02T08:00:00Z".parse::<DateTime<Utc>>().unwrap().timestamp()
}

/// `n` incidents two minutes to four hours apart (about 80 days for a thousand).
fn plan(n: usize, seed: u64) -> Vec<Planned> {
    let mut rng = Rng(seed);
    let mut at = t0();
    let mut out = Vec::new();
    for _ in 0..n {
        at += 120 + rng.below(4 * 3600);
        let declared = at;
        // Each milestone: mostly set, sometimes missing, now and then before its base.
        let after = |rng: &mut Rng, base: i64, spread: u64, present: u64| {
            if !rng.chance(present) {
                None
            } else if rng.chance(6) {
                Some(base - 1 - rng.below(600))
            } else {
                Some(base + rng.below(spread))
            }
        };
        let started = rng.chance(85).then(|| declared - rng.below(3600));
        let base = started.unwrap_or(declared);
        let detected = after(&mut rng, base, 1800, 85);
        let acknowledged = after(&mut rng, declared, 900, 85);
        let mitigated = after(&mut rng, declared, 4 * 3600, 80);
        let recovered = after(&mut rng, base, 8 * 3600, 70);
        let mut services: Vec<String> = Vec::new();
        for _ in 0..rng.below(4) {
            let s = rng.pick(&SERVICES).to_string();
            if !services.contains(&s) {
                services.push(s);
            }
        }
        services.sort();
        let postmortem = rng.chance(55);
        // A postmortem may be written without a class: its incident is in `(none)` too.
        let class = (postmortem && rng.chance(85)).then(|| rng.pick(&CLASSES).to_string());
        out.push(Planned {
            severity: *rng.pick(&Severity::ALL),
            services,
            drill: rng.chance(20),
            postmortem,
            class,
            declared,
            started,
            detected,
            acknowledged,
            mitigated,
            recovered,
            open: !rng.chance(40),
        });
    }
    out
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

/// Folds the plan as the server would, into a client's windowed copy (closed incidents are
/// summaries), deciding each intent with the time it is sent.
fn fold(planned: &[Planned]) -> State {
    let library = Library::default();
    let mut s = State::default().windowed(Window::Summaries);
    let mut rng = Rng(7);
    let run = |s: &mut State, now: i64, intent: Intent| {
        let cx = Context {
            library: &library,
            now: at(now),
            command_id: uuid::Uuid::nil(),
            role: UserRole::Admin,
            actor: "alice",
        };
        let facts = s.decide_with(&intent, &cx).unwrap_or_else(|e| panic!("{}: {e}", intent.kind()));
        for e in stamp(s.seq + 1, at(now), "alice", UserRole::Admin, uuid::Uuid::nil(), facts) {
            s.apply(&e);
        }
    };
    for (i, p) in planned.iter().enumerate() {
        let id = IncidentId(i as u64 + 1);
        // Some are declared at another severity and changed later: the current one counts.
        let first = if rng.chance(15) { Severity::ALL[(p.severity as usize + 2) % 5] } else { p.severity };
        run(
            &mut s,
            p.declared,
            Intent::DeclareIncident {
                title: format!("incident {i}"),
                severity: first,
                impact: String::new(),
                drill: p.drill,
                services: p.services.clone(),
                private: false,
            },
        );
        let later = p.declared + 60;
        if first != p.severity {
            run(&mut s, later, Intent::SetSeverity { incident: id, severity: p.severity });
        }
        let milestones = [
            (Milestone::Started, p.started),
            (Milestone::Detected, p.detected),
            (Milestone::Acknowledged, p.acknowledged),
            (Milestone::Mitigated, p.mitigated),
            (Milestone::Recovered, p.recovered),
        ];
        for (milestone, time) in milestones {
            if let Some(time) = time {
                run(&mut s, later, Intent::SetMilestone { incident: id, milestone, time: at(time) });
            }
        }
        if p.postmortem {
            let document = Document {
                summary: format!("what happened to {i}"),
                failure_class: p.class.clone(),
                ..Default::default()
            };
            run(&mut s, later, Intent::WritePostmortem { incident: id, document, base: None });
        }
        if !p.open {
            run(
                &mut s,
                later,
                Intent::SetStatus { incident: id, status: Status::Closed, reason: Some("duplicate".into()) },
            );
        }
    }
    s
}

/// (n, median, p90, missing, inconsistent), worked out here: sort, then pick rank ⌈p·n/100⌉.
type Expected = (u64, Option<i64>, Option<i64>, u64, u64);

fn expect_metric(pairs: &[(Option<i64>, Option<i64>)]) -> Expected {
    let mut values = Vec::new();
    let (mut missing, mut inconsistent) = (0, 0);
    for (from, to) in pairs {
        match (from, to) {
            (Some(a), Some(b)) if b >= a => values.push(b - a),
            (Some(_), Some(_)) => inconsistent += 1,
            _ => missing += 1,
        }
    }
    values.sort();
    let n = values.len();
    // p·n is a whole number, so dividing it by 100 in floating point is exact when it can be.
    let rank = |p: usize| {
        if n == 0 {
            None
        } else {
            Some(values[(((p * n) as f64 / 100.0).ceil() as usize).max(1) - 1])
        }
    };
    (n as u64, rank(50), rank(90), missing, inconsistent)
}

fn pairs(p: &Planned) -> [(Option<i64>, Option<i64>); 4] {
    // Closing straight from declared reaches the acknowledged milestone too (a minute after
    // declaring, when `generate` closes it), unless one was set by hand first.
    let acknowledged = p.acknowledged.or((!p.open).then_some(p.declared + 60));
    [
        (p.started, p.detected),
        (Some(p.declared), acknowledged),
        (Some(p.declared), p.mitigated),
        (p.started, p.recovered),
    ]
}

fn expect_group(members: &[&Planned]) -> (u64, [Expected; 4]) {
    let metric = |i: usize| expect_metric(&members.iter().map(|p| pairs(p)[i]).collect::<Vec<_>>());
    (members.len() as u64, [metric(0), metric(1), metric(2), metric(3)])
}

fn got_group(g: &Group) -> (u64, [Expected; 4]) {
    let m =
        |m: &warroom::model::stats::Metric| (m.n, m.median_seconds, m.p90_seconds, m.missing, m.inconsistent);
    (
        g.incidents,
        [m(&g.time_to_detect), m(&g.time_to_acknowledge), m(&g.time_to_mitigate), m(&g.time_to_recover)],
    )
}

/// Every group of every section, keyed by (section, key).
fn got_all(stats: &Stats) -> BTreeMap<(String, String), (u64, [Expected; 4])> {
    let mut out = BTreeMap::new();
    out.insert(("overall".to_string(), stats.overall.key.clone()), got_group(&stats.overall));
    for (section, groups) in [
        ("severity", &stats.by_severity),
        ("service", &stats.by_service),
        ("class", &stats.by_failure_class),
        ("kind", &stats.by_kind),
    ] {
        for g in groups {
            assert!(
                out.insert((section.to_string(), g.key.clone()), got_group(g)).is_none(),
                "{section} {} twice",
                g.key
            );
        }
    }
    out
}

fn expected_all(counted: &[&Planned]) -> BTreeMap<(String, String), (u64, [Expected; 4])> {
    let mut members: BTreeMap<(String, String), Vec<&Planned>> = BTreeMap::new();
    for p in counted {
        let mut add =
            |section: &str, key: String| members.entry((section.to_string(), key)).or_default().push(*p);
        add("overall", "all".into());
        add("severity", format!("SEV{}", p.severity as usize + 1));
        if p.services.is_empty() {
            add("service", "(none)".into());
        }
        for s in &p.services {
            add("service", s.clone());
        }
        add("class", p.class.clone().unwrap_or_else(|| "(none)".into()));
        add("kind", if p.drill { "drill" } else { "real" }.into());
    }
    members.into_iter().map(|(k, v)| (k, expect_group(&v))).collect()
}

/// Checks every figure of `stats` against the plan, for incidents declared at or after `since`.
fn check(stats: &Stats, planned: &[Planned], since: Option<i64>, now: i64) {
    let counted: Vec<&Planned> = planned.iter().filter(|p| since.is_none_or(|s| p.declared >= s)).collect();
    assert!(counted.len() > 50, "the range holds enough incidents to mean something");
    assert_eq!(stats.incidents, counted.len() as u64);
    assert_eq!(stats.drills, counted.iter().filter(|p| p.drill).count() as u64);
    assert_eq!(stats.real, counted.iter().filter(|p| !p.drill).count() as u64);
    assert_eq!(stats.open, counted.iter().filter(|p| p.open).count() as u64);
    let negative =
        |p: &&&Planned| pairs(p).iter().any(|(a, b)| matches!((a, b), (Some(a), Some(b)) if b < a));
    assert_eq!(stats.inconsistent, counted.iter().filter(negative).count() as u64);
    let (got, want) = (got_all(stats), expected_all(&counted));
    for (key, want) in &want {
        assert_eq!(got.get(key), Some(want), "{key:?}");
    }
    assert_eq!(got.len(), want.len(), "no group more or less than expected");
    // Most incidents first in the open-ended sections; severities in order.
    for groups in [&stats.by_service, &stats.by_failure_class] {
        assert!(groups.windows(2).all(|w| w[0].incidents >= w[1].incidents));
    }
    let sevs: Vec<&str> = stats.by_severity.iter().map(|g| g.key.as_str()).collect();
    let mut sorted = sevs.clone();
    sorted.sort();
    assert_eq!(sevs, sorted);
    // The series: days up to 31 of them, else weeks, from `since` (or the first midnight).
    let start = since.unwrap_or_else(|| {
        let first = counted.iter().map(|p| p.declared).min().unwrap();
        first - first.rem_euclid(86_400)
    });
    let width = if now - start <= 31 * 86_400 { 86_400 } else { 7 * 86_400 };
    assert_eq!(stats.series.bucket, if width == 86_400 { Bucket::Day } else { Bucket::Week });
    assert_eq!(stats.series.start.timestamp(), start);
    let buckets = ((now - start) + width - 1) / width;
    let mut per: Vec<Vec<&Planned>> = vec![Vec::new(); buckets as usize];
    for p in &counted {
        per[(((p.declared - start) / width) as usize).min(buckets as usize - 1)].push(p);
    }
    let counts: Vec<u64> = per.iter().map(|b| b.len() as u64).collect();
    assert_eq!(stats.series.incidents, counts);
    let ttr: Vec<Option<i64>> = per.iter().map(|b| expect_group(b).1[3].1).collect();
    assert_eq!(stats.series.median_time_to_recover_seconds, ttr);
}

#[test]
fn a_thousand_generated_incidents_have_the_statistics_worked_out_independently() {
    let planned = plan(1000, 15);
    // The generator made what the test needs: every kind of gap in every metric.
    let all: Vec<&Planned> = planned.iter().collect();
    let (_, metrics) = expect_group(&all);
    for (n, _, _, missing, inconsistent) in metrics {
        assert!(n > 500 && missing > 20 && inconsistent > 10, "{metrics:?}");
    }
    let state = fold(&planned);
    assert_eq!(state.incidents.len(), 1000);
    let closed = state.incidents.values().filter(|i| !i.status.is_open()).count();
    assert!(closed > 300 && state.incidents.values().filter(|i| !i.is_full()).count() == closed, "summaries");
    let last = planned.last().unwrap().declared;
    let now = last + 3600;
    check(&compute(&state, None, at(now)), &planned, None, now);
    for days in [30, 90] {
        let since = now - days * 86_400;
        check(&compute(&state, Some(at(since)), at(now)), &planned, Some(since), now);
    }
    // A range that leaves out none, and one that counts only the last declared.
    let st = compute(&state, Some(at(last)), at(now));
    assert_eq!((st.incidents, st.series.incidents.clone()), (1, vec![1]));
}

#[test]
fn the_json_has_stable_names_and_durations_in_seconds() {
    let planned = plan(60, 3);
    let state = fold(&planned);
    let now = planned.last().unwrap().declared + 60;
    let json = serde_json::to_value(compute(&state, None, at(now))).unwrap();
    for field in [
        "since",
        "until",
        "incidents",
        "real",
        "drills",
        "open",
        "inconsistent",
        "overall",
        "by_severity",
        "by_service",
        "by_failure_class",
        "by_kind",
        "series",
    ] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
    let detect = &json["overall"]["time_to_detect"];
    for field in ["n", "median_seconds", "p90_seconds", "missing", "inconsistent"] {
        assert!(detect.get(field).is_some(), "{field} in {detect}");
    }
    assert!(detect["median_seconds"].is_i64());
    assert_eq!(json["series"]["bucket"], "day", "five days of incidents");
    assert!(json["series"]["median_time_to_recover_seconds"].is_array());
}

/// `cargo test --test stats -- --ignored --nocapture`: how long the statistics of a year of
/// incidents take (the console computes them at most four times a second).
#[test]
#[ignore]
fn measure_stats_on_ten_thousand_incidents() {
    let planned = plan(10_000, 99);
    let fold_started = std::time::Instant::now();
    let state = fold(&planned);
    let folded = fold_started.elapsed();
    let now = at(planned.last().unwrap().declared + 3600);
    for (label, since) in [("all", None), ("90d", Some(now - Duration::days(90)))] {
        let mut runs: Vec<std::time::Duration> = (0..21)
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box(compute(&state, since, now));
                t.elapsed()
            })
            .collect();
        runs.sort();
        println!(
            "model::stats::compute over {} incidents ({label}): median {:?} (min {:?}, max {:?}, 21 runs; fold {folded:?})",
            state.incidents.len(),
            runs[10],
            runs[0],
            runs[20]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warroom_stats_reads_a_real_servers_incidents() {
    let server = TestServer::start().await;
    let alice = server.client(UserRole::Commander);
    let now = Utc::now();
    // Three incidents detected 60 s, 10 min and 2 min after they started; the first is a
    // drill about checkout, the second recovered in an hour and got a postmortem.
    for (i, (detect, drill)) in [(60, true), (600, false), (120, false)].into_iter().enumerate() {
        let ack = alice
            .send(&Command::new(Intent::DeclareIncident {
                title: format!("incident {i}"),
                severity: Severity::Sev2,
                impact: String::new(),
                drill,
                services: if drill { vec!["checkout".into()] } else { vec![] },
                private: false,
            }))
            .await
            .unwrap();
        let incident = ack.events[0].fact.incident().unwrap();
        let started = now - Duration::hours(2);
        for (milestone, time) in
            [(Milestone::Started, started), (Milestone::Detected, started + Duration::seconds(detect))]
        {
            alice.send(&Command::new(Intent::SetMilestone { incident, milestone, time })).await.unwrap();
        }
        if i == 1 {
            let recovered = started + Duration::hours(1);
            alice
                .send(&Command::new(Intent::SetMilestone {
                    incident,
                    milestone: Milestone::Recovered,
                    time: recovered,
                }))
                .await
                .unwrap();
            let document = Document {
                summary: "a bad deploy".into(),
                failure_class: Some("deployment".into()),
                ..Default::default()
            };
            alice
                .send(&Command::new(Intent::WritePostmortem { incident, document, base: None }))
                .await
                .unwrap();
        }
    }
    let home = tempfile::tempdir().unwrap();
    let url = server.url.clone();
    let cli = move |args: &[&str]| {
        Proc::new(env!("CARGO_BIN_EXE_warroom"))
            .args(args)
            .env("WARROOM_SERVER", &url)
            .env("WARROOM_TOKEN", token(UserRole::Observer))
            .env("WARROOM_CONFIG_DIR", home.path().join("config"))
            .env("WARROOM_DATA_DIR", home.path().join("data"))
            .output()
            .unwrap()
    };
    let (json, table, bad) = tokio::task::spawn_blocking(move || {
        (
            cli(&["stats", "--json", "--since", "1d"]),
            cli(&["stats", "--since", "2w"]),
            cli(&["stats", "--since", "3x"]),
        )
    })
    .await
    .unwrap();
    assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (v["incidents"].as_u64(), v["drills"].as_u64(), v["open"].as_u64()),
        (Some(3), Some(1), Some(3))
    );
    let detect = &v["overall"]["time_to_detect"];
    assert_eq!(
        (detect["n"].as_i64(), detect["median_seconds"].as_i64(), detect["p90_seconds"].as_i64()),
        (Some(3), Some(120), Some(600))
    );
    assert_eq!(v["overall"]["time_to_recover"]["median_seconds"].as_i64(), Some(3600));
    assert_eq!(v["overall"]["time_to_recover"]["missing"].as_i64(), Some(2));
    let classes = v["by_failure_class"].as_array().unwrap();
    assert!(classes.iter().any(|g| g["key"] == "deployment" && g["incidents"] == 1), "{classes:?}");
    assert!(v["by_service"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["key"] == "checkout" && g["incidents"] == 1));
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(table.contains("— 2 real, 1 drill, 3 open"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("all") && l.contains("2m00s") && l.contains("10m00s")),
        "{table}"
    );
    assert!(table.contains("deployment") && table.contains("by failure class"), "{table}");
    assert!(table.contains("time to recover: 1 measured; 2 lack started and recovered"), "{table}");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--since") && err.contains("`3x` is not a time span"), "{err}");
}
