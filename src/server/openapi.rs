//! The API described as OpenAPI 3.1, served at `/api/v1/openapi.json`: every route, every
//! command kind as its own schema, every error shape. `tests/openapi.rs` holds it to the types.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::model::comms::PublicStatus;
use crate::model::incident::ComponentStatus;
use crate::model::intent::{MAX_NAME, MAX_SERVICES, MAX_TEXT, MAX_TITLE};
use crate::model::probe::Health;
use crate::model::{Audience, ClosureReason, Milestone, Role, Severity, Status, UserRole};

/// The error codes in `{error, detail}` bodies, with their HTTP status and meaning. The drift
/// test checks that every code the server's sources name is listed here.
pub const ERROR_CODES: &[(&str, u16, &str)] = &[
    ("bad_request", 400, "malformed JSON, an unknown command kind, a bad query parameter or header"),
    (
        "ahead_of_log",
        400,
        "`after` is past the log's head: this log was reset or replaced; reload the snapshot",
    ),
    ("unauthorized", 401, "no bearer token, or an unknown one"),
    ("forbidden", 403, "the caller's role may not do this, or the kind is recorded by the server only"),
    ("not_found", 404, "no such endpoint"),
    ("unknown_incident", 404, "no such incident, or a private one the caller may not see"),
    ("unknown_component", 404, "no such status page component (only a commander or an admin adds new ones)"),
    (
        "unknown_scenario",
        404,
        "no such chaos scenario in the server's catalogue (GET /api/v1/library lists them)",
    ),
    ("unknown_run", 404, "no chaos run of that number was started on this log"),
    ("unknown_gameday", 404, "no game day of that number was created on this log"),
    ("method_not_allowed", 405, "the endpoint does not take that method"),
    (
        "conflict",
        409,
        "the command no longer applies to the current state (e.g. an invalid status transition)",
    ),
    ("body_timeout", 408, "the request body did not all arrive within 5 s of its head; the connection closes"),
    ("too_large", 413, "a command body over 64 KiB"),
    ("invalid", 422, "a field's value can never be accepted; the detail names the field"),
    ("key_reused", 422, "the command id was already used for a different command"),
    (
        "client_too_old",
        426,
        "a warroom client (User-Agent warroom/<version>) older than this server supports",
    ),
    ("too_many_streams", 429, "the user already holds [limits] streams_per_user event streams"),
    (
        "rate_limited",
        429,
        "the user sent commands faster than [limits] commands_per_second (past command_burst); send the same command again after `Retry-After` seconds",
    ),
    (
        "history_busy",
        429,
        "`GET /api/v1/state?at=` folds past states a few at a time and queues a few more; past that, ask again after `Retry-After` seconds",
    ),
    ("internal", 500, "a bug met deciding this command: refused, nothing written; not worth a retry"),
    ("unavailable", 503, "the event store cannot be written or read now"),
    ("too_many_connections", 503, "the server is at its connection cap"),
    (
        "shutting_down",
        503,
        "the server is stopping: it finishes what it took and takes no commands or streams; retry after `Retry-After` seconds",
    ),
];

/// One client command kind: its `kind`, what it does, and its fields beside `id` and `kind`
/// as (name, schema, required).
struct Kind {
    kind: &'static str,
    summary: &'static str,
    fields: Vec<(&'static str, Value, bool)>,
}

/// The names of the command kinds a client may send, for an error that lists them.
pub(super) fn client_kinds() -> Vec<&'static str> {
    kinds().iter().map(|k| k.kind).collect()
}

