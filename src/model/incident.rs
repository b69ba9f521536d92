//! Incidents: identity, severity, the status state machine (in `lifecycle`), response roles
//! and milestones, and the decide/apply of what happens to an incident itself. Every rule
//! about what may happen to an incident lives here, so server and clients agree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, Fact};
use super::intent::{
    check_count, check_len, check_text, Intent, Rejection, MAX_NAME, MAX_SERVICES, MAX_TEXT, MAX_TITLE,
    MILESTONE_SLACK,
};
use super::timeline::{EntryKind, TimelineEntry};
use super::{Context, State};

mod lifecycle;
mod members;
pub use lifecycle::{
    check_transition, transition_rule, ClosureReason, Status, TransitionError, TransitionRule,
};

/// An id the server numbers from 1, written `PREFIX-n` (`INC-7`, `RUN-3`); read with or
/// without the prefix, in either case.
macro_rules! numbered_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $lower:literal, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "-{}"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let digits = s
                    .strip_prefix(concat!($prefix, "-"))
                    .or_else(|| s.strip_prefix(concat!($lower, "-")))
                    .unwrap_or(s);
                digits.parse::<u64>().ok().filter(|n| *n > 0).map($name).ok_or_else(|| {
                    format!(concat!("`{}` is not ", $what, " (expected ", $prefix, "-<number>)"), s)
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}
pub(crate) use numbered_id;

numbered_id! {
    /// `INC-7`: assigned by the server, in declaration order.
    IncidentId, "INC", "inc", "an incident id"
}

/// SEV1 is the worst. SEV2 and above is a major incident. If unsure, pick the higher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    #[serde(rename = "SEV1")]
    Sev1,
    #[serde(rename = "SEV2")]
    Sev2,
    #[serde(rename = "SEV3")]
    Sev3,
    #[serde(rename = "SEV4")]
    Sev4,
    #[serde(rename = "SEV5")]
    Sev5,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Sev1, Severity::Sev2, Severity::Sev3, Severity::Sev4, Severity::Sev5];

    pub fn level(self) -> u8 {
        self as u8 + 1
    }

    pub fn is_major(self) -> bool {
        self <= Severity::Sev2
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SEV{}", self.level())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let digits = t
            .strip_prefix("SEV")
            .or_else(|| t.strip_prefix("sev"))
            .or_else(|| t.strip_prefix("Sev"))
            .unwrap_or(t);
        match digits {
            "1" => Ok(Severity::Sev1),
            "2" => Ok(Severity::Sev2),
            "3" => Ok(Severity::Sev3),
            "4" => Ok(Severity::Sev4),
            "5" => Ok(Severity::Sev5),
            _ => Err(format!("`{s}` is not a severity (SEV1 … SEV5, SEV1 worst)")),
        }
    }
}

macro_rules! snake_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? } what = $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
                $name::ALL.iter().copied().find(|v| v.as_str().replace('-', "_") == wanted).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("`{s}` is not a known {} ({})", $what, names.join(", "))
                })
            }
        }
    };
}
pub(crate) use snake_enum;

snake_enum! {
    /// Cachet's component statuses, for a human override on the status page.
    ComponentStatus {
        Operational = "operational",
        PerformanceIssues = "performance_issues",
        PartialOutage = "partial_outage",
        MajorOutage = "major_outage",
    } what = "component status"
}

snake_enum! {
    /// Response roles held by people (PagerDuty's names).
    Role {
        IncidentCommander = "incident_commander",
        Deputy = "deputy",
        Scribe = "scribe",
        SubjectMatterExpert = "subject_matter_expert",
        CustomerLiaison = "customer_liaison",
        InternalLiaison = "internal_liaison",
    } what = "role"
}

