//! A chaos run written as a Chaos Toolkit journal (`chaos run --journal-path`'s JSON), whatever
//! driver ran it, so the reports and tools a team already has for Chaos Toolkit read ours too.
//!
//! Built from the folded [`Run`] alone (what every client holds), never from the server's
//! scenario files: a journal shows what a client may see of a scenario, no URLs or headers.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::model::chaos::{Run, RunPhase, RunStep, StepKind, StopCause};
use crate::model::probe::Health;

/// The journal's `status`. Chaos Toolkit's four, mapped from why the run ended: its duration
/// ran out → completed; a person, a halt, the dead man, a shutdown or a restart stopped it, or
/// its stop condition fired → interrupted; its steady state did not hold before the start →
/// failed; an inject failed → aborted. A run still going has no Chaos Toolkit word: `running`.
pub fn status(run: &Run) -> &'static str {
    match run.cause {
        Some(StopCause::Duration | StopCause::Completed) => "completed",
        Some(
            StopCause::Stopped
            | StopCause::Halted
            | StopCause::DeadMan
            | StopCause::Shutdown
            | StopCause::Restart
            | StopCause::StopCondition,
        ) => "interrupted",
        Some(StopCause::SteadyState) => "failed",
        Some(StopCause::InjectFailed) => "aborted",
        // Ended without a stop being recorded: the runner finished it on its own.
        None if run.phase == RunPhase::Ended => "completed",
        None => "running",
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Seconds between two instants, as Chaos Toolkit writes durations.
fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// The driver a rollback line belongs to (`ScenarioInfo.rollback` holds their descriptions).
fn driver_of(description: &str) -> &'static str {
    match description.split_whitespace().next().unwrap_or_default() {
        "demo" => "demo",
        "network" => "network",
        "chaos" => "chaostoolkit",
        "command" => "command",
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" => "http",
        _ => "unknown",
    }
}

fn action(name: &str, driver: &str) -> Value {
    json!({ "type": "action", "name": name, "provider": { "type": driver } })
}

fn probe(name: &str) -> Value {
    json!({
        "type": "probe",
        "name": name,
        "tolerance": Health::Up.as_str(),
        "provider": { "type": "warroom", "probe": name },
    })
}

/// One recorded step as a journal activity run. A step is one fact with one time, so its
/// start and end are that time and its duration 0: the log does not say how long it took.
fn activity(step: &RunStep, name: &str) -> Value {
    json!({
        "activity": action(name, &step.driver),
        "output": step.output,
        "status": if step.ok { "succeeded" } else { "failed" },
        "start": time(step.at),
        "end": time(step.at),
        "duration": 0.0,
    })
}

