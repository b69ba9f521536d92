//! Gatus compatibility, one row per difference issue 12 found: conditions, durations and probe
//! URLs copied from Gatus's documentation and its own condition tests must mean the same here.

use std::path::PathBuf;
use std::time::Duration;

use warroom::config::ServerConfig;
use warroom::model::probe::{Condition, Observation, ProbeConfig, ProbeKind, Spec};

fn http(status: u16, ms: u64, body: &str) -> Observation {
    Observation {
        status: Some(status),
        response_ms: ms,
        body: Some(body.into()),
        connected: true,
        ip: Some("127.0.0.1".into()),
        error: None,
    }
}

fn body(b: &str) -> Observation {
    http(200, 50, b)
}

/// What a condition says about an observation: `Ok` when it holds, else the failure text; a
/// condition that does not parse says so.
fn check(condition: &str, o: &Observation) -> Result<(), String> {
    let c: Condition = condition.parse().map_err(|e| format!("refused at load: {e}"))?;
    c.check(o)
}

fn holds(condition: &str, o: &Observation) -> Result<(), String> {
    check(condition, o).map_err(|e| format!("`{condition}` should hold, got `{e}`"))
}

fn fails_with(condition: &str, o: &Observation, text: &str) -> Result<(), String> {
    match check(condition, o) {
        Err(e) if e == text => Ok(()),
        other => Err(format!("`{condition}` should fail with `{text}`, got {other:?}")),
    }
}

fn fails(condition: &str, o: &Observation) -> Result<(), String> {
    match check(condition, o) {
        Err(e) if !e.starts_with("refused at load") => Ok(()),
        other => Err(format!("`{condition}` should load and fail, got {other:?}")),
    }
}

fn spec(toml_text: &str) -> Result<Spec, String> {
    let c: ProbeConfig = toml::from_str(toml_text).map_err(|e| format!("does not read: {e}"))?;
    Spec::from_config(&c).map_err(|(f, m)| format!("refused: {f}: {m}"))
}

