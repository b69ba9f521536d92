//! The `chaostoolkit` chaos driver: a Chaos Toolkit experiment run by the real `chaos` CLI in
//! its own process group; stopping it interrupts it so Chaos Toolkit plays its own rollbacks.
//!
//! Observed with chaostoolkit 1.19.0 (chaostoolkit-lib 1.44.0): on SIGINT `chaos` logs
//! "Received a termination signal (Ctrl-C)", writes its journal with `status: interrupted`
//! (`steady_states.after` null) and exits 1 — and plays the rollbacks only because we pass
//! `--rollback-strategy always`: its default strategy skips them after an interruption or a
//! deviation, which would leave a game day's fault in place.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::Value;

use super::command::{describe_exit, last_lines, resolve, Group};
use super::driver::{DriverCx, Injected, Ongoing};
use super::http::{one_line, shown_duration};
use crate::model::chaos::MAX_OUTPUT;

/// After SIGINT, how long Chaos Toolkit may take to play its rollbacks and write its journal
/// before the whole group is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(30);
/// After SIGKILL, how long reaping may take (a process stuck in the kernel) before we say so.
const REAP_GRACE: Duration = Duration::from_secs(5);
/// Characters per line of a summary, and lines of `chaos`'s own output quoted when it wrote no
/// journal.
const LINE_CHARS: usize = 200;
const OUTPUT_LINES: usize = 6;
/// Journals (and their logs) per run directory: one per `chaostoolkit` action, numbered.
const MAX_JOURNALS: u32 = 10_000;

/// How to get the CLI, said whenever it is missing.
const INSTALL: &str =
    "install Chaos Toolkit with `python3 -m venv ctk && ctk/bin/pip install chaostoolkit`, \
     then put ctk/bin on the PATH or set `chaos_cli` in the server's [chaos] config";

/// Starts `chaos run <experiment>` (a path relative to the scenario's file, or a URL) and
/// returns at once; the [`Ongoing`] ends with the journal's [`summary`].
pub async fn act(cx: &DriverCx, experiment: &str) -> Result<Injected, String> {
    act_with_env(cx, experiment, &[]).await
}

/// [`act`] with more environment for `chaos`: an experiment's `configuration` entries of
/// `type: env` read it (the demo shop's URLs and admin token), without touching the server's
/// own environment.
pub async fn act_with_env(
    cx: &DriverCx,
    experiment: &str,
    env: &[(String, String)],
) -> Result<Injected, String> {
    let is_url = experiment.starts_with("http://") || experiment.starts_with("https://");
    if !is_url && !cx.base_dir.join(experiment).is_file() {
        return Err(format!(
            "chaostoolkit: experiment {experiment} not found (relative paths are from {})",
            cx.base_dir.display()
        ));
    }
    let work_dir = std::path::absolute(&cx.work_dir)
        .map_err(|e| format!("chaostoolkit: run directory {}: {e}", cx.work_dir.display()))?;
    std::fs::create_dir_all(&work_dir)
        .map_err(|e| format!("chaostoolkit: creating run directory {}: {e}", work_dir.display()))?;
    let (n, out) = reserve(&work_dir)?;
    let err =
        out.try_clone().map_err(|e| format!("chaostoolkit: chaos-{n}.out in {}: {e}", work_dir.display()))?;
    let files = Files {
        journal: work_dir.join(format!("journal-{n}.json")),
        log: work_dir.join(format!("chaos-{n}.log")),
        out: work_dir.join(format!("chaos-{n}.out")),
    };
    let cli = match &cx.config.chaos_cli {
        Some(path) => resolve(&std::env::current_dir().unwrap_or_default(), &path.to_string_lossy()),
        None => PathBuf::from("chaos"),
    };
    let mut command = tokio::process::Command::new(&cli);
    command
        .arg("--no-version-check")
        .arg("--log-file")
        .arg(&files.log)
        .arg("run")
        .arg(experiment)
        .arg("--journal-path")
        .arg(&files.journal)
        .arg("--rollback-strategy")
        .arg("always")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&cx.base_dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    // SAFETY: runs in the forked child before exec and calls only signal(2), which is
    // async-signal-safe. Why: a server started in the background by a script inherits SIGINT
    // ignored, exec keeps it ignored, and Python then never installs its Ctrl-C handler — seen
    // here: the stop was ignored and the experiment ran its whole pause.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            format!("chaostoolkit: the Chaos Toolkit CLI `{}` was not found: {INSTALL}", cli.display())
        }
        _ => format!("chaostoolkit: could not start `{}`: {e}", cli.display()),
    })?;
    let group = Group::of(&child);
    Ok(Injected {
        output: format!("chaos run {experiment} started (journal {})", files.journal.display()),
        ongoing: Some(Box::new(Experiment { running: Some(Running { child, group }), exit: None, files })),
    })
}

