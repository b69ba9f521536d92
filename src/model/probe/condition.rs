//! The Gatus condition language: `[STATUS] == 200`, `len([BODY].data) >= 3`, `pat(…)`,
//! parsed once from config and checked against each observation, then samples classified.
//!
//! Gatus's semantics, read from its documentation and its own condition tests: every value is
//! text; `==` compares two integers (Go syntax: `0x1`, `0o2`, `0b10`, `1_000`) as integers and
//! anything else as text; `< <= > >=` compare numbers, where a Go duration (`1s`) counts in
//! milliseconds. Where warroom differs on purpose (README, "Differences from Gatus"), it is
//! because a value that is missing or not a number fails instead of silently counting as 0, and
//! what cannot be evaluated at all is refused when the config loads.

use std::cmp::Ordering;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Health;
use crate::model::playbook::parse_go_duration;

/// What one probe run observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub status: Option<u16>,
    pub response_ms: u64,
    pub body: Option<String>,
    pub connected: bool,
    pub ip: Option<String>,
    /// Why the request itself failed (refused, timed out…).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Placeholder {
    Status,
    ResponseTime,
    Body(Vec<PathPart>),
    Connected,
    Ip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPart {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Placeholder(Placeholder),
    Len(Placeholder),
    Has(Placeholder),
    Literal(String),
    /// `any(a, b)`: equal to one of them (as text, as in Gatus).
    Any(Vec<String>),
    /// `pat(glob)`: `*` and `?`.
    Pattern(String),
}

impl Operand {
    fn placeholder(&self) -> Option<&Placeholder> {
        match self {
            Operand::Placeholder(p) | Operand::Len(p) | Operand::Has(p) => Some(p),
            _ => None,
        }
    }

    fn is_function(&self) -> bool {
        matches!(self, Operand::Any(_) | Operand::Pattern(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Gt,
    Lt,
}

/// Tried in this order, as Gatus does: the first one the condition contains is its operator.
const OPS: [(&str, Op); 6] = [
    (" == ", Op::Eq),
    (" != ", Op::Ne),
    (" <= ", Op::Le),
    (" >= ", Op::Ge),
    (" > ", Op::Gt),
    (" < ", Op::Lt),
];

/// Resolved values longer than this are cut in failure texts: a failed `pat()` on a 64 KiB body
/// must not put the body into every sample and probe event.
const SHOWN_CHARS: usize = 100;

const SUPPORTED: &str = "supported: [STATUS], [RESPONSE_TIME], [BODY], [CONNECTED], [IP]";

/// One parsed condition, e.g. `[BODY].data[0].id == 7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    text: String,
    left: Operand,
    left_text: String,
    op: Op,
    op_text: &'static str,
    right: Operand,
    right_text: String,
}

/// `[status]` and `[Body].x` are Gatus's placeholders too: names are case-insensitive, paths not.
fn parse_placeholder(s: &str) -> Result<Option<Placeholder>, String> {
    let s = s.trim();
    if !s.starts_with('[') {
        return Ok(None);
    }
    let end = s.find(']').ok_or_else(|| format!("`{s}`: unclosed ["))?;
    let (name, rest) = (s[1..end].to_ascii_uppercase(), &s[end + 1..]);
    let simple = |p: Placeholder| {
        if rest.is_empty() {
            Ok(Some(p))
        } else {
            Err(format!("`{s}`: only [BODY] takes a path"))
        }
    };
    match name.as_str() {
        "STATUS" => simple(Placeholder::Status),
        "RESPONSE_TIME" => simple(Placeholder::ResponseTime),
        "CONNECTED" => simple(Placeholder::Connected),
        "IP" => simple(Placeholder::Ip),
        "BODY" => Ok(Some(Placeholder::Body(parse_path(rest).map_err(|e| format!("`{s}`: {e}"))?))),
        "CERTIFICATE_EXPIRATION" | "DNS_RCODE" | "DOMAIN_EXPIRATION" | "RESULT" | "HEADER" | "CONTEXT" => {
            Err(format!("`[{name}]` is not supported by warroom ({SUPPORTED})"))
        }
        _ => Err(format!("unknown placeholder `[{}]` ({SUPPORTED})", &s[1..end])),
    }
}

/// `.data[0].id` → [data, 0, id].
fn parse_path(mut s: &str) -> Result<Vec<PathPart>, String> {
    let mut parts = Vec::new();
    while !s.is_empty() {
        if let Some(rest) = s.strip_prefix('.') {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return Err("empty key in the JSON path".into());
            }
            parts.push(PathPart::Key(rest[..end].to_string()));
            s = &rest[end..];
        } else if let Some(rest) = s.strip_prefix('[') {
            let end = rest.find(']').ok_or("unclosed [ in the JSON path")?;
            let index = rest[..end].trim();
            if index == "*" {
                return Err("`[*]` (every element) is not supported by warroom; name an index".into());
            }
            let n =
                index.parse::<usize>().map_err(|_| format!("`[{}]` is not an array index", &rest[..end]))?;
            parts.push(PathPart::Index(n));
            s = &rest[end + 1..];
        } else {
            return Err(format!("unexpected `{s}` in the JSON path (use .key and [index])"));
        }
    }
    Ok(parts)
}

fn func_arg<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')').map(str::trim)
}