/// `run` as a Chaos Toolkit journal.
pub fn journal(run: &Run) -> Value {
    let sc = &run.scenario;
    let hypothesis_title = if sc.hypothesis.is_empty() { sc.title.as_str() } else { sc.hypothesis.as_str() };
    let experiment = json!({
        "title": sc.title,
        "description": sc.hypothesis,
        "steady-state-hypothesis": {
            "title": hypothesis_title,
            "probes": sc.steady_state.iter().map(|p| probe(p)).collect::<Vec<_>>(),
        },
        "method": sc.phases.iter().map(|p| {
            let mut a = action(&p.title, &p.driver);
            a["pauses"] = json!({ "before": p.at_secs });
            a
        }).collect::<Vec<_>>(),
        "rollbacks": sc.rollback.iter().map(|r| action(r, driver_of(r))).collect::<Vec<_>>(),
        "extensions": [{ "name": "warroom", "scenario": sc.id, "target": sc.target, "stop_when": sc.stop_when }],
    });

    let phase_name = |s: &RunStep| {
        s.phase.and_then(|i| sc.phases.get(i)).map_or_else(|| "inject".to_string(), |p| p.title.clone())
    };
    let rollback_name = |s: &RunStep| {
        s.phase.and_then(|i| sc.rollback.get(i)).cloned().unwrap_or_else(|| "rollback".to_string())
    };
    let of = |kind: StepKind| run.steps.iter().filter(move |s| s.step == kind);
    let method: Vec<Value> = of(StepKind::Inject).map(|s| activity(s, &phase_name(s))).collect();
    let rollbacks: Vec<Value> = of(StepKind::Rollback).map(|s| activity(s, &rollback_name(s))).collect();

    // Before: the runner's steady-state check. After: the probes the verdict was judged on.
    let before = of(StepKind::SteadyState).next_back().map(|s| {
        json!({
            "steady_state_met": s.ok,
            "probes": [activity(s, "steady state")],
        })
    });
    let after = run.verdict.as_ref().map(|v| {
        let at = run.ended_at.map(time);
        json!({
            "steady_state_met": !v.deviated,
            "probes": v.probes.iter().map(|(name, health)| json!({
                "activity": probe(name),
                "output": health.as_str(),
                "status": "succeeded",
                "tolerance_met": *health == Health::Up,
                "start": at,
                "end": at,
            })).collect::<Vec<_>>(),
        })
    });

    let end = run.ended_at;
    json!({
        "experiment": experiment,
        "status": status(run),
        "deviated": run.verdict.as_ref().is_some_and(|v| v.deviated),
        "steady_states": { "before": before, "after": after, "during": [] },
        "run": method,
        "rollbacks": rollbacks,
        "start": time(run.started_at),
        "end": end.map(time),
        "duration": end.map(|e| seconds(run.started_at, e)),
        "extensions": [{
            "name": "warroom",
            "run": run.id,
            "started_by": run.started_by,
            "phase": run.phase,
            "cause": run.cause,
            "reason": run.reason,
            "rollback_failed": run.rollback_failed,
            "incidents": run.incidents,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::chaos::{parse, RunId};
    use crate::model::library::Library;
    use crate::model::probe::Health;
    use crate::model::{stamp, Context, Intent, State, UserRole};

    const SCENARIO: &str = r#"
id = "price-desync"
title = "Prices differ between product page and listing"
hypothesis = "Listing and product page agree within 5 minutes"
target = ["search", "listing"]
duration = "20m"
steady_state = ["search", "listing"]

[[phase]]
inject = { driver = "demo", fault = "price_desync" }

[[phase]]
after = "5m"
title = "stop the indexer too"
inject = { driver = "command", program = "pkill-indexer" }

[[rollback]]
driver = "demo"
fault = "clear"
"#;

    fn at(min: i64) -> DateTime<Utc> {
        "2026-11-22T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::minutes(min)
    }

    /// Folds `intents` as the server would (villain commands, the runner's records as admin).
    fn fold(intents: Vec<Intent>) -> State {
        let lib = Library { scenarios: vec![parse(SCENARIO).unwrap().info()], ..Library::default() };
        let mut s = State::default();
        for (i, intent) in intents.into_iter().enumerate() {
            let now = at(i as i64);
            let role = if intent.is_internal() { UserRole::Admin } else { UserRole::Villain };
            let cx = Context { library: &lib, now, command_id: uuid::Uuid::nil(), role, actor: "victor" };
            let facts = s.decide_with(&intent, &cx).unwrap_or_else(|e| panic!("{}: {e}", intent.kind()));
            for e in stamp(s.seq + 1, now, "victor", role, uuid::Uuid::nil(), facts) {
                s.apply(&e);
            }
        }
        s
    }

    fn record(step: StepKind, phase: Option<usize>, driver: &str, ok: bool, output: &str) -> Intent {
        Intent::RecordChaos { run: RunId(1), step, phase, driver: driver.into(), ok, output: output.into() }
    }

    fn finished(cause: StopCause, deviated: bool) -> Run {
        let mut probes = std::collections::BTreeMap::new();
        probes.insert("listing".to_string(), if deviated { Health::Down } else { Health::Up });
        probes.insert("search".to_string(), Health::Up);
        let s = fold(vec![
            Intent::StartScenario { scenario: "price-desync".into() },
            record(StepKind::SteadyState, None, "", true, "search up, listing up"),
            record(StepKind::Inject, Some(0), "demo", true, "indexer paused"),
            record(StepKind::Inject, Some(1), "command", false, "exit 1: no such process"),
            Intent::EndScenario { run: RunId(1), cause, reason: Some("why".into()) },
            record(StepKind::Rollback, Some(0), "demo", true, "cleared"),
            Intent::FinishScenario {
                run: RunId(1),
                verdict: Some(crate::model::chaos::Verdict { deviated, probes }),
            },
        ]);
        s.chaos.runs[&RunId(1)].clone()
    }

    #[test]
    fn a_finished_run_reads_as_a_chaos_toolkit_journal() {
        let j = journal(&finished(StopCause::Duration, true));
        assert!(j.get("chaoslib-version").is_none(), "not written by chaoslib");
        assert_eq!(j["status"], "completed");
        assert_eq!(j["deviated"], true);
        let e = &j["experiment"];
        assert_eq!(e["title"], "Prices differ between product page and listing");
        assert_eq!(e["description"], "Listing and product page agree within 5 minutes");
        assert_eq!(e["steady-state-hypothesis"]["probes"][1]["name"], "listing");
        assert_eq!(e["method"][1]["name"], "stop the indexer too");
        assert_eq!(e["method"][1]["pauses"]["before"], 300);
        assert_eq!(e["rollbacks"][0]["provider"]["type"], "demo");
        // One run entry per inject, with the driver, output and outcome.
        let run = j["run"].as_array().unwrap();
        assert_eq!(run.len(), 2);
        assert_eq!(run[0]["activity"]["name"], "demo price_desync");
        assert_eq!(run[0]["activity"]["type"], "action");
        assert_eq!(run[0]["activity"]["provider"]["type"], "demo");
        assert_eq!(
            (run[0]["status"].as_str(), run[1]["status"].as_str()),
            (Some("succeeded"), Some("failed"))
        );
        assert_eq!(run[1]["output"], "exit 1: no such process");
        assert_eq!(j["rollbacks"][0]["activity"]["name"], "demo clear");
        assert_eq!(j["rollbacks"][0]["status"], "succeeded");
        assert_eq!(j["steady_states"]["before"]["steady_state_met"], true);
        assert_eq!(j["steady_states"]["after"]["steady_state_met"], false);
        assert_eq!(j["steady_states"]["after"]["probes"][0]["output"], "down");
        assert_eq!(j["start"], "2026-11-22T10:00:00.000Z");
        assert_eq!(j["end"], "2026-11-22T10:06:00.000Z");
        assert_eq!(j["duration"], 360.0);
        assert_eq!(j["extensions"][0]["run"], "RUN-1");
    }

    #[test]
    fn the_status_follows_why_the_run_ended() {
        for (cause, want) in [
            (StopCause::Duration, "completed"),
            (StopCause::Completed, "completed"),
            (StopCause::Stopped, "interrupted"),
            (StopCause::Halted, "interrupted"),
            (StopCause::DeadMan, "interrupted"),
            (StopCause::Shutdown, "interrupted"),
            (StopCause::Restart, "interrupted"),
            (StopCause::SteadyState, "failed"),
            (StopCause::InjectFailed, "aborted"),
        ] {
            let run = finished(cause, false);
            assert_eq!(journal(&run)["status"], want, "{cause}");
            assert_eq!(journal(&run)["deviated"], false);
        }
        // Still running: no end, no verdict, and a status that says so.
        let s = fold(vec![Intent::StartScenario { scenario: "price-desync".into() }]);
        let j = journal(&s.chaos.runs[&RunId(1)]);
        assert_eq!((j["status"].as_str(), j["end"].is_null()), (Some("running"), true));
        assert!(j["steady_states"]["before"].is_null() && j["steady_states"]["after"].is_null());
    }
}