/// The first free number in `work_dir`, taken by creating its output file: two actions of one
/// run, or a run resumed after a restart, never share a journal.
fn reserve(work_dir: &Path) -> Result<(u32, File), String> {
    for n in 1..=MAX_JOURNALS {
        let path = work_dir.join(format!("chaos-{n}.out"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((n, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("chaostoolkit: creating {}: {e}", path.display())),
        }
    }
    Err(format!("chaostoolkit: {} already holds {MAX_JOURNALS} journals", work_dir.display()))
}

struct Files {
    journal: PathBuf,
    log: PathBuf,
    out: PathBuf,
}

struct Running {
    child: tokio::process::Child,
    group: Group,
}

/// A `chaos run` under way, or ended (`running` is then `None` and `exit` says how).
struct Experiment {
    running: Option<Running>,
    exit: Option<Exit>,
    files: Files,
}

enum Exit {
    Status(ExitStatus),
    /// It outlived [`STOP_GRACE`] after SIGINT and was killed.
    Killed,
}

impl Experiment {
    /// The journal's summary; `Err` when there is no journal, when `chaos` had to be killed, or
    /// when one of its rollbacks failed (the runner must treat that as a failed rollback).
    fn report(&self) -> Result<String, String> {
        let exit = match &self.exit {
            Some(Exit::Status(status)) => describe_exit(*status),
            Some(Exit::Killed) => {
                format!("did not stop within {} of SIGINT and was killed", shown_duration(STOP_GRACE))
            }
            None => "is still running".into(),
        };
        let journal = match std::fs::read(&self.files.journal) {
            Ok(bytes) if !bytes.is_empty() => serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                format!("chaos {exit}; its journal {} is not JSON: {e}", self.files.journal.display())
            })?,
            Ok(_) | Err(_) => {
                let output = std::fs::read(&self.files.out).unwrap_or_default();
                let lines =
                    last_lines(&strip_ansi(&String::from_utf8_lossy(&output)), OUTPUT_LINES, LINE_CHARS);
                return Err(format!(
                    "chaos {exit} without writing a journal (log {}): {lines}",
                    self.files.log.display()
                ));
            }
        };
        let text = summary(&journal);
        let rollbacks_failed = journal["rollbacks"]
            .as_array()
            .is_some_and(|r| r.iter().any(|run| run["status"].as_str() != Some("succeeded")));
        match (&self.exit, rollbacks_failed) {
            (Some(Exit::Killed), _) => Err(format!("chaos {exit}; rollbacks may not have run\n{text}")),
            (_, true) => Err(format!("a Chaos Toolkit rollback failed\n{text}")),
            _ => Ok(text),
        }
    }
}

impl Ongoing for Experiment {
    fn stop(mut self: Box<Self>) -> BoxFuture<'static, Result<String, String>> {
        async move {
            if let Some(running) = self.running.take() {
                self.exit = Some(interrupt(running).await);
            }
            self.report()
        }
        .boxed()
    }

    fn finished(&mut self) -> BoxFuture<'_, Result<String, String>> {
        async move {
            if let Some(running) = &mut self.running {
                // Cancel-safe: dropped mid-wait, the child stays ours and running.
                let status = running
                    .child
                    .wait()
                    .await
                    .map_err(|e| format!("chaostoolkit: waiting for chaos failed: {e}"))?;
                if let Some(mut running) = self.running.take() {
                    running.group.reaped();
                }
                self.exit = Some(Exit::Status(status));
            }
            self.report()
        }
        .boxed()
    }
}

