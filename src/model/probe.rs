//! Health probes and status page components: each probe's health in the room, thresholds
//! that stop a flapping service from flapping the room, and the facts a probe change causes.
//! Pure: the server's runner feeds it results (checked with the conditions in `condition`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, Fact};
use super::incident::snake_enum;
use super::incident::Milestone;
use super::intent::{
    check_name, check_text, clip, Intent, Rejection, MAX_DETAIL, MAX_FAILED, MAX_NAME, MAX_TEXT,
};
use super::timeline::{EntryKind, TimelineEntry};
use super::{Context, IncidentId, State};

/// Most components the status page holds by hand (besides the configured ones): the public
/// page stays a page.
pub const MAX_COMPONENTS: usize = 200;

mod condition;
mod spec;
pub use condition::{classify, parse_all, Condition, Observation, Verdict};
pub use spec::{ProbeConfig, ProbeDuration, ProbeKind, Spec};

snake_enum! {
    /// A service's health as the room sees it.
    Health {
        Up = "up",
        Degraded = "degraded",
        Down = "down",
        Unknown = "unknown",
    } what = "health"
}

impl Health {
    /// Cachet's component status for the public page.
    pub fn component(self) -> &'static str {
        match self {
            Health::Up => "operational",
            Health::Degraded => "performance_issues",
            Health::Down => "major_outage",
            Health::Unknown => "unknown",
        }
    }

    pub fn is_bad(self) -> bool {
        matches!(self, Health::Degraded | Health::Down)
    }
}

/// The room's view after a new sample: thresholds keep one bad (or good) sample from
/// flapping it. `recent` is newest last.
pub fn next_health(
    current: Health,
    recent: &[Health],
    failure_threshold: usize,
    success_threshold: usize,
) -> Health {
    let Some(latest) = recent.last() else { return current };
    let last_n = |n: usize| -> Option<&[Health]> {
        (recent.len() >= n.max(1)).then(|| &recent[recent.len() - n.max(1)..])
    };
    let all = |n: usize, f: &dyn Fn(Health) -> bool| last_n(n).is_some_and(|s| s.iter().all(|h| f(*h)));
    match current {
        Health::Unknown => *latest,
        Health::Up | Health::Degraded if all(failure_threshold, &|h| h == Health::Down) => Health::Down,
        Health::Up if all(failure_threshold, &|h| h != Health::Up) => Health::Degraded,
        Health::Down if all(success_threshold, &|h| h == Health::Up) => Health::Up,
        Health::Down if all(success_threshold, &|h| h != Health::Down) => Health::Degraded,
        Health::Degraded if all(success_threshold, &|h| h == Health::Up) => Health::Up,
        other => other,
    }
}

/// A probe's state in the shared view: only changes are logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeState {
    pub health: Health,
    pub since: DateTime<Utc>,
    /// The failed conditions (with values) that made it bad.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

/// One run of one probe: not logged, kept in a bounded ring and streamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub probe: String,
    pub at: DateTime<Utc>,
    /// When it was scheduled to run (for jitter).
    pub scheduled: DateTime<Utc>,
    pub health: Health,
    pub response_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Share of this probe's samples in the last hour that were not down, this one included
    /// (computed by the server from its full ring, so clients need not hold an hour).
    #[serde(default)]
    pub uptime_hour: f64,
}

