//! Communication: the checklist attached to an incident, messages and their delivery, and
//! the clocks that say when each audience is due its next update. Clocks are a pure
//! function of the incident and `now`. Sending a message, recording its delivery and
//! snoozing a clock are decided and folded here.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::{Event, Fact};
use super::incident::{snake_enum, Incident, Severity, Status};
use super::intent::{check_text, clip, Intent, Rejection, MAX_DETAIL, MAX_NAME, MAX_TEXT};
use super::playbook::{Audience, Playbook, Step};
use super::timeline::EntryKind;
use super::{Context, State};

/// A playbook as attached to one incident, with who did what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checklist {
    pub playbook: String,
    pub title: String,
    pub steps: Vec<StepState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    #[serde(flatten)]
    pub step: Step,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticked: Option<Tick>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    pub by: String,
    pub at: DateTime<Utc>,
}

impl Checklist {
    pub fn from_playbook(pb: &Playbook) -> Checklist {
        Checklist {
            playbook: pb.id.clone(),
            title: pb.title.clone(),
            steps: pb
                .steps
                .iter()
                .map(|s| StepState { step: s.clone(), ticked: None, assignee: None })
                .collect(),
        }
    }

    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.steps.iter().find(|s| s.step.id == id)
    }

    pub fn step_mut(&mut self, id: &str) -> Option<&mut StepState> {
        self.steps.iter_mut().find(|s| s.step.id == id)
    }

    pub fn done(&self) -> usize {
        self.steps.iter().filter(|s| s.ticked.is_some()).count()
    }
}

snake_enum! {
    /// Cachet's public incident statuses. Each update carries the one it was sent with, and
    /// the status page shows the last published update's: it never runs ahead of what was said.
    PublicStatus {
        Investigating = "investigating",
        Identified = "identified",
        Watching = "watching",
        Fixed = "fixed",
    } what = "public status"
}

impl PublicStatus {
    /// The public status that says what our status means (declared and investigating both
    /// read "investigating"; postmortem and closed both read "fixed").
    pub fn of(s: Status) -> PublicStatus {
        match s {
            Status::Declared | Status::Investigating => PublicStatus::Investigating,
            Status::Mitigating => PublicStatus::Identified,
            Status::Mitigated => PublicStatus::Watching,
            Status::Postmortem | Status::Closed => PublicStatus::Fixed,
        }
    }
}

/// What the public status page shows for `inc` now: the status its last published update
/// carried. `None` when nothing was published (a drill's updates never are). Closing an
/// incident does not change it: only an update (the all-clear) does.
pub fn public_status(inc: &Incident) -> Option<PublicStatus> {
    inc.messages.iter().rev().filter(|m| m.audience == Audience::StatusPage).find_map(|m| match m.delivery {
        Delivery::Delivered { .. } => Some(m.status.unwrap_or(PublicStatus::of(inc.status))),
        _ => None,
    })
}

/// Why a drill's status page update is recorded and not published.
pub const NOT_PUBLISHED_DRILL: &str = "not published: drill";
/// Why a drill's message on a channel that reaches real people is recorded and not sent.
pub const NOT_SENT_DRILL: &str =
    "not sent: drill (this channel reaches real people; drills go to dry-run or game-day channels)";

