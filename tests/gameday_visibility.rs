//! Dungeons & dragons through a real server on the real demo shop: a hero's state, event pages,
//! stream (live and resumed with `Last-Event-ID`) and acks hold no scenario id, title, driver
//! output or villain note until the debrief, then all of it, live; a villain's always do.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, token, users};
use futures_util::StreamExt;
use warroom::client::Client;
use warroom::demo::shop::Shop;
use warroom::model::gameday::{GameDayId, Style};
use warroom::model::probe::Health;
use warroom::model::{Intent, Severity, UserRole};
use warroom::protocol::Command;
use warroom::server::{start, RunningServer};

/// What no hero may read before the debrief (the plan's note, the scenario's id and title, and
/// what the demo driver says it did).
const SECRETS: &[&str] = &[
    "price-desync",
    "Prices differ between product page and listing",
    "SECRET-NOTE",
    "search indexer stopped consuming price updates",
];

struct Room {
    server: RunningServer,
    http: reqwest::Client,
    _shop: Arc<Shop>,
    _dir: tempfile::TempDir,
}

impl Room {
    async fn start() -> Room {
        let dir = tempfile::tempdir().unwrap();
        let shop = Shop::start().await.unwrap();
        let wired = warroom::demo::wire(&shop, Default::default()).await.unwrap();
        let server = start(warroom::server::ServerOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            users: users(),
            probes: wired.probes,
            chaos: wired.chaos,
            network: Some(wired.network.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let room = Room { server, http, _shop: shop, _dir: dir };
        eventually("the shop's probes up", || async {
            let s = room.server.app.hub().state();
            ["search", "listing"].iter().all(|p| s.probes.get(*p).is_some_and(|p| p.health == Health::Up))
        })
        .await;
        room
    }

    fn client(&self, role: UserRole) -> Client {
        Client::new(&self.server.url(), &token(role)).unwrap()
    }

    async fn send(&self, role: UserRole, intent: Intent) -> String {
        let ack =
            self.client(role).send(&Command::new(intent)).await.unwrap_or_else(|e| panic!("{role}: {e}"));
        serde_json::to_string(&ack).unwrap()
    }

    async fn get(&self, role: UserRole, path: &str) -> String {
        let resp = self
            .http
            .get(format!("{}{path}", self.server.url()))
            .bearer_auth(token(role))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.text().await.unwrap()
    }

    /// Everything `role` can read through the request paths: the snapshot, every event page,
    /// the incidents list, the library and the game day.
    async fn readable(&self, role: UserRole) -> String {
        let mut all = String::new();
        for path in [
            "/api/v1/state",
            "/api/v1/events?after=0&limit=10000",
            "/api/v1/incidents",
            "/api/v1/library",
            "/api/v1/gameday",
        ] {
            all.push_str(&self.get(role, path).await);
        }
        all
    }

    /// The raw bytes of `role`'s event stream from `after`, collected as they come.
    fn stream(&self, role: UserRole, after: u64) -> Arc<Mutex<String>> {
        let seen = Arc::new(Mutex::new(String::new()));
        let (http, url, into) = (self.http.clone(), self.server.url(), seen.clone());
        tokio::spawn(async move {
            let resp = http
                .get(format!("{url}/api/v1/stream"))
                .bearer_auth(token(role))
                .header("Last-Event-ID", after.to_string())
                .timeout(Duration::from_secs(120))
                .send()
                .await
                .unwrap();
            let mut body = resp.bytes_stream();
            while let Some(Ok(chunk)) = body.next().await {
                into.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk));
            }
            into.lock().unwrap().push_str("\n[closed]");
        });
        seen
    }

    fn head(&self) -> u64 {
        self.server.app.hub().state().seq
    }
}

fn leaks(text: &str) -> Vec<&'static str> {
    SECRETS.iter().copied().filter(|s| text.contains(s)).collect()
}

