//! Holds `/api/v1/openapi.json` to the code: every intent kind, every route, every error code
//! and the live server's answers must match the document, so it cannot fall behind.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use warroom::model::chaos::{RunId, StepKind, StopCause, Verdict};
use warroom::model::comms::PublicStatus;
use warroom::model::gameday::{GameDayId, Style};
use warroom::model::incident::ComponentStatus;
use warroom::model::probe::Health;
use warroom::model::{Audience, IncidentId, Intent, Milestone, Role, Severity, Status, UserRole};
use warroom::protocol::Command;
use warroom::server::openapi::{document, schema_name, ERROR_CODES};

const ROUTER: &str = include_str!("../src/server/api.rs");

/// Every intent kind, as serde itself lists them: the list in its "unknown variant" error
/// comes from the type, so a new variant shows up here without anyone remembering it.
fn intent_kinds() -> BTreeSet<String> {
    let err = match serde_json::from_value::<Intent>(json!({ "kind": "no_such_kind" })) {
        Ok(i) => panic!("`no_such_kind` was read as {}", i.kind()),
        Err(e) => e.to_string(),
    };
    let list = err
        .split_once("expected one of ")
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| panic!("serde's error no longer lists the variants: {err}"));
    let kinds: BTreeSet<String> = list.split('`').skip(1).step_by(2).map(str::to_string).collect();
    assert!(kinds.contains("declare_incident") && kinds.len() > 10, "could not read the kinds from: {err}");
    kinds
}

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap()
}

/// One example of every intent with every optional field set (the property checks below need
/// each field present once).
fn examples() -> Vec<Intent> {
    let incident = IncidentId(7);
    vec![
        Intent::DeclareIncident {
            title: "Card payments fail".into(),
            severity: Severity::Sev2,
            impact: "no checkout".into(),
            drill: true,
            services: vec!["payment".into()],
            private: true,
        },
        Intent::AddMember { incident, person: "bob".into() },
        Intent::RemoveMember { incident, person: "bob".into() },
        Intent::AddNote { incident, text: "rolled back".into() },
        Intent::SetStatus { incident, status: Status::Closed, reason: Some("duplicate".into()) },
        Intent::SetSeverity { incident, severity: Severity::Sev1 },
        Intent::AssignRole { incident, role: Role::Scribe, person: "bob".into() },
        Intent::SetMilestone { incident, milestone: Milestone::Detected, time: at() },
        Intent::AttachPlaybook { incident, playbook: "payments".into() },
        Intent::TickStep { incident, step: "notify-staff".into() },
        Intent::UntickStep { incident, step: "notify-staff".into() },
        Intent::AssignStep { incident, step: "notify-staff".into(), person: "bob".into() },
        Intent::SendMessage {
            incident,
            channel: "status".into(),
            text: "We are investigating.".into(),
            step: Some("first-public-update".into()),
            status: Some(PublicStatus::Identified),
        },
        Intent::SnoozeClock { incident, audience: Audience::Staff, minutes: 15 },
        Intent::SetComponent { component: "payment".into(), status: Some(ComponentStatus::MajorOutage) },
        Intent::RecordProbe {
            probe: "payment".into(),
            health: Health::Down,
            failed: vec!["[STATUS] (503) == 200".into()],
            auto_declare: Some(Severity::Sev2),
        },
        Intent::RecordDelivery {
            incident,
            message: uuid::Uuid::nil(),
            ok: false,
            detail: "timeout".into(),
            last: true,
        },
        Intent::StartScenario { scenario: "price-desync".into() },
        Intent::StopScenario { run: RunId(3), reason: Some("customers hurt".into()) },
        Intent::HaltAll { reason: "real outage".into() },
        Intent::ArmChaos {},
        Intent::RecordChaos {
            run: RunId(3),
            step: StepKind::Inject,
            phase: Some(0),
            driver: "demo".into(),
            ok: true,
            output: "indexer paused".into(),
        },
        Intent::EndScenario { run: RunId(3), cause: StopCause::Duration, reason: Some("20m".into()) },
        Intent::FinishScenario {
            run: RunId(3),
            verdict: Some(Verdict { deviated: false, probes: Default::default() }),
        },
        Intent::CreateGameday { name: "GameDay #2".into(), style: Style::FireDrill },
        Intent::AddTeam { gameday: GameDayId(1), team: "red".into() },
        Intent::JoinTeam { gameday: GameDayId(1), team: "red".into(), person: Some("bob".into()) },
        Intent::PlanScenario {
            gameday: GameDayId(1),
            scenario: "price-desync".into(),
            briefing: Some("the CTO sees two prices".into()),
            note: "the indexer is paused".into(),
            par_detect_minutes: Some(5),
            par_mitigate_minutes: Some(15),
            weights: [("search".to_string(), 5u8)].into(),
        },
        Intent::StartGameday { gameday: GameDayId(1) },
        Intent::GiveHint { gameday: GameDayId(1), team: "red".into(), plan: Some(1), text: "prices".into() },
        Intent::ConfirmMitigation { gameday: GameDayId(1), team: "red".into(), plan: 1 },
        Intent::EndGameday { gameday: GameDayId(1) },
        Intent::FinishGameday { gameday: GameDayId(1) },
        Intent::WritePostmortem {
            incident,
            document: warroom::model::postmortem::Document {
                summary: "Payments failed for 12 minutes.".into(),
                failure_class: Some("dependency".into()),
                factors: "no alert on the pool".into(),
                well: vec!["paging".into()],
                badly: vec!["rollback".into()],
                lucky: vec!["low traffic".into()],
            },
            base: Some(1),
        },
        Intent::AddActionItem {
            incident,
            title: "Alert on pool size".into(),
            owner: "bob".into(),
            due: chrono::NaiveDate::from_ymd_opt(2026, 12, 1),
            link: Some("https://tracker.example.com/OPS-12".into()),
        },
        Intent::CompleteActionItem { incident, item: 1 },
        Intent::RecordKickoff {
            gameday: GameDayId(1),
            plan: 1,
            ok: false,
            detail: "HTTP 502".into(),
            last: true,
        },
    ]
}