/// What the channel of a message sent by hand outside warroom is recorded as.
pub const OUTSIDE: &str = "outside warroom";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Delivery {
    /// Waiting for its first attempt, or for a retry after `error`.
    Pending {
        attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Delivered {
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// Given up after too many attempts; still visible, never silent.
    Failed { attempts: u32, error: String },
    /// Deliberately not delivered (a drill's status page update): the audience was not told,
    /// but the exercise of telling it was done, so its clock moves as for a delivery.
    Withheld { at: DateTime<Utc>, reason: String },
    /// Told outside warroom (a Slack post, a phone call), recorded by ticking the step by
    /// hand: there is no text, and the audience's clock moves.
    SentOutside { at: DateTime<Utc> },
}

impl Delivery {
    /// When the audience counts as told: for the clocks.
    pub fn told_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Delivery::Delivered { at, .. } | Delivery::Withheld { at, .. } | Delivery::SentOutside { at } => {
                Some(*at)
            }
            Delivery::Pending { .. } | Delivery::Failed { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: Uuid,
    pub channel: String,
    pub audience: Audience,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub by: String,
    pub at: DateTime<Utc>,
    pub delivery: Delivery,
    /// The public status this update was sent with (absent in logs from before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PublicStatus>,
}

/// When an audience is next due an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clock {
    pub audience: Audience,
    /// [`NEVER`] when the due time is past the last representable one (a milestone or a
    /// delivery at the end of time in a damaged log): shown as "never", sorted last.
    pub due: DateTime<Utc>,
    /// The last time this audience was told (delivered, withheld in a drill, or sent
    /// outside warroom).
    pub last: Option<DateTime<Utc>>,
    pub cadence: Duration,
}

impl Clock {
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        now > self.due
    }
}

/// The first message to any audience is due this soon after declaring.
pub const FIRST_MESSAGE: i64 = 5 * 60;

/// The due time of a clock that can never come due.
pub const NEVER: DateTime<Utc> = DateTime::<Utc>::MAX_UTC;

/// Default minutes between updates, from practice (PagerDuty, GitLab).
pub fn default_cadence(audience: Audience, severity: Severity) -> Duration {
    let minutes = match (audience, severity) {
        (Audience::Staff, Severity::Sev1) => 15,
        (_, Severity::Sev1) => 20,
        (_, Severity::Sev2) => 30,
        _ => 60,
    };
    Duration::minutes(minutes)
}

/// The clocks of an incident: one per audience its checklist communicates with, while the
/// incident is being responded to (they stop at postmortem and closed).
pub fn clocks(inc: &Incident) -> Vec<Clock> {
    let Some(list) = &inc.checklist else { return Vec::new() };
    if matches!(inc.status, Status::Postmortem | Status::Closed) {
        return Vec::new();
    }
    let mut cadence: BTreeMap<Audience, Duration> = BTreeMap::new();
    for s in &list.steps {
        if let Some(a) = s.step.audience {
            let every = s
                .step
                .every
                .get(&inc.severity)
                .map(|e| e.duration())
                .unwrap_or(default_cadence(a, inc.severity));
            let c = cadence.entry(a).or_insert(every);
            *c = (*c).min(every);
        }
    }
    cadence
        .into_iter()
        .map(|(audience, cadence)| {
            let last = inc
                .messages
                .iter()
                .filter(|m| m.audience == audience)
                .filter_map(|m| m.delivery.told_at())
                .max();
            let base = match last {
                Some(t) => t.checked_add_signed(cadence),
                None => inc.declared_at().checked_add_signed(Duration::seconds(FIRST_MESSAGE)),
            }
            .unwrap_or(NEVER);
            let due = inc.snoozed.get(&audience).map_or(base, |s| base.max(*s));
            Clock { audience, due, last, cadence }
        })
        .collect()
}

/// `due in 04:12` / `overdue 01:03`, for the console and the CLI.
pub fn describe(clock: &Clock, now: DateTime<Utc>) -> String {
    if clock.due == NEVER {
        return format!("{} update due: never", clock.audience.label());
    }
    // Two representable times are at most ~525 000 years apart: their difference fits.
    let d = clock.due - now;
    let (word, d) = if d < Duration::zero() { ("overdue", -d) } else { ("due in", d) };
    let secs = d.num_seconds();
    let mmss = if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{:02}:{:02}", secs / 60, secs % 60)
    };
    format!("{} update {word} {mmss}", clock.audience.label())
}

