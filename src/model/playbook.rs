//! Playbooks: ordered checklists, communication first, loaded from TOML. An attached playbook
//! is copied into the incident (the event carries the definition), so replays never depend
//! on files that may have changed since. The work on an attached checklist (attach, tick,
//! untick, assign a step) is decided and folded here too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::comms;
use super::event::{Event, Fact};
use super::incident::{snake_enum, Incident, IncidentId, Role, Severity};
use super::intent::{check_text, Intent, Rejection, MAX_NAME};
use super::timeline::EntryKind;
use super::{Context, State};

snake_enum! {
    /// The four parts of a response, in the order a playbook lists them.
    Section {
        Communicate = "communicate",
        Diagnose = "diagnose",
        Restore = "restore",
        FollowUp = "follow-up",
    } what = "section"
}

snake_enum! {
    /// Who a message reaches; each has its own communication clock.
    Audience {
        Staff = "staff",
        StatusPage = "status_page",
        Customers = "customers",
        Socials = "socials",
    } what = "audience"
}

impl Audience {
    /// The name shown for the audience: its config spelling, the one `comms snooze` and
    /// `:snooze` take. One name per thing (issue 11): "status page" here and `status_page`
    /// in the playbook read as two audiences.
    pub fn label(self) -> &'static str {
        self.as_str()
    }
}

/// A duration written like `20m`, `1h30m`, `45s`. Any positive `i64` of seconds reads (an
/// attached playbook in an old log must keep reading); playbook files stop at [`Every::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Every(pub i64);

impl Every {
    /// 30 days, for playbook files: a cadence is minutes or hours, and the bound catches
    /// typos like `9999999h`.
    pub const MAX: i64 = 30 * 86_400;

    /// Total even for an `Every` built by hand out of range: it saturates.
    pub fn duration(self) -> Duration {
        Duration::try_seconds(self.0).unwrap_or(if self.0 < 0 { Duration::MIN } else { Duration::MAX })
    }
}

impl FromStr for Every {
    type Err = String;
    /// Go's duration syntax (`20m`, `1h30m`, `1.5h`), as Gatus users write it; whole seconds.
    fn from_str(s: &str) -> Result<Every, String> {
        let bad = || format!("`{s}` is not a duration (like 20m, 1h30m, 45s)");
        let too_long = || format!("`{s}` is too long a duration to count in seconds");
        let nanos = parse_go_duration(s).map_err(|e| match e {
            DurationError::TooLong => too_long(),
            DurationError::NotADuration => bad(),
        })?;
        if nanos <= 0 {
            return Err(bad());
        }
        if nanos % NANOS_PER_SECOND != 0 {
            return Err(format!("`{s}` is not a whole number of seconds"));
        }
        i64::try_from(nanos / NANOS_PER_SECOND).map(Every).map_err(|_| too_long())
    }
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Why a duration did not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    NotADuration,
    /// Too many nanoseconds to count in an `i128`.
    TooLong,
}

/// A duration in Go's `time.ParseDuration` syntax, in nanoseconds: an optional sign, then one
/// or more decimal numbers each with a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), like
/// `500ms`, `1m30s`, `1.5h`; a bare `0` is zero. Gatus configs write every duration this way.
/// Counted in `i128` so that an `Every` of `i64::MAX` seconds still reads back.
pub fn parse_go_duration(s: &str) -> Result<i128, DurationError> {
    use DurationError::{NotADuration as Bad, TooLong};
    let s = s.trim();
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(Bad);
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits_end = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (whole, after) = rest.split_at(digits_end(rest));
        let (fraction, after) = match after.strip_prefix('.') {
            Some(a) => a.split_at(digits_end(a)),
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(Bad);
        }
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SECOND,
            "m" => 60 * NANOS_PER_SECOND,
            "h" => 3600 * NANOS_PER_SECOND,
            _ => return Err(Bad),
        };
        let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| TooLong)? };
        let mut part = whole.checked_mul(scale).ok_or(TooLong)?;
        if !fraction.is_empty() {
            // Digits past the 18th are below a nanosecond of an hour: Go drops them too.
            let kept = &fraction[..fraction.len().min(18)];
            let f: i128 = kept.parse().map_err(|_| Bad)?;
            part = part.checked_add(f * scale / 10i128.pow(kept.len() as u32)).ok_or(TooLong)?;
        }
        total = total.checked_add(part).ok_or(TooLong)?;
        rest = after;
    }
    Ok(if negative { -total } else { total })
}