snake_enum! {
    /// Points in time from which the response metrics are derived.
    Milestone {
        Started = "started",
        Detected = "detected",
        Declared = "declared",
        Acknowledged = "acknowledged",
        Mitigated = "mitigated",
        Recovered = "recovered",
        Resolved = "resolved",
    } what = "milestone"
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub title: String,
    pub impact: String,
    pub severity: Severity,
    pub status: Status,
    pub drill: bool,
    pub declared_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closure: Option<ClosureReason>,
    pub roles: BTreeMap<Role, String>,
    pub milestones: BTreeMap<Milestone, DateTime<Utc>>,
    pub timeline: Vec<TimelineEntry>,
    /// When the last entry was written: for "recently active" sorting and ages.
    pub updated_at: DateTime<Utc>,
    /// The playbook being worked, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checklist: Option<super::comms::Checklist>,
    /// Every message sent about this incident, with its delivery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<super::comms::Message>,
    /// Audiences whose next update was pushed back, and until when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub snoozed: BTreeMap<super::playbook::Audience, DateTime<Utc>>,
    /// Services this incident is about (probes link to incidents through these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Seen only by its members and admins (see [`Incident::visible_to`]).
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub private: bool,
    /// People added to a private incident by its commander or an admin.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub members: BTreeSet<String>,
    /// The chaos run whose blast radius it was declared in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<super::chaos::RunId>,
    /// The game day it was declared in (a drill of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gameday: Option<super::gameday::GameDayId>,
    /// The hero team whose drill it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The postmortem, once written (kept in summaries: stats read its failure class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postmortem: Option<super::postmortem::Postmortem>,
    /// Follow-ups (kept in summaries: `warroom actions` lists them across incidents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<super::postmortem::ActionItem>,
    /// Set on a windowed copy of a closed incident: what it does not hold (see
    /// [`super::window`]). Never in the log, only in states served to readers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elided: Option<super::Elided>,
}

fn services_of(declared: &Fact) -> Vec<String> {
    match declared {
        Fact::IncidentDeclared { services, .. } => services.clone(),
        _ => Vec::new(),
    }
}

/// Response metrics derived from milestones (FireFighter's definitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Durations {
    pub time_to_detect: Option<Duration>,
    pub time_to_acknowledge: Option<Duration>,
    pub time_to_mitigate: Option<Duration>,
    pub time_to_recover: Option<Duration>,
}

impl Incident {
    pub fn milestone(&self, m: Milestone) -> Option<DateTime<Utc>> {
        self.milestones.get(&m).copied()
    }

    pub fn declared_at(&self) -> DateTime<Utc> {
        self.milestone(Milestone::Declared).unwrap_or(self.updated_at)
    }

    pub fn commander(&self) -> Option<&str> {
        self.roles.get(&Role::IncidentCommander).map(String::as_str)
    }

    pub fn durations(&self) -> Durations {
        // Subtracting two representable times cannot overflow (the range is ~525 000 years,
        // a `Duration` holds ~292 million).
        let between = |a: Milestone, b: Milestone| Some(self.milestone(b)? - self.milestone(a)?);
        Durations {
            time_to_detect: between(Milestone::Started, Milestone::Detected),
            time_to_acknowledge: between(Milestone::Declared, Milestone::Acknowledged),
            time_to_mitigate: between(Milestone::Declared, Milestone::Mitigated),
            time_to_recover: between(Milestone::Started, Milestone::Recovered),
        }
    }
}

