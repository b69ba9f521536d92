//! Acceptance 3 of game days (issue 14): while a game day runs every incident is a drill, even
//! one declared as real and one a probe declares, and a drill's message never reaches a real
//! customer channel (an email channel to a real SMTP receiver); once the game day is over, a
//! real incident's mail does arrive there.

mod common;

use std::sync::{Arc, Mutex};

use common::{all_events, channel, eventually, smtp_sink, token, users, Mail};
use warroom::client::Client;
use warroom::config::ChannelKind;
use warroom::demo::shop::Shop;
use warroom::model::chaos::RunPhase;
use warroom::model::comms::Delivery;
use warroom::model::gameday::Style;
use warroom::model::probe::Health;
use warroom::model::{Fact, IncidentId, Intent, Severity, UserRole};
use warroom::protocol::{Ack, Command};
use warroom::server::{start, RunningServer, ServerOptions};

/// A server whose `customers` channel mails a real SMTP receiver, probing the demo shop (its
/// payment probe declares an incident when payment goes down) and able to break it.
struct Room {
    server: RunningServer,
    mails: Arc<Mutex<Vec<Mail>>>,
    _shop: Arc<Shop>,
    _dir: tempfile::TempDir,
}

impl Room {
    async fn start() -> Room {
        let dir = tempfile::tempdir().unwrap();
        let (smtp, mails) = smtp_sink().await;
        let list = dir.path().join("customers.txt");
        std::fs::write(&list, "ann@example.com\nbo@example.org\n").unwrap();
        let mut customers = channel("customers", ChannelKind::Email);
        customers.smtp = Some(smtp);
        customers.from = Some("status@example.com".into());
        customers.recipients_file = Some(list);
        let shop = Shop::start().await.unwrap();
        let wired = warroom::demo::wire(&shop, Default::default()).await.unwrap();
        let server = start(ServerOptions {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().join("data"),
            users: users(),
            channels: vec![customers],
            probes: wired.probes,
            chaos: wired.chaos,
            network: Some(wired.network),
            ..Default::default()
        })
        .await
        .unwrap();
        let room = Room { server, mails, _shop: shop, _dir: dir };
        eventually("the shop's probes up", || async {
            let state = room.server.app.hub().state();
            !state.probes.is_empty() && state.probes.values().all(|p| p.health == Health::Up)
        })
        .await;
        room
    }

    fn client(&self, role: UserRole) -> Client {
        Client::new(&self.server.url(), &token(role)).unwrap()
    }