const FUNCTIONS: [&str; 4] = ["len", "has", "pat", "any"];

fn parse_operand(s: &str) -> Result<Operand, String> {
    for (name, make) in [("len", Operand::Len as fn(Placeholder) -> Operand), ("has", Operand::Has)] {
        if let Some(arg) = func_arg(s, name) {
            let p = parse_placeholder(arg)?
                .ok_or_else(|| format!("{name}() takes a placeholder, got `{arg}`"))?;
            return Ok(make(p));
        }
    }
    if let Some(arg) = func_arg(s, "any") {
        return Ok(Operand::Any(arg.split(',').map(|a| a.trim().to_string()).collect()));
    }
    if let Some(arg) = func_arg(s, "pat") {
        // Gatus matches with Go's filepath.Match, whose [classes] and \ escapes this glob lacks.
        if arg.contains(['[', '\\']) {
            return Err(format!("`{s}`: pat() here knows `*` and `?` only, not [classes] or \\ escapes"));
        }
        return Ok(Operand::Pattern(arg.to_string()));
    }
    if let Some(p) = parse_placeholder(s)? {
        return Ok(Operand::Placeholder(p));
    }
    // Text that Gatus would compare as it stands, though it was surely meant as a placeholder
    // or a function: refused, or the probe could never be up.
    if let Some((name, _)) = s
        .split_once('(')
        .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        let lower = name.to_ascii_lowercase();
        return Err(if FUNCTIONS.contains(&name) {
            format!("`{s}`: {name}() needs its closing `)`")
        } else if FUNCTIONS.contains(&lower.as_str()) {
            format!("`{s}`: function names are lowercase, `{lower}()`")
        } else {
            format!("`{name}()` is not supported by warroom (functions: len, has, pat, any)")
        });
    }
    let upper = s.to_ascii_uppercase();
    if ["[STATUS]", "[RESPONSE_TIME]", "[BODY]", "[CONNECTED]", "[IP]"].iter().any(|p| upper.contains(p)) {
        return Err(format!("`{s}`: a placeholder stands alone or inside len() or has()"));
    }
    Ok(Operand::Literal(s.to_string()))
}