fn all(rows: Vec<Result<(), String>>) -> Result<(), String> {
    let failed: Vec<String> = rows.into_iter().filter_map(Result::err).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// A server config file in a fresh directory, loaded as `warroom serve` loads it.
fn load(name: &str, text: &str) -> Result<ServerConfig, String> {
    let dir: PathBuf = std::env::temp_dir().join(format!("warroom-gatus-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("server.toml");
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    let loaded = ServerConfig::load(&path).map_err(|e| e.to_string());
    std::fs::remove_dir_all(&dir).ok();
    loaded
}

fn go_durations() -> Result<(), String> {
    let ms = Duration::from_millis;
    let read = |interval: &str, timeout: &str, want: (Duration, Duration)| -> Result<(), String> {
        let s = spec(&format!(
            "name = \"api\"\nurl = \"http://127.0.0.1:1/health\"\ninterval = \"{interval}\"\ntimeout = \"{timeout}\""
        ))?;
        let got = (s.interval, s.timeout);
        (got == want).then_some(()).ok_or(format!("`{interval}`/`{timeout}` read as {got:?}"))
    };
    all(vec![
        read("500ms", "500ms", (ms(500), ms(500))),
        read("1m30s", "1h", (ms(90_000), ms(3_600_000))),
        holds("[RESPONSE_TIME] < 1s", &http(200, 50, "")),
        fails_with("[RESPONSE_TIME] < 1s", &http(200, 1500, ""), "[RESPONSE_TIME] (1500) < 1s"),
        holds("[RESPONSE_TIME] <= 1m30s", &http(200, 90_000, "")),
        holds("[RESPONSE_TIME] > 500ms", &http(200, 501, "")),
    ])
}

fn tcp_urls() -> Result<(), String> {
    let s = spec(
        r#"name = "db"
url = "tcp://127.0.0.1:5432""#,
    )?;
    all(vec![
        (s.kind == ProbeKind::Tcp).then_some(()).ok_or(format!("kind {}", s.kind.as_str())),
        (s.target == "127.0.0.1:5432").then_some(()).ok_or(format!("target {}", s.target)),
        (s.conditions.iter().map(|c| c.text()).collect::<Vec<_>>() == ["[CONNECTED] == true"])
            .then_some(())
            .ok_or("a tcp probe checks [CONNECTED] by default".to_string()),
    ])
}

fn hex_octal_binary_strings_are_integers() -> Result<(), String> {
    all(vec![
        holds("[BODY].data == 1", &body(r#"{"data": "0x1"}"#)),
        holds("[BODY].data == 0x1", &body(r#"{"data": "0x1"}"#)),
        holds("[BODY].data == 12648243", &body(r#"{"data": "0xC0ff33"}"#)),
        holds("[BODY].data == 2", &body(r#"{"data": "0o2"}"#)),
        holds("[BODY].data == 2", &body(r#"{"data": "0b10"}"#)),
        holds("[BODY].data > 0", &body(r#"{"data": "0b1"}"#)),
        holds("[BODY].data >= 1", &body(r#"{"data": "0x01"}"#)),
    ])
}

fn large_integers_compare_exactly() -> Result<(), String> {
    all(vec![
        holds("9007199254740992 != 9007199254740993", &body("")),
        fails("[BODY].n == 9007199254740992", &body(r#"{"n": 9007199254740993}"#)),
        holds("[BODY].n == 9007199254740993", &body(r#"{"n": 9007199254740993}"#)),
        holds("[BODY].n < 18446744073709551615", &body(r#"{"n": 18446744073709551614}"#)),
        holds("[BODY].n > -9223372036854775808", &body(r#"{"n": -9223372036854775807}"#)),
    ])
}

fn a_decimal_is_not_an_integer() -> Result<(), String> {
    all(vec![
        fails("[BODY].v == 1", &body(r#"{"v": "1.0"}"#)),
        fails("1.0 == 1", &body("")),
        holds("[BODY].v == 1.5", &body(r#"{"v": 1.5}"#)),
    ])
}

fn len_counts_bytes_and_json_text() -> Result<(), String> {
    all(vec![
        holds("len([BODY]) == 5", &body("hello")),
        holds("len([BODY]) == 6", &body("héllo")),
        holds("len([BODY]) == 3", &body("[1, 2, 3]")),
        holds("len([BODY].a) == 7", &body(r#"{"a": {"b": 1}}"#)),
        holds("len([BODY].name) == 2", &body(r#"{"name": "é"}"#)),
        holds("len([BODY].data) == 3", &body(r#"{"data": "0x1"}"#)),
        holds("len([BODY].items) == 2", &body(r#"{"items": [1, {"x": 2}]}"#)),
    ])
}

fn any_on_the_left() -> Result<(), String> {
    all(vec![
        holds("any(200, 201) == [STATUS]", &http(201, 5, "")),
        fails_with("any(200, 201) == [STATUS]", &http(503, 5, ""), "any(200, 201) == [STATUS] (503)"),
        holds("pat(checkout-*) == [BODY].name", &body(r#"{"name": "checkout-eu"}"#)),
    ])
}

fn body_trimmed_placeholders_case_insensitive_has_empty() -> Result<(), String> {
    all(vec![
        holds("[BODY] == OK", &body("OK\n")),
        holds("[BODY] == OK", &body("  OK  ")),
        holds("[status] == 200", &http(200, 5, "")),
        holds("[Body].status == UP", &body(r#"{"status": "UP"}"#)),
        holds("[response_time] < 100", &http(200, 5, "")),
        holds("has([BODY]) == false", &body("")),
        holds("has([BODY]) == false", &body(" \n")),
        holds("has([BODY]) == true", &body("x")),
    ])
}

fn failure_text_shows_both_sides_and_cuts_long_values() -> Result<(), String> {
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(64 * 1024));
    let long = check("[BODY] == pat(*\"status\": \"UP\"*)", &body(&big));
    let cut_ok = match &long {
        Err(e) => e.chars().count() < 200 && e.contains('…') && e.ends_with("== pat(*\"status\": \"UP\"*)"),
        Ok(()) => false,
    };
    all(vec![
        fails_with(
            "[BODY].user.firstName == [BODY].user.lastName",
            &body(r#"{"user": {"firstName": "john", "lastName": "doe"}}"#),
            "[BODY].user.firstName (john) == [BODY].user.lastName (doe)",
        ),
        fails_with(
            "[STATUS] == [BODY].status",
            &body(r#"{"status": 201}"#),
            "[STATUS] (200) == [BODY].status (201)",
        ),
        cut_ok.then_some(()).ok_or(format!(
            "a failed pat() on a 64 KiB body should be cut, got {} chars",
            long.err().map_or(0, |e| e.chars().count())
        )),
    ])
}

/// What warroom cannot evaluate never becomes a probe that can never be up.
fn unsupported_is_a_config_error_at_load() -> Result<(), String> {
    let refused = |name: &str, probe: &str, condition: &str| -> Result<(), String> {
        let text = format!(
            "[[probes]]\nname = \"{name}\"\n{probe}\nconditions = [{}]\n",
            toml::Value::String(condition.into())
        );
        match load(name, &text) {
            Ok(_) => Err(format!("`{condition}` loaded")),
            Err(e) if e.contains(&format!("probes[0] ({name}).conditions")) && e.contains(condition) => {
                Ok(())
            }
            Err(e) => Err(format!("`{condition}`: the error should name the probe and the condition: {e}")),
        }
    };
    let url = "url = \"http://127.0.0.1:1/health\"";
    all(vec![
        refused("potato", url, "[RESPONSE_TIME] < potato"),
        refused("age", url, "age([BODY].updated_at) < 1h"),
        refused("header", url, "[HEADER].Content-Type == application/json"),
        refused("wildcard", url, "[BODY].items[*].ok == true"),
        refused("connected", url, "[CONNECTED] > 1"),
        refused("class", url, "[BODY].v == pat(v[0-9]*)"),
        refused("twice", url, "[BODY].a == 1 == 2"),
        refused("unclosed", url, "len([BODY].users == 100"),
        refused("tcpstatus", "url = \"tcp://127.0.0.1:5432\"", "[STATUS] == 200"),
    ])
}

/// One bullet of the issue: `Err` lists each of its checks that failed.
type Row = fn() -> Result<(), String>;

#[test]
fn every_gatus_difference_from_issue_12_is_gone() {
    let rows: [(&str, Row); 10] = [
        ("durations 500ms / 1m30s / 1h and [RESPONSE_TIME] < 1s", go_durations),
        ("url = tcp://host:port", tcp_urls),
        ("hex, octal and binary strings are integers", hex_octal_binary_strings_are_integers),
        ("large integers compare exactly", large_integers_compare_exactly),
        ("\"1.0\" == 1 is false", a_decimal_is_not_an_integer),
        ("len(): bytes of text, JSON text of an object", len_counts_bytes_and_json_text),
        ("any() on the left of ==", any_on_the_left),
        (
            "[BODY] trimmed, placeholders case-insensitive, has([BODY]) of nothing",
            body_trimmed_placeholders_case_insensitive_has_empty,
        ),
        (
            "failure text: both sides resolved, long values cut",
            failure_text_shows_both_sides_and_cuts_long_values,
        ),
        ("what cannot be evaluated is refused at load", unsupported_is_a_config_error_at_load),
    ];
    let failed: Vec<String> =
        rows.iter().filter_map(|(name, row)| row().err().map(|e| format!("\n- {name}: {e}"))).collect();
    assert!(failed.is_empty(), "{} of {} rows failed:{}", failed.len(), rows.len(), failed.concat());
}