/// Decides the intents about probes and status page components: a probe's health changing
/// (which may declare an incident) and a human setting a component.
pub(super) fn decide(state: &State, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
    let fact = match intent {
        Intent::SetComponent { component, status } => {
            check_text("component", component, MAX_NAME)?;
            let overridden = state.components.contains_key(component);
            if status.is_none() && !overridden {
                return Err(Rejection::Conflict(format!("{component} already follows its probe")));
            }
            // The public page lists the configured probes and what a commander or an admin
            // put there on purpose: a responder's typo must not invent a component.
            let known = overridden || cx.library.components.iter().any(|c| c == component);
            if !known && !cx.role.may_create_components() {
                return Err(Rejection::UnknownComponent(component.clone()));
            }
            // A new one goes on the public page: a name to read, and a page of bounded size.
            if !known {
                check_name("component", component, MAX_NAME)?;
                if state.components.len() >= MAX_COMPONENTS {
                    return Err(Rejection::Conflict(format!(
                        "the status page already holds {MAX_COMPONENTS} components set by hand: \
                         clear one first (status null)"
                    )));
                }
            }
            Fact::ComponentSet { component: component.clone(), status: *status }
        }
        Intent::RecordProbe { probe, health, failed, auto_declare } => {
            check_text("probe", probe, MAX_NAME)?;
            // The failures explain the change; too many or too long ones are cut, not
            // refused, so the change itself is never lost.
            let mut failed_cut: Vec<String> =
                failed.iter().take(MAX_FAILED).map(|f| clip(f, MAX_DETAIL)).collect();
            if failed.len() > MAX_FAILED {
                failed_cut.push(format!("… and {} more", failed.len() - MAX_FAILED));
            }
            let failed = &failed_cut;
            let from = state.probes.get(probe).map_or(Health::Unknown, |p| p.health);
            if from == *health {
                return Err(Rejection::Conflict(format!("{probe} is already {health}")));
            }
            let mut facts =
                vec![Fact::ProbeChanged { probe: probe.clone(), from, to: *health, failed: failed.clone() }];
            let linked = state.incidents.values().any(|i| i.status.is_open() && i.services.contains(probe));
            if let (Some(severity), true, false) = (auto_declare, *health == Health::Down, linked) {
                // During a game day (an open drill), what the probes find is part of it.
                let game = super::gameday::declaring(state, cx, false, std::slice::from_ref(probe));
                let drill = game.is_some() || state.incidents.values().any(|i| i.status.is_open() && i.drill);
                let incident = state.next_incident_id()?;
                facts.push(Fact::IncidentDeclared {
                    incident,
                    title: format!("{probe} is down"),
                    severity: *severity,
                    impact: clip(&failed.join("; "), MAX_TEXT),
                    drill,
                    services: vec![probe.clone()],
                    private: false,
                    gameday: game.map(|(g, _)| g),
                    team: None,
                });
                if let Some(checklist) = cx.library.default_for(*severity, drill) {
                    facts.push(Fact::PlaybookAttached { incident, checklist });
                }
                facts.extend(super::chaos::link(state, incident, std::slice::from_ref(probe), cx.now));
            }
            return Ok(facts);
        }
        other => return Err(super::misrouted("probe", other)),
    };
    Ok(vec![fact])
}

/// The incidents a probe's change from `from` to `to` is news to: the open ones about it.
/// A first "up" (a probe just started) is no news to an incident.
pub(super) fn hearing<'s>(
    state: &'s State,
    probe: &'s str,
    from: Health,
    to: Health,
) -> impl Iterator<Item = IncidentId> + 's {
    let news = !(from == Health::Unknown && to == Health::Up);
    state
        .incidents
        .values()
        .filter(move |i| news && i.status.is_open() && i.services.iter().any(|s| s == probe))
        .map(|i| i.id)
}

