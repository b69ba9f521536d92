//! The Gatus condition language: `[STATUS] == 200`, `len([BODY].data) >= 3`, `pat(…)`,
//! parsed once from config and checked against each observation, then samples classified.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Health;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Right {
    Operand(Operand),
    Any(Vec<String>),
    Pattern(String),
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

/// Tried in this order, as Gatus does: two-character operators before one.
const OPS: [(&str, Op); 6] = [
    (" == ", Op::Eq),
    (" != ", Op::Ne),
    (" <= ", Op::Le),
    (" >= ", Op::Ge),
    (" > ", Op::Gt),
    (" < ", Op::Lt),
];

/// One parsed condition, e.g. `[BODY].data[0].id == 7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    text: String,
    left: Operand,
    op: Op,
    right: Right,
}

/// A value a placeholder resolved to.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(f64),
    Text(String),
    Bool(bool),
    Missing,
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Value::Number(n) => write!(f, "{n}"),
            Value::Text(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Missing => f.write_str("missing"),
        }
    }
}

fn parse_placeholder(s: &str) -> Result<Option<Placeholder>, String> {
    let s = s.trim();
    if !s.starts_with('[') {
        return Ok(None);
    }
    let end = s.find(']').ok_or_else(|| format!("`{s}`: unclosed ["))?;
    let (name, rest) = (&s[1..end], &s[end + 1..]);
    let simple = |p: Placeholder| {
        if rest.is_empty() {
            Ok(Some(p))
        } else {
            Err(format!("`{s}`: only [BODY] takes a path"))
        }
    };
    match name {
        "STATUS" => simple(Placeholder::Status),
        "RESPONSE_TIME" => simple(Placeholder::ResponseTime),
        "CONNECTED" => simple(Placeholder::Connected),
        "IP" => simple(Placeholder::Ip),
        "BODY" => Ok(Some(Placeholder::Body(parse_path(rest).map_err(|e| format!("`{s}`: {e}"))?))),
        "CERTIFICATE_EXPIRATION" | "DNS_RCODE" | "DOMAIN_EXPIRATION" | "RESULT" => {
            Err(format!("`[{name}]` is not supported by warroom (supported: [STATUS], [RESPONSE_TIME], [BODY], [CONNECTED], [IP])"))
        }
        other => Err(format!("unknown placeholder `[{other}]` (supported: [STATUS], [RESPONSE_TIME], [BODY], [CONNECTED], [IP])")),
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
            let n = rest[..end]
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("`[{}]` is not an array index", &rest[..end]))?;
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

fn parse_left(s: &str) -> Result<Operand, String> {
    for (name, make) in [("len", Operand::Len as fn(Placeholder) -> Operand), ("has", Operand::Has)] {
        if let Some(arg) = func_arg(s, name) {
            let p = parse_placeholder(arg)?
                .ok_or_else(|| format!("{name}() takes a placeholder, got `{arg}`"))?;
            return Ok(make(p));
        }
    }
    Ok(match parse_placeholder(s)? {
        Some(p) => Operand::Placeholder(p),
        None => Operand::Literal(s.to_string()),
    })
}

impl FromStr for Condition {
    type Err = String;
    fn from_str(text: &str) -> Result<Condition, String> {
        let (at, op_text, op) = OPS
            .iter()
            .filter_map(|(t, op)| text.find(t).map(|at| (at, *t, *op)))
            .min_by_key(|(at, _, _)| *at)
            .ok_or_else(|| {
                format!("`{text}`: no operator (write `<left> <op> <right>` with spaces: == != < <= > >=)")
            })?;
        let (left, right) = (text[..at].trim(), text[at + op_text.len()..].trim());
        if left.is_empty() || right.is_empty() {
            return Err(format!("`{text}`: both sides of `{}` are needed", op_text.trim()));
        }
        let left = parse_left(left).map_err(|e| format!("`{text}`: {e}"))?;
        let right = if let Some(arg) = func_arg(right, "any") {
            Right::Any(arg.split(',').map(|a| a.trim().to_string()).collect())
        } else if let Some(arg) = func_arg(right, "pat") {
            Right::Pattern(arg.to_string())
        } else {
            Right::Operand(parse_left(right).map_err(|e| format!("`{text}`: {e}"))?)
        };
        if matches!(right, Right::Pattern(_) | Right::Any(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return Err(format!("`{text}`: pat() and any() go with == or != only"));
        }
        Ok(Condition { text: text.to_string(), left, op, right })
    }
}

fn resolve_placeholder(p: &Placeholder, o: &Observation) -> Value {
    match p {
        Placeholder::Status => o.status.map_or(Value::Missing, |s| Value::Number(f64::from(s))),
        Placeholder::ResponseTime => Value::Number(o.response_ms as f64),
        Placeholder::Connected => Value::Bool(o.connected),
        Placeholder::Ip => o.ip.clone().map_or(Value::Missing, Value::Text),
        Placeholder::Body(path) => {
            let Some(body) = &o.body else { return Value::Missing };
            if path.is_empty() {
                return Value::Text(body.clone());
            }
            let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) else { return Value::Missing };
            for part in path {
                v = match (part, v) {
                    (PathPart::Key(k), serde_json::Value::Object(mut m)) => {
                        m.remove(k).unwrap_or(serde_json::Value::Null)
                    }
                    (PathPart::Index(i), serde_json::Value::Array(mut a)) if *i < a.len() => {
                        a.swap_remove(*i)
                    }
                    _ => return Value::Missing,
                };
            }
            match v {
                serde_json::Value::Null => Value::Missing,
                serde_json::Value::Bool(b) => Value::Bool(b),
                serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
                serde_json::Value::String(s) => Value::Text(s),
                other => Value::Text(other.to_string()),
            }
        }
    }
}

fn resolve(operand: &Operand, o: &Observation) -> Value {
    match operand {
        Operand::Literal(s) => Value::Text(s.clone()),
        Operand::Placeholder(p) => resolve_placeholder(p, o),
        Operand::Has(p) => Value::Bool(resolve_placeholder(p, o) != Value::Missing),
        Operand::Len(p) => {
            // len() of a JSON array or object counts elements; of text, characters.
            let raw = match p {
                Placeholder::Body(path) => o.body.as_deref().and_then(|b| {
                    let mut v: serde_json::Value = serde_json::from_str(b).ok()?;
                    for part in path {
                        v = match part {
                            PathPart::Key(k) => v.get(k)?.clone(),
                            PathPart::Index(i) => v.get(*i)?.clone(),
                        };
                    }
                    Some(match &v {
                        serde_json::Value::Array(a) => a.len(),
                        serde_json::Value::Object(m) => m.len(),
                        serde_json::Value::String(s) => s.chars().count(),
                        other => other.to_string().chars().count(),
                    })
                }),
                other => match resolve_placeholder(other, o) {
                    Value::Missing => None,
                    v => Some(v.to_string().chars().count()),
                },
            };
            raw.map_or(Value::Missing, |n| Value::Number(n as f64))
        }
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a != &Value::Missing && a.to_string() == b.to_string(),
    }
}

/// Glob with `*` (any run) and `?` (one character).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
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

impl Condition {
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The placeholder a condition tests, to match degraded conditions with the ones they relax.
    fn subject(&self) -> Option<&Placeholder> {
        match &self.left {
            Operand::Placeholder(p) | Operand::Len(p) | Operand::Has(p) => Some(p),
            Operand::Literal(_) => None,
        }
    }

    /// `Ok(())` when it holds; otherwise the condition with its resolved value:
    /// `[STATUS] (503) == 200`.
    pub fn check(&self, o: &Observation) -> Result<(), String> {
        let left = resolve(&self.left, o);
        let holds = match (&self.right, self.op) {
            (Right::Pattern(p), op) => {
                let m = left != Value::Missing && glob(p, &left.to_string());
                if op == Op::Eq {
                    m
                } else {
                    !m
                }
            }
            (Right::Any(items), op) => {
                let m = items.iter().any(|i| equal(&left, &Value::Text(i.clone())));
                if op == Op::Eq {
                    m
                } else {
                    !m
                }
            }
            (Right::Operand(r), op) => {
                let right = resolve(r, o);
                match op {
                    Op::Eq => equal(&left, &right),
                    Op::Ne => !equal(&left, &right),
                    _ => match (as_number(&left), as_number(&right)) {
                        (Some(a), Some(b)) => match op {
                            Op::Lt => a < b,
                            Op::Le => a <= b,
                            Op::Gt => a > b,
                            _ => a >= b,
                        },
                        _ => false,
                    },
                }
            }
        };
        if holds {
            return Ok(());
        }
        let at = OPS.iter().filter_map(|(t, _)| self.text.find(t)).min().unwrap_or(self.text.len());
        let (l, rest) = (self.text[..at].trim_end(), &self.text[at..]);
        Err(format!("{l} ({left}){rest}"))
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
        );
    }
}