    async fn run(&self, who: &Client, intent: Intent) -> Ack {
        let what = serde_json::to_string(&intent).unwrap();
        who.send(&Command::new(intent)).await.unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Declared as a real incident (`drill: false`); what the log made of it.
    async fn declare(&self, who: &Client, title: &str) -> (IncidentId, bool, Option<String>) {
        let ack = self
            .run(
                who,
                Intent::DeclareIncident {
                    title: title.into(),
                    severity: Severity::Sev2,
                    impact: "Customers cannot pay.".into(),
                    drill: false,
                    services: Vec::new(),
                    private: false,
                },
            )
            .await;
        ack.events
            .iter()
            .find_map(|e| match &e.fact {
                Fact::IncidentDeclared { incident, drill, gameday, team, .. } => Some((
                    *incident,
                    *drill,
                    gameday.map(|g| format!("{g} {}", team.as_deref().unwrap_or("-"))),
                )),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no declaration in {:?}", ack.events))
    }

    /// Attaches the major-outage playbook (its `email-customers` step mails the customers
    /// channel) and sends its customer mail from that step; the kinds of facts it made.
    async fn email_customers(&self, who: &Client, incident: IncidentId, text: &str) -> Vec<String> {
        self.run(who, Intent::AttachPlaybook { incident, playbook: "major-outage".into() }).await;
        let ack = self
            .run(
                who,
                Intent::SendMessage {
                    incident,
                    channel: "customers".into(),
                    text: text.into(),
                    step: Some("email-customers".into()),
                    status: None,
                },
            )
            .await;
        ack.events.iter().map(|e| e.fact.kind().to_string()).collect()
    }

    fn customer_messages(&self, incident: IncidentId) -> Vec<Delivery> {
        let state = self.server.app.hub().state();
        state.incidents[&incident]
            .messages
            .iter()
            .filter(|m| m.channel == "customers")
            .map(|m| m.delivery.clone())
            .collect()
    }

    fn step_done(&self, incident: IncidentId, step: &str) -> bool {
        let state = self.server.app.hub().state();
        let list = state.incidents[&incident].checklist.clone().expect("a playbook");
        list.step(step).is_some_and(|s| s.ticked.is_some())
    }

    async fn settled(&self) {
        eventually("every message settled", || async {
            let state = self.server.app.hub().state();
            state
                .incidents
                .values()
                .flat_map(|i| &i.messages)
                .all(|m| !matches!(m.delivery, Delivery::Pending { .. }))
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_days_drills_never_reach_customers_and_a_real_incident_after_it_does() {
    let room = Room::start().await;
    let (root, victor, alice, bob) = (
        room.client(UserRole::Admin),
        room.client(UserRole::Villain),
        room.client(UserRole::Commander),
        room.client(UserRole::Responder),
    );
    let ack =
        room.run(&root, Intent::CreateGameday { name: "Payments day".into(), style: Style::Informed }).await;
    let Fact::GamedayCreated { gameday: gd, .. } = ack.events[0].fact else { panic!("{:?}", ack.events) };
    room.run(&root, Intent::AddTeam { gameday: gd, team: "red".into() }).await;
    room.run(&alice, Intent::JoinTeam { gameday: gd, team: "red".into(), person: None }).await;
    room.run(
        &root,
        Intent::PlanScenario {
            gameday: gd,
            scenario: "payment-errors".into(),
            briefing: None,
            note: String::new(),
            par_detect_minutes: None,
            par_mitigate_minutes: None,
            weights: Default::default(),
        },
    )
    .await;
    room.run(&root, Intent::StartGameday { gameday: gd }).await;

    // A player declares it as real: it is red's drill, and its customer mail is withheld.
    let (played, drill, of) = room.declare(&alice, "Card payments fail").await;
    assert!(drill, "declared during {gd}: a drill");
    assert_eq!(of.as_deref(), Some(format!("{gd} red").as_str()));
    let kinds = room.email_customers(&alice, played, "DRILL-1: card payments fail, we are on it.").await;
    assert!(kinds.starts_with(&["message_queued".into(), "message_withheld".into()]), "{kinds:?}");
    assert!(room.step_done(played, "email-customers"), "the exercise of telling customers is done");

    // The villain breaks payment; the probe declares an incident of its own, also a drill.
    let ack = room.run(&victor, Intent::StartScenario { scenario: "payment-errors".into() }).await;
    let Fact::ScenarioStarted { run, .. } = ack.events[0].fact else { panic!("{:?}", ack.events) };
    eventually("the payment probe's own incident", || async {
        room.server.app.hub().state().incidents.values().any(|i| i.services == ["payment"])
    })
    .await;
    let probed = {
        let state = room.server.app.hub().state();
        let inc = state.incidents.values().find(|i| i.services == ["payment"]).unwrap();
        assert!(inc.drill && inc.gameday == Some(gd) && inc.team.is_none(), "{inc:?}");
        inc.id
    };
    let kinds = room.email_customers(&alice, probed, "DRILL-2: payments are down.").await;
    assert!(kinds.starts_with(&["message_queued".into(), "message_withheld".into()]), "{kinds:?}");

    // Someone in no team declares about what the villain broke, and ticks the customer step by
    // hand: a drill of the game day too (it is the chaos they see).
    let ack = room
        .run(
            &bob,
            Intent::DeclareIncident {
                title: "Payments look odd".into(),
                severity: Severity::Sev2,
                impact: String::new(),
                drill: false,
                services: vec!["payment".into()],
                private: false,
            },
        )
        .await;
    let Fact::IncidentDeclared { incident: outsider, drill, gameday, ref team, .. } = ack.events[0].fact
    else {
        panic!("{:?}", ack.events)
    };
    assert!(drill && gameday == Some(gd) && team.is_none(), "{:?}", ack.events[0]);
    room.run(&bob, Intent::AttachPlaybook { incident: outsider, playbook: "major-outage".into() }).await;
    room.run(&bob, Intent::TickStep { incident: outsider, step: "email-customers".into() }).await;
    room.run(&victor, Intent::StopScenario { run, reason: None }).await;
    eventually("the run rolled back", || async {
        room.server.app.hub().state().chaos.runs[&run].phase == RunPhase::Ended
    })
    .await;

    room.settled().await;
    for incident in [played, probed] {
        let sent = room.customer_messages(incident);
        assert!(
            sent.len() == 1
                && matches!(&sent[0], Delivery::Withheld { reason, .. } if reason.contains("reaches real people")),
            "{incident}: {sent:?}"
        );
    }
    assert!(room.customer_messages(outsider).is_empty(), "a tick by hand sends nothing");
    assert!(
        room.mails.lock().unwrap().is_empty(),
        "a drill reached customers: {:?}",
        room.mails.lock().unwrap()
    );

    // Over: debrief, finished. A real incident now mails the same receiver.
    room.run(&root, Intent::EndGameday { gameday: gd }).await;
    room.run(&root, Intent::FinishGameday { gameday: gd }).await;
    let (real, drill, of) = room.declare(&alice, "Card payments really fail").await;
    assert!(!drill && of.is_none(), "after the game day: real ({of:?})");
    let kinds = room.email_customers(&alice, real, "Card payments are failing; we are on it.").await;
    assert!(!kinds.iter().any(|k| k == "message_withheld"), "{kinds:?}");
    eventually("the real mail", || async { !room.mails.lock().unwrap().is_empty() }).await;
    room.settled().await;
    let mails = room.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, ["ann@example.com", "bo@example.org"]);
    assert!(mails[0].data.contains("Card payments are failing; we are on it."), "{}", mails[0].data);
    assert!(!mails.iter().any(|m| m.data.contains("DRILL")), "{mails:?}");
    assert!(matches!(room.customer_messages(real)[..], [Delivery::Delivered { .. }]));

    // The log says it all: both drill mails withheld and never delivered, the real one delivered.
    let events = all_events(&root).await;
    let on = |incident: IncidentId, kind: &str| {
        events.iter().filter(|e| e.fact.kind() == kind && e.fact.incident() == Some(incident)).count()
    };
    for incident in [played, probed] {
        assert_eq!(
            (on(incident, "message_withheld"), on(incident, "message_delivered")),
            (1, 0),
            "{incident}"
        );
    }
    assert_eq!((on(real, "message_withheld"), on(real, "message_delivered")), (0, 1));
}
