//! Incidents: identity, severity, the status state machine, response roles and milestones.
//! Every rule about what may happen to an incident lives here, so server and clients agree.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::timeline::TimelineEntry;

/// `INC-7`: assigned by the server, in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IncidentId(pub u64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

impl FromStr for IncidentId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix("INC-").or_else(|| s.strip_prefix("inc-")).unwrap_or(s);
        digits
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(IncidentId)
            .ok_or_else(|| format!("`{s}` is not an incident id (expected INC-<number>)"))
    }
}

impl TryFrom<String> for IncidentId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<IncidentId> for String {
    fn from(id: IncidentId) -> String {
        id.to_string()
    }
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
    /// The incident lifecycle, in order. Transitions are decided by [`check_transition`].
    Status {
        Declared = "declared",
        Investigating = "investigating",
        Mitigating = "mitigating",
        Mitigated = "mitigated",
        Postmortem = "postmortem",
        Closed = "closed",
    } what = "status"
}

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
    /// Why an incident was closed; needed whenever it skips the postmortem.
    ClosureReason {
        Resolved = "resolved",
        Duplicate = "duplicate",
        FalsePositive = "false_positive",
        Cancelled = "cancelled",
    } what = "closure reason"
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

impl Status {
    pub fn is_open(self) -> bool {
        self != Status::Closed
    }

    /// The statuses a responder may move to from `self` (for menus and completion).
    pub fn next_choices(self) -> Vec<Status> {
        Status::ALL.iter().copied().filter(|to| transition_rule(self, *to).is_some()).collect()
    }

    /// The milestone this status stamps the first time it is reached.
    pub fn milestone(self) -> Option<Milestone> {
        match self {
            Status::Investigating => Some(Milestone::Acknowledged),
            Status::Mitigated => Some(Milestone::Mitigated),
            Status::Closed => Some(Milestone::Resolved),
            _ => None,
        }
    }
}

impl ClosureReason {
    /// Reads a closure reason from the start of a free-text reason: `duplicate: of INC-3`.
    pub fn from_reason_text(text: &str) -> Option<ClosureReason> {
        let head = text.split(|c: char| c == ':' || c.is_whitespace()).next().unwrap_or("");
        head.parse().ok()
    }
}

/// What a transition asks of the person making it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionRule {
    /// Forward along the lifecycle.
    Free,
    /// Back to investigating: a written reason is required.
    Reopen,
    /// Straight to closed, skipping the postmortem: a closure reason is required.
    CloseEarly,
}