impl FromStr for Condition {
    type Err = String;
    fn from_str(text: &str) -> Result<Condition, String> {
        let (op_text, op) = OPS.iter().copied().find(|(t, _)| text.contains(t)).ok_or_else(|| {
            format!("`{text}`: no operator (write `<left> <op> <right>` with spaces: == != < <= > >=)")
        })?;
        let sides: Vec<&str> = text.split(op_text).map(str::trim).collect();
        let [left_text, right_text] = sides[..] else {
            return Err(format!(
                "`{text}`: `{}` appears more than once (a condition compares two sides)",
                op_text.trim()
            ));
        };
        if left_text.is_empty() || right_text.is_empty() {
            return Err(format!("`{text}`: both sides of `{}` are needed", op_text.trim()));
        }
        let left = parse_operand(left_text).map_err(|e| format!("`{text}`: {e}"))?;
        let right = parse_operand(right_text).map_err(|e| format!("`{text}`: {e}"))?;
        if left.is_function() && right.is_function() {
            return Err(format!("`{text}`: pat() and any() compare with a value, not with each other"));
        }
        let is_duration = |o: &Operand| matches!(o, Operand::Literal(l) if integer(l).is_none() && parse_go_duration(l).is_ok_and(|n| n != 0));
        let always_integer = |o: &Operand| {
            matches!(
                o,
                Operand::Len(_) | Operand::Placeholder(Placeholder::Status | Placeholder::ResponseTime)
            )
        };
        let integer_vs_duration =
            (is_duration(&left) && always_integer(&right)) || (always_integer(&left) && is_duration(&right));
        if matches!(op, Op::Eq | Op::Ne) && integer_vs_duration {
            // Gatus compares `50 == 1s` as text: never equal. (`[BODY].ttl == 1h` is fine text.)
            return Err(format!("`{text}`: a duration compares with < <= > >= only"));
        }
        if !matches!(op, Op::Eq | Op::Ne) {
            if left.is_function() || right.is_function() {
                return Err(format!("`{text}`: pat() and any() go with == or != only"));
            }
            for side in [&left, &right] {
                let not_a_number = match side {
                    Operand::Literal(l) => {
                        number(l).is_none().then(|| format!("`{l}` is not a number or a duration"))
                    }
                    Operand::Has(_) => Some("has() is true or false, not a number".to_string()),
                    Operand::Placeholder(Placeholder::Connected) => {
                        Some("[CONNECTED] is true or false, not a number".into())
                    }
                    Operand::Placeholder(Placeholder::Ip) => Some("[IP] is an address, not a number".into()),
                    _ => None,
                };
                if let Some(why) = not_a_number {
                    return Err(format!("`{text}`: {why}, so `{}` can never hold", op_text.trim()));
                }
            }
        }
        Ok(Condition {
            text: text.to_string(),
            left,
            left_text: left_text.to_string(),
            op,
            op_text,
            right,
            right_text: right_text.to_string(),
        })
    }
}

/// The observation's body as Gatus reads it: surrounding whitespace trimmed.
fn body(o: &Observation) -> Option<&str> {
    o.body.as_deref().map(str::trim)
}

/// The JSON value at `path` in the body; `None` when the body is not JSON, the path leads
/// nowhere or to `null`.
fn json_at(o: &Observation, path: &[PathPart]) -> Option<serde_json::Value> {
    let mut v: serde_json::Value = serde_json::from_str(body(o)?).ok()?;
    for part in path {
        v = match (part, v) {
            (PathPart::Key(k), serde_json::Value::Object(mut m)) => m.remove(k)?,
            (PathPart::Index(i), serde_json::Value::Array(mut a)) if *i < a.len() => a.swap_remove(*i),
            _ => return None,
        };
    }
    (!v.is_null()).then_some(v)
}

