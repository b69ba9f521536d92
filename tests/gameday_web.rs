//! Game days from outside the console: the `warroom gameday` verbs against a real server, the
//! big screen's share token and live stream, and the page itself in headless Chromium (driven
//! over the DevTools pipe) updating without a reload when a team scores.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{eventually, token, users, DEADLINE};
use futures_util::StreamExt;
use serde_json::{json, Value};
use warroom::client::Client;
use warroom::model::chaos::{RunId, RunPhase};
use warroom::model::gameday::{GameDayId, Style};
use warroom::model::{Fact, Intent, Severity, UserRole};
use warroom::protocol::{Ack, Command};
use warroom::server::{start, RunningServer, ServerOptions};

const SCENARIO: &str = "slow-checkout";
const TITLE: &str = "Checkout crawls";
const OWLS: &str = "Night Owls";
const BIRDS: &str = "Early Birds";

/// A scenario of the `demo` driver on the stand-in below: one target, `checkout`, which is also
/// its steady-state probe.
fn scenario() -> String {
    format!(
        r#"id = "{SCENARIO}"
title = "{TITLE}"
hypothesis = "checkout survives latency"
target = ["checkout"]
duration = "10m"
steady_state = ["checkout"]
stop_when = "never"

[[phase]]
after = "0s"
inject = {{ driver = "demo", fault = "latency", service = "checkout", ms = 500 }}

[[rollback]]
driver = "demo"
fault = "clear"
"#
    )
}