/// Dropped while `chaos` runs (the runner itself was cancelled): it is still stopped as
/// [`Ongoing::stop`] would, in the background, so no experiment is ever orphaned.
impl Drop for Experiment {
    fn drop(&mut self) {
        let Some(running) = self.running.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(interrupt(running));
            }
            // No runtime left to wait in: SIGINT, so it still rolls back; the group's own drop
            // would kill it before it could, so it is let go.
            Err(_) => {
                running.group.signal(libc::SIGINT);
                let mut group = running.group;
                group.reaped();
            }
        }
    }
}

/// SIGINT to the whole group, then up to [`STOP_GRACE`] for Chaos Toolkit's rollbacks and
/// journal, then SIGKILL.
async fn interrupt(mut running: Running) -> Exit {
    running.group.signal(libc::SIGINT);
    match tokio::time::timeout(STOP_GRACE, running.child.wait()).await {
        Ok(Ok(status)) => {
            running.group.reaped();
            Exit::Status(status)
        }
        Ok(Err(_)) | Err(_) => {
            running.group.kill();
            if tokio::time::timeout(REAP_GRACE, running.child.wait()).await.is_ok() {
                running.group.reaped();
            }
            Exit::Killed
        }
    }
}

/// Drops terminal colour sequences (`ESC [ … letter`) from `chaos`'s console output.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A journal in a few short lines for the timeline: the experiment and its outcome, the steady
/// state before and after, each activity of the method and each rollback with its status (and
/// a failure's last words). Bounded by the model's [`MAX_OUTPUT`].
pub fn summary(journal: &Value) -> String {
    let title = journal["experiment"]["title"].as_str().unwrap_or("(untitled)");
    let status = journal["status"].as_str().unwrap_or("unknown");
    let outcome = match journal["deviated"].as_bool() {
        Some(true) => "deviated",
        Some(false) => "hypothesis held",
        None => "hypothesis not judged",
    };
    let mut lines = vec![format!("experiment \"{title}\": {status}, {outcome}")];
    lines.extend(steady_state(journal, "before"));
    lines.extend(activities(&journal["run"], ""));
    lines.extend(steady_state(journal, "after"));
    lines.extend(activities(&journal["rollbacks"], "rollback "));
    let lines: Vec<String> = lines.iter().map(|l| one_line(l, LINE_CHARS)).collect();
    let text = lines.join("\n");
    match text.char_indices().nth(MAX_OUTPUT / 2) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `steady state before: met (health: ok)`; nothing when it was not checked (an interrupted
/// run has no `after`).
fn steady_state(journal: &Value, when: &str) -> Option<String> {
    let state = journal["steady_states"][when].as_object()?;
    let met = match state.get("steady_state_met").and_then(Value::as_bool) {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not judged",
    };
    let probes: Vec<String> = state
        .get("probes")
        .and_then(Value::as_array)
        .map(|p| p.iter().map(probe_result).collect())
        .unwrap_or_default();
    Some(format!("steady state {when}: {met} ({})", probes.join(", ")))
}

/// `health: ok`, or `health: tolerance not met`, `health: failed`.
fn probe_result(run: &Value) -> String {
    let name = run["activity"]["name"].as_str().unwrap_or("(unnamed)");
    match (run["status"].as_str(), run["tolerance_met"].as_bool()) {
        (Some("succeeded"), Some(false)) => format!("{name}: tolerance not met"),
        (Some("succeeded"), _) => format!("{name}: ok"),
        (Some(other), _) => format!("{name}: {other}"),
        (None, _) => format!("{name}: unknown"),
    }
}

/// `action slow-search: succeeded`, one per run of `runs`, with a failure's last line.
fn activities(runs: &Value, prefix: &str) -> Vec<String> {
    let Some(runs) = runs.as_array() else { return Vec::new() };
    runs.iter()
        .map(|run| {
            let kind = run["activity"]["type"].as_str().unwrap_or("activity");
            let name = run["activity"]["name"].as_str().unwrap_or("(unnamed)");
            let status = run["status"].as_str().unwrap_or("unknown");
            let why = run["exception"]
                .as_array()
                .and_then(|lines| lines.iter().rev().filter_map(Value::as_str).find(|l| !l.trim().is_empty()))
                .map(|l| format!(": {}", l.trim()))
                .unwrap_or_default();
            format!("{prefix}{kind} {name}: {status}{why}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn probe(name: &str, status: &str, tolerance_met: bool) -> Value {
        json!({ "activity": { "type": "probe", "name": name, "tolerance": 200 }, "status": status,
                "tolerance_met": tolerance_met, "output": { "status": 200 } })
    }

    #[test]
    fn a_completed_journal_reads_as_outcome_steady_states_activities_and_rollbacks() {
        let journal = json!({
            "experiment": { "title": "The shop survives a slow search" },
            "status": "completed",
            "deviated": false,
            "steady_states": {
                "before": { "steady_state_met": true, "probes": [probe("product-page-health", "succeeded", true)] },
                "after": { "steady_state_met": true, "probes": [probe("product-page-health", "succeeded", true)] },
                "during": []
            },
            "run": [{ "activity": { "type": "action", "name": "slow-search" }, "status": "succeeded", "output": {} }],
            "rollbacks": [{ "activity": { "type": "action", "name": "restore-search" }, "status": "succeeded" }]
        });
        assert_eq!(
            summary(&journal),
            "experiment \"The shop survives a slow search\": completed, hypothesis held\n\
             steady state before: met (product-page-health: ok)\n\
             action slow-search: succeeded\n\
             steady state after: met (product-page-health: ok)\n\
             rollback action restore-search: succeeded"
        );
    }

    #[test]
    fn an_interrupted_deviated_journal_says_what_failed_and_skips_what_never_ran() {
        let journal = json!({
            "experiment": { "title": "t" },
            "status": "failed",
            "deviated": true,
            "steady_states": {
                "before": { "steady_state_met": true, "probes": [probe("health", "succeeded", true)] },
                "after": { "steady_state_met": false, "probes": [probe("health", "succeeded", false)] },
            },
            "run": [{ "activity": { "type": "action", "name": "break" }, "status": "failed",
                      "exception": ["Traceback (most recent call last):\n", "ActivityFailed: HTTP 500\n", ""] }],
            "rollbacks": []
        });
        let text = summary(&journal);
        assert!(text.starts_with("experiment \"t\": failed, deviated\n"), "{text}");
        assert!(text.contains("action break: failed: ActivityFailed: HTTP 500"), "{text}");
        assert!(text.contains("steady state after: NOT met (health: tolerance not met)"), "{text}");

        let interrupted = json!({ "status": "interrupted", "deviated": false,
            "steady_states": { "before": { "steady_state_met": true, "probes": [] }, "after": null } });
        let text = summary(&interrupted);
        assert_eq!(
            text,
            "experiment \"(untitled)\": interrupted, hypothesis held\nsteady state before: met ()"
        );
    }

    #[test]
    fn a_journal_that_is_not_one_still_summarises_without_panicking() {
        assert_eq!(summary(&json!(null)), "experiment \"(untitled)\": unknown, hypothesis not judged");
        assert_eq!(summary(&json!({ "run": [1, "x"], "rollbacks": {} })).lines().count(), 3);
    }

    #[test]
    fn colour_sequences_are_dropped_from_chaos_output() {
        assert_eq!(strip_ansi("\x1b[32m[INFO] ok\x1b[0m"), "[INFO] ok");
    }
}