/// A JSON value as text: strings as they are, integers exactly, whole floats without `.0`
/// (as Go prints them, so `1.0` in a body equals `1`), objects and arrays as compact JSON.
fn json_text(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn resolve_placeholder(p: &Placeholder, o: &Observation) -> Option<String> {
    match p {
        Placeholder::Status => o.status.map(|s| s.to_string()),
        Placeholder::ResponseTime => Some(o.response_ms.to_string()),
        Placeholder::Connected => Some(o.connected.to_string()),
        Placeholder::Ip => o.ip.clone(),
        Placeholder::Body(path) if path.is_empty() => body(o).map(str::to_string),
        Placeholder::Body(path) => json_at(o, path).map(json_text),
    }
}

/// `len()`: elements of a JSON array, bytes of anything else's text (an object's compact
/// JSON, a string's UTF-8), as Gatus counts.
fn length(p: &Placeholder, o: &Observation) -> Option<usize> {
    match p {
        Placeholder::Body(path) if path.is_empty() => {
            let b = body(o)?;
            match serde_json::from_str::<serde_json::Value>(b) {
                Ok(serde_json::Value::Array(a)) => Some(a.len()),
                _ => Some(b.len()),
            }
        }
        Placeholder::Body(path) => match json_at(o, path)? {
            serde_json::Value::Array(a) => Some(a.len()),
            other => Some(json_text(other).len()),
        },
        other => resolve_placeholder(other, o).map(|v| v.len()),
    }
}

/// `has()`: the value is there and not empty; an empty body has nothing.
fn has(p: &Placeholder, o: &Observation) -> bool {
    match p {
        Placeholder::Body(path) if !path.is_empty() => json_at(o, path).is_some(),
        other => resolve_placeholder(other, o).is_some_and(|v| !v.is_empty()),
    }
}

/// An operand's value as text; `None` when it is missing (shown as `missing`, never 0).
fn resolve(operand: &Operand, o: &Observation) -> Option<String> {
    match operand {
        Operand::Literal(s) => Some(s.clone()),
        Operand::Placeholder(p) => resolve_placeholder(p, o),
        Operand::Has(p) => Some(has(p, o).to_string()),
        Operand::Len(p) => length(p, o).map(|n| n.to_string()),
        Operand::Any(_) | Operand::Pattern(_) => None,
    }
}

/// An integer in Go's syntax (`strconv.ParseInt(s, 0, 64)`, as Gatus reads them): a sign, then
/// `0x`/`0o`/`0b`/`0` (octal) prefixes, `_` between digits. Up to `u64::MAX`, exactly.
fn integer(s: &str) -> Option<i128> {
    let (negative, unsigned) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits, prefixed) = match unsigned.as_bytes() {
        [b'0', b'x' | b'X', ..] => (16, &unsigned[2..], true),
        [b'0', b'o' | b'O', ..] => (8, &unsigned[2..], true),
        [b'0', b'b' | b'B', ..] => (2, &unsigned[2..], true),
        [b'0', _, ..] => (8, &unsigned[1..], true),
        _ => (10, unsigned, false),
    };
    // Underscores only between digits (or right after a prefix), as Go's literals allow.
    let digits = if digits.contains('_') {
        let groups: Vec<&str> = digits.split('_').collect();
        if groups.iter().enumerate().any(|(i, g)| g.is_empty() && !(i == 0 && prefixed)) {
            return None;
        }
        std::borrow::Cow::Owned(digits.replace('_', ""))
    } else {
        std::borrow::Cow::Borrowed(digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = u128::from_str_radix(&digits, radix).ok()?;
    match negative {
        false if n <= u128::from(u64::MAX) => i128::try_from(n).ok(),
        true if n <= 1u128 << 63 => i128::try_from(n).ok().map(|n| -n),
        _ => None,
    }
}

/// A number for `< <= > >=`: a Go duration in milliseconds, an integer exactly, or a decimal.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Integer(i128),
    Decimal(f64),
}

fn number(s: &str) -> Option<Number> {
    let s = s.trim();
    if let Ok(nanos) = parse_go_duration(s) {
        if nanos != 0 {
            return Some(Number::Integer(nanos / 1_000_000));
        }
    }
    if let Some(i) = integer(s) {
        return Some(Number::Integer(i));
    }
    // Rust's float syntax, minus its words: `inf` and `nan` are not what a body means.
    s.bytes()
        .all(|b| b.is_ascii_digit() || b".+-eE".contains(&b))
        .then(|| s.parse::<f64>().ok())
        .flatten()
        .filter(|f| f.is_finite())
        .map(Number::Decimal)
}

fn compare(a: Number, b: Number) -> Option<Ordering> {
    match (a, b) {
        (Number::Integer(x), Number::Integer(y)) => Some(x.cmp(&y)),
        (Number::Integer(x), Number::Decimal(y)) => (x as f64).partial_cmp(&y),
        (Number::Decimal(x), Number::Integer(y)) => x.partial_cmp(&(y as f64)),
        (Number::Decimal(x), Number::Decimal(y)) => x.partial_cmp(&y),
    }
}

/// Gatus's `==`: two integers compare as integers (`0x1 == 1`, exactly however large), all
/// else as text (`1.0 == 1` is false). A missing value equals nothing.
fn equal(a: Option<&str>, b: Option<&str>) -> bool {
    let (Some(a), Some(b)) = (a, b) else { return false };
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Glob with `*` (any run) and `?` (one character). Like Gatus, `/` is dropped from both sides
/// first (Go's filepath.Match would stop `*` at it).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().filter(|c| *c != '/').collect();
    let t: Vec<char> = text.chars().filter(|c| *c != '/').collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A value for a failure text, cut to [`SHOWN_CHARS`] characters.
fn shown(v: Option<&str>) -> String {
    let Some(v) = v else { return "missing".into() };
    match v.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &v[..at]),
        None => v.to_string(),
    }
}