async fn until_streamed(what: &str, stream: &Arc<Mutex<String>>, seq: u64) {
    let id = format!("id: {seq}\n");
    eventually(what, || async { stream.lock().unwrap().contains(&id) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hero_learns_nothing_of_a_dungeons_and_dragons_plot_until_the_debrief_and_a_villain_everything() {
    let room = Room::start().await;
    let g = GameDayId(1);
    let hero_live = room.stream(UserRole::Responder, room.head());
    let observer_live = room.stream(UserRole::Observer, room.head());
    let villain_live = room.stream(UserRole::Villain, room.head());
    let admin = UserRole::Admin;
    room.send(admin, Intent::CreateGameday { name: "Dungeon #1".into(), style: Style::DungeonsAndDragons })
        .await;
    room.send(admin, Intent::AddTeam { gameday: g, team: "red".into() }).await;
    room.send(UserRole::Responder, Intent::JoinTeam { gameday: g, team: "red".into(), person: None }).await;
    let planned = room
        .send(
            admin,
            Intent::PlanScenario {
                gameday: g,
                scenario: "price-desync".into(),
                briefing: None,
                note: "SECRET-NOTE: the indexer is paused".into(),
                par_detect_minutes: None,
                par_mitigate_minutes: None,
                weights: Default::default(),
            },
        )
        .await;
    assert!(planned.contains("SECRET-NOTE"), "the game master reads their own plan: {planned}");
    room.send(admin, Intent::StartGameday { gameday: g }).await;
    room.send(UserRole::Villain, Intent::StartScenario { scenario: "price-desync".into() }).await;
    eventually("the fault injected", || async {
        room.server.app.hub().state().chaos.runs.values().next().is_some_and(|r| r.injected == 1)
    })
    .await;
    // The hero declares about a target: their ack holds no link to the run.
    let ack = room
        .send(
            UserRole::Responder,
            Intent::DeclareIncident {
                title: "search and listing disagree".into(),
                severity: Severity::Sev2,
                impact: String::new(),
                drill: false,
                services: vec!["search".into()],
                private: false,
            },
        )
        .await;
    assert!(leaks(&ack).is_empty() && !ack.contains("run_linked"), "{ack}");
    let before_debrief = room.head();
    until_streamed("the hero's stream", &hero_live, before_debrief).await;
    until_streamed("the villain's stream", &villain_live, before_debrief).await;

    // Every read path, for each hero role; the villain's hold it all.
    for hero in [UserRole::Responder, UserRole::Commander, UserRole::Observer] {
        let read = room.readable(hero).await;
        assert!(leaks(&read).is_empty(), "{hero} reads {:?}", leaks(&read));
        assert!(read.contains("\"redacted\""), "{hero}'s pages carry placeholders");
    }
    for text in [hero_live.lock().unwrap().clone(), observer_live.lock().unwrap().clone()] {
        assert!(leaks(&text).is_empty(), "a hero's stream leaks {:?}", leaks(&text));
    }
    assert_eq!(leaks(&room.readable(UserRole::Villain).await), SECRETS, "the villain reads the plot");
    assert_eq!(leaks(&villain_live.lock().unwrap()), SECRETS);
    // A hero reconnecting with Last-Event-ID (from the start, and from the middle) learns no more.
    for after in [0, before_debrief / 2] {
        let resumed = room.stream(UserRole::Responder, after);
        until_streamed("the resumed stream", &resumed, before_debrief).await;
        let text = resumed.lock().unwrap().clone();
        assert!(leaks(&text).is_empty(), "resumed after {after}: {:?}", leaks(&text));
    }

    // The debrief reveals it all, live: the hero's stream ends with a resync notice, and
    // everything they read from then on holds the plot.
    room.send(admin, Intent::EndGameday { gameday: g }).await;
    eventually("the hero told to reload", || async { hero_live.lock().unwrap().contains("[closed]") }).await;
    let ended = hero_live.lock().unwrap().clone();
    assert!(
        ended.contains("event: resync") && ended.contains("debrief"),
        "{}",
        &ended[ended.len().saturating_sub(400)..]
    );
    for hero in [UserRole::Responder, UserRole::Observer] {
        assert_eq!(leaks(&room.readable(hero).await), SECRETS, "{hero} after the debrief");
    }
    let resumed = room.stream(UserRole::Responder, 0);
    until_streamed("the stream after debrief", &resumed, room.head()).await;
    assert_eq!(leaks(&resumed.lock().unwrap()), SECRETS);
    // The link to the run is made at the reveal.
    let state = room.get(UserRole::Responder, "/api/v1/state").await;
    assert!(state.contains("\"caused_by\":\"RUN-1\""), "{state}");
}