/// The command kinds a client may send. `record_probe` and `record_delivery` are the server's
/// own records and are refused (403) from clients, so they are not offered here.
fn kinds() -> Vec<Kind> {
    let incident = || reference("IncidentId");
    let name =
        |what: &str| json!({ "type": "string", "minLength": 1, "maxLength": MAX_NAME, "description": what });
    let text = |max: usize| json!({ "type": "string", "minLength": 1, "maxLength": max });
    let k = |kind, summary, fields| Kind { kind, summary, fields };
    let gameday = || reference("GamedayId");
    let plan = || json!({ "type": "integer", "minimum": 1, "maximum": u32::MAX, "description": "a planned scenario's number (#n)" });
    let minutes = || json!({ "type": "integer", "minimum": 1, "maximum": crate::model::gameday::MAX_PAR_MINUTES, "description": "default 5 to detect, 15 to mitigate" });
    vec![
        k(
            "declare_incident",
            "declare a new incident; the server assigns its id (INC-n)",
            vec![
                ("title", text(MAX_TITLE), true),
                ("severity", reference("Severity"), true),
                ("impact", json!({ "type": "string", "maxLength": MAX_TEXT }), false),
                ("drill", json!({ "type": "boolean", "description": "an exercise: never published" }), false),
                (
                    "services",
                    json!({ "type": "array", "maxItems": MAX_SERVICES,
                "items": { "type": "string", "maxLength": MAX_NAME }, "description": "services (probe names) it is about" }),
                    false,
                ),
                (
                    "private",
                    json!({ "type": "boolean", "description": "only its members (declarer, role holders, people added with add_member) and admins see it; everyone else gets `redacted` placeholders" }),
                    false,
                ),
            ],
        ),
        k(
            "add_member",
            "let a person see a private incident (its commander or an admin)",
            vec![("incident", incident(), true), ("person", name("a user's name"), true)],
        ),
        k(
            "remove_member",
            "stop a person seeing a private incident, unless they declared it or hold a role in it",
            vec![("incident", incident(), true), ("person", name("a user's name"), true)],
        ),
        k(
            "add_note",
            "add a note to the timeline",
            vec![("incident", incident(), true), ("text", text(MAX_TEXT), true)],
        ),
        k(
            "set_status",
            "move the incident along its lifecycle",
            vec![
                ("incident", incident(), true),
                ("status", reference("Status"), true),
                (
                    "reason",
                    json!({ "type": "string", "maxLength": MAX_TEXT,
                "description": "needed to reopen; a closure reason (ClosureReason) to close early" }),
                    false,
                ),
            ],
        ),
        k(
            "set_severity",
            "change the severity",
            vec![("incident", incident(), true), ("severity", reference("Severity"), true)],
        ),
        k(
            "assign_role",
            "hand a response role to a person",
            vec![
                ("incident", incident(), true),
                ("role", reference("Role"), true),
                ("person", name("a user's name"), true),
            ],
        ),
        k(
            "set_milestone",
            "record when something happened (e.g. when the fault really started)",
            vec![
                ("incident", incident(), true),
                ("milestone", reference("Milestone"), true),
                ("time", json!({ "type": "string", "format": "date-time" }), true),
            ],
        ),
        k(
            "attach_playbook",
            "attach (or switch to) a playbook from the server's library",
            vec![
                ("incident", incident(), true),
                ("playbook", name("a playbook's name from GET /api/v1/library"), true),
            ],
        ),
        k(
            "tick_step",
            "mark a playbook step done",
            vec![("incident", incident(), true), ("step", name("a step id of the attached playbook"), true)],
        ),
        k(
            "untick_step",
            "mark a playbook step not done",
            vec![("incident", incident(), true), ("step", name("a step id of the attached playbook"), true)],
        ),
        k(
            "assign_step",
            "give a playbook step to a person",
            vec![
                ("incident", incident(), true),
                ("step", name("a step id of the attached playbook"), true),
                ("person", name("a user's name"), true),
            ],
        ),
        k(
            "send_message",
            "send a message on one of the server's channels; delivery is recorded as it happens",
            vec![
                ("incident", incident(), true),
                ("channel", name("a channel's name from GET /api/v1/library"), true),
                ("text", text(MAX_TEXT), true),
                ("step", name("the comms step this message fulfils"), false),
                (
                    "status",
                    json!({ "$ref": "#/components/schemas/PublicStatus",
                "description": "the public status this update states; absent: the incident's when sent" }),
                    false,
                ),
            ],
        ),
        k(
            "snooze_clock",
            "push an audience's next update back (logged)",
            vec![
                ("incident", incident(), true),
                ("audience", reference("Audience"), true),
                (
                    "minutes",
                    json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX,
                "description": "1 to 240; other values are refused (422)" }),
                    true,
                ),
            ],
        ),
        k(
            "start_scenario",
            "start a chaos scenario from the server's catalogue (villains, admins); the server runs its drivers, checks the steady state first and rolls back at its duration",
            vec![("scenario", name("a scenario id from GET /api/v1/library `scenarios`"), true)],
        ),
        k(
            "stop_scenario",
            "stop a run early: it is rolled back (villains, admins)",
            vec![("run", reference("RunId"), true), ("reason", text(MAX_TEXT), false)],
        ),
        k(
            "halt_all",
            "roll back every run and disarm until arm_chaos (villains, admins); POST /api/v1/chaos/halt does the same while the log is failing",
            vec![("reason", text(MAX_TEXT), true)],
        ),
        k("arm_chaos", "allow scenarios to start again after a halt (villains, admins)", vec![]),
        k(
            "create_gameday",
            "create a game day, planned until started (the game master: an admin); one open at a time",
            vec![("name", text(MAX_TITLE), true), ("style", reference("Style"), true)],
        ),
        k("add_team", "add a hero team (the game master)", vec![("gameday", gameday(), true), ("team", name("the team's name"), true)]),
        k(
            "join_team",
            "join a team (commanders and responders, themselves; the game master puts anyone in one)",
            vec![("gameday", gameday(), true), ("team", name("a team"), true), ("person", name("a user; default: the caller"), false)],
        ),
        k(
            "plan_scenario",
            "plan a scenario from the catalogue for the game day, with its briefing, the villains' note and par times (the game master); hidden from heroes until debrief",
            vec![
                ("gameday", gameday(), true),
                ("scenario", name("a scenario id from the catalogue"), true),
                ("briefing", json!({ "type": "string", "maxLength": MAX_TEXT, "description": "default: the scenario's" }), false),
                ("note", json!({ "type": "string", "maxLength": MAX_TEXT, "description": "the villains' note" }), false),
                ("par_detect_minutes", minutes(), false),
                ("par_mitigate_minutes", minutes(), false),
                ("weights", json!({ "type": "object", "additionalProperties": { "type": "integer", "minimum": 0, "maximum": 10 },
                    "description": "steady-state probe → weight (0–10) in the LitmusChaos resilience score; default 10" }), false),
            ],
        ),
        k("start_gameday", "start the game day (the game master); incidents declared by players are now their team's drills", vec![("gameday", gameday(), true)]),
        k(
            "give_hint",
            "give a team a hint, about planned scenario #plan or in general; it costs points (the game master)",
            vec![("gameday", gameday(), true), ("team", name("a team"), true), ("plan", plan(), false), ("text", text(MAX_TEXT), true)],
        ),
        k(
            "confirm_mitigation",
            "confirm a team's mitigation of planned scenario #plan (villains, the game master)",
            vec![("gameday", gameday(), true), ("team", name("a team"), true), ("plan", plan(), true)],
        ),
        k("end_gameday", "end the game: debrief, everything hidden is revealed to everyone (the game master)", vec![("gameday", gameday(), true)]),
        k("finish_gameday", "close the debrief (the game master)", vec![("gameday", gameday(), true)]),
        k(
            "write_postmortem",
            "write (a new revision of) an incident's postmortem; every revision is kept in the log. Closing a SEV1–SEV2 (configurable) as resolved is refused until one exists",
            vec![
                ("incident", incident(), true),
                ("document", reference("PostmortemDocument"), true),
                ("base", json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX,
                    "description": "the revision the writer started from (0: none yet); a stale base is refused (409) so no edit is silently lost; absent: overwrite" }), false),
            ],
        ),
        k(
            "add_action_item",
            "add a follow-up to an incident: numbered from 1 within it (INC-7#2)",
            vec![
                ("incident", incident(), true),
                ("title", text(MAX_TITLE), true),
                ("owner", name("a user's name"), true),
                ("due", json!({ "type": "string", "format": "date", "description": "the day it is due; overdue the day after" }), false),
                ("link", json!({ "type": "string", "maxLength": crate::model::postmortem::MAX_LINK, "pattern": "^\\S+$", "description": "a ticket or URL" }), false),
            ],
        ),
        k(
            "complete_action_item",
            "mark an action item done",
            vec![("incident", incident(), true), ("item", json!({ "type": "integer", "minimum": 1, "maximum": u32::MAX }), true)],
        ),
        k(
            "set_component",
            "override a status page component, or follow its probe again (null)",
            vec![
                ("component", name("a component (probe) name"), true),
                ("status", json!({ "oneOf": [reference("ComponentStatus"), { "type": "null" }] }), false),
            ],
        ),
    ]
}