impl Condition {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The placeholder a condition tests, to match degraded conditions with the ones they relax.
    fn subject(&self) -> Option<&Placeholder> {
        self.left.placeholder().or_else(|| self.right.placeholder())
    }

    /// Whether it reads what only an http check sees (`[STATUS]`, `[BODY]`).
    pub fn needs_http(&self) -> bool {
        [&self.left, &self.right]
            .iter()
            .filter_map(|o| o.placeholder())
            .any(|p| matches!(p, Placeholder::Status | Placeholder::Body(_)))
    }

    /// `Ok(())` when it holds; otherwise the condition with the resolved value of each side
    /// that is a placeholder: `[BODY].user.firstName (john) == [BODY].user.lastName (doe)`.
    pub fn check(&self, o: &Observation) -> Result<(), String> {
        let (left, right) = (resolve(&self.left, o), resolve(&self.right, o));
        let holds = match (&self.left, &self.right, self.op) {
            (Operand::Pattern(p), _, op) | (_, Operand::Pattern(p), op) => {
                let value = if self.left.is_function() { &right } else { &left };
                let m = value.as_deref().is_some_and(|v| p == "*" || glob(p, v));
                m == (op == Op::Eq)
            }
            (Operand::Any(items), _, op) | (_, Operand::Any(items), op) => {
                let value = if self.left.is_function() { &right } else { &left };
                let m = value.as_deref().is_some_and(|v| items.iter().any(|i| i == v));
                m == (op == Op::Eq)
            }
            (_, _, Op::Eq) => equal(left.as_deref(), right.as_deref()),
            (_, _, Op::Ne) => !equal(left.as_deref(), right.as_deref()),
            (_, _, op) => {
                let order = match (left.as_deref().and_then(number), right.as_deref().and_then(number)) {
                    (Some(a), Some(b)) => compare(a, b),
                    _ => None,
                };
                order.is_some_and(|ord| match op {
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                })
            }
        };
        if holds {
            return Ok(());
        }
        let side = |operand: &Operand, text: &str, value: &Option<String>| match operand.placeholder() {
            Some(_) => format!("{text} ({})", shown(value.as_deref())),
            None => text.to_string(),
        };
        Err(format!(
            "{} {} {}",
            side(&self.left, &self.left_text, &left),
            self.op_text.trim(),
            side(&self.right, &self.right_text, &right)
        ))
    }
}

/// Parses a list of conditions; the error names which one and why.
pub fn parse_all(texts: &[String]) -> Result<Vec<Condition>, String> {
    texts.iter().map(|t| t.parse()).collect()
}

/// How one sample went, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub health: Health,
    pub failed: Vec<String>,
}