impl TryFrom<String> for Every {
    type Error = String;
    fn try_from(s: String) -> Result<Every, String> {
        s.parse()
    }
}

impl From<Every> for String {
    fn from(e: Every) -> String {
        e.to_string()
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 || self.0 == 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub section: Section,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Role>,
    /// A channel name from the server's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Message template: `{{title}}`, `{{severity}}`, `{{impact}}`, `{{status}}`,
    /// `{{next_update}}`, `{{status_page_url}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Repeat cadence per severity, e.g. `{ SEV1 = "20m", SEV2 = "30m" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub every: BTreeMap<Severity, Every>,
    /// Filled by the server at attach time from the channel's config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    pub id: String,
    pub title: String,
    /// Severities this playbook is attached to by default when an incident is declared.
    #[serde(default)]
    pub severities: Vec<Severity>,
    #[serde(default)]
    pub drill: bool,
    #[serde(rename = "steps")]
    pub steps: Vec<Step>,
}

pub const PLACEHOLDERS: &[&str] =
    &["title", "severity", "impact", "status", "next_update", "status_page_url"];

/// The `{{name}}` placeholders a template uses, in order.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    out
}

/// Placeholders whose values are sentences typed by people (an impact typed in a hurry has no
/// full stop); the others are words and times that sit inside a sentence.
const SENTENCES: &[&str] = &["impact"];