/// Folds a probe's change or a component's override into the state; open incidents about
/// the probe hear of the change on their timeline.
pub(super) fn apply(state: &mut State, event: &Event) {
    let at = event.at;
    match &event.fact {
        Fact::ProbeChanged { probe, from, to, failed } => {
            state.probes.insert(probe.clone(), ProbeState { health: *to, since: at, failed: failed.clone() });
            // Every open incident about this service hears of it; a bad turn is the
            // moment of detection if nobody recorded one.
            let hearing: Vec<IncidentId> = hearing(state, probe, *from, *to).collect();
            for id in hearing {
                let Some(inc) = state.incidents.get_mut(&id).map(std::sync::Arc::make_mut) else { continue };
                inc.updated_at = at;
                if to.is_bad() {
                    inc.milestones.entry(Milestone::Detected).or_insert(at);
                }
                inc.timeline.push(TimelineEntry::of(
                    event,
                    EntryKind::Health { probe: probe.clone(), health: *to, failed: failed.clone() },
                ));
            }
        }
        Fact::ComponentSet { component, status } => match status {
            Some(s) => {
                state.components.insert(component.clone(), *s);
            }
            None => {
                state.components.remove(component);
            }
        },
        // The other facts belong to other aggregates; `State::apply` routes them.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::intent::{MAX_DETAIL, MAX_FAILED, MAX_TEXT};
    use crate::model::tests::t;
    use crate::model::{Context, Fact, Intent, Library, Rejection, Severity, State, UserRole};
    use uuid::Uuid;

    #[test]
    fn thresholds_stop_flapping() {
        use Health::*;
        assert_eq!(next_health(Unknown, &[Down], 3, 2), Down);
        assert_eq!(next_health(Up, &[Up, Down], 3, 2), Up);
        assert_eq!(next_health(Up, &[Down, Down], 3, 2), Up);
        assert_eq!(next_health(Up, &[Down, Down, Down], 3, 2), Down);
        assert_eq!(next_health(Up, &[Degraded, Down, Degraded], 3, 2), Degraded);
        assert_eq!(next_health(Down, &[Down, Up], 3, 2), Down);
        assert_eq!(next_health(Down, &[Up, Up], 3, 2), Up);
        assert_eq!(next_health(Down, &[Degraded, Up], 3, 2), Degraded);
        assert_eq!(next_health(Degraded, &[Up, Up], 3, 2), Up);
        assert_eq!(next_health(Degraded, &[Down, Down, Down], 3, 2), Down);
    }

    #[test]
    fn the_servers_own_reports_are_cut_not_refused() {
        let s = State::default();
        let failed = vec!["x".repeat(5000); 40];
        let facts = s
            .decide(&Intent::RecordProbe {
                probe: "payment".into(),
                health: Health::Down,
                failed,
                auto_declare: Some(Severity::Sev2),
            })
            .unwrap();
        let Fact::ProbeChanged { failed, .. } = &facts[0] else { panic!("{facts:?}") };
        assert_eq!(failed.len(), MAX_FAILED + 1);
        assert_eq!(failed.last().map(String::as_str), Some("… and 8 more"));
        assert!(failed.iter().all(|f| f.chars().count() <= MAX_DETAIL + 1));
        let Fact::IncidentDeclared { impact, .. } = &facts[1] else { panic!("{facts:?}") };
        assert!(impact.chars().count() <= MAX_TEXT + 1);
    }

    #[test]
    fn only_commanders_and_admins_add_status_page_components() {
        use crate::model::incident::ComponentStatus::MajorOutage;
        let library = Library { components: vec!["payment".into()], ..Library::default() };
        let s = State::default();
        let as_role = |role, component: &str| {
            let cx = Context { library: &library, now: t(0), command_id: Uuid::nil(), role, actor: "" };
            let intent = Intent::SetComponent { component: component.into(), status: Some(MajorOutage) };
            s.decide_with(&intent, &cx)
        };
        assert!(as_role(UserRole::Responder, "payment").is_ok(), "a configured probe is a component");
        assert_eq!(
            as_role(UserRole::Responder, "paymnet"),
            Err(Rejection::UnknownComponent("paymnet".into())),
            "a responder's typo invents nothing"
        );
        assert!(as_role(UserRole::Commander, "cdn").is_ok());
        assert!(as_role(UserRole::Admin, "cdn").is_ok());
        // A new one goes on the public page: no control characters, no hidden ones.
        for bad in ["cdn\u{1b}[2J", "cdn\u{1b}]52;c;SGk=\u{7}", "a\nb", "pay\u{202e}ment"] {
            assert!(
                matches!(as_role(UserRole::Admin, bad), Err(Rejection::Invalid { field: "component", .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_status_page_holds_a_bounded_number_of_components_set_by_hand() {
        use crate::model::incident::ComponentStatus::MajorOutage;
        let library = Library::default();
        let cx = Context::admin(&library, t(0));
        let mut s = State::default();
        for n in 0..MAX_COMPONENTS {
            s.components.insert(format!("c{n}"), MajorOutage);
        }
        let new = Intent::SetComponent { component: "one-more".into(), status: Some(MajorOutage) };
        assert!(matches!(s.decide_with(&new, &cx), Err(Rejection::Conflict(_))));
        // One already there can still be changed or cleared.
        let clear = Intent::SetComponent { component: "c7".into(), status: None };
        assert!(s.decide_with(&clear, &cx).is_ok());
    }
}