/// The single place that says which status changes exist at all.
pub fn transition_rule(from: Status, to: Status) -> Option<TransitionRule> {
    use Status::*;
    match (from, to) {
        (Closed, _) => None,
        (Postmortem, Closed) => Some(TransitionRule::Free),
        (_, Closed) => Some(TransitionRule::CloseEarly),
        (Mitigated | Postmortem, Investigating) => Some(TransitionRule::Reopen),
        // Forward moves may skip steps (a fast fix goes declared → mitigated).
        (f, t) if t > f => Some(TransitionRule::Free),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot go from {from} to {to}")]
    NotAllowed { from: Status, to: Status },
    #[error("already {0}")]
    Unchanged(Status),
    #[error("going back from {from} to investigating reopens the incident: give a reason")]
    ReasonRequired { from: Status },
    #[error("closing from {from} skips the postmortem: give a closure reason (resolved, duplicate, false_positive or cancelled)")]
    ClosureRequired { from: Status },
    #[error("{severity} is a major incident: it needs a postmortem before closing as resolved")]
    PostmortemRequired { severity: Severity },
}

/// Checks a status change and returns the closure reason it carries, if it closes.
pub fn check_transition(
    from: Status,
    to: Status,
    severity: Severity,
    reason: Option<&str>,
) -> Result<Option<ClosureReason>, TransitionError> {
    if from == to {
        return Err(TransitionError::Unchanged(from));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match transition_rule(from, to).ok_or(TransitionError::NotAllowed { from, to })? {
        TransitionRule::Free if to == Status::Closed => {
            Ok(Some(reason.and_then(ClosureReason::from_reason_text).unwrap_or(ClosureReason::Resolved)))
        }
        TransitionRule::Free => Ok(None),
        TransitionRule::Reopen => match reason {
            Some(_) => Ok(None),
            None => Err(TransitionError::ReasonRequired { from }),
        },
        TransitionRule::CloseEarly => {
            let closure = reason
                .and_then(ClosureReason::from_reason_text)
                .ok_or(TransitionError::ClosureRequired { from })?;
            if closure == ClosureReason::Resolved && severity.is_major() {
                return Err(TransitionError::PostmortemRequired { severity });
            }
            Ok(Some(closure))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_moves_forward_freely() {
        use Status::*;
        for pair in [Declared, Investigating, Mitigating, Mitigated, Postmortem, Closed].windows(2) {
            assert!(check_transition(pair[0], pair[1], Severity::Sev1, None).is_ok(), "{pair:?}");
        }
        assert_eq!(check_transition(Declared, Mitigated, Severity::Sev3, None), Ok(None));
    }

    #[test]
    fn going_backwards_is_a_reopen_that_needs_a_reason() {
        use Status::*;
        assert_eq!(
            check_transition(Mitigated, Investigating, Severity::Sev2, None),
            Err(TransitionError::ReasonRequired { from: Mitigated })
        );
        assert_eq!(
            check_transition(Postmortem, Investigating, Severity::Sev2, Some("  ")),
            Err(TransitionError::ReasonRequired { from: Postmortem })
        );
        assert_eq!(
            check_transition(Mitigated, Investigating, Severity::Sev2, Some("errors are back")),
            Ok(None)
        );
        assert!(matches!(
            check_transition(Mitigating, Declared, Severity::Sev2, Some("x")),
            Err(TransitionError::NotAllowed { .. })
        ));
        assert!(matches!(
            check_transition(Mitigated, Mitigating, Severity::Sev2, Some("x")),
            Err(TransitionError::NotAllowed { .. })
        ));
    }

    #[test]
    fn closed_is_final_and_same_status_is_refused() {
        for to in Status::ALL {
            assert!(check_transition(Status::Closed, *to, Severity::Sev4, Some("resolved")).is_err());
        }
        assert_eq!(
            check_transition(Status::Mitigating, Status::Mitigating, Severity::Sev4, None),
            Err(TransitionError::Unchanged(Status::Mitigating))
        );
    }

    #[test]
    fn closing_early_needs_a_closure_reason_and_majors_need_a_postmortem() {
        use Status::*;
        assert_eq!(
            check_transition(Investigating, Closed, Severity::Sev3, Some("because")),
            Err(TransitionError::ClosureRequired { from: Investigating })
        );
        assert_eq!(
            check_transition(Investigating, Closed, Severity::Sev3, Some("duplicate: of INC-3")),
            Ok(Some(ClosureReason::Duplicate))
        );
        assert_eq!(
            check_transition(Declared, Closed, Severity::Sev1, Some("false_positive")),
            Ok(Some(ClosureReason::FalsePositive))
        );
        assert_eq!(
            check_transition(Mitigated, Closed, Severity::Sev2, Some("resolved")),
            Err(TransitionError::PostmortemRequired { severity: Severity::Sev2 })
        );
        assert_eq!(
            check_transition(Mitigated, Closed, Severity::Sev3, Some("resolved")),
            Ok(Some(ClosureReason::Resolved))
        );
        assert_eq!(
            check_transition(Postmortem, Closed, Severity::Sev1, None),
            Ok(Some(ClosureReason::Resolved))
        );
    }

    #[test]
    fn menus_offer_only_allowed_transitions() {
        use Status::*;
        assert_eq!(Mitigated.next_choices(), vec![Investigating, Postmortem, Closed]);
        assert!(Closed.next_choices().is_empty());
    }

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
}