/// `AddNote` from `add_note`: the component name of a command kind's schema.
pub fn schema_name(kind: &str) -> String {
    kind.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A string enum of a model type's serde spellings, so the lists cannot fall behind the types.
fn spelled<T: Serialize>(all: &[T], description: &str) -> Value {
    let names: Vec<Value> = all.iter().filter_map(|v| serde_json::to_value(v).ok()).collect();
    json!({ "type": "string", "enum": names, "description": description })
}

fn command_schema(k: &Kind) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "id".into(),
        json!({ "type": "string", "format": "uuid",
        "description": "idempotency key chosen by the client: a replayed id returns the original answer" }),
    );
    properties.insert("kind".into(), json!({ "type": "string", "enum": [k.kind] }));
    let mut required = vec![json!("id"), json!("kind")];
    for (name, schema, needed) in &k.fields {
        properties.insert(name.to_string(), schema.clone());
        if *needed {
            required.push(json!(name));
        }
    }
    json!({ "type": "object", "description": k.summary, "required": required, "properties": properties })
}

fn error_responses(codes: &[u16]) -> Map<String, Value> {
    let mut m = Map::new();
    for code in codes {
        let what: Vec<String> = ERROR_CODES
            .iter()
            .filter(|(_, status, _)| status == code)
            .map(|(name, _, what)| format!("`{name}`: {what}"))
            .collect();
        m.insert(
            code.to_string(),
            json!({ "description": what.join("; "),
                    "content": { "application/json": { "schema": reference("Error") } } }),
        );
    }
    m
}