/// The values a message template may use, for one incident and (optionally) one step.
pub fn template_values(
    inc: &Incident,
    audience: Option<Audience>,
    status_page_url: &str,
    now: DateTime<Utc>,
) -> BTreeMap<&'static str, String> {
    let cadence = audience
        .and_then(|a| clocks(inc).into_iter().find(|c| c.audience == a).map(|c| c.cadence))
        .or_else(|| audience.map(|a| default_cadence(a, inc.severity)))
        .unwrap_or_else(|| Duration::minutes(30));
    // Past the end of time there is no next update to promise.
    let next_update = match now.checked_add_signed(cadence) {
        Some(next) => format!("by {} UTC", next.format("%H:%M")),
        None => "later".to_string(),
    };
    BTreeMap::from([
        ("title", inc.title.clone()),
        ("severity", inc.severity.to_string()),
        ("impact", inc.impact.clone()),
        ("status", inc.status.to_string()),
        ("next_update", next_update),
        ("status_page_url", status_page_url.to_string()),
    ])
}

/// A step's message, rendered for sending now.
pub fn render_step(inc: &Incident, step: &Step, status_page_url: &str, now: DateTime<Utc>) -> Option<String> {
    let template = step.message.as_ref()?;
    Some(super::playbook::render(template, &template_values(inc, step.audience, status_page_url, now)))
}

/// Decides the intents about an incident's messages: sending one, recording its delivery,
/// snoozing an audience's clock.
pub(super) fn decide(state: &State, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
    let fact = match intent {
        Intent::SendMessage { incident, channel, text, step, status } => {
            let inc = state.incident(*incident)?;
            check_text("text", text, MAX_TEXT)?;
            check_text("channel", channel, MAX_NAME)?;
            if let Some(s) = step {
                check_text("step", s, MAX_NAME)?;
            }
            let info = cx.library.channels.get(channel).ok_or_else(|| Rejection::Invalid {
                field: "channel",
                detail: format!(
                    "no channel `{channel}` on this server (have: {})",
                    cx.library.channels.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                ),
            })?;
            let ticks = match step {
                Some(s) => state.step(*incident, s)?.ticked.is_none(),
                None => false,
            };
            let queued = Fact::MessageQueued {
                incident: *incident,
                message: cx.command_id,
                channel: channel.clone(),
                audience: info.audience,
                text: text.clone(),
                step: step.clone(),
                // What the update says about the incident is fixed when it is sent.
                status: Some(status.unwrap_or(PublicStatus::of(inc.status))),
            };
            // A drill never reaches a real customer: on a channel that would, the message is
            // recorded as withheld at once (the notifier never sends what is not pending), and
            // counts as the drill's update, as a drill's status page update does.
            if inc.drill && !info.takes_drills() {
                let mut facts = vec![
                    queued,
                    Fact::MessageWithheld {
                        incident: *incident,
                        message: cx.command_id,
                        reason: NOT_SENT_DRILL.into(),
                    },
                ];
                if let (Some(step), true) = (step, ticks) {
                    facts.push(Fact::StepTicked {
                        incident: *incident,
                        step: step.clone(),
                        by: Some(cx.actor.to_string()),
                        outside: None,
                    });
                }
                return Ok(facts);
            }
            queued
        }
        Intent::SnoozeClock { incident, audience, minutes } => {
            let inc = state.incident(*incident)?;
            if !(1..=240).contains(minutes) {
                return Err(Rejection::Invalid {
                    field: "minutes",
                    detail: "must be between 1 and 240".into(),
                });
            }
            let clock = clocks(inc).into_iter().find(|c| c.audience == *audience).ok_or_else(|| {
                Rejection::Conflict(format!("{incident} has no {} clock running", audience.label()))
            })?;
            if clock.due == NEVER {
                return Err(Rejection::Conflict(format!(
                    "the {} update of {incident} is never due: nothing to snooze",
                    clock.audience.label()
                )));
            }
            let until = clock
                .due
                .max(cx.now)
                .checked_add_signed(chrono::Duration::minutes(i64::from(*minutes)))
                .ok_or_else(|| Rejection::Invalid {
                    field: "minutes",
                    detail: "would snooze past the last representable time".into(),
                })?;
            Fact::ClockSnoozed { incident: *incident, audience: *audience, until }
        }
        Intent::RecordDelivery { incident, message, ok, detail, last } => {
            let inc = state.incident(*incident)?;
            let msg = inc.messages.iter().find(|m| m.id == *message).ok_or_else(|| Rejection::Invalid {
                field: "message",
                detail: format!("no message {message}"),
            })?;
            if !matches!(msg.delivery, Delivery::Pending { .. }) {
                return Err(Rejection::Conflict(format!("message {message} is no longer pending")));
            }
            // What the receiver said is cut, not refused: the delivery must be recorded.
            let detail = &clip(detail, MAX_DETAIL);
            if !*ok {
                return Ok(vec![Fact::MessageFailed {
                    incident: *incident,
                    message: *message,
                    error: detail.clone(),
                    last: *last,
                }]);
            }
            // The status page never shows a drill (see `server/status_page.rs`): record that,
            // not the channel's "published".
            let mut facts = if inc.drill && msg.audience == Audience::StatusPage {
                vec![Fact::MessageWithheld {
                    incident: *incident,
                    message: *message,
                    reason: NOT_PUBLISHED_DRILL.into(),
                }]
            } else {
                vec![Fact::MessageDelivered {
                    incident: *incident,
                    message: *message,
                    detail: detail.clone(),
                }]
            };
            // Sending a step's message is doing the step.
            if let Some(step) = &msg.step {
                if state.step(*incident, step).is_ok_and(|s| s.ticked.is_none()) {
                    let by = Some(msg.by.clone());
                    facts.push(Fact::StepTicked {
                        incident: *incident,
                        step: step.clone(),
                        by,
                        outside: None,
                    });
                }
            }
            return Ok(facts);
        }
        other => return Err(super::misrouted("message", other)),
    };
    Ok(vec![fact])
}

