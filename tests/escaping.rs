//! Other people's text never acts on a reader's terminal: a corpus of control characters,
//! escape sequences and bidi overrides goes into every string field of every event kind, then
//! through every output path — the CLI's tables, `events`, `--json`, its error messages, and
//! every pane of the console — and no raw control character comes out.

mod common;

use std::process::Command as Proc;

use chrono::Utc;
use common::{token, users, DEADLINE};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use warroom::client::sync::SyncEvent;
use warroom::config::{ChannelConfig, ChannelKind, UserConfig};
use warroom::model::{Audience, IncidentId, Intent, Milestone, Role, Severity, Status, UserRole};
use warroom::protocol::{Command, Whoami};
use warroom::server::{start, Caller, ServerOptions};
use warroom::tui::app::{App, Msg, Pane};

/// What an attacker or a careless paste puts in a field: clear screen, OSC 52 (writes the
/// reader's clipboard), the 8-bit CSI, carriage return and backspace (overwrite what is shown),
/// bell, DEL, NUL, and the bidi override and isolate that reorder drawn text.
const CORPUS: &[&str] = &[
    "\u{1b}[2J",
    "\u{1b}]52;c;SGVsbG8=\u{7}",
    "\u{9b}31m",
    "\r",
    "\u{8}\u{8}",
    "\u{7f}",
    "\u{0}",
    "\u{202e}txt.exe",
    "\u{2066}",
    "\u{85}",
    "\t",
];

fn nasty(field: &str) -> String {
    format!("{field}<{}>", CORPUS.join("|"))
}

/// Every character that must never reach a terminal raw (newline and tab are layout).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

fn assert_clean(what: &str, text: &str) {
    let bad = raw_controls(text);
    assert!(bad.is_empty(), "{what} printed raw control characters {bad:?}:\n{text}");
}

const PLAYBOOK: &str = r#"
id = "nasty"
title = "Playbook \u001b[2J title"
severities = []
[[steps]]
id = "tell"
title = "Tell \u001b]52;c;eA==\u0007 staff"
section = "communicate"
channel = "hook"
message = "{{title}} \u009b31m"
"#;