/// A GET that needs a token: its summary, parameters, 200 schema and the errors it can give
/// besides those of every authenticated request.
fn authed_get(summary: &str, parameters: Value, ok: Value, extra_errors: &[u16]) -> Value {
    let mut codes = vec![401, 426, 503];
    codes.extend_from_slice(extra_errors);
    let mut responses = error_responses(&codes);
    responses.insert("200".into(), ok);
    json!({ "get": { "summary": summary, "parameters": parameters, "responses": responses } })
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "schema": schema, "description": description })
}

fn components() -> Value {
    let kinds = kinds();
    let mut schemas = Map::new();
    let mut mapping = Map::new();
    let mut one_of = Vec::new();
    for k in &kinds {
        let name = schema_name(k.kind);
        mapping.insert(k.kind.into(), json!(format!("#/components/schemas/{name}")));
        one_of.push(reference(&name));
        schemas.insert(name, command_schema(k));
    }
    let codes: Vec<String> =
        ERROR_CODES.iter().map(|(name, status, what)| format!("- `{name}` ({status}): {what}")).collect();
    let seq = json!({ "type": "integer", "minimum": 0 });
    let side_effects = json!({ "enum": ["here", "standby"],
        "description": "whether this server runs probes, messages and chaos (of servers sharing one PostgreSQL store, only the lease holder does)" });
    let count = json!({ "type": "integer", "minimum": 0 });
    let connections = json!({ "type": "object", "required": ["open", "overflow", "max", "refused"],
        "additionalProperties": false,
        "description": "open connections (under the cap, and past it as overflow), the cap, and requests refused 503 too_many_connections since start",
        "properties": { "open": count, "overflow": count, "max": count, "refused": count } });
    let time = json!({ "type": "string", "format": "date-time" });
    let uuid = json!({ "type": "string", "format": "uuid" });
    let more: Value = json!({
        "Command": { "description": "one intent with its idempotency key; `kind` says which",
                     "oneOf": one_of,
                     "discriminator": { "propertyName": "kind", "mapping": mapping } },
        "Error": { "type": "object", "required": ["error", "detail"],
                   "description": format!("every 4xx/5xx body (but /healthz's 503). `error` is one of:\n{}", codes.join("\n")),
                   "properties": { "error": { "type": "string" }, "detail": { "type": "string" } } },
        "IncidentId": { "type": "string", "pattern": "^INC-[1-9][0-9]{0,17}$", "examples": ["INC-7"] },
        "PostmortemDocument": {
            "type": "object", "required": ["summary"], "additionalProperties": false,
            "description": "what a team writes; the timeline, metrics and participants are read from the log when it is rendered",
            "properties": {
                "summary": { "type": "string", "minLength": 1, "maxLength": MAX_TEXT },
                "failure_class": { "type": "string", "maxLength": MAX_NAME, "description": "one of GET /api/v1/library `postmortem.failure_classes` (any case)" },
                "factors": { "type": "string", "maxLength": MAX_TEXT, "description": "contributing factors" },
                "well": { "type": "array", "maxItems": crate::model::postmortem::MAX_ENTRIES, "items": { "type": "string", "minLength": 1, "maxLength": MAX_TEXT } },
                "badly": { "type": "array", "maxItems": crate::model::postmortem::MAX_ENTRIES, "items": { "type": "string", "minLength": 1, "maxLength": MAX_TEXT } },
                "lucky": { "type": "array", "maxItems": crate::model::postmortem::MAX_ENTRIES, "items": { "type": "string", "minLength": 1, "maxLength": MAX_TEXT } }
            } },
        "Event": {
            "description": "a fact the server ordered. `kind` names the fact and decides the other fields; a client must keep going past kinds it does not know, and `redacted` stands in for an event the caller may not see. Chaos facts: `scenario_started` {run, scenario (ScenarioInfo), ends_at}, `scenario_stopping` {run, cause, reason?}, `chaos_step` {run, step, phase?, driver, ok, output}, `scenario_ended` {run, verdict?}, `chaos_halted` {reason, runs}, `chaos_armed` {}, `run_linked` {incident, run, scenario}",
            "type": "object", "required": ["seq", "kind"], "additionalProperties": true,
            "properties": { "seq": seq, "at": time, "actor": { "type": "string" },
                            "role": reference("UserRole"), "command_id": uuid, "kind": { "type": "string" } } },
        "Ack": object(&["seq", "events"], json!({ "seq": { "type": "integer", "description": "the seq of the command's last event" },
            "events": { "type": "array", "items": reference("Event") } })),
        "EventPage": object(&["events", "head"], json!({ "events": { "type": "array", "items": reference("Event") }, "head": seq })),
        "Whoami": object(&["name", "role"], json!({ "name": { "type": "string" }, "role": reference("UserRole") })),
        "Health200": object(&["status", "seq", "side_effects", "connections"], json!({ "status": { "enum": ["ok"] }, "seq": seq,
            "side_effects": side_effects.clone(), "connections": connections.clone() })),
        "Health503": object(&["status", "detail", "seq"], json!({ "status": { "enum": ["unavailable", "shutting_down"] },
            "detail": { "type": "string", "description": "why commands cannot be written" }, "seq": seq,
            "side_effects": side_effects, "connections": connections })),
        "Snapshot": object(&["log", "seq", "state", "probes"], json!({ "log": uuid, "seq": seq,
            "state": { "type": "object", "description": "the fold of the log, filtered for the caller; `chaos` (schema Chaos) holds the chaos runs and whether chaos is disarmed",
                       "additionalProperties": true, "properties": { "chaos": reference("Chaos") } },
            "probes": { "type": "array", "items": { "type": "object", "required": ["name", "kind", "target", "samples"] } } })),
        "IncidentSummary": object(
            &["id", "title", "severity", "status", "declared_by", "declared_at", "updated_at", "impact", "timeline_len"],
            json!({ "id": reference("IncidentId"), "title": { "type": "string" }, "severity": reference("Severity"),
                    "status": reference("Status"), "drill": { "type": "boolean" }, "private": { "type": "boolean" },
                    "commander": { "type": "string" }, "declared_by": { "type": "string" }, "declared_at": time,
                    "updated_at": time, "impact": { "type": "string" }, "closure": reference("ClosureReason"),
                    "services": { "type": "array", "items": { "type": "string" } }, "timeline_len": seq })),
        "IncidentPage": object(&["log", "seq", "total", "offset", "incidents"], json!({ "log": uuid, "seq": seq,
            "total": seq, "offset": seq, "incidents": { "type": "array", "items": reference("IncidentSummary") } })),
        "FullIncident": object(&["log", "seq", "incident"], json!({ "log": uuid, "seq": seq,
            "incident": { "type": "object", "required": ["id", "title", "severity", "status"] } })),
        "TimelinePage": object(&["seq", "total", "from", "entries"], json!({ "seq": seq, "total": seq, "from": seq,
            "entries": { "type": "array", "items": reference("TimelineEntry") } })),
        "TimelineEntry": { "type": "object", "required": ["seq", "at", "actor", "kind"], "additionalProperties": true,
            "description": "one line of an incident's timeline; `kind` decides the other fields, and a client keeps going past kinds it does not know",
            "properties": { "seq": seq, "at": time, "actor": { "type": "string" }, "kind": { "type": "string" } } },
    });
    // Chaos: in parts, each json! kept under the macro's recursion limit.
    let chaos: Value = json!({
        "RunId": { "type": "string", "pattern": "^(RUN-|run-)?[0-9]{1,20}$", "examples": ["RUN-3"],
                   "description": "a chaos run, numbered by the server in start order (RUN-0 does not exist)" },
        "ScenarioInfo": object(&["id", "title", "target", "duration_secs", "stop_when", "phases"], json!({
            "id": { "type": "string" }, "title": { "type": "string" }, "briefing": { "type": "string" },
            "hypothesis": { "type": "string" },
            "target": { "type": "array", "items": { "type": "string" }, "description": "the blast radius: services (probe names)" },
            "duration_secs": seq, "steady_state": { "type": "array", "items": { "type": "string" } },
            "stop_when": { "type": "string", "description": "the stop condition, in words" },
            "phases": { "type": "array", "items": object(&["at_secs", "title", "driver"], json!({
                "at_secs": seq, "title": { "type": "string" },
                "driver": { "enum": ["demo", "network", "chaostoolkit", "http", "command"] } })) },
            "rollback": { "type": "array", "items": { "type": "string" } } })),
        "Run": { "type": "object", "required": ["id", "scenario", "started_by", "started_at", "ends_at", "phase", "injected", "steps"],
            "description": "a chaos run as `state.chaos.runs` holds it",
            "properties": { "id": reference("RunId"), "scenario": reference("ScenarioInfo"), "started_by": { "type": "string" },
                "started_at": time, "ends_at": time, "ended_at": time,
                "phase": { "enum": ["starting", "running", "stopping", "ended"] }, "injected": seq,
                "cause": { "enum": ["stopped", "halted", "duration", "stop_condition", "steady_state", "inject_failed", "dead_man", "shutdown", "restart"] },
                "reason": { "type": "string" },
                "rollback_failed": { "type": "string", "description": "the last rollback attempt failed and is being retried" },
                "verdict": object(&["deviated", "probes"], json!({ "deviated": { "type": "boolean" },
                    "probes": { "type": "object", "additionalProperties": reference("Health") } })),
                "incidents": { "type": "array", "items": reference("IncidentId") },
                "steps": { "type": "array", "items": { "type": "object", "required": ["seq", "at", "actor", "step", "ok", "output"],
                    "properties": { "seq": seq, "at": time, "actor": { "type": "string" },
                        "step": { "enum": ["steady_state", "inject", "rollback", "report"] },
                        "phase": seq, "driver": { "type": "string" }, "ok": { "type": "boolean" }, "output": { "type": "string" } } } } } },
        "Chaos": { "type": "object", "description": "`state.chaos` in a snapshot (absent while empty)",
            "properties": { "disarmed": object(&["by", "at", "reason"], json!({ "by": { "type": "string" }, "at": time, "reason": { "type": "string" } })),
                "runs": { "type": "object", "additionalProperties": reference("Run"), "description": "by run id" } } },
        "HaltRequest": object(&["reason"], json!({ "reason": { "type": "string", "minLength": 1, "maxLength": MAX_TEXT } })),
        "HaltReport": object(&["runs"], json!({
            "runs": { "type": "array", "items": reference("RunId"), "description": "the runs the halt stopped" },
            "rolled_back": { "type": "array", "items": { "type": "string" } },
            "failed": { "type": "array", "items": { "type": "string" }, "description": "rollbacks that failed; the server retries them" },
            "recorded": { "type": "integer", "minimum": 0, "description": "the seq of the halt's record, once written" },
            "error": { "type": "string", "description": "why it is not recorded yet (the server keeps trying)" } })),
        "Severity": spelled(&Severity::ALL, "SEV1 is the worst; SEV2 and above is a major incident"),
        "Status": spelled(Status::ALL, "the incident lifecycle, in order"),
        "ClosureReason": spelled(ClosureReason::ALL, "why an incident was closed early"),
        "Role": spelled(Role::ALL, "a response role held by a person"),
        "Milestone": spelled(Milestone::ALL, "points in time the response metrics derive from"),
        "Audience": spelled(Audience::ALL, "who a message reaches; each has its own clock"),
        "PublicStatus": spelled(PublicStatus::ALL, "the status page's incident status"),
        "ComponentStatus": spelled(ComponentStatus::ALL, "a status page component's status"),
        "Health": spelled(Health::ALL, "a service's health as the room sees it"),
        "UserRole": spelled(UserRole::ALL, "a user's role on the server, from its config"),
    });
    let gameday: Value = json!({
        "GamedayId": { "type": "string", "pattern": "^(GD-|gd-)?[0-9]{1,20}$", "examples": ["GD-1"] },
        "Style": spelled(crate::model::gameday::Style::ALL, "informed: heroes are told each scenario as it starts; dungeons_and_dragons: heroes learn nothing of the chaos until debrief; fire_drill: hidden like dungeons_and_dragons, the scoreboard shown to all"),
        "GamedayView": { "type": "object", "additionalProperties": true,
            "description": "the newest game day (`gameday`, as `state.gamedays` holds it; heroes see no `plans` before debrief) and its scoreboard as the caller may see it (`board`; `board_hidden` says why there is none; `share_url`: the big-screen page, for admins and villains)",
            "properties": { "gameday": { "type": ["object", "null"] }, "board": { "oneOf": [reference("Board"), { "type": "null" }] },
                "board_hidden": { "type": "string" }, "share_url": { "type": "string" } } },
        "Board": { "type": "object", "required": ["gameday", "name", "style", "stage", "at", "weights", "teams", "scenarios"],
            "additionalProperties": true,
            "description": "a game day's scoreboard, a fold over its events: teams best first, each with one cell per planned scenario (detect_secs, mitigate_secs, comms_first, hints, points); scenarios with par times, the run that played them and LitmusChaos's resilience score (percent); `concealed`: scenario names withheld (heroes before debrief)",
            "properties": { "gameday": reference("GamedayId"), "style": reference("Style"),
                "stage": { "enum": ["planned", "running", "debrief", "finished"] }, "at": time,
                "teams": { "type": "array", "items": { "type": "object" } }, "scenarios": { "type": "array", "items": { "type": "object" } } } },
        "SharedBoard": { "type": "object", "description": "what the big screen shows: `board` as heroes may see it, or `hidden` with the reason",
            "properties": { "board": reference("Board"), "hidden": { "type": "string" } } },
    });
    let pages: Value = json!({
        "Library": object(&["playbooks", "channels", "errors"], json!({
            "playbooks": { "type": "array", "items": { "type": "object" } },
            "channels": { "type": "object", "additionalProperties": object(&["kind", "audience"],
                json!({ "kind": { "type": "string" }, "audience": reference("Audience") })) },
            "status_page_url": { "type": "string" },
            "components": { "type": "array", "items": { "type": "string" } },
            "users": { "type": "array", "items": { "type": "string" }, "description": "the server's user names, sorted; empty: unknown" },
            "scenarios": { "type": "array", "items": reference("ScenarioInfo"), "description": "the chaos catalogue as clients see it (never a driver's URL, headers or command)" },
            "errors": { "type": "array", "items": { "type": "string" }, "description": "what failed to load, with file and line" } })),
    });
    let update = object(
        &["at", "text", "status"],
        json!({ "at": time, "text": { "type": "string" }, "status": reference("PublicStatus") }),
    );
    let public_incident = object(
        &["id", "status", "updates"],
        json!({
        "id": { "type": "string" }, "status": reference("PublicStatus"),
        "updates": { "type": "array", "items": update } }),
    );
    let status_page = json!({
        "StatusPage": object(&["updated", "components", "incidents"], json!({ "updated": time,
            "components": { "type": "array", "items": object(&["name", "status", "manual"], json!({
                "name": { "type": "string" },
                "status": { "oneOf": [reference("ComponentStatus"), { "enum": ["unknown"] }] },
                "manual": { "type": "boolean" } })) },
            "incidents": { "type": "array", "items": public_incident } })),
    });
    for part in [more, chaos, pages, status_page, gameday] {
        if let Value::Object(part) = part {
            schemas.extend(part);
        }
    }
    json!({ "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } }, "schemas": schemas })
}

fn paths() -> Value {
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": reference("IncidentId") });
    let limit = |max: u64| json!({ "type": "integer", "minimum": 1, "maximum": max });
    // Query numbers are read as u64: anything larger is a 400.
    let count = json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX });
    let mut post_responses = error_responses(&[400, 401, 403, 404, 408, 409, 413, 422, 426, 429, 500, 503]);
    post_responses.insert(
        "200".into(),
        ok_json("durable; a replayed id returns the original answer", reference("Ack")),
    );
    let mut healthz = Map::new();
    healthz.insert("200".into(), ok_json("commands can be written", reference("Health200")));
    healthz.insert("503".into(), ok_json("commands cannot be written now, and why", reference("Health503")));
    json!({
        "/healthz": { "get": { "summary": "whether commands can be written now (for load balancers)",
                               "security": [], "responses": healthz } },
        "/api/v1/commands": { "post": {
            "summary": "submit one command",
            "requestBody": { "required": true, "content": { "application/json": { "schema": reference("Command") } } },
            "responses": post_responses } },
        "/api/v1/state": authed_get(
            "the snapshot, filtered for the caller, with probes' recent samples; with `at`, the state as of that seq instead (folded again from the log, closed incidents as summaries, `probes` empty: samples are live only), filtered by what the caller may see now",
            json!([query("at", count.clone(),
                "the seq to show the state as of (0: the empty state; past the log's head: 400 naming it)")]),
            ok_json("snapshot", reference("Snapshot")), &[400, 429]),
        "/api/v1/incidents": authed_get(
            "incident summaries, open first, worst first, oldest first",
            json!([
                query("status", json!({ "type": "string", "enum": ["open", "closed", "all"] }), "default all"),
                query("severity",
                    json!({ "type": "string", "pattern": "^\\s*(SEV|sev|Sev)?[1-5]\\s*(,\\s*(SEV|sev|Sev)?[1-5]\\s*)*$" }),
                    "comma-separated, e.g. sev1,sev2"),
                query("drill", json!({ "type": "boolean" }), "only drills (true) or only real incidents (false)"),
                query("service", json!({ "type": "string" }), "only incidents about this service"),
                query("q", json!({ "type": "string" }), "words that must all appear in the title, any case"),
                query("offset", count.clone(), "summaries to skip"),
                query("limit", limit(crate::server::incidents::MAX_LIMIT as u64), "page size"),
            ]),
            ok_json("a page of summaries", reference("IncidentPage")), &[400]),
        "/api/v1/incidents/{id}": authed_get("the incident in full as of `seq`, however long ago it closed",
            json!([id]), ok_json("the full incident", reference("FullIncident")), &[400, 404]),
        "/api/v1/incidents/{id}/timeline": authed_get("timeline entries from..from+limit",
            json!([id, query("from", count.clone(), "the first entry's index"),
                   query("limit", limit(crate::server::incidents::MAX_ENTRIES), "entries at most")]),
            ok_json("a page of entries", reference("TimelinePage")), &[400, 404]),
        "/api/v1/events": authed_get("events with seq > after, in order, and the log's head",
            json!([query("after", count.clone(), "the last seq the caller has"),
                   query("limit", limit(super::api::MAX_PAGE as u64), "events at most")]),
            ok_json("a page of events", reference("EventPage")), &[400]),
        "/api/v1/stream": authed_get(
            "Server-Sent Events: `id` = seq, `event` = kind, `data` = event JSON; `hello` first, `resync` when the client must reload the snapshot, `shutdown` (with `retry`, data `{reconnect_after_ms}`) last when the server stops: reconnect then with `Last-Event-ID`; comments as heartbeats",
            json!([{ "name": "Last-Event-ID", "in": "header", "schema": count.clone(), "description": "resume after this seq" },
                   query("after", count, "resume after this seq")]),
            json!({ "description": "an endless event stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } }),
            &[400, 429]),
        "/api/v1/whoami": authed_get("who the bearer token belongs to", json!([]),
            ok_json("the caller", reference("Whoami")), &[]),
        "/api/v1/library": authed_get("the server's playbooks, channels and status page components, and what failed to load",
            json!([]), ok_json("the library", reference("Library")), &[]),
        "/api/v1/chaos/halt": halt_path(),
        "/api/v1/gameday": authed_get("the newest game day and its scoreboard, as the caller may see them", json!([]),
            ok_json("the game day", reference("GamedayView")), &[]),
        "/gameday/scoreboard": shared_get("the big-screen scoreboard page (HTML; reads the stream below)",
            json!({ "description": "the page", "content": { "text/html": { "schema": { "type": "string" } } } })),
        "/gameday/scoreboard.json": shared_get("what the big screen shows now",
            ok_json("the shared board", reference("SharedBoard"))),
        "/gameday/scoreboard/stream": shared_get("Server-Sent Events: `event: board` with the SharedBoard JSON now and on every change; comments as heartbeats",
            json!({ "description": "an endless event stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } })),
        "/api/v1/openapi.json": authed_get("this document", json!([]),
            ok_json("OpenAPI 3.1", json!({ "type": "object" })), &[]),
        "/metrics": authed_get(
            "Prometheus metrics (OpenMetrics text), for admin tokens; `[metrics] listen` serves them without a token on an address of its own",
            json!([]),
            json!({ "description": "the exposition", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } }),
            &[403]),
        "/status": { "get": { "summary": "the public status page (HTML, no JavaScript)", "security": [],
            "responses": { "200": { "description": "the page", "content": { "text/html": { "schema": { "type": "string" } } } } } } },
        "/status.json": { "get": { "summary": "the public status page's content", "security": [],
            "responses": { "200": ok_json("what was published, and each component's status", reference("StatusPage")) } } },
    })
}

/// A page behind a game day's read-only share token (`?token=`), not a bearer token.
fn shared_get(summary: &str, ok: Value) -> Value {
    let mut responses = error_responses(&[401, 403]);
    responses.insert("200".into(), ok);
    json!({ "get": { "summary": summary, "security": [],
        "parameters": [query("token", json!({ "type": "string" }), "the game day's share token (in its share_url)")],
        "responses": responses } })
}

/// `POST /api/v1/chaos/halt`.
fn halt_path() -> Value {
    let mut responses = error_responses(&[400, 401, 403, 413, 422, 426, 500]);
    responses.insert(
        "200".into(),
        ok_json(
            "rolled back first, recorded after: what was halted and whether it is in the log yet",
            reference("HaltReport"),
        ),
    );
    json!({ "post": {
        "summary": "the emergency stop (villains, admins): every run rolled back at once and chaos disarmed until arm_chaos; works while the log cannot be written; never queued by clients",
        "requestBody": { "required": true, "content": { "application/json": { "schema": reference("HaltRequest") } } },
        "responses": responses } })
}

pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": { "title": "warroom", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Event-sourced war room: commands in, ordered events out. Every refusal is `{error, detail}` (schema Error)." },
        "components": components(),
        "security": [{ "bearer": [] }],
        "paths": paths(),
    })
}