/// `1h05m`, `4m12s`, `38s`: compact, for tables and headers.
pub fn format_duration(d: Duration) -> String {
    let secs = d.num_seconds();
    let sign = if secs < 0 { "-" } else { "" };
    let secs = secs.unsigned_abs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if secs >= 86_400 {
        format!("{sign}{}d{:02}h", secs / 86_400, h % 24)
    } else if h > 0 {
        format!("{sign}{h}h{m:02}m")
    } else if m > 0 {
        format!("{sign}{m}m{s:02}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// Decides the intents about an incident itself: declaring, notes, status, severity, roles
/// and milestones.
pub(super) fn decide(state: &State, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
    let fact = match intent {
        Intent::DeclareIncident { title, severity, impact, drill, services, private } => {
            check_text("title", title, MAX_TITLE)?;
            check_len("impact", impact, MAX_TEXT)?;
            check_count("services", services, MAX_SERVICES)?;
            for (i, s) in services.iter().enumerate() {
                check_len("services", s, MAX_NAME).map_err(|e| match e {
                    Rejection::Invalid { field, detail } => {
                        Rejection::Invalid { field, detail: format!("entry {} {detail}", i + 1) }
                    }
                    other => other,
                })?;
            }
            let incident = state.next_incident_id()?;
            // While a game day runs, an incident is a drill of it, its declarer's team's.
            let trimmed: Vec<String> =
                services.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            let game = super::gameday::declaring(state, cx, *drill, &trimmed);
            let drill = *drill || game.is_some();
            let (gameday, team) = game.map_or((None, None), |(g, t)| (Some(g), t));
            let declared = Fact::IncidentDeclared {
                incident,
                title: title.trim().to_string(),
                severity: *severity,
                impact: impact.trim().to_string(),
                drill,
                services: trimmed,
                private: *private,
                gameday,
                team,
            };
            let link = super::chaos::link(state, incident, &services_of(&declared), cx.now);
            // Communicate first: the default playbook comes with the declaration.
            let mut facts = vec![declared];
            facts.extend(
                cx.library
                    .default_for(*severity, drill)
                    .map(|checklist| Fact::PlaybookAttached { incident, checklist }),
            );
            facts.extend(link);
            return Ok(facts);
        }
        Intent::AddNote { incident, text } => {
            state.incident(*incident)?;
            check_text("text", text, MAX_TEXT)?;
            Fact::NoteAdded { incident: *incident, text: text.clone() }
        }
        Intent::SetStatus { incident, status, reason } => {
            let inc = state.incident(*incident)?;
            if let Some(r) = reason {
                check_len("reason", r, MAX_TEXT)?;
            }
            let closure = check_transition(inc.status, *status, reason.as_deref())
                .map_err(|e| Rejection::Conflict(format!("{incident}: {e}")))?;
            if closure == Some(ClosureReason::Resolved) {
                super::postmortem::check_close(inc, cx)?;
            }
            // Reopening what was closed undoes a decision: the people who make those make it.
            if inc.status == Status::Closed
                && !matches!(cx.role, super::UserRole::Commander | super::UserRole::Admin)
            {
                return Err(Rejection::Forbidden(format!(
                    "only a commander or an admin reopens a closed incident ({incident}); you are {}",
                    cx.role
                )));
            }
            Fact::StatusChanged {
                incident: *incident,
                from: inc.status,
                to: *status,
                reason: reason.as_ref().map(|r| r.trim().to_string()).filter(|r| !r.is_empty()),
                closure,
            }
        }
        Intent::SetSeverity { incident, severity } => {
            let inc = state.incident(*incident)?;
            if !inc.status.is_open() {
                return Err(Rejection::Conflict(format!("{incident} is closed")));
            }
            if inc.severity == *severity {
                return Err(Rejection::Conflict(format!("{incident} is already {severity}")));
            }
            Fact::SeverityChanged { incident: *incident, from: inc.severity, to: *severity }
        }
        Intent::AssignRole { incident, role, person } => {
            let inc = state.incident(*incident)?;
            check_text("person", person, MAX_NAME)?;
            check_person(person, cx)?;
            let person = person.trim().to_string();
            let previous = inc.roles.get(role).cloned();
            if previous.as_deref() == Some(person.as_str()) {
                return Err(Rejection::Conflict(format!("{person} is already {role} of {incident}")));
            }
            Fact::RoleAssigned { incident: *incident, assigned_role: *role, person, previous }
        }
        Intent::AddMember { .. } | Intent::RemoveMember { .. } => members::decide(state, intent, cx)?,
        Intent::SetMilestone { incident, milestone, time } => {
            state.incident(*incident)?;
            check_milestone_time(*time, cx.now)?;
            Fact::MilestoneSet { incident: *incident, milestone: *milestone, time: *time }
        }
        other => return Err(super::misrouted("incident", other)),
    };
    Ok(vec![fact])
}

/// A declaration opens a new incident, its declarer in command.
pub(super) fn apply_declared(state: &mut State, event: &Event) {
    let Fact::IncidentDeclared { incident, title, severity, impact, drill, services, private, gameday, team } =
        &event.fact
    else {
        return;
    };
    let at = event.at;
    let mut inc = Incident {
        id: *incident,
        title: title.clone(),
        impact: impact.clone(),
        severity: *severity,
        status: Status::Declared,
        drill: *drill,
        declared_by: event.actor.clone(),
        closure: None,
        caused_by: None,
        // Whoever declares commands until they hand over.
        roles: BTreeMap::from([(Role::IncidentCommander, event.actor.clone())]),
        milestones: BTreeMap::from([(Milestone::Declared, at)]),
        timeline: Vec::new(),
        updated_at: at,
        checklist: None,
        messages: Vec::new(),
        snoozed: BTreeMap::new(),
        services: services.clone(),
        private: *private,
        members: BTreeSet::new(),
        gameday: *gameday,
        team: team.clone(),
        postmortem: None,
        actions: Vec::new(),
        elided: None,
    };
    inc.timeline
        .push(TimelineEntry::of(event, EntryKind::Declared { title: title.clone(), severity: *severity }));
    state.incidents.insert(*incident, std::sync::Arc::new(inc));
}

/// Folds a fact about an incident itself into it; returns the timeline entry it writes.
pub(super) fn apply(inc: &mut Incident, event: &Event) -> Option<EntryKind> {
    let at = event.at;
    let kind = match &event.fact {
        Fact::NoteAdded { text, .. } => EntryKind::Note { text: text.clone() },
        Fact::StatusChanged { from, to, reason, closure, .. } => {
            inc.status = *to;
            inc.closure = *closure;
            for m in to.milestones_from(*from, *closure) {
                inc.milestones.entry(m).or_insert(at);
            }
            EntryKind::StatusChange { from: *from, to: *to, reason: reason.clone() }
        }
        Fact::SeverityChanged { from, to, .. } => {
            inc.severity = *to;
            EntryKind::SeverityChange { from: *from, to: *to }
        }
        Fact::RoleAssigned { assigned_role, person, previous, .. } => {
            inc.roles.insert(*assigned_role, person.clone());
            EntryKind::RoleChange { role: *assigned_role, person: person.clone(), previous: previous.clone() }
        }
        Fact::MilestoneSet { milestone, time, .. } => {
            inc.milestones.insert(*milestone, *time);
            EntryKind::Milestone { milestone: *milestone, time: *time }
        }
        // Membership writes no timeline entry: the log keeps who changed it and when, and
        // the timeline is for the response itself.
        Fact::MemberAdded { person, .. } => {
            inc.members.insert(person.clone());
            return None;
        }
        Fact::MemberRemoved { person, .. } => {
            inc.members.remove(person);
            return None;
        }
        // The other facts belong to other aggregates; `State::apply` routes them.
        _ => return None,
    };
    Some(kind)
}

/// The name the server's own actors (probes, the notifier) act under: always a valid person.
pub const SYSTEM_ACTOR: &str = "warroom";

/// A person named for a role or a step must be one of the server's users (or the server
/// itself), so a typo never hands a role to nobody. A library without users (tests, a replay
/// without the server's config) accepts any name, as before users were known.
pub(crate) fn check_person(person: &str, cx: &Context) -> Result<(), Rejection> {
    let users = &cx.library.users;
    let person = person.trim();
    if users.is_empty() || person == SYSTEM_ACTOR || users.iter().any(|u| u.trim() == person) {
        return Ok(());
    }
    let close = close_matches(person, users);
    let hint = if close.is_empty() {
        format!("users: {}", users.join(", "))
    } else {
        format!("did you mean {}?", close.join(" or "))
    };
    Err(Rejection::Invalid { field: "person", detail: format!("no user `{person}` on this server ({hint})") })
}

/// Names within two edits of `name` (ignoring case), or starting with it, closest first.
pub fn close_matches(name: &str, names: &[String]) -> Vec<String> {
    let wanted = name.to_lowercase();
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .filter_map(|n| {
            let lower = n.to_lowercase();
            let d = edit_distance(&wanted, &lower);
            ((d <= 2 && d < wanted.chars().count()) || (!wanted.is_empty() && lower.starts_with(&wanted)))
                .then_some((d, n))
        })
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, n)| n.clone()).take(3).collect()
}

/// Levenshtein distance over chars; names are short (at most `MAX_NAME`).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (up + 1).min(row[j] + 1).min(diag + usize::from(ca != *cb));
            diag = up;
        }
    }
    row[b.len()]
}

