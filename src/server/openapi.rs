//! The API described as OpenAPI 3, served at `/api/v1/openapi.json`.

use serde_json::{json, Value};

pub fn document() -> Value {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let errors = |codes: &[(&str, &str)]| -> Value {
        let mut m = serde_json::Map::new();
        for (code, what) in codes {
            m.insert(
                code.to_string(),
                json!({ "description": what, "content": { "application/json": { "schema": error } } }),
            );
        }
        Value::Object(m)
    };
    let mut command_responses = errors(&[
        ("400", "malformed JSON or unknown command kind"),
        ("401", "no or unknown bearer token"),
        ("403", "the caller's role may not do this"),
        ("404", "unknown incident (unknown_incident) or status page component (unknown_component)"),
        ("409", "the command no longer applies (e.g. invalid status transition)"),
        ("413", "body over 64 KiB"),
        ("422", "invalid field, or the id was used for a different command"),
        ("426", "a warroom client (User-Agent warroom/<version>) older than this server supports (client_too_old)"),
        ("500", "a bug met deciding this command (internal): refused, nothing written; not worth a retry"),
        (
            "503",
            "the event store is unavailable, or the server is at its connection cap (too_many_connections)",
        ),
    ]);
    command_responses["200"] = json!({
        "description": "durable; a replayed id returns the original answer",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Ack" } } }
    });
    let auth_errors = errors(&[
        ("401", "no or unknown bearer token"),
        ("426", "a warroom client (User-Agent warroom/<version>) older than this server supports (client_too_old)"),
        ("400", "bad query, or `after` past the log's head (ahead_of_log: reload the snapshot)"),
    ]);
    let mut stream_errors = auth_errors.clone();
    stream_errors["429"] = json!({ "description": "the user already holds [limits] streams_per_user streams (too_many_streams)",
                                   "content": { "application/json": { "schema": error } } });
    let with = |mut base: Value, ok: Value| {
        base["200"] = ok;
        base
    };
    json!({
        "openapi": "3.0.3",
        "info": { "title": "warroom", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Event-sourced war room: commands in, ordered events out." },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error", "detail"],
                           "properties": { "error": { "type": "string" }, "detail": { "type": "string" } } },
                "Command": {
                    "type": "object", "required": ["id", "kind"],
                    "properties": {
                        "id": { "type": "string", "format": "uuid", "description": "idempotency key" },
                        "kind": { "type": "string", "enum": ["declare_incident", "add_note", "set_status",
                                  "set_severity", "assign_role", "set_milestone", "add_member", "remove_member"] },
                        "incident": { "type": "string", "example": "INC-1" },
                        "title": { "type": "string" }, "impact": { "type": "string" }, "drill": { "type": "boolean" },
                        "private": { "type": "boolean", "description": "declare_incident: only its members (declarer, role holders, people added with add_member) and admins see it; everyone else gets `redacted` placeholders" },
                        "severity": { "type": "string", "enum": ["SEV1", "SEV2", "SEV3", "SEV4", "SEV5"] },
                        "status": { "type": "string", "enum": ["declared", "investigating", "mitigating",
                                    "mitigated", "postmortem", "closed"] },
                        "reason": { "type": "string", "description": "needed to reopen; a closure reason (resolved, duplicate, false_positive, cancelled) to close early" },
                        "text": { "type": "string" },
                        "role": { "type": "string", "enum": ["incident_commander", "deputy", "scribe",
                                  "subject_matter_expert", "customer_liaison", "internal_liaison"] },
                        "person": { "type": "string" },
                        "milestone": { "type": "string", "enum": ["started", "detected", "declared",
                                       "acknowledged", "mitigated", "recovered", "resolved"] },
                        "time": { "type": "string", "format": "date-time" }
                    }
                },
                "Event": {
                    "type": "object", "required": ["seq", "at", "actor", "role", "command_id", "kind"],
                    "properties": {
                        "seq": { "type": "integer" }, "at": { "type": "string", "format": "date-time" },
                        "actor": { "type": "string" }, "role": { "type": "string" },
                        "command_id": { "type": "string", "format": "uuid" }, "kind": { "type": "string" }
                    },
                    "additionalProperties": true
                },
                "Ack": { "type": "object", "required": ["seq", "events"],
                         "properties": { "seq": { "type": "integer" },
                                         "events": { "type": "array", "items": { "$ref": "#/components/schemas/Event" } } } }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/healthz": { "get": { "summary": "whether commands can be written now", "security": [],
                "responses": { "200": { "description": "`{status: ok, seq}`" },
                               "503": { "description": "`{status: unavailable, detail, seq}`: why writes are impossible" } } } },
            "/api/v1/commands": { "post": {
                "summary": "submit one command",
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Command" } } } },
                "responses": command_responses } },
            "/api/v1/state": { "get": { "summary": "snapshot `{seq, state}`",
                "responses": with(auth_errors.clone(), json!({ "description": "snapshot" })) } },
            "/api/v1/incidents": { "get": {
                "summary": "incident summaries, open first, worst first, oldest first: `{log, seq, total, offset, incidents}`",
                "parameters": [
                    { "name": "status", "in": "query", "schema": { "type": "string", "enum": ["open", "closed", "all"] } },
                    { "name": "severity", "in": "query", "description": "comma-separated, e.g. sev1,sev2", "schema": { "type": "string" } },
                    { "name": "drill", "in": "query", "schema": { "type": "boolean" } },
                    { "name": "service", "in": "query", "schema": { "type": "string" } },
                    { "name": "q", "in": "query", "description": "words that must all appear in the title, any case", "schema": { "type": "string" } },
                    { "name": "offset", "in": "query", "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } }
                ],
                "responses": with(auth_errors.clone(), json!({ "description": "a page of summaries" })) } },
            "/api/v1/incidents/{id}": { "get": {
                "summary": "the incident in full as of `seq`: `{log, seq, incident}`",
                "parameters": [ { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "example": "INC-7" } } ],
                "responses": with(auth_errors.clone(), json!({ "description": "the full incident" })) } },
            "/api/v1/incidents/{id}/timeline": { "get": {
                "summary": "timeline entries from..from+limit: `{seq, total, from, entries}`",
                "parameters": [
                    { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "example": "INC-7" } },
                    { "name": "from", "in": "query", "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 10000 } }
                ],
                "responses": with(auth_errors.clone(), json!({ "description": "a page of entries" })) } },
            "/api/v1/events": { "get": {
                "summary": "events with seq > after, in order: `{events, head}`",
                "parameters": [
                    { "name": "after", "in": "query", "schema": { "type": "integer", "minimum": 0 } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 10000 } }
                ],
                "responses": with(auth_errors.clone(), json!({ "description": "a page of events" })) } },
            "/api/v1/stream": { "get": {
                "summary": "Server-Sent Events: `id` = seq, `event` = kind, `data` = event JSON; `hello` first, `resync` when the client must reload the snapshot",
                "parameters": [
                    { "name": "Last-Event-ID", "in": "header", "schema": { "type": "integer" } },
                    { "name": "after", "in": "query", "schema": { "type": "integer" } }
                ],
                "responses": with(stream_errors, json!({ "description": "text/event-stream" })) } },
            "/api/v1/whoami": { "get": { "summary": "`{name, role}` of the caller's token",
                "responses": with(auth_errors.clone(), json!({ "description": "the caller" })) } },
            "/api/v1/openapi.json": { "get": { "summary": "this document",
                "responses": with(auth_errors, json!({ "description": "OpenAPI 3" })) } }
        }
    })
}