/// A server whose log holds the corpus in every string field of every event kind.
async fn poisoned_server() -> (warroom::server::RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(playbooks.join("nasty.toml"), PLAYBOOK).unwrap();
    // A webhook that accepts and never answers: deliveries stay pending while we record ours.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let mut all_users = users();
    all_users.push(UserConfig {
        name: nasty("eve"),
        role: UserRole::Commander,
        token: "eve-token-0123456789abcdef".into(),
    });
    // Roles and steps go only to users: the ones handed them are as careless as eve.
    for (i, who) in ["person", "assignee"].into_iter().enumerate() {
        all_users.push(UserConfig {
            name: nasty(who),
            role: UserRole::Responder,
            token: format!("{who}-token-{i}-0123456789abcdef"),
        });
    }
    let server = start(ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        users: all_users,
        channels: vec![ChannelConfig {
            name: "hook".into(),
            kind: ChannelKind::Webhook,
            audience: Some(Audience::Staff),
            url: Some(hook),
            token: None,
            smtp: None,
            tls: Default::default(),
            from: None,
            recipients_file: None,
            drills: false,
        }],
        playbook_dirs: vec![playbooks],
        // A configured probe (an admin's file can be careless too), pointing nowhere.
        probes: vec![warroom::config::ProbeConfig {
            name: nasty("configured").replace(['\r', '\u{85}', '\u{0}', '\t'], ""),
            kind: warroom::config::ProbeKind::Tcp,
            url: None,
            address: Some("127.0.0.1:9".into()),
            interval: warroom::model::probe::ProbeDuration::from_secs(3600),
            timeout: warroom::model::probe::ProbeDuration::from_secs(1),
            conditions: vec!["[CONNECTED] == true".into()],
            degraded: Vec::new(),
            failure_threshold: 1,
            success_threshold: 1,
            auto_declare: None,
            interval_ms: None,
            timeout_ms: None,
        }],
        ..Default::default()
    })
    .await
    .unwrap();

    let eve = Caller { name: nasty("eve"), role: UserRole::Commander };
    let system = Caller { name: "warroom".into(), role: UserRole::Admin };
    let app = server.app.clone();
    let send = |caller: &Caller, intent: Intent| {
        let (app, caller) = (app.clone(), caller.clone());
        async move { app.submit(caller, Command::new(intent)).await.unwrap() }
    };
    let inc = IncidentId(1);
    send(
        &eve,
        Intent::DeclareIncident {
            title: nasty("title"),
            severity: Severity::Sev3,
            impact: nasty("impact"),
            drill: false,
            services: vec![nasty("service")],
            private: false,
        },
    )
    .await;
    send(&eve, Intent::AddNote { incident: inc, text: nasty("note") }).await;
    send(&eve, Intent::SetStatus { incident: inc, status: Status::Mitigated, reason: None }).await;
    send(
        &eve,
        Intent::SetStatus { incident: inc, status: Status::Investigating, reason: Some(nasty("reason")) },
    )
    .await;
    send(&eve, Intent::AssignRole { incident: inc, role: Role::Scribe, person: nasty("person") }).await;
    send(&eve, Intent::SetMilestone { incident: inc, milestone: Milestone::Started, time: Utc::now() }).await;
    send(&eve, Intent::AttachPlaybook { incident: inc, playbook: "nasty".into() }).await;
    send(&eve, Intent::AssignStep { incident: inc, step: "tell".into(), person: nasty("assignee") }).await;
    let queued = send(
        &eve,
        Intent::SendMessage {
            incident: inc,
            channel: "hook".into(),
            text: nasty("message"),
            step: None,
            status: None,
        },
    )
    .await;
    let message = match &queued.events[0].fact {
        warroom::model::Fact::MessageQueued { message, .. } => *message,
        other => panic!("{other:?}"),
    };
    send(
        &system,
        Intent::RecordDelivery { incident: inc, message, ok: false, detail: nasty("error"), last: false },
    )
    .await;
    send(
        &system,
        Intent::RecordDelivery { incident: inc, message, ok: true, detail: nasty("detail"), last: false },
    )
    .await;
    send(&eve, Intent::TickStep { incident: inc, step: "tell".into() }).await;
    send(&eve, Intent::SnoozeClock { incident: inc, audience: Audience::Staff, minutes: 5 }).await;
    send(
        &eve,
        // A new component must be a plain name now; a configured one (the careless admin's
        // probe) is set as it is named, and older logs hold whatever was allowed then.
        Intent::SetComponent {
            component: nasty("configured").replace(['\r', '\u{85}', '\u{0}', '\t'], ""),
            status: Some(warroom::model::incident::ComponentStatus::MajorOutage),
        },
    )
    .await;
    send(
        &system,
        Intent::RecordProbe {
            probe: nasty("probe"),
            health: warroom::model::probe::Health::Down,
            failed: vec![nasty("failed")],
            auto_declare: Some(Severity::Sev2),
        },
    )
    .await;
    (server, dir)
}