fn command_json(intent: &Intent) -> Value {
    let id = uuid::Uuid::parse_str("0190a6f4-0000-7000-8000-00000000002a").unwrap();
    serde_json::to_value(Command { id, intent: intent.clone() }).unwrap()
}

/// A JSON Schema validator for one of the document's component schemas: the document itself
/// is the root, so its `#/components/schemas/...` references resolve.
fn validator(schema: &Value) -> jsonschema::Validator {
    let mut root = document();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    if let (Some(root), Some(schema)) = (root.as_object_mut(), schema.as_object()) {
        root.extend(schema.clone());
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the document is not a usable JSON Schema: {e}"))
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn component(name: &str) -> Value {
    document()["components"]["schemas"][name].clone()
}

#[test]
fn every_intent_kind_has_an_example_here() {
    let have: BTreeSet<String> = examples().iter().map(|i| i.kind().to_string()).collect();
    let kinds = intent_kinds();
    let missing: Vec<&String> = kinds.iter().filter(|k| !have.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "intent kinds without an example in tests/openapi.rs: {missing:?}; add one, and document \
         it in src/server/openapi.rs if clients may send it"
    );
}

#[test]
fn every_client_kind_is_documented_under_the_kind_discriminator_and_nothing_else() {
    let doc = document();
    let command = &doc["components"]["schemas"]["Command"];
    assert_eq!(command["discriminator"]["propertyName"], "kind");
    let mapping = command["discriminator"]["mapping"].as_object().expect("a discriminator mapping");
    let documented: BTreeSet<String> = mapping.keys().cloned().collect();
    let client: BTreeSet<String> =
        examples().iter().filter(|i| !i.is_internal()).map(|i| i.kind().to_string()).collect();
    assert_eq!(
        documented, client,
        "the document's command kinds (left) are not the kinds a client may send (right): \
         src/server/openapi.rs `kinds()`"
    );
    let one_of: BTreeSet<String> = command["oneOf"]
        .as_array()
        .expect("Command is a oneOf")
        .iter()
        .filter_map(|r| r["$ref"].as_str().map(str::to_string))
        .collect();
    for (kind, target) in mapping {
        let target = target.as_str().unwrap_or_default();
        assert!(one_of.contains(target), "{kind}: {target} is not in Command's oneOf");
        assert_eq!(target, format!("#/components/schemas/{}", schema_name(kind)));
        assert_eq!(component(&schema_name(kind))["properties"]["kind"]["enum"], json!([kind]));
    }
    assert_eq!(one_of.len(), mapping.len());
}

#[test]
fn every_command_a_client_may_send_validates_against_the_document() {
    let commands = validator(&json!({ "$ref": "#/components/schemas/Command" }));
    for intent in examples().iter().filter(|i| !i.is_internal()) {
        let cmd = command_json(intent);
        assert_eq!(
            errors(&commands, &cmd),
            Vec::<String>::new(),
            "{} does not validate: {cmd}",
            intent.kind()
        );
        // The minimal form too: only the fields serde cannot do without.
        let schema = component(&schema_name(intent.kind()));
        let mut minimal = json!({});
        for field in schema["required"].as_array().unwrap() {
            let field = field.as_str().unwrap();
            minimal[field] = cmd[field].clone();
        }
        serde_json::from_value::<Command>(minimal.clone()).unwrap_or_else(|e| {
            panic!("{}: the schema's required fields are not enough for serde: {e}", intent.kind())
        });
        assert_eq!(errors(&commands, &minimal), Vec::<String>::new(), "{minimal}");
    }
    // The server's own records are refused from clients, and the document says so by not having them.
    for intent in examples().iter().filter(|i| i.is_internal()) {
        assert!(!commands.is_valid(&command_json(intent)), "{} should not be documented", intent.kind());
    }
}

/// For each field of each kind: documented exactly when serde knows it, required exactly when
/// serde refuses the command without it, and a value of the wrong type refused by both.
#[test]
fn each_kinds_fields_and_required_fields_match_what_the_server_reads() {
    for intent in examples().iter().filter(|i| !i.is_internal()) {
        let kind = intent.kind();
        let cmd = command_json(intent);
        let schema = component(&schema_name(kind));
        let properties: BTreeSet<&String> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{kind}: no schema {} in the document", schema_name(kind)))
            .keys()
            .collect();
        let fields: BTreeSet<&String> = cmd.as_object().unwrap().keys().collect();
        assert_eq!(
            properties, fields,
            "{kind}: documented properties (left) against the type's fields (right)"
        );
        let required: BTreeSet<&str> =
            schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let one = validator(&schema);
        for field in cmd.as_object().unwrap().keys() {
            let mut without = cmd.clone();
            without.as_object_mut().unwrap().remove(field);
            let serde_needs_it = serde_json::from_value::<Command>(without.clone()).is_err();
            assert_eq!(
                required.contains(field.as_str()),
                serde_needs_it,
                "{kind}.{field}: required in the document = {}, but serde {} it",
                required.contains(field.as_str()),
                if serde_needs_it { "needs" } else { "does without" }
            );
            assert_eq!(one.is_valid(&without), !serde_needs_it, "{kind} without {field}");
            if field == "kind" {
                continue;
            }
            let mut wrong = cmd.clone();
            wrong[field] = json!({ "not": "this" });
            assert!(
                serde_json::from_value::<Command>(wrong.clone()).is_err(),
                "{kind}.{field}: serde took an object"
            );
            assert!(
                !one.is_valid(&wrong),
                "{kind}.{field}: the document takes an object where serde does not"
            );
        }
    }
}

/// `(method, path)` for every `.route(...)` in `router()`, read from its source.
fn router_routes() -> BTreeSet<(String, String)> {
    let body = ROUTER
        .split_once("pub fn router(")
        .map(|(_, b)| b.split_once("\n}\n").map_or(b, |(b, _)| b))
        .expect("src/server/api.rs has no `pub fn router(`");
    for nesting in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
        assert!(!body.contains(nesting), "router() uses {nesting}: teach router_routes() to follow it");
    }
    let mut routes = BTreeSet::new();
    for call in body.split(".route(\"").skip(1) {
        let (path, rest) = call.split_once('"').expect("a route path");
        let handlers = rest.split_once(".route(").map_or(rest, |(h, _)| h);
        let handlers = handlers.split_once("\n").map_or(handlers, |(h, _)| h);
        let mut found = false;
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            let needle = format!("{method}(");
            let calls = handlers
                .match_indices(&needle)
                .filter(|(i, _)| *i == 0 || matches!(handlers.as_bytes()[i - 1], b' ' | b'.' | b'(' | b','));
            if calls.count() > 0 {
                routes.insert((method.to_string(), path.to_string()));
                found = true;
            }
        }
        assert!(found, "no method found for route {path}: {handlers}");
    }
    assert!(routes.len() >= 10, "read only {routes:?} from router(): has its layout changed?");
    routes
}