/// Milestones record what already happened: not before the epoch (no incident is older,
/// and times before it are typos like a year 0), and at most [`MILESTONE_SLACK`] after the
/// deciding clock. That keeps every time the clocks and metrics add to far from the end of
/// the representable range.
pub(super) fn check_milestone_time(time: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Rejection> {
    let latest = now.checked_add_signed(MILESTONE_SLACK).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let detail = if time < DateTime::UNIX_EPOCH {
        format!("{} is before 1970", time.to_rfc3339())
    } else if time > latest {
        format!("{} is more than a day after now ({})", time.to_rfc3339(), now.to_rfc3339())
    } else {
        return Ok(());
    };
    Err(Rejection::Invalid { field: "time", detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::intent::MAX_TITLE;
    use crate::model::tests::{declare, run, t};
    use crate::model::{Intent, Rejection, State};

    #[test]
    fn ids_and_enums_parse_forgivingly_and_print_canonically() {
        assert_eq!("INC-12".parse::<IncidentId>(), Ok(IncidentId(12)));
        assert_eq!("12".parse::<IncidentId>(), Ok(IncidentId(12)));
        assert!("INC-0".parse::<IncidentId>().is_err());
        assert!("INC-x".parse::<IncidentId>().is_err());
        assert_eq!("sev2".parse::<Severity>(), Ok(Severity::Sev2));
        assert!("SEV6".parse::<Severity>().is_err());
        assert_eq!("false-positive".parse::<ClosureReason>(), Ok(ClosureReason::FalsePositive));
        assert_eq!(
            serde_json::to_string(&(IncidentId(3), Severity::Sev1, Role::CustomerLiaison)).unwrap(),
            r#"["INC-3","SEV1","customer_liaison"]"#
        );
        let err = "boss".parse::<Role>().unwrap_err();
        assert!(err.contains("incident_commander"), "{err}");
    }

    #[test]
    fn durations_come_from_milestones() {
        let t0: DateTime<Utc> = "2026-11-21T10:00:00Z".parse().unwrap();
        let mut inc = Incident {
            id: IncidentId(1),
            title: "t".into(),
            impact: String::new(),
            severity: Severity::Sev2,
            status: Status::Declared,
            drill: false,
            declared_by: "alice".into(),
            closure: None,
            roles: BTreeMap::new(),
            milestones: BTreeMap::new(),
            timeline: vec![],
            updated_at: t0,
            checklist: None,
            messages: vec![],
            snoozed: BTreeMap::new(),
            services: vec![],
            private: false,
            members: BTreeSet::new(),
            caused_by: None,
            gameday: None,
            team: None,
            postmortem: None,
            actions: vec![],
            elided: None,
        };
        assert_eq!(inc.durations(), Durations::default());
        for (m, mins) in [
            (Milestone::Started, 0),
            (Milestone::Detected, 4),
            (Milestone::Declared, 6),
            (Milestone::Acknowledged, 7),
            (Milestone::Mitigated, 30),
            (Milestone::Recovered, 45),
        ] {
            inc.milestones.insert(m, t0 + Duration::minutes(mins));
        }
        let d = inc.durations();
        assert_eq!(d.time_to_detect, Some(Duration::minutes(4)));
        assert_eq!(d.time_to_acknowledge, Some(Duration::minutes(1)));
        assert_eq!(d.time_to_mitigate, Some(Duration::minutes(24)));
        assert_eq!(d.time_to_recover, Some(Duration::minutes(45)));
        assert_eq!(format_duration(Duration::seconds(3900)), "1h05m");
        assert_eq!(format_duration(Duration::seconds(252)), "4m12s");
    }

    #[test]
    fn declaring_numbers_incidents_and_makes_the_declarer_commander() {
        let mut s = State::default();
        let a = declare(&mut s, "Checkout is down", Severity::Sev1);
        let b = declare(&mut s, "Prices differ", Severity::Sev3);
        assert_eq!((a, b), (IncidentId(1), IncidentId(2)));
        let inc = s.incident(a).unwrap();
        assert_eq!(inc.commander(), Some("alice"));
        assert_eq!(inc.status, Status::Declared);
        assert_eq!(inc.milestone(Milestone::Declared), Some(t(0)));
        assert_eq!(inc.timeline.len(), 1);
        assert_eq!(s.seq, 2);
    }

    #[test]
    fn a_response_leaves_a_typed_timeline_and_stamps_milestones() {
        let mut s = State::default();
        let id = declare(&mut s, "Payments failing", Severity::Sev2);
        run(&mut s, "bob", Intent::AddNote { incident: id, text: "PSP returns 502".into() }).unwrap();
        run(&mut s, "alice", Intent::SetStatus { incident: id, status: Status::Investigating, reason: None })
            .unwrap();
        run(&mut s, "alice", Intent::SetSeverity { incident: id, severity: Severity::Sev1 }).unwrap();
        run(&mut s, "alice", Intent::AssignRole { incident: id, role: Role::Scribe, person: "carol".into() })
            .unwrap();
        run(&mut s, "alice", Intent::SetStatus { incident: id, status: Status::Mitigated, reason: None })
            .unwrap();
        let inc = s.incident(id).unwrap();
        let tags: Vec<_> = inc.timeline.iter().map(|e| e.kind.tag()).collect();
        assert_eq!(tags, ["declared", "note", "status", "severity", "role", "status"]);
        assert_eq!(inc.timeline[1].actor, "bob");
        assert_eq!(inc.severity, Severity::Sev1);
        assert_eq!(inc.roles[&Role::Scribe], "carol");
        assert!(inc.milestone(Milestone::Acknowledged).is_some());
        assert!(inc.milestone(Milestone::Mitigated).is_some());
        assert!(inc.durations().time_to_mitigate.is_some());
    }

    #[test]
    fn refusals_name_the_reason_and_change_nothing() {
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev2);
        let before = s.clone();
        assert_eq!(
            run(&mut s, "a", Intent::AddNote { incident: IncidentId(9), text: "n".into() }).unwrap_err(),
            Rejection::UnknownIncident(IncidentId(9))
        );
        assert!(matches!(
            run(&mut s, "a", Intent::AddNote { incident: id, text: "  ".into() }),
            Err(Rejection::Invalid { field: "text", .. })
        ));
        assert!(matches!(
            run(&mut s, "a", Intent::SetStatus { incident: id, status: Status::Closed, reason: None }),
            Err(Rejection::Conflict(_))
        ));
        assert!(matches!(
            run(&mut s, "a", Intent::SetSeverity { incident: id, severity: Severity::Sev2 }),
            Err(Rejection::Conflict(_))
        ));
        let long = "x".repeat(MAX_TITLE + 1);
        assert!(matches!(
            run(
                &mut s,
                "a",
                Intent::DeclareIncident {
                    title: long,
                    severity: Severity::Sev1,
                    impact: "".into(),
                    drill: false,
                    services: Vec::new(),
                    private: false,
                }
            ),
            Err(Rejection::Invalid { field: "title", .. })
        ));
        assert_eq!(s, before);
    }

    fn with_users(users: &[&str]) -> crate::model::Library {
        crate::model::Library { users: users.iter().map(|u| u.to_string()).collect(), ..Default::default() }
    }

    fn decide_as(
        s: &State,
        role: crate::model::UserRole,
        lib: &crate::model::Library,
        intent: Intent,
    ) -> Result<Vec<Fact>, Rejection> {
        let cx = Context { library: lib, now: t(0), command_id: uuid::Uuid::nil(), role, actor: "alice" };
        s.decide_with(&intent, &cx)
    }

    #[test]
    fn a_role_goes_only_to_a_known_user_and_a_typo_is_told_the_close_matches() {
        use crate::model::UserRole;
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev2);
        let lib = with_users(&["alice", "bob", "bobby", "carol"]);
        let assign =
            |person: &str| Intent::AssignRole { incident: id, role: Role::Scribe, person: person.into() };
        assert!(decide_as(&s, UserRole::Commander, &lib, assign(" bob ")).is_ok());
        assert!(decide_as(&s, UserRole::Commander, &lib, assign(SYSTEM_ACTOR)).is_ok());
        match decide_as(&s, UserRole::Commander, &lib, assign("bbo")) {
            Err(Rejection::Invalid { field: "person", detail }) => {
                assert_eq!(detail, "no user `bbo` on this server (did you mean bob?)")
            }
            other => panic!("{other:?}"),
        }
        match decide_as(&s, UserRole::Commander, &lib, assign("nob0dy-typo")) {
            Err(Rejection::Invalid { field: "person", detail }) => {
                assert_eq!(detail, "no user `nob0dy-typo` on this server (users: alice, bob, bobby, carol)")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(close_matches("Carl", &lib.users), ["carol"]);
        assert_eq!(close_matches("b", &lib.users), ["bob", "bobby"]);
        // Without a user list (no config, a replay) any name is taken, as before.
        assert!(decide_as(&s, UserRole::Commander, &with_users(&[]), assign("dana")).is_ok());
    }

    #[test]
    fn a_closed_incident_is_reopened_by_a_commander_or_an_admin_with_a_reason() {
        use crate::model::UserRole;
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev3);
        run(
            &mut s,
            "alice",
            Intent::SetStatus { incident: id, status: Status::Closed, reason: Some("cancelled".into()) },
        )
        .unwrap();
        let lib = crate::model::Library::default();
        let reopen = |reason: Option<&str>| Intent::SetStatus {
            incident: id,
            status: Status::Investigating,
            reason: reason.map(str::to_string),
        };
        let refused = decide_as(&s, UserRole::Responder, &lib, reopen(Some("errors are back")));
        assert!(
            matches!(&refused, Err(Rejection::Forbidden(why)) if why.contains("only a commander or an admin")),
            "{refused:?}"
        );
        let no_reason = decide_as(&s, UserRole::Commander, &lib, reopen(None));
        assert!(
            matches!(&no_reason, Err(Rejection::Conflict(why)) if why.contains("give a reason")),
            "{no_reason:?}"
        );
        for role in [UserRole::Commander, UserRole::Admin] {
            assert!(decide_as(&s, role, &lib, reopen(Some("errors are back"))).is_ok());
        }
        run(&mut s, "alice", reopen(Some("errors are back"))).unwrap();
        let inc = s.incident(id).unwrap();
        assert_eq!((inc.status, inc.closure), (Status::Investigating, None));
        let bad = run(
            &mut s,
            "alice",
            Intent::SetStatus { incident: id, status: Status::Closed, reason: Some("fixed it".into()) },
        );
        assert!(
            matches!(&bad, Err(Rejection::Conflict(why)) if why.contains("resolved, duplicate, false_positive or cancelled")),
            "{bad:?}"
        );
    }
}