/// Healthy when every condition holds. Degraded when only conditions on what the `degraded`
/// list relaxes failed (e.g. response time) and every degraded condition holds. Else down.
pub fn classify(conditions: &[Condition], degraded: &[Condition], o: &Observation) -> Verdict {
    let failed: Vec<(&Condition, String)> =
        conditions.iter().filter_map(|c| c.check(o).err().map(|e| (c, e))).collect();
    let texts = |v: &[(&Condition, String)]| v.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>();
    if failed.is_empty() {
        return Verdict { health: Health::Up, failed: vec![] };
    }
    let relaxed = !degraded.is_empty()
        && failed
            .iter()
            .all(|(c, _)| degraded.iter().any(|d| d.subject().is_some() && d.subject() == c.subject()))
        && degraded.iter().all(|d| d.check(o).is_ok());
    let mut reasons = texts(&failed);
    if let Some(e) = &o.error {
        reasons.insert(0, e.clone());
    }
    Verdict { health: if relaxed { Health::Degraded } else { Health::Down }, failed: reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(status: u16, ms: u64, body: &str) -> Observation {
        Observation {
            status: Some(status),
            response_ms: ms,
            body: Some(body.into()),
            connected: true,
            ip: None,
            error: None,
        }
    }

    fn c(s: &str) -> Condition {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn conditions_resolve_placeholders_and_show_values_when_they_fail() {
        let o = obs(503, 120, r#"{"status":"DOWN","data":[{"id":7},{"id":8}],"name":"checkout-eu"}"#);
        assert_eq!(c("[STATUS] == 200").check(&o), Err("[STATUS] (503) == 200".into()));
        assert_eq!(c("[RESPONSE_TIME] < 300").check(&o), Ok(()));
        assert_eq!(c("[RESPONSE_TIME] > 300").check(&o), Err("[RESPONSE_TIME] (120) > 300".into()));
        assert_eq!(c("[BODY].status == UP").check(&o), Err("[BODY].status (DOWN) == UP".into()));
        assert_eq!(c("[BODY].data[1].id == 8").check(&o), Ok(()));
        assert_eq!(c("[BODY].data[5].id == 8").check(&o), Err("[BODY].data[5].id (missing) == 8".into()));
        assert_eq!(c("len([BODY].data) == 2").check(&o), Ok(()));
        assert_eq!(c("len([BODY].data) >= 3").check(&o), Err("len([BODY].data) (2) >= 3".into()));
        assert_eq!(c("has([BODY].errors) == false").check(&o), Ok(()));
        assert_eq!(c("[BODY].name == pat(checkout-*)").check(&o), Ok(()));
        assert_eq!(c("[BODY].name != pat(*-us)").check(&o), Ok(()));
        assert_eq!(c("[STATUS] == any(200, 503)").check(&o), Ok(()));
        assert_eq!(c("[STATUS] == any(200, 201)").check(&o), Err("[STATUS] (503) == any(200, 201)".into()));
        assert_eq!(c("[STATUS] <= 599").check(&o), Ok(()));
        assert_eq!(c("[STATUS] >= 500").check(&o), Ok(()));
        assert_eq!(c("[STATUS] != 200").check(&o), Ok(()));
        let tcp = Observation { connected: false, ..Default::default() };
        assert_eq!(c("[CONNECTED] == true").check(&tcp), Err("[CONNECTED] (false) == true".into()));
        assert_eq!(c("[STATUS] == 200").check(&tcp), Err("[STATUS] (missing) == 200".into()));
    }

    #[test]
    fn every_parse_error_says_what_is_wrong() {
        let err = |s: &str| s.parse::<Condition>().unwrap_err();
        assert!(err("[STATUS]==200").contains("no operator"));
        assert!(err("[STATUS] == ").contains("no operator") || err("[STATUS] == ").contains("both sides"));
        assert!(err(" == 200").contains("both sides"));
        assert!(err("[STATUSS] == 200").contains("unknown placeholder `[STATUSS]`"));
        assert!(err("[CERTIFICATE_EXPIRATION] > 48h").contains("not supported"));
        assert!(err("[STATUS].x == 1").contains("only [BODY] takes a path"));
        assert!(err("[BODY]..x == 1").contains("empty key"));
        assert!(err("[BODY].a[x] == 1").contains("not an array index"));
        assert!(err("[BODY].a[1 == 1").contains("unclosed"));
        assert!(err("[BODY]x == 1").contains("unexpected"));
        assert!(err("[STATUS] < pat(2*)").contains("== or != only"));
        assert!(err("len(200) == 3").contains("takes a placeholder"));
        assert!(err("[BODY.x == 1").contains("unclosed ["));
        assert!(err("[RESPONSE_TIME] < potato").contains("`potato` is not a number or a duration"));
        assert!(err("has([BODY]) > 0").contains("not a number"));
        assert!(err("[IP] >= 10").contains("not a number"));
        assert!(err("age([BODY].at) < 1h").contains("`age()` is not supported"));
        assert!(err("len([BODY].a == 1").contains("closing `)`"));
        assert!(err("LEN([BODY]) == 1").contains("lowercase"));
        assert!(err("x[BODY] == 1").contains("stands alone"));
        assert!(err("[HEADER].Server == x").contains("not supported"));
        assert!(err("[BODY].a[*].ok == true").contains("`[*]`"));
        assert!(err("[BODY] == pat(v[0-9])").contains("`*` and `?` only"));
        assert!(err("pat(a*) == any(a, b)").contains("not with each other"));
        assert!(err("[BODY].a == 1 == 2").contains("more than once"));
        assert!(err("[RESPONSE_TIME] == 1s").contains("duration compares with <"));
        // Gatus's own valid examples all parse.
        for ok in [
            "[STATUS] == [BODY].status",
            "[BODY].age == [BODY].id",
            "raw == raw",
            "[status] == 200",
            "[RESPONSE_TIME] < 1s",
            "[BODY][0].id == 1",
            "has([BODY].users[0].name) == true",
            "any(1.1.1.1, 1.0.0.1) == [IP]",
            "[BODY].ttl == 1h",
        ] {
            assert!(ok.parse::<Condition>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn samples_are_up_degraded_or_down() {
        let conds: Vec<Condition> =
            ["[STATUS] == 200", "[RESPONSE_TIME] < 300", "[BODY].status == UP"].map(c).to_vec();
        let degraded = vec![c("[RESPONSE_TIME] < 1000")];
        assert_eq!(classify(&conds, &degraded, &obs(200, 50, r#"{"status":"UP"}"#)).health, Health::Up);
        let slow = classify(&conds, &degraded, &obs(200, 600, r#"{"status":"UP"}"#));
        assert_eq!(
            slow,
            Verdict { health: Health::Degraded, failed: vec!["[RESPONSE_TIME] (600) < 300".into()] }
        );
        assert_eq!(classify(&conds, &degraded, &obs(200, 1500, r#"{"status":"UP"}"#)).health, Health::Down);
        // A fast 503 is down, not degraded: the status condition is not relaxed.
        assert_eq!(classify(&conds, &degraded, &obs(503, 5, r#"{"status":"UP"}"#)).health, Health::Down);
        assert_eq!(classify(&conds, &[], &obs(200, 600, r#"{"status":"UP"}"#)).health, Health::Down);
    }

    #[test]
    fn globs_match_like_gatus_pat() {
        assert!(
            glob("a*c", "abbbc")
                && glob("*", "")
                && glob("a?c", "abc")
                && !glob("a?c", "ac")
                && !glob("a*d", "abc")
                && glob("http://*/health", "http://x/y/health")
        );
    }

    #[test]
    fn integers_read_as_go_reads_them() {
        let cases = [
            ("0x1F", Some(31)),
            ("0X1f", Some(31)),
            ("0o17", Some(15)),
            ("017", Some(15)),
            ("0b101", Some(5)),
            ("-0x10", Some(-16)),
            ("+7", Some(7)),
            ("1_000", Some(1000)),
            ("0x_1f", Some(31)),
            ("0", Some(0)),
            ("18446744073709551615", Some(i128::from(u64::MAX))),
            ("-9223372036854775808", Some(i128::from(i64::MIN))),
            ("18446744073709551616", None),
            ("-9223372036854775809", None),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("08", None),
            ("0x", None),
            ("1.0", None),
            ("", None),
            ("-", None),
            (" 1", None),
        ];
        for (text, want) in cases {
            assert_eq!(integer(text), want, "{text}");
        }
    }

    #[test]
    fn numbers_for_ordering_take_durations_in_milliseconds() {
        assert_eq!(number("1s"), Some(Number::Integer(1000)));
        assert_eq!(number("1m30s"), Some(Number::Integer(90_000)));
        assert_eq!(number("1500us"), Some(Number::Integer(1)));
        assert_eq!(number("0"), Some(Number::Integer(0)));
        assert_eq!(number("0x10"), Some(Number::Integer(16)));
        assert_eq!(number("1.5"), Some(Number::Decimal(1.5)));
        assert_eq!(number("-2e3"), Some(Number::Decimal(-2000.0)));
        for not_a_number in ["potato", "inf", "NaN", "1e999", "", "true"] {
            assert_eq!(number(not_a_number), None, "{not_a_number}");
        }
        // Decimals are compared as decimals, not cut to integers as Gatus does.
        assert!(c("[BODY].v > 1").check(&obs(200, 1, r#"{"v": 1.5}"#)).is_ok());
        // A value that is missing or not a number fails, and says what it was.
        assert_eq!(
            c("[BODY].v < 10").check(&obs(200, 1, r#"{"v": "soon"}"#)),
            Err("[BODY].v (soon) < 10".into())
        );
        assert_eq!(c("[BODY].w < 10").check(&obs(200, 1, "{}")), Err("[BODY].w (missing) < 10".into()));
    }

    #[test]
    fn json_values_read_as_gatus_prints_them() {
        let o =
            obs(200, 1, r#"{"f": 1.0, "big": 1e21, "t": true, "a": [1, "x"], "o": {"k": [ 1 ]}, "n": null}"#);
        for (cond, ok) in [
            ("[BODY].f == 1", true),
            ("[BODY].f == 1.0", false),
            ("[BODY].t == true", true),
            ("len([BODY].a) == 2", true),
            (r#"[BODY].o == {"k":[1]}"#, true),
            ("has([BODY].n) == false", true),
            ("has([BODY].o.k) == true", true),
            ("len([BODY].o.k) == 1", true),
            ("[BODY].n == null", false),
        ] {
            assert_eq!(c(cond).check(&o).is_ok(), ok, "{cond}");
        }
        // A body that is not JSON has no paths, but is text for [BODY], len() and pat().
        let text = obs(200, 1, "<html>ok</html>\n");
        assert_eq!(c("[BODY].x == 1").check(&text), Err("[BODY].x (missing) == 1".into()));
        assert!(c("[BODY] == pat(<html>*</html>)").check(&text).is_ok());
        assert!(c("len([BODY]) == 15").check(&text).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(crate::model::props::config(256))]
        /// Numbers and durations come from bodies: no text makes them panic, and an integer
        /// printed back reads the same.
        #[test]
        fn any_text_reads_as_a_number_or_not_without_panicking(
            text in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[-+]?(0[xXoObB])?[0-9a-fA-F_]{0,40}",
                "[-+]?([0-9]{0,25}(\\.[0-9]{0,25})?(ns|us|\u{b5}s|ms|s|m|h)){1,4}",
            ],
            n in proptest::prelude::any::<i64>(),
            u in proptest::prelude::any::<u64>(),
        ) {
            integer(&text);
            number(&text);
            parse_go_duration(&text).ok();
            proptest::prop_assert_eq!(integer(&n.to_string()), Some(i128::from(n)));
            proptest::prop_assert_eq!(integer(&format!("{u:#x}")), Some(i128::from(u)));
            proptest::prop_assert_eq!(integer(&format!("{u:#b}")), Some(i128::from(u)));
        }
    }
}