fn documented_routes() -> BTreeSet<(String, String)> {
    let doc = document();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

#[test]
fn every_route_the_router_serves_is_documented_and_vice_versa() {
    let served = router_routes();
    let documented = documented_routes();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in the document: {undocumented:?}");
    assert!(phantom.is_empty(), "in the document but not served: {phantom:?}");
}

/// The error codes the server's sources give `HttpError::new`, plus its two shorthands.
fn codes_in_sources() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/server");
    let protocol = include_str!("../src/protocol.rs");
    let mut codes: BTreeSet<String> = ["bad_request", "unavailable"].map(String::from).into();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for call in source.split("HttpError::new(").skip(1) {
            let Some((_status, rest)) = call.split_once(',') else { continue };
            let arg = rest.trim_start();
            let code = if let Some(lit) = arg.strip_prefix('"') {
                lit.split('"').next().unwrap_or_default().to_string()
            } else {
                // A constant: find its value in src/protocol.rs.
                let name = arg.split([',', ')']).next().unwrap_or_default().trim();
                let name = name.rsplit("::").next().unwrap_or(name);
                if name == "error" {
                    continue; // `HttpError::new`'s own definition
                }
                let decl = format!("pub const {name}: &str = \"");
                protocol
                    .split_once(&decl)
                    .and_then(|(_, v)| v.split('"').next())
                    .unwrap_or_else(|| {
                        panic!("{}: error code `{name}` is not a constant in protocol.rs", path.display())
                    })
                    .to_string()
            };
            codes.insert(code);
        }
    }
    codes
}