/// Folds a fact about an incident's messages or clocks into it; returns the timeline entry
/// it writes.
pub(super) fn apply(inc: &mut Incident, event: &Event) -> Option<EntryKind> {
    let at = event.at;
    let kind = match &event.fact {
        Fact::MessageQueued { message, channel, audience, text, step, status, .. } => {
            inc.messages.push(Message {
                id: *message,
                channel: channel.clone(),
                audience: *audience,
                text: text.clone(),
                step: step.clone(),
                by: event.actor.clone(),
                at,
                delivery: Delivery::Pending { attempts: 0, error: None },
                status: *status,
            });
            EntryKind::Message { channel: channel.clone(), audience: *audience, text: text.clone() }
        }
        Fact::MessageDelivered { message, detail, .. } => {
            let m = inc.messages.iter_mut().find(|m| m.id == *message)?;
            m.delivery = Delivery::Delivered { at, detail: detail.clone() };
            let detail =
                if detail.is_empty() { "delivered".to_string() } else { format!("delivered ({detail})") };
            EntryKind::Delivery { channel: m.channel.clone(), ok: true, detail, withheld: false }
        }
        Fact::MessageWithheld { message, reason, .. } => {
            let m = inc.messages.iter_mut().find(|m| m.id == *message)?;
            m.delivery = Delivery::Withheld { at, reason: reason.clone() };
            // Not "delivered": the console and the CLI show the reason as a non-delivery.
            EntryKind::Delivery {
                channel: m.channel.clone(),
                ok: false,
                detail: reason.clone(),
                withheld: true,
            }
        }
        Fact::MessageFailed { message, error, last, .. } => {
            let m = inc.messages.iter_mut().find(|m| m.id == *message)?;
            let attempts = match &m.delivery {
                Delivery::Pending { attempts, .. } => attempts.saturating_add(1),
                _ => 1,
            };
            m.delivery = if *last {
                Delivery::Failed { attempts, error: error.clone() }
            } else {
                Delivery::Pending { attempts, error: Some(error.clone()) }
            };
            let detail = if *last {
                format!("gave up after {attempts} attempts: {error}")
            } else {
                format!("attempt {attempts} failed: {error}; retrying")
            };
            EntryKind::Delivery { channel: m.channel.clone(), ok: false, detail, withheld: false }
        }
        Fact::ClockSnoozed { audience, until, .. } => {
            inc.snoozed.insert(*audience, *until);
            EntryKind::Snoozed { audience: *audience, until: *until }
        }
        // The other facts belong to other aggregates; `State::apply` routes them.
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::library::ChannelInfo;
    use crate::model::{stamp, Context, IncidentId, Intent, Library, State, UserRole};

    fn lib() -> Library {
        let pb = crate::model::playbook::parse(
            r#"
id = "p"
title = "P"
severities = ["SEV1", "SEV3"]
[[steps]]
id = "staff"
title = "Tell staff"
section = "communicate"
channel = "staff"
every = { SEV1 = "10m" }
[[steps]]
id = "page"
title = "Status page"
section = "communicate"
channel = "public"
"#,
        )
        .unwrap();
        Library {
            playbooks: vec![pb],
            channels: BTreeMap::from([
                (
                    "staff".into(),
                    ChannelInfo { kind: "webhook".into(), audience: Audience::Staff, drills: false },
                ),
                (
                    "public".into(),
                    ChannelInfo { kind: "statuspage".into(), audience: Audience::StatusPage, drills: false },
                ),
            ]),
            status_page_url: "https://status.example.com/status".into(),
            components: Vec::new(),
            users: Vec::new(),
            scenarios: Vec::new(),
            gameday: Default::default(),
            postmortem: Default::default(),
        }
    }

    fn t(min: i64) -> DateTime<Utc> {
        "2026-11-21T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(min)
    }

    fn run(s: &mut State, lib: &Library, at: DateTime<Utc>, intent: Intent) -> Vec<crate::model::Event> {
        let id = uuid::Uuid::new_v4();
        let facts = s
            .decide_with(
                &intent,
                &Context { library: lib, now: at, command_id: id, role: UserRole::Admin, actor: "" },
            )
            .unwrap();
        let events = stamp(s.seq + 1, at, "alice", UserRole::Commander, id, facts);
        for e in &events {
            s.apply(e);
        }
        events
    }

    fn declared(sev: Severity) -> (State, Library) {
        let (mut s, lib) = (State::default(), lib());
        let intent = Intent::DeclareIncident {
            title: "Checkout".into(),
            severity: sev,
            impact: "cards fail".into(),
            drill: false,
            services: Vec::new(),
            private: false,
        };
        run(&mut s, &lib, t(0), intent);
        (s, lib)
    }

    #[test]
    fn every_audience_is_due_its_first_message_within_five_minutes() {
        let (s, _) = declared(Severity::Sev1);
        let c = clocks(&s.incidents[&IncidentId(1)]);
        assert_eq!(c.iter().map(|c| c.audience).collect::<Vec<_>>(), [Audience::Staff, Audience::StatusPage]);
        assert!(c.iter().all(|c| c.due == t(5) && c.last.is_none()));
        assert_eq!(describe(&c[0], t(1)), "staff update due in 04:00");
        assert_eq!(describe(&c[0], t(7)), "staff update overdue 02:00");
    }

    #[test]
    fn a_delivered_message_resets_its_audience_clock_by_the_cadence() {
        let (mut s, lib) = declared(Severity::Sev1);
        let id = IncidentId(1);
        let ev = run(
            &mut s,
            &lib,
            t(2),
            Intent::SendMessage {
                incident: id,
                channel: "staff".into(),
                text: "hi".into(),
                step: Some("staff".into()),
                status: None,
            },
        );
        let message = match &ev[0].fact {
            crate::model::Fact::MessageQueued { message, .. } => *message,
            other => panic!("{other:?}"),
        };
        // Queued is not told: the clock only moves on delivery.
        assert_eq!(clocks(&s.incidents[&id])[0].due, t(5));
        run(
            &mut s,
            &lib,
            t(3),
            Intent::RecordDelivery { incident: id, message, ok: true, detail: String::new(), last: false },
        );
        let c = clocks(&s.incidents[&id]);
        // The step's SEV1 cadence (10m) wins over the default (15m for staff).
        assert_eq!((c[0].audience, c[0].due, c[0].cadence), (Audience::Staff, t(13), Duration::minutes(10)));
        // The status page keeps the SEV1 default (20m) and is still due its first message.
        assert_eq!((c[1].due, c[1].cadence), (t(5), Duration::minutes(20)));
        assert!(s.incidents[&id].checklist.as_ref().unwrap().step("staff").unwrap().ticked.is_some());
    }

    #[test]
    fn snoozing_pushes_one_clock_back_and_is_on_the_timeline() {
        let (mut s, lib) = declared(Severity::Sev3);
        let id = IncidentId(1);
        run(
            &mut s,
            &lib,
            t(4),
            Intent::SnoozeClock { incident: id, audience: Audience::StatusPage, minutes: 15 },
        );
        let c = clocks(&s.incidents[&id]);
        assert_eq!(c.iter().find(|c| c.audience == Audience::StatusPage).unwrap().due, t(20));
        assert_eq!(c.iter().find(|c| c.audience == Audience::Staff).unwrap().due, t(5));
        assert_eq!(s.incidents[&id].timeline.last().unwrap().kind.tag(), "snoozed");
        let err = s
            .decide_with(
                &Intent::SnoozeClock { incident: id, audience: Audience::Socials, minutes: 5 },
                &Context {
                    library: &lib,
                    now: t(4),
                    command_id: uuid::Uuid::nil(),
                    role: UserRole::Admin,
                    actor: "",
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("no socials clock"), "{err}");
    }

    #[test]
    fn clocks_stop_at_the_postmortem() {
        let (mut s, lib) = declared(Severity::Sev3);
        let id = IncidentId(1);
        run(
            &mut s,
            &lib,
            t(1),
            Intent::SetStatus { incident: id, status: crate::model::Status::Postmortem, reason: None },
        );
        assert!(clocks(&s.incidents[&id]).is_empty());
    }

    #[test]
    fn a_milestone_at_the_end_of_time_is_refused_and_one_already_logged_breaks_nothing() {
        use crate::model::{Fact, Milestone, Rejection};
        let (mut s, lib) = declared(Severity::Sev1);
        let id = IncidentId(1);
        let end: DateTime<Utc> = "+262142-12-31T23:59:59Z".parse().unwrap();
        let cx = Context::admin(&lib, t(1));
        let set = Intent::SetMilestone { incident: id, milestone: Milestone::Declared, time: end };
        let err = s.decide_with(&set, &cx).unwrap_err();
        assert!(matches!(err, Rejection::Invalid { field: "time", .. }), "{err}");
        // A log written before the check may hold it already: every reader stays up.
        let fact = Fact::MilestoneSet { incident: id, milestone: Milestone::Declared, time: end };
        for e in stamp(s.seq + 1, t(1), "mallory", UserRole::Responder, uuid::Uuid::nil(), vec![fact]) {
            s.apply(&e);
            crate::present::event_line(&e);
        }
        let inc = &s.incidents[&id];
        let c = clocks(inc);
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| !c.overdue(t(1))));
        assert_eq!(describe(&c[0], t(1)), "staff update due: never");
        let step = &inc.checklist.as_ref().unwrap().steps[0].step;
        render_step(inc, step, &lib.status_page_url, DateTime::<Utc>::MAX_UTC);
        inc.durations();
        let snooze = Intent::SnoozeClock { incident: id, audience: Audience::Staff, minutes: 15 };
        let err = s.decide_with(&snooze, &cx).unwrap_err();
        assert!(matches!(err, Rejection::Conflict(_)), "{err}");
    }

    #[test]
    fn templates_render_incident_fields_and_the_next_update() {
        let (s, lib) = declared(Severity::Sev1);
        let inc = &s.incidents[&IncidentId(1)];
        let mut step = inc.checklist.as_ref().unwrap().step("staff").unwrap().step.clone();
        step.message = Some(
            "{{severity}} {{title}} ({{status}}): {{impact}}; next {{next_update}} {{status_page_url}}"
                .into(),
        );
        assert_eq!(
            render_step(inc, &step, &lib.status_page_url, t(2)).unwrap(),
            "SEV1 Checkout (declared): cards fail; next by 10:12 UTC https://status.example.com/status"
        );
    }

    fn send(
        s: &mut State,
        lib: &Library,
        at: DateTime<Utc>,
        channel: &str,
        status: Option<PublicStatus>,
    ) -> Uuid {
        let intent = Intent::SendMessage {
            incident: IncidentId(1),
            channel: channel.into(),
            text: "We are investigating.".into(),
            step: None,
            status,
        };
        match &run(s, lib, at, intent)[0].fact {
            crate::model::Fact::MessageQueued { message, .. } => *message,
            other => panic!("{other:?}"),
        }
    }

    fn delivered(s: &mut State, lib: &Library, at: DateTime<Utc>, message: Uuid) {
        let detail = "published on the status page".to_string();
        let intent =
            Intent::RecordDelivery { incident: IncidentId(1), message, ok: true, detail, last: false };
        run(s, lib, at, intent);
    }

    /// A SEV1 drill, INC-1, declared at t(0).
    fn drill_declared() -> (State, Library) {
        let (mut s, lib) = (State::default(), lib());
        let drill = Intent::DeclareIncident {
            title: "Game day".into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: true,
            services: Vec::new(),
            private: false,
        };
        run(&mut s, &lib, t(0), drill);
        (s, lib)
    }

    #[test]
    fn a_drills_status_page_update_is_recorded_as_not_published_and_still_moves_the_clock() {
        let (mut s, lib) = drill_declared();
        let message = send(&mut s, &lib, t(1), "public", None);
        delivered(&mut s, &lib, t(2), message);
        let inc = &s.incidents[&IncidentId(1)];
        assert_eq!(
            inc.messages[0].delivery,
            Delivery::Withheld { at: t(2), reason: NOT_PUBLISHED_DRILL.into() }
        );
        let last = inc.timeline.last().unwrap();
        assert_eq!(last.kind.summary(), "public: not published: drill");
        assert_eq!(last.kind.tag(), "withheld", "neither delivered nor failed");
        let page = clocks(inc).into_iter().find(|c| c.audience == Audience::StatusPage).unwrap();
        assert_eq!((page.last, page.due), (Some(t(2)), t(22)));
        // A real incident's update is delivered as before.
        let (mut s, lib) = declared(Severity::Sev1);
        let message = send(&mut s, &lib, t(1), "public", None);
        delivered(&mut s, &lib, t(2), message);
        assert!(matches!(s.incidents[&IncidentId(1)].messages[0].delivery, Delivery::Delivered { .. }));
    }

    #[test]
    fn a_drills_message_on_a_channel_that_reaches_real_people_is_withheld_at_once_and_does_its_step() {
        let (mut s, lib) = drill_declared();
        let intent = Intent::SendMessage {
            incident: IncidentId(1),
            channel: "staff".into(),
            text: "DRILL".into(),
            step: Some("staff".into()),
            status: None,
        };
        let kinds: Vec<String> =
            run(&mut s, &lib, t(1), intent).iter().map(|e| e.fact.kind().to_string()).collect();
        assert_eq!(kinds, ["message_queued", "message_withheld", "step_ticked"]);
        let inc = &s.incidents[&IncidentId(1)];
        assert!(
            matches!(&inc.messages[0].delivery, Delivery::Withheld { reason, .. } if reason == NOT_SENT_DRILL)
        );
        let staff = clocks(inc).into_iter().find(|c| c.audience == Audience::Staff).unwrap();
        assert_eq!(staff.last, Some(t(1)), "a drill's withheld update still counts as telling");
        // A channel marked for game days takes drills.
        let mut lib = lib;
        lib.channels.get_mut("staff").unwrap().drills = true;
        let intent = Intent::SendMessage {
            incident: IncidentId(1),
            channel: "staff".into(),
            text: "DRILL again".into(),
            step: None,
            status: None,
        };
        assert_eq!(run(&mut s, &lib, t(2), intent).len(), 1, "queued for delivery");
    }

    #[test]
    fn each_update_carries_the_public_status_it_was_sent_with() {
        let (mut s, lib) = declared(Severity::Sev2);
        send(&mut s, &lib, t(1), "public", None);
        let mitigating =
            Intent::SetStatus { incident: IncidentId(1), status: Status::Mitigating, reason: None };
        run(&mut s, &lib, t(2), mitigating);
        send(&mut s, &lib, t(3), "public", None);
        send(&mut s, &lib, t(4), "public", Some(PublicStatus::Watching));
        let statuses: Vec<_> = s.incidents[&IncidentId(1)].messages.iter().map(|m| m.status).collect();
        assert_eq!(
            statuses,
            [Some(PublicStatus::Investigating), Some(PublicStatus::Identified), Some(PublicStatus::Watching)]
        );
        assert_eq!("watching".parse::<PublicStatus>(), Ok(PublicStatus::Watching));
        assert_eq!(PublicStatus::of(Status::Postmortem), PublicStatus::Fixed);
    }

    #[test]
    fn ticking_a_communicate_step_by_hand_restarts_its_audience_clock_as_sent_outside_warroom() {
        let (mut s, lib) = declared(Severity::Sev1);
        let id = IncidentId(1);
        run(&mut s, &lib, t(3), Intent::TickStep { incident: id, step: "staff".into() });
        let inc = &s.incidents[&id];
        let staff = clocks(inc).into_iter().find(|c| c.audience == Audience::Staff).unwrap();
        // Told at 3, the step's SEV1 cadence is 10 minutes: no false "overdue" at 5.
        assert_eq!((staff.last, staff.due), (Some(t(3)), t(13)));
        assert!(!staff.overdue(t(6)));
        let told = inc.messages.last().unwrap();
        assert_eq!((told.channel.as_str(), &told.delivery), (OUTSIDE, &Delivery::SentOutside { at: t(3) }));
        let entry = inc.timeline.last().unwrap();
        assert_eq!(entry.kind.summary(), "ticked (sent outside warroom) staff: Tell staff");
        // The other audience's clock is untouched.
        let page = clocks(inc).into_iter().find(|c| c.audience == Audience::StatusPage).unwrap();
        assert_eq!(page.due, t(5));
        // A mis-tick taken back: nobody was told after all, so the clock is as it was (due 5
        // minutes after the declaration), and the record of telling them is gone; the
        // timeline keeps both.
        let before = clocks(&s.incidents[&id]).len();
        run(&mut s, &lib, t(4), Intent::UntickStep { incident: id, step: "staff".into() });
        let inc = &s.incidents[&id];
        let staff = clocks(inc).into_iter().find(|c| c.audience == Audience::Staff).unwrap();
        assert_eq!((staff.last, staff.due), (None, t(5)));
        assert!(staff.overdue(t(6)));
        assert!(inc.messages.iter().all(|m| m.channel != OUTSIDE), "{:?}", inc.messages);
        assert_eq!(clocks(inc).len(), before);
        let kinds: Vec<String> = inc.timeline.iter().rev().take(2).map(|e| e.kind.summary()).collect();
        assert_eq!(kinds, ["unticked staff: Tell staff", "ticked (sent outside warroom) staff: Tell staff"]);
    }

    #[test]
    fn unticking_a_step_warroom_sent_keeps_the_message_that_went_out() {
        let (mut s, lib) = declared(Severity::Sev1);
        let id = IncidentId(1);
        let intent = Intent::SendMessage {
            incident: id,
            channel: "staff".into(),
            text: "We are investigating.".into(),
            step: Some("staff".into()),
            status: None,
        };
        let message = match &run(&mut s, &lib, t(3), intent)[0].fact {
            crate::model::Fact::MessageQueued { message, .. } => *message,
            other => panic!("{other:?}"),
        };
        delivered(&mut s, &lib, t(3), message);
        let sent = s.incidents[&id].messages.len();
        assert!(s.incidents[&id].checklist.as_ref().unwrap().step("staff").unwrap().ticked.is_some());
        run(&mut s, &lib, t(4), Intent::UntickStep { incident: id, step: "staff".into() });
        let inc = &s.incidents[&id];
        assert_eq!(inc.messages.len(), sent, "a message that went out stays");
        let staff = clocks(inc).into_iter().find(|c| c.audience == Audience::Staff).unwrap();
        assert_eq!(staff.last, Some(t(3)));
    }
}