/// Fills `{{name}}` placeholders from `values`; unknown names stay as written. Punctuation
/// safe: a sentence value (see [`SENTENCES`]) that ends without terminal punctuation and is
/// followed by a new sentence gets its full stop, and a value that ends with a full stop the
/// template repeats keeps only one.
pub fn render(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        rest = &after[end + 2..];
        match values.get(name) {
            Some(v) => {
                let v = v.trim_end();
                out.push_str(v);
                let ends = v.chars().last();
                if ends.is_some_and(|c| ".!?…".contains(c)) && rest.starts_with(['.', '!', '?']) {
                    // "{{impact}}." with an impact that has its own full stop.
                    rest = &rest[1..];
                } else if SENTENCES.contains(&name)
                    && ends.is_some_and(|c| !".!?…:;,".contains(c))
                    && starts_sentence(rest)
                {
                    out.push('.');
                }
            }
            None => {
                out.push_str("{{");
                out.push_str(&after[..end]);
                out.push_str("}}");
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether `text` goes on with a new sentence on the same line: spaces, then a capital (or a
/// placeholder, which fills with a sentence of its own).
fn starts_sentence(text: &str) -> bool {
    let trimmed = text.trim_start_matches([' ', '\t']);
    trimmed.len() < text.len()
        && (trimmed.chars().next().is_some_and(char::is_uppercase) || trimmed.starts_with("{{"))
}

/// A problem in a playbook file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybookError {
    pub line: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Parses and checks one playbook file's text.
pub fn parse(text: &str) -> Result<Playbook, PlaybookError> {
    let pb: Playbook = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
        PlaybookError { line, field: None, message: e.message().to_string() }
    })?;
    // The line of `key = …` in the i-th `[[steps]]` block (or at the top level for `None`).
    let line_of = |step: Option<usize>, key: &str| -> Option<usize> {
        let lines: Vec<&str> = text.lines().collect();
        let start = match step {
            None => 0,
            Some(i) => lines.iter().enumerate().filter(|(_, l)| l.trim() == "[[steps]]").nth(i)?.0,
        };
        let block_end = lines[start + 1..]
            .iter()
            .position(|l| l.trim().starts_with('['))
            .map_or(lines.len(), |p| start + 1 + p);
        let key_line = lines[start..block_end]
            .iter()
            .position(|l| l.trim_start().starts_with(key) && l.contains('='))
            .map(|p| start + p + 1);
        key_line.or(Some(start + 1))
    };
    let err = |field: String, at: Option<usize>, message: String| PlaybookError {
        line: at,
        field: Some(field),
        message,
    };
    if pb.id.trim().is_empty() || pb.id.contains(char::is_whitespace) {
        return Err(err("id".into(), line_of(None, "id"), "must be a non-empty word".into()));
    }
    if pb.steps.is_empty() {
        return Err(err("steps".into(), None, "a playbook needs at least one step".into()));
    }
    let mut seen = BTreeSet::new();
    let mut last_section = Section::Communicate;
    let mut communicated = false;
    for (i, step) in pb.steps.iter().enumerate() {
        let field = |f: &str| format!("steps[{i}].{f}");
        let at = |f: &str| line_of(Some(i), f);
        if step.id.trim().is_empty() || step.id.contains(char::is_whitespace) {
            return Err(err(field("id"), at("id"), "must be a non-empty word".into()));
        }
        if !seen.insert(step.id.as_str()) {
            return Err(err(field("id"), at("id"), format!("`{}` is used by another step", step.id)));
        }
        if step.section < last_section && step.section != Section::Communicate {
            // Communicate steps may repeat at the end (all-clear); others keep their order.
            return Err(err(
                field("section"),
                at("section"),
                format!("{} comes after {}", step.section, last_section),
            ));
        }
        last_section = last_section.max(step.section);
        communicated |= step.section == Section::Communicate;
        if let Some(template) = &step.message {
            if step.channel.is_none() {
                return Err(err(field("message"), at("message"), "a message needs a channel".into()));
            }
            if let Some(bad) = placeholders(template).into_iter().find(|p| !PLACEHOLDERS.contains(p)) {
                return Err(err(
                    field("message"),
                    at("message"),
                    format!("unknown placeholder {{{{{bad}}}}} (known: {})", PLACEHOLDERS.join(", ")),
                ));
            }
        }
        if let Some((severity, every)) = step.every.iter().find(|(_, e)| e.0 > Every::MAX) {
            return Err(err(
                field("every"),
                at("every"),
                format!("{severity} = \"{every}\" is longer than the longest cadence, 30 days"),
            ));
        }
        if !step.every.is_empty() && step.channel.is_none() {
            return Err(err(field("every"), at("every"), "a repeat cadence needs a channel".into()));
        }
        if step.audience.is_some() {
            return Err(err(
                field("audience"),
                at("audience"),
                "is set by the server from the channel".into(),
            ));
        }
    }
    if !communicated {
        return Err(err(
            "steps".into(),
            None,
            "communicate first: a playbook needs a communicate step".into(),
        ));
    }
    Ok(pb)
}

/// Decides the intents about an incident's checklist: attaching a playbook, ticking,
/// unticking and assigning its steps.
pub(super) fn decide(state: &State, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
    let fact = match intent {
        Intent::AttachPlaybook { incident, playbook } => {
            state.incident(*incident)?;
            check_text("playbook", playbook, MAX_NAME)?;
            let checklist = cx.library.checklist(playbook).ok_or_else(|| Rejection::Invalid {
                field: "playbook",
                detail: format!(
                    "no playbook `{playbook}` on this server (have: {})",
                    cx.library.playbooks.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })?;
            Fact::PlaybookAttached { incident: *incident, checklist }
        }
        Intent::TickStep { incident, step } | Intent::UntickStep { incident, step } => {
            check_text("step", step, MAX_NAME)?;
            let s = state.step(*incident, step)?;
            let tick = matches!(intent, Intent::TickStep { .. });
            match (&s.ticked, tick) {
                (Some(t), true) => {
                    return Err(Rejection::Conflict(format!(
                        "{step} was already ticked by {} at {}",
                        t.by,
                        t.at.format("%H:%M:%S")
                    )))
                }
                (None, false) => return Err(Rejection::Conflict(format!("{step} is not ticked"))),
                // A communicate step ticked by hand: its message went out another way (a
                // Slack post), so its audience counts as told and its clock restarts.
                (None, true) => Fact::StepTicked {
                    incident: *incident,
                    step: step.clone(),
                    by: None,
                    outside: s.step.audience.filter(|_| s.step.section == Section::Communicate),
                },
                (Some(_), false) => Fact::StepUnticked { incident: *incident, step: step.clone() },
            }
        }
        Intent::AssignStep { incident, step, person } => {
            check_text("step", step, MAX_NAME)?;
            state.step(*incident, step)?;
            check_text("person", person, MAX_NAME)?;
            super::incident::check_person(person, cx)?;
            Fact::StepAssigned { incident: *incident, step: step.clone(), person: person.trim().to_string() }
        }
        other => return Err(super::misrouted("checklist", other)),
    };
    Ok(vec![fact])
}

impl State {
    /// A step of an incident's checklist, or why there is none: for every intent that names one.
    pub(super) fn step(&self, incident: IncidentId, step: &str) -> Result<&comms::StepState, Rejection> {
        let inc = self.incident(incident)?;
        let list = inc
            .checklist
            .as_ref()
            .ok_or_else(|| Rejection::Conflict(format!("{incident} has no playbook attached")))?;
        list.step(step).ok_or_else(|| Rejection::Invalid {
            field: "step",
            detail: format!(
                "no step `{step}` in {} (have: {})",
                list.playbook,
                list.steps.iter().map(|s| s.step.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })
    }
}

/// Folds a fact about an incident's checklist into it; returns the timeline entry it writes.
pub(super) fn apply(inc: &mut Incident, event: &Event) -> Option<EntryKind> {
    let at = event.at;
    let kind = match &event.fact {
        Fact::PlaybookAttached { checklist, .. } => {
            let mut list = checklist.clone();
            // Switching playbooks keeps the work already done on shared steps.
            if let Some(old) = &inc.checklist {
                for s in &mut list.steps {
                    if let Some(prev) = old.step(&s.step.id) {
                        s.ticked = prev.ticked.clone();
                        s.assignee = prev.assignee.clone();
                    }
                }
            }
            let entry = EntryKind::Playbook { playbook: list.playbook.clone(), title: list.title.clone() };
            inc.checklist = Some(list);
            entry
        }
        Fact::StepTicked { step, by, outside, .. } => {
            let s = inc.checklist.as_mut().and_then(|l| l.step_mut(step))?;
            let by = by.clone().unwrap_or_else(|| event.actor.clone());
            s.ticked = Some(comms::Tick { by: by.clone(), at });
            let title = s.step.title.clone();
            let Some(audience) = outside else {
                return Some(EntryKind::Step { step: step.clone(), title, action: "ticked".into() });
            };
            // Recorded as a message with no text, so the clocks (and anyone reading the
            // messages) see when this audience was told; it is never published anywhere.
            inc.messages.push(comms::Message {
                id: event.command_id,
                channel: comms::OUTSIDE.into(),
                audience: *audience,
                text: String::new(),
                step: Some(step.clone()),
                by,
                at,
                delivery: comms::Delivery::SentOutside { at },
                status: None,
            });
            EntryKind::Step { step: step.clone(), title, action: format!("ticked (sent {})", comms::OUTSIDE) }
        }
        Fact::StepUnticked { step, .. } => {
            let s = inc.checklist.as_mut().and_then(|l| l.step_mut(step))?;
            s.ticked = None;
            let title = s.step.title.clone();
            // A tick by hand said its audience was told outside warroom; taking the tick back
            // takes that back too, so the audience's clock runs from its last real update
            // again. A stray space bar must not silence a clock for an hour. A message warroom
            // itself sent stays: it went out.
            let told_outside = inc.messages.iter().rposition(|m| {
                m.step.as_deref() == Some(step.as_str())
                    && matches!(m.delivery, comms::Delivery::SentOutside { .. })
            });
            if let Some(i) = told_outside {
                inc.messages.remove(i);
            }
            EntryKind::Step { step: step.clone(), title, action: "unticked".into() }
        }
        Fact::StepAssigned { step, person, .. } => {
            let s = inc.checklist.as_mut().and_then(|l| l.step_mut(step))?;
            s.assignee = Some(person.clone());
            EntryKind::Step {
                step: step.clone(),
                title: s.step.title.clone(),
                action: format!("assigned to {person}:"),
            }
        }
        // The other facts belong to other aggregates; `State::apply` routes them.
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "mini"
title = "Mini"
severities = ["SEV3"]

[[steps]]
id = "tell-staff"
title = "Tell staff"
section = "communicate"
channel = "staff"
message = "{{severity}} {{title}}: next update {{next_update}}"
every = { SEV1 = "15m", SEV3 = "1h" }

[[steps]]
id = "look"
title = "Look at dashboards"
section = "diagnose"
owner = "subject_matter_expert"
"#;

    #[test]
    fn a_good_playbook_parses_with_its_cadences() {
        let pb = parse(GOOD).unwrap();
        assert_eq!(pb.steps.len(), 2);
        assert_eq!(pb.steps[0].every[&Severity::Sev1], Every(900));
        assert_eq!(pb.steps[1].owner, Some(Role::SubjectMatterExpert));
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let e = parse(&GOOD.replace("section = \"diagnose\"", "sektion = \"diagnose\"")).unwrap_err();
        assert!(e.line.is_some() && e.message.contains("sektion"), "{e}");
        let e = parse(&GOOD.replace("\"1h\"", "\"an hour\"")).unwrap_err();
        assert_eq!(e.line, Some(12), "{e}");
        let e = parse(&GOOD.replace("\"1h\"", "\"721h\"")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 12: steps[0].every: SEV3 = \"721h\" is longer than the longest cadence, 30 days"
        );
        assert!(parse(&GOOD.replace("\"1h\"", "\"720h\"")).is_ok());
        let e = parse(&GOOD.replace("{{next_update}}", "{{eta}}")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("steps[0].message"));
        assert_eq!(e.line, Some(11), "{e}");
        let e = parse(&GOOD.replace("id = \"look\"", "id = \"tell-staff\"")).unwrap_err();
        assert_eq!(e.to_string(), "line 15: steps[1].id: `tell-staff` is used by another step");
        let e = parse("id = \"x\"\ntitle = \"x\"\nsteps = [ {").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn communicate_comes_first() {
        let no_comms = GOOD.replace("section = \"communicate\"", "section = \"diagnose\"");
        assert!(parse(&no_comms).unwrap_err().message.contains("communicate first"));
    }

    #[test]
    fn templates_render_known_fields_and_keep_unknown_ones() {
        let values =
            BTreeMap::from([("title", "Checkout down".to_string()), ("severity", "SEV1".to_string())]);
        assert_eq!(render("{{severity}}: {{ title }} {{x}}", &values), "SEV1: Checkout down {{x}}");
        assert_eq!(render("no braces {{", &values), "no braces {{");
    }

    #[test]
    fn templates_never_run_sentences_together() {
        let with =
            |impact: &str| BTreeMap::from([("impact", impact.to_string()), ("title", "T".to_string())]);
        let t = "{{impact}} We are working on it.";
        assert_eq!(
            render(t, &with("EU shoppers wait 8s at checkout")),
            "EU shoppers wait 8s at checkout. We are working on it."
        );
        assert_eq!(render(t, &with("Cards fail.")), "Cards fail. We are working on it.");
        assert_eq!(render(t, &with("Cards fail?")), "Cards fail? We are working on it.");
        assert_eq!(render(t, &with("Cards fail ")), "Cards fail. We are working on it.");
        assert_eq!(render("{{impact}}. Next", &with("Cards fail.")), "Cards fail. Next");
        assert_eq!(render("{{impact}}. Next", &with("Cards fail")), "Cards fail. Next");
        assert_eq!(render("{{impact}} {{title}}", &with("Cards fail")), "Cards fail. T");
        // Mid-sentence values and other punctuation stay as written.
        assert_eq!(render("{{impact}} since 13:51", &with("Cards fail")), "Cards fail since 13:51");
        assert_eq!(render("Impact: {{impact}}\nNext", &with("x")), "Impact: x\nNext");
        assert_eq!(render("({{impact}}) We", &with("x")), "(x) We");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!("1h30m".parse::<Every>(), Ok(Every(5400)));
        assert_eq!("45s".parse::<Every>(), Ok(Every(45)));
        assert!("20".parse::<Every>().is_err());
        assert!("0m".parse::<Every>().is_err());
        assert!("99999999999999999h".parse::<Every>().unwrap_err().contains("too long"));
        assert_eq!(Every(i64::MAX).to_string().parse::<Every>(), Ok(Every(i64::MAX)));
        assert_eq!(Every(i64::MAX).duration(), Duration::MAX);
        assert_eq!(Every(5400).to_string(), "1h30m");
        // Go's syntax, as Gatus configs write durations.
        assert_eq!("1.5h".parse::<Every>(), Ok(Every(5400)));
        assert_eq!("1h1m1s1000ms".parse::<Every>(), Ok(Every(3662)));
        assert!("500ms".parse::<Every>().unwrap_err().contains("whole number of seconds"));
        assert!("-5m".parse::<Every>().is_err() && "5 m".parse::<Every>().is_err());
        assert_eq!(parse_go_duration("1m30s"), Ok(90 * NANOS_PER_SECOND));
        assert_eq!(parse_go_duration("-1.5\u{b5}s"), Ok(-1500));
        assert_eq!(parse_go_duration(".5s"), Ok(NANOS_PER_SECOND / 2));
        assert_eq!(parse_go_duration("0"), Ok(0));
        let huge = format!("{}.999999999999999999h", i128::MAX / (3600 * NANOS_PER_SECOND));
        assert_eq!(parse_go_duration(&huge), Err(DurationError::TooLong));
        for bad in ["", "1", "s", ".s", "1x", "1.2.3s", "+", "1h 2m"] {
            assert_eq!(parse_go_duration(bad), Err(DurationError::NotADuration), "{bad}");
        }
    }

    #[test]
    fn a_checklist_is_worked_step_by_step_and_a_switch_keeps_the_work_done() {
        use crate::model::tests::{declare, t};
        use crate::model::{stamp, Library, UserRole};
        let mini = parse(GOOD).unwrap();
        let other = Playbook {
            id: "other".into(),
            title: "Other".into(),
            steps: mini.steps[1..].to_vec(),
            ..mini.clone()
        };
        let library = Library { playbooks: vec![mini, other], ..Library::default() };
        let mut s = State::default();
        let id = declare(&mut s, "Checkout is down", Severity::Sev3);
        let act = |s: &mut State, who: &str, intent: Intent| -> Result<(), Rejection> {
            let cx = Context {
                library: &library,
                now: t(0),
                command_id: uuid::Uuid::nil(),
                role: UserRole::Responder,
                actor: who,
            };
            let facts = s.decide_with(&intent, &cx)?;
            for e in stamp(s.seq + 1, t(s.seq as u32), who, UserRole::Responder, uuid::Uuid::nil(), facts) {
                s.apply(&e);
            }
            Ok(())
        };
        let tick = |step: &str| Intent::TickStep { incident: id, step: step.into() };
        let attach = |playbook: &str| Intent::AttachPlaybook { incident: id, playbook: playbook.into() };
        assert!(
            matches!(act(&mut s, "bob", tick("look")), Err(Rejection::Conflict(why)) if why.contains("no playbook"))
        );
        assert!(matches!(
            act(&mut s, "bob", attach("nope")),
            Err(Rejection::Invalid { field: "playbook", .. })
        ));
        act(&mut s, "alice", attach("mini")).unwrap();
        assert!(matches!(act(&mut s, "bob", tick("lok")), Err(Rejection::Invalid { field: "step", .. })));
        act(&mut s, "bob", tick("look")).unwrap();
        let again = act(&mut s, "carol", tick("look"));
        assert!(
            matches!(&again, Err(Rejection::Conflict(why)) if why.contains("already ticked by bob")),
            "{again:?}"
        );
        act(
            &mut s,
            "alice",
            Intent::AssignStep { incident: id, step: "look".into(), person: " carol ".into() },
        )
        .unwrap();
        act(&mut s, "alice", attach("other")).unwrap();
        let inc = s.incident(id).unwrap();
        let list = inc.checklist.as_ref().unwrap();
        let look = list.step("look").unwrap();
        assert_eq!((list.playbook.as_str(), list.steps.len()), ("other", 1));
        assert_eq!(look.ticked.as_ref().map(|t| t.by.as_str()), Some("bob"));
        assert_eq!(look.assignee.as_deref(), Some("carol"));
        let tags: Vec<_> = inc.timeline.iter().map(|e| e.kind.tag()).collect();
        assert_eq!(tags, ["declared", "playbook", "step", "step", "playbook"]);
        act(&mut s, "bob", Intent::UntickStep { incident: id, step: "look".into() }).unwrap();
        let undone = act(&mut s, "bob", Intent::UntickStep { incident: id, step: "look".into() });
        assert!(
            matches!(&undone, Err(Rejection::Conflict(why)) if why.contains("is not ticked")),
            "{undone:?}"
        );
    }
}

#[cfg(test)]
mod shipped {
    #[test]
    fn every_shipped_playbook_is_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks");
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            // `playbooks/chaos/` holds scenarios and Run documents, not playbooks.
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let pb = super::parse(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            ids.push(pb.id);
        }
        ids.sort();
        assert_eq!(
            ids,
            ["data-loss", "degraded-performance", "gameday-hero", "major-outage", "security-incident"]
        );
    }
}