#[test]
fn every_error_code_the_server_can_send_is_documented() {
    let documented: BTreeSet<String> = ERROR_CODES.iter().map(|(c, _, _)| c.to_string()).collect();
    let sent = codes_in_sources();
    let undocumented: Vec<_> = sent.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "error codes not in ERROR_CODES (src/server/openapi.rs): {undocumented:?}"
    );
    let stale: Vec<_> = documented.difference(&sent).collect();
    assert!(stale.is_empty(), "ERROR_CODES lists codes no source sends: {stale:?}");
    let doc = document();
    let description = doc["components"]["schemas"]["Error"]["description"].as_str().unwrap();
    for code in &documented {
        assert!(description.contains(&format!("`{code}`")), "Error's description lacks {code}");
    }
    // Every error response of every operation has the Error body, except /healthz's own 503.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') || path == "/healthz" {
                    continue;
                }
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/Error", "{method} {path} {status}");
            }
        }
    }
}

/// Keys an answer carries that its schema does not name (where the schema lists properties
/// and does not say others may come).
fn undocumented_keys(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let doc = document();
    let mut schema = schema;
    while let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        schema = doc["components"]["schemas"].get(name).unwrap_or(&Value::Null);
        if schema.is_null() {
            out.push(format!("{at}: dangling {r}"));
            return;
        }
    }
    let schema = schema.clone();
    match value {
        Value::Object(map) => {
            let props = schema["properties"].as_object();
            let extra = &schema["additionalProperties"];
            for (k, v) in map {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => undocumented_keys(s, v, &format!("{at}.{k}"), out),
                    None if extra.is_object() => undocumented_keys(extra, v, &format!("{at}.{k}"), out),
                    None if props.is_some() && extra.is_null() => out.push(format!("{at}.{k}")),
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                undocumented_keys(&schema["items"], v, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Asks the real server every documented GET and checks each answer against its documented
/// 200 schema: the response shapes cannot drift from the wire either.
#[tokio::test]
async fn a_live_server_answers_every_documented_operation_as_documented() {
    let server = common::TestServer::start().await;
    let admin = common::token(UserRole::Admin);
    let http = reqwest::Client::new();
    let declare = command_json(&examples()[0]);
    let resp = http
        .post(format!("{}/api/v1/commands", server.url))
        .bearer_auth(&admin)
        .json(&declare)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ack: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{ack}");
    let doc = document();
    let check = |what: &str, schema: &Value, body: &Value| {
        let errs = errors(&validator(schema), body);
        assert!(errs.is_empty(), "{what}: the answer does not match the document: {errs:?}\n{body}");
        let mut extra = Vec::new();
        undocumented_keys(schema, body, "", &mut extra);
        assert!(extra.is_empty(), "{what}: undocumented fields in the answer: {extra:?}");
    };
    let post = &doc["paths"]["/api/v1/commands"]["post"]["responses"];
    check("POST /api/v1/commands", &post["200"]["content"]["application/json"]["schema"], &ack);
    // A game day, so that its pages have something to show (and a token to open them).
    let create = serde_json::to_value(Command::new(Intent::CreateGameday {
        name: "GameDay".into(),
        style: Style::FireDrill,
    }))
    .unwrap();
    let resp = http
        .post(format!("{}/api/v1/commands", server.url))
        .bearer_auth(&admin)
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let share = server.server.app.scoreboard().token(GameDayId(1));

    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        let mut url = format!("{}{}", server.url, path.replace("{id}", "INC-1"));
        if path.starts_with("/gameday/") {
            url = format!("{url}?token={share}");
        }
        let mut req = http.get(&url).bearer_auth(&admin);
        if path.ends_with("/stream") {
            // Endless by design: the status and content type are all there is to check.
            req = req.query(&[("after", "0")]);
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200, "GET {path}");
            let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(ct.starts_with("text/event-stream"), "GET {path}: {ct}");
            continue;
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct =
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        let content = op["responses"]["200"]["content"].as_object().expect("a documented 200 body");
        let media = ct.split(';').next().unwrap_or_default().trim();
        assert!(content.contains_key(media), "GET {path} answers {media}, documented {:?}", content.keys());
        if media == "application/json" {
            let body: Value = serde_json::from_str(&text).unwrap();
            check(&format!("GET {path}"), &content[media]["schema"], &body);
        }
    }

    // Refusals: the Error shape, with a documented code and status.
    let error = json!({ "$ref": "#/components/schemas/Error" });
    for (method, path, want) in [
        ("GET", "/api/v1/incidents/INC-99", 404),
        ("GET", "/api/v1/events?after=999", 400),
        ("GET", "/api/v1/nowhere", 404),
        ("PUT", "/api/v1/commands", 405),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = http
            .request(method.clone(), format!("{}{path}", server.url))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, want, "{method} {path}: {body}");
        check(&format!("{method} {path}"), &error, &body);
        let code = body["error"].as_str().unwrap_or_default();
        assert!(
            ERROR_CODES.iter().any(|(c, s, _)| *c == code && *s == status),
            "{method} {path}: `{code}` with {status} is not in ERROR_CODES"
        );
    }
    let resp = http.get(format!("{}/api/v1/state", server.url)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    check("GET /api/v1/state without a token", &error, &resp.json().await.unwrap());
}