/// Stands in for the demo shop: takes faults, always healthy (only the scores matter here).
async fn shop() -> String {
    use axum::routing::{delete, get, post};
    let router = axum::Router::new()
        .route("/admin/faults", post(|| async { axum::Json(json!({ "detail": "latency injected" })) }))
        .route("/admin/faults", delete(|| async { axum::Json(json!({ "detail": "every fault cleared" })) }))
        .route("/health/{name}", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

struct Room {
    server: RunningServer,
    dir: tempfile::TempDir,
}

impl Room {
    async fn start() -> Room {
        let dir = tempfile::tempdir().unwrap();
        let url = shop().await;
        let chaos_dir = dir.path().join("chaos");
        std::fs::create_dir_all(&chaos_dir).unwrap();
        std::fs::write(chaos_dir.join(format!("{SCENARIO}.toml")), scenario()).unwrap();
        let probe: warroom::config::ProbeConfig = toml::from_str(&format!(
            "name = \"checkout\"\nurl = \"{url}/health/checkout\"\ninterval = \"1s\"\ntimeout = \"1s\"\n\
             conditions = [\"[STATUS] == 200\"]\nfailure_threshold = 1\nsuccess_threshold = 1\n"
        ))
        .unwrap();
        let server = start(ServerOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().join("data"),
            users: users(),
            probes: vec![probe],
            chaos: warroom::config::ChaosConfig {
                demo_url: Some(url),
                demo_token: Some("shop-token".into()),
                ..Default::default()
            },
            scenario_dirs: vec![chaos_dir],
            ..Default::default()
        })
        .await
        .unwrap();
        Room { server, dir }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn client(&self, role: UserRole) -> Client {
        Client::new(&self.url(), &token(role)).unwrap()
    }

    async fn send(&self, role: UserRole, intent: Intent) -> Ack {
        let what = intent.kind();
        self.client(role).send(&Command::new(intent)).await.unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// A fire drill with two teams (alice in one, bob in the other) and the scenario planned,
    /// started; its id and the big screen's share link.
    async fn fire_drill(&self) -> (GameDayId, String) {
        let ack = self
            .send(
                UserRole::Admin,
                Intent::CreateGameday { name: "Autumn drill".into(), style: Style::FireDrill },
            )
            .await;
        let Fact::GamedayCreated { gameday, .. } = ack.events[0].fact else { panic!("{:?}", ack.events) };
        for team in [OWLS, BIRDS] {
            self.send(UserRole::Admin, Intent::AddTeam { gameday, team: team.into() }).await;
        }
        self.send(UserRole::Commander, Intent::JoinTeam { gameday, team: OWLS.into(), person: None }).await;
        self.send(UserRole::Responder, Intent::JoinTeam { gameday, team: BIRDS.into(), person: None }).await;
        self.send(
            UserRole::Admin,
            Intent::PlanScenario {
                gameday,
                scenario: SCENARIO.into(),
                briefing: None,
                note: String::new(),
                par_detect_minutes: None,
                par_mitigate_minutes: None,
                weights: Default::default(),
            },
        )
        .await;
        self.send(UserRole::Admin, Intent::StartGameday { gameday }).await;
        (gameday, self.share_url().await)
    }

    async fn share_url(&self) -> String {
        self.client(UserRole::Admin).gameday().await.unwrap().share_url.expect("the game master's share link")
    }

    /// The villain starts the planned scenario; returns once its fault is injected.
    async fn inject(&self) -> RunId {
        let ack = self.send(UserRole::Villain, Intent::StartScenario { scenario: SCENARIO.into() }).await;
        let Fact::ScenarioStarted { run, .. } = ack.events[0].fact else { panic!("{:?}", ack.events) };
        eventually("the fault injected", || async {
            self.server.app.hub().state().chaos.runs.get(&run).is_some_and(|r| r.injected == 1)
        })
        .await;
        run
    }

    async fn stop(&self, run: RunId) {
        self.send(UserRole::Villain, Intent::StopScenario { run, reason: Some("over".into()) }).await;
        eventually("the run ended and judged", || async {
            self.server.app.hub().state().chaos.runs.get(&run).is_some_and(|r| r.phase == RunPhase::Ended)
        })
        .await;
    }

    /// `role`'s team detects: an incident about the scenario's target.
    async fn declare(&self, role: UserRole) {
        self.send(
            role,
            Intent::DeclareIncident {
                title: "checkout is slow".into(),
                severity: Severity::Sev2,
                impact: "customers wait at checkout".into(),
                drill: false,
                services: vec!["checkout".into()],
                private: false,
            },
        )
        .await;
    }

    /// The big screen's board as the server serves it now (`/gameday/scoreboard.json`).
    async fn shared_board(&self, share: &str) -> Value {
        let url = share.replace("/gameday/scoreboard?", "/gameday/scoreboard.json?");
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }

    /// The real binary as `role`, with its own config and data dirs.
    async fn cli(&self, role: UserRole, args: &[&str]) -> Output {
        let home = self.dir.path().to_path_buf();
        let url = self.url();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_warroom"))
                .args(&args)
                .env("WARROOM_SERVER", url)
                .env("WARROOM_TOKEN", token(role))
                .env("WARROOM_CONFIG_DIR", home.join(format!("config-{role}")))
                .env("WARROOM_DATA_DIR", home.join(format!("cli-{role}")))
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    /// The command's stdout; it must have succeeded.
    async fn ok(&self, role: UserRole, args: &[&str]) -> String {
        let out = self.cli(role, args).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{role} `warroom {}`: exit {:?}: {err}",
            args.join(" "),
            out.status.code()
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The command's stderr; it must have failed.
    async fn refused(&self, role: UserRole, args: &[&str]) -> String {
        let out = self.cli(role, args).await;
        assert!(!out.status.success(), "{role} `warroom {}` succeeded", args.join(" "));
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

fn team<'a>(board: &'a Value, name: &str) -> &'a Value {
    board["teams"].as_array().and_then(|t| t.iter().find(|t| t["team"] == name)).unwrap_or_else(|| {
        panic!("no team {name} on {board}");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_game_master_runs_a_fire_drill_from_the_cli() {
    let room = Room::start().await;
    use UserRole::{Admin, Commander, Observer, Responder, Villain};
    let created = room.ok(Admin, &["gameday", "create", "Autumn drill", "--style", "fire-drill"]).await;
    assert!(created.contains("GD-1 created (fire_drill): Autumn drill"), "{created}");
    room.ok(Admin, &["gameday", "team", OWLS]).await;
    room.ok(Admin, &["gameday", "team", BIRDS]).await;
    room.ok(Commander, &["gameday", "join", OWLS]).await;
    let joined = room.ok(Admin, &["gameday", "join", BIRDS, "--person", "bob"]).await;
    assert!(joined.contains("bob joined team Early Birds"), "{joined}");
    let planned = room
        .ok(
            Admin,
            &[
                "gameday",
                "plan",
                SCENARIO,
                "--par-detect",
                "2",
                "--par-mitigate",
                "10",
                "--weight",
                "checkout=7",
                "--note",
                "latency on the checkout proxy",
            ],
        )
        .await;
    assert!(planned.contains("#1 planned"), "{planned}");
    let bad = room.refused(Admin, &["gameday", "plan", SCENARIO, "--weight", "checkout"]).await;
    assert!(bad.contains("PROBE=WEIGHT"), "{bad}");

    // The plot is hidden from heroes; the villain sees it and the share link.
    let hero = room.ok(Commander, &["gameday", "show"]).await;
    assert!(hero.contains("hidden until debrief") && hero.contains("alice"), "{hero}");
    assert!(!hero.contains(SCENARIO) && !hero.contains("proxy") && !hero.contains("token="), "{hero}");
    let villain = room.ok(Villain, &["gameday", "show"]).await;
    assert!(villain.contains(&format!("#1 {SCENARIO}: {TITLE}")), "{villain}");
    assert!(villain.contains("villains' note: latency on the checkout proxy"), "{villain}");
    assert!(villain.contains("steady state (weights): checkout=7"), "{villain}");
    assert!(villain.contains(&format!("big screen: {}/gameday/scoreboard?token=", room.url())), "{villain}");

    // A responder may not start it: the server's reason, and a failing exit.
    let refusal = room.refused(Responder, &["gameday", "start"]).await;
    assert!(
        refusal.contains(
            "bob (responder) may not start_gameday: only the game master (an admin) runs a game day"
        ) && refusal.contains("403"),
        "{refusal}"
    );
    room.ok(Admin, &["gameday", "start"]).await;

    let run = room.inject().await;
    room.declare(Commander).await;
    room.ok(Admin, &["gameday", "hint", BIRDS, "--plan", "#1", "look at checkout"]).await;
    room.ok(Villain, &["gameday", "confirm", OWLS, "1"]).await;
    let again = room.refused(Villain, &["gameday", "confirm", OWLS, "1"]).await;
    assert!(again.contains("already confirmed") && again.contains("409"), "{again}");

    // The observer's board hides the scenario; the game master's is the server's own.
    let seen: Value =
        serde_json::from_str(&room.ok(Observer, &["gameday", "score", "--json"]).await).unwrap();
    let board = &seen["board"];
    assert_eq!(board["concealed"], true, "{seen}");
    assert!(board["scenarios"][0].get("scenario").is_none(), "{seen}");
    assert_eq!(board["teams"][0]["team"], OWLS, "{seen}");
    assert_eq!(team(board, BIRDS)["points"], -25, "a hint costs 25: {seen}");
    let full: Value = serde_json::from_str(&room.ok(Admin, &["gameday", "score", "--json"]).await).unwrap();
    let server = room.server.app.scoreboard().current().expect("a board");
    assert_eq!(full["board"]["teams"], serde_json::to_value(&server.teams).unwrap());
    let owls = team(&full["board"], OWLS);
    assert!(owls["cells"][0]["detect_secs"].is_u64() && owls["cells"][0]["mitigate_secs"].is_u64(), "{owls}");

    let table = room.ok(Admin, &["gameday", "score"]).await;
    let first = table.lines().nth(2).unwrap_or_default();
    assert!(first.trim_start().starts_with("1  Night Owls") && first.contains('✗'), "{table}");
    assert!(table.contains(&format!("#1 {SCENARIO} {TITLE}  par 2:00/10:00: running since")), "{table}");
    room.stop(run).await;
    eventually("the resilience judged", || async {
        room.server.app.scoreboard().current().is_some_and(|b| b.scenarios[0].resilience.is_some())
    })
    .await;
    let table = room.ok(Admin, &["gameday", "score"]).await;
    assert!(table.contains("par 2:00/10:00: 100%"), "{table}");

    room.ok(Admin, &["gameday", "end"]).await;
    let hero = room.ok(Commander, &["gameday", "show"]).await;
    assert!(hero.contains(SCENARIO) && hero.contains("latency on the checkout proxy"), "{hero}");
    room.ok(Admin, &["gameday", "finish"]).await;
    let final_board = room.server.app.scoreboard().current().expect("a board");
    let none = room.refused(Admin, &["gameday", "start"]).await;
    assert!(none.contains("no open game day: the newest, GD-1 (Autumn drill), is finished"), "{none}");

    // An older game day's score is folded from the log by the client, as anyone may.
    room.ok(Admin, &["gameday", "create", "Spring drill", "--style", "informed"]).await;
    let old: Value =
        serde_json::from_str(&room.ok(Commander, &["gameday", "score", "--gameday", "GD-1", "--json"]).await)
            .unwrap();
    assert_eq!(old["board"]["teams"], serde_json::to_value(&final_board.teams).unwrap(), "{old}");
    assert_eq!(old["board"]["scenarios"][0]["scenario"], SCENARIO, "{old}");
    let shown = room.ok(Commander, &["gameday", "show"]).await;
    assert!(shown.starts_with("GD-2  Spring drill"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_share_token_opens_nothing_and_the_page_is_self_contained() {
    let room = Room::start().await;
    let (gameday, share) = room.fire_drill().await;
    let token = share.split_once("?token=").map(|(_, t)| t.to_string()).expect("a token in the link");
    let mut flipped = token.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let http = reqwest::Client::new();
    let status = |path: &str, query: &str| {
        let url = format!("{}{path}{query}", room.url());
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    for path in ["/gameday/scoreboard", "/gameday/scoreboard.json", "/gameday/scoreboard/stream"] {
        assert_eq!(status(path, "").await, 401, "{path} without a token");
        assert_eq!(status(path, "?other=1").await, 401, "{path} without a token");
        for wrong in ["", "zz", "0123", flipped.as_str()] {
            assert_eq!(status(path, &format!("?token={wrong}")).await, 403, "{path} with `{wrong}`");
        }
        assert_eq!(status(path, &format!("?token={token}")).await, 200, "{path} with the link's token");
    }
    // The page is one self-contained file that never parses server data as markup.
    let page = http.get(&share).send().await.unwrap().text().await.unwrap();
    for external in ["http:", "https:", "\"//", "'//", "`//", "src=", "href=", "url(", "@import"] {
        assert!(!page.contains(external), "the page loads something from elsewhere: `{external}`");
    }
    for markup in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser"] {
        assert!(!page.contains(markup), "the page writes markup: `{markup}`");
    }

    // A finished game day's link opens nothing once the next one exists.
    room.send(UserRole::Admin, Intent::EndGameday { gameday }).await;
    room.send(UserRole::Admin, Intent::FinishGameday { gameday }).await;
    // A stream opened with the old link ends when the next game day is created.
    let old = share.replace("/gameday/scoreboard?", "/gameday/scoreboard/stream?");
    let resp = http.get(old).send().await.unwrap();
    let mut events = Box::pin(eventsource_stream::Eventsource::eventsource(resp.bytes_stream()));
    // Its first board (the finished game's, revealed).
    loop {
        let e = tokio::time::timeout(DEADLINE, events.next()).await.expect("in time").expect("open").unwrap();
        if e.event == "board" {
            break;
        }
    }
    room.send(UserRole::Admin, Intent::CreateGameday { name: "Next".into(), style: Style::FireDrill }).await;
    let ended = tokio::time::timeout(DEADLINE, async {
        while let Some(e) = events.next().await {
            assert!(e.map(|e| e.event != "board").unwrap_or(true), "the old link still gets boards");
        }
    });
    ended.await.expect("the old link's stream ends");
    assert_eq!(status("/gameday/scoreboard", &format!("?token={token}")).await, 403);
    let next = room.share_url().await;
    assert_ne!(next, share);
    assert_eq!(http.get(next).send().await.unwrap().status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_share_stream_sends_a_new_board_when_a_team_scores() {
    let room = Room::start().await;
    let (_, share) = room.fire_drill().await;
    room.inject().await;
    let stream = share.replace("/gameday/scoreboard?", "/gameday/scoreboard/stream?");
    let resp = reqwest::get(&stream).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut events = Box::pin(eventsource_stream::Eventsource::eventsource(resp.bytes_stream()));
    let first = next_board(&mut events).await;
    assert_eq!(first["board"]["concealed"], true, "{first}");
    assert_eq!(team(&first["board"], OWLS)["points"], 0, "{first}");
    assert_eq!(team(&first["board"], BIRDS)["points"], 0, "{first}");

    room.declare(UserRole::Commander).await;
    let deadline = Instant::now() + DEADLINE;
    let scored = loop {
        let b = next_board(&mut events).await;
        if team(&b["board"], OWLS)["points"] != 0 {
            break b;
        }
        assert!(Instant::now() < deadline, "no board with the Night Owls' points: {b}");
    };
    // Detected within par, no playbook (so no comms-first points): the detect weight.
    assert_eq!(team(&scored["board"], OWLS)["points"], 100, "{scored}");
    assert_eq!(scored["board"]["teams"][0]["team"], OWLS, "{scored}");
    assert_eq!(team(&scored["board"], BIRDS)["points"], 0, "{scored}");

    // The link counts its streams as a user's are counted ([limits] streams_per_user, 50 by
    // default): whoever saw it on the wall cannot fill the connection cap with it.
    let mut held = vec![events];
    let refused = loop {
        let resp = reqwest::get(&stream).await.unwrap();
        if resp.status() != 200 {
            break resp;
        }
        held.push(Box::pin(eventsource_stream::Eventsource::eventsource(resp.bytes_stream())));
        assert!(held.len() <= 50, "more than 50 scoreboards open on one link");
    };
    assert_eq!(held.len(), 50);
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_streams", "{body}");
    // One closing frees its place (noticed at its next heartbeat write).
    held.pop();
    let open = || room.server.app.hub().open_streams().iter().map(|(_, n)| n).sum::<usize>();
    eventually("the closed scoreboard's place to be freed", || async { open() < 50 }).await;
    assert_eq!(reqwest::get(&stream).await.unwrap().status(), 200);
}

/// The next `board` event of a share stream; the plot must not be in it.
async fn next_board<S, E>(events: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<eventsource_stream::Event, E>> + Unpin,
    E: std::fmt::Debug,
{
    loop {
        let e = tokio::time::timeout(DEADLINE, events.next())
            .await
            .expect("a board event in time")
            .expect("the stream open")
            .expect("a readable event");
        if e.event == "board" {
            assert!(!e.data.to_lowercase().contains("checkout"), "the plot leaked: {}", e.data);
            return serde_json::from_str(&e.data).unwrap();
        }
    }
}

/// Where CI keeps screenshots: `WARROOM_ARTIFACTS`, else `target/ci-artifacts`.
fn artifacts() -> PathBuf {
    let dir = std::env::var_os("WARROOM_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-artifacts"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Headless Chromium driven over its DevTools pipe (`--remote-debugging-pipe`: commands in on
/// fd 3, answers out on fd 4, NUL-separated JSON): one page kept open, so what it shows after a
/// change came over its stream, not from a reload. No crate needed for that much.
struct Browser {
    child: tokio::process::Child,
    to: tokio::process::ChildStdin,
    from: tokio::sync::mpsc::UnboundedReceiver<Value>,
    next: u64,
    session: Option<String>,
    log: PathBuf,
}

impl Browser {
    async fn launch(dir: &Path) -> Browser {
        use std::process::Stdio;
        use tokio::io::AsyncReadExt;
        let bin = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let log = dir.join("chromium.log");
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            // The pipe's fds 3 and 4 are our stdin and stdout; Chromium's own output goes to the log.
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(&bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1600,900",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin} (set CHROMIUM to its path): {e}"));
        let to = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, from) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (mut buf, mut chunk) = (Vec::new(), vec![0u8; 1 << 16]);
            while let Ok(n) = out.read(&mut chunk).await {
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    match serde_json::from_slice::<Value>(&msg[..end]) {
                        Ok(v) => {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                        Err(e) => eprintln!("unreadable DevTools message: {e}"),
                    }
                }
            }
        });
        Browser { child, to, from, next: 0, session: None, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One DevTools command, on the page once attached; its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        use tokio::io::AsyncWriteExt;
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).await.unwrap_or_else(|e| panic!("{method}: {e}\n{}", self.log()));
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let answer = match tokio::time::timeout_at(deadline, self.from.recv()).await {
                Ok(Some(answer)) => answer,
                Ok(None) => panic!("chromium went away during {method}:\n{}", self.log()),
                Err(_) => panic!("chromium did not answer {method} in time:\n{}", self.log()),
            };
            if answer["id"] == id {
                if let Some(e) = answer.get("error") {
                    panic!("{method}: {e}");
                }
                return answer["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page and attaches to it.
    async fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", json!({ "url": url })).await;
        let attached = self
            .call("Target.attachToTarget", json!({ "targetId": target["targetId"], "flatten": true }))
            .await;
        self.session = attached["sessionId"].as_str().map(str::to_string);
        assert!(self.session.is_some(), "no session: {attached}");
    }

    /// A JavaScript expression's JSON value (`null` while it throws, e.g. before the page loaded).
    async fn eval(&mut self, expression: &str) -> Value {
        let r =
            self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true })).await;
        if r.get("exceptionDetails").is_some() {
            return Value::Null;
        }
        r["result"]["value"].clone()
    }

    /// What the page shows now (see `PAGE_STATE`).
    async fn page(&mut self) -> Value {
        match self.eval(PAGE_STATE).await {
            Value::String(s) => serde_json::from_str(&s).unwrap(),
            _ => Value::Null,
        }
    }

    /// Polls the page until `ok` holds of it.
    async fn until(&mut self, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let page = self.page().await;
            if !page.is_null() && ok(&page) {
                return page;
            }
            if Instant::now() >= deadline {
                let mut shown = page;
                if let Some(p) = shown.as_object_mut() {
                    p.remove("html");
                }
                panic!("timed out waiting for the page to show {what}: {shown:#}\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" })).await;
        let png = base64(shot["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    async fn close(mut self) {
        self.session = None;
        self.call("Browser.close", json!({})).await;
        match tokio::time::timeout(DEADLINE, self.child.wait()).await {
            Ok(status) => assert!(status.is_ok()),
            Err(_) => panic!("chromium did not exit after Browser.close"),
        }
    }
}

/// The page's visible state as JSON: connection, rows in order, all of its markup, and what
/// tells one page load from another.
const PAGE_STATE: &str = r##"JSON.stringify({
  live: document.getElementById("live").dataset.state,
  updates: Number(document.body.dataset.updates || 0),
  rows: [...document.querySelectorAll("#teams > li")].map((li) => ({
    team: li.dataset.team,
    points: li.querySelector(".points").textContent,
    scored: li.dataset.scored,
    highlighted: li.classList.contains("scored"),
  })),
  heads: [...document.querySelectorAll("#heads .head b")].map((b) => b.textContent),
  html: document.documentElement.outerHTML,
  moving: document.getAnimations().filter((a) => a instanceof CSSTransition).length,
  origin: performance.timeOrigin,
  same_load: window.sameLoad === true,
})"##;

fn base64(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => panic!("not base64: {c}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn rows(page: &Value) -> Vec<(String, String)> {
    page["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| (r["team"].as_str().unwrap_or("").into(), r["points"].as_str().unwrap_or("").into()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium (CHROMIUM=/path, else `chromium` on the PATH; .ci/run runs it, as does .ci/scoreboard-check alone)"]
async fn the_big_screen_updates_live_in_headless_chromium() {
    let room = Room::start().await;
    let (gameday, share) = room.fire_drill().await;
    room.inject().await;
    let out = artifacts();
    let mut browser = Browser::launch(room.dir.path()).await;
    browser.open(&share).await;

    // Both teams, live, and nothing of the plot: the scenario is "#1" only.
    let before = browser
        .until("both teams, live", |p| {
            p["live"] == "live" && rows(p).iter().filter(|(_, pts)| pts == "0").count() == 2
        })
        .await;
    let teams: Vec<String> = rows(&before).into_iter().map(|(t, _)| t).collect();
    assert!(teams.contains(&OWLS.to_string()) && teams.contains(&BIRDS.to_string()), "{teams:?}");
    let html = before["html"].as_str().unwrap_or_default().to_lowercase();
    assert!(!html.contains("checkout") && !html.contains("crawls"), "the plot is on the big screen");
    assert_eq!(before["heads"], json!(["Scenario #1"]));
    browser.screenshot(&out.join("scoreboard-before.png")).await;
    browser.eval("window.sameLoad = true").await;

    // A team scores: the page shows the server's new points, over the stream.
    room.declare(UserRole::Commander).await;
    let want = eventually_points(&room, &share).await;
    // Shot once the rows and bars have moved to where they go (the highlight still shows).
    let after = browser
        .until("the Night Owls' new points, settled", |p| {
            rows(p).first() == Some(&(OWLS.to_string(), want.clone())) && p["moving"] == 0
        })
        .await;
    browser.screenshot(&out.join("scoreboard-after.png")).await;
    assert!(after["same_load"] == true && after["origin"] == before["origin"], "the page was reloaded");
    assert_eq!(rows(&after)[1], (BIRDS.to_string(), "0".to_string()));
    let owls = &after["rows"][0];
    assert!(owls["scored"] == "1", "the score was not marked on the row: {owls}");
    assert!(after["updates"].as_u64() > before["updates"].as_u64(), "{after:#}");

    // At debrief the scenario is revealed on the same page.
    room.send(UserRole::Admin, Intent::EndGameday { gameday }).await;
    let revealed =
        browser.until("the scenario's title", |p| p["heads"] == json!([format!("#1 {TITLE}")])).await;
    assert_eq!(revealed["same_load"], true);
    browser.close().await;
    eprintln!("screenshots: {}", out.display());
}

/// The Night Owls' points once the server's shared board shows they scored.
async fn eventually_points(room: &Room, share: &str) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let board = room.shared_board(share).await;
        let points = &team(&board["board"], OWLS)["points"];
        if points != 0 {
            return points.to_string();
        }
        assert!(Instant::now() < deadline, "the server's board never showed the Night Owls scoring: {board}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