fn cli(url: &str, dir: &std::path::Path, args: &[&str]) -> (String, String) {
    let out = Proc::new(env!("CARGO_BIN_EXE_warroom"))
        .args(args)
        .env("WARROOM_SERVER", url)
        .env("WARROOM_TOKEN", token(UserRole::Admin))
        .env("WARROOM_DATA_DIR", dir.join("client"))
        .env("WARROOM_CONFIG_DIR", dir.join("no-config"))
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_field_of_any_event_reaches_a_terminal_raw_through_the_cli() {
    let (server, dir) = poisoned_server().await;
    let url = server.url();
    let kinds: std::collections::BTreeSet<String> =
        common::all_events(&warroom::client::Client::new(&url, &token(UserRole::Admin)).unwrap())
            .await
            .iter()
            .map(|e| e.fact.kind().to_string())
            .collect();
    // Every kind a client can cause is in the log (redacted is never written).
    for kind in [
        "incident_declared",
        "note_added",
        "status_changed",
        "role_assigned",
        "milestone_set",
        "playbook_attached",
        "step_assigned",
        "message_queued",
        "message_failed",
        "message_delivered",
        "step_ticked",
        "clock_snoozed",
        "component_set",
        "probe_changed",
    ] {
        assert!(kinds.contains(kind), "the corpus log lacks {kind}: {kinds:?}");
    }
    let configured = nasty("configured").replace(['\r', '\u{85}', '\u{0}', '\t'], "");
    let runs: Vec<Vec<&str>> = vec![
        vec!["incident", "list", "--all"],
        vec!["incident", "show", "INC-1"],
        vec!["incident", "show", "INC-2"],
        vec!["events"],
        vec!["probe", "list"],
        vec!["probe", "show", &configured],
        vec!["playbook", "list"],
        vec!["playbook", "show", "nasty"],
        // Refusals quote what was asked: the error path is an output path too.
        vec!["step", "tick", "INC-1", "\u{1b}[2Jno-such-step"],
        vec!["incident", "note", "INC-1", "\u{1b}]52;c;eA==\u{7}echoed back"],
        vec!["outbox", "list"],
    ];
    for args in &runs {
        let (out, err) = tokio::task::block_in_place(|| cli(&url, dir.path(), args));
        assert!(!out.is_empty() || !err.is_empty(), "{args:?} printed nothing");
        assert_clean(&format!("warroom {args:?} (stdout)"), &out);
        assert_clean(&format!("warroom {args:?} (stderr)"), &err);
        let mut json_args = args.clone();
        json_args.push("--json");
        let (out, err) = tokio::task::block_in_place(|| cli(&url, dir.path(), &json_args));
        assert_clean(&format!("warroom {json_args:?} (stdout)"), &out);
        assert_clean(&format!("warroom {json_args:?} (stderr)"), &err);
        // JSON output stays JSON, with the text intact once parsed.
        for line in out.lines().filter(|l| l.starts_with('{') || l.starts_with('[')) {
            if serde_json::from_str::<serde_json::Value>(line).is_err() {
                // Pretty-printed: parse the whole output instead.
                serde_json::from_str::<serde_json::Value>(&out)
                    .unwrap_or_else(|e| panic!("{json_args:?} is not JSON ({e}):\n{out}"));
                break;
            }
        }
    }
    let (events_json, _) = tokio::task::block_in_place(|| cli(&url, dir.path(), &["events", "--json"]));
    assert!(events_json.contains("\\u009b31m"), "C1 controls are JSON-escaped, not dropped");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_field_of_any_event_reaches_the_console_raw() {
    let (server, _dir) = poisoned_server().await;
    let snapshot = warroom::client::Client::new(&server.url(), &token(UserRole::Admin))
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    assert_eq!(snapshot.state.incidents.len(), 2, "the probe auto-declared a second incident");
    let themes = warroom::tui::theme::Themes::presets();
    let theme = themes.get("default").unwrap().clone();
    let mut app = App::new(&server.url(), warroom::tui::keymap::Keymap::default(), themes, theme, Utc::now());
    app.update(Msg::Resize(200, 60));
    app.update(Msg::Me(Whoami { name: nasty("eve"), role: UserRole::Commander }));
    app.update(Msg::Sync(SyncEvent::Online));
    assert_eq!(snapshot.probes.len(), 1);
    app.update(Msg::Sync(SyncEvent::Snapshot(snapshot.clone())));
    let deadline = std::time::Instant::now() + DEADLINE;
    for id in snapshot.state.incidents.keys() {
        app.selected = Some(*id);
        for pane in Pane::ALL {
            for zoom in [false, true] {
                app.focus = pane;
                app.zoom = zoom;
                app.prepare();
                let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
                term.draw(|f| warroom::tui::view::draw(f, &app)).unwrap();
                let buf = term.backend().buffer().clone();
                let shown: String = buf.content().iter().map(|c| c.symbol()).collect();
                assert_clean(&format!("the console ({id}, {pane:?}, zoom {zoom})"), &shown);
                // A tab is layout on a CLI's line, but a cell holding one moves the cursor.
                assert!(!shown.contains('\t'), "the console ({id}, {pane:?}) drew a raw tab");
                assert!(std::time::Instant::now() < deadline);
            }
        }
    }
    server.stop().await;
}
