//! The incident lifecycle: statuses in order, which changes exist and what each asks of
//! the person making it (a reason to reopen, a closure reason to skip the postmortem status).
//! Whether a postmortem must exist before closing as resolved is the server's configuration
//! (`[postmortem] required`), checked against the document in `model::postmortem`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{snake_enum, Milestone};

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
    /// Why an incident was closed; needed whenever it skips the postmortem.
    ClosureReason {
        Resolved = "resolved",
        Duplicate = "duplicate",
        FalsePositive = "false_positive",
        Cancelled = "cancelled",
    } what = "closure reason"
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

    /// The milestones a move from `from` to this status reaches: a forward move passes every
    /// status between (declared → mitigated is acknowledged and mitigated), except that an
    /// incident closed for another reason than `resolved` (a duplicate, a false positive) was
    /// never mitigated. A move back reaches only its own.
    pub fn milestones_from(self, from: Status, closure: Option<ClosureReason>) -> Vec<Milestone> {
        let passed: Vec<Status> = if self > from {
            Status::ALL.iter().copied().filter(|s| *s > from && *s <= self).collect()
        } else {
            vec![self]
        };
        let unresolved = self == Status::Closed && closure.is_some_and(|c| c != ClosureReason::Resolved);
        passed
            .into_iter()
            .filter_map(Status::milestone)
            .filter(|m| !(unresolved && *m == Milestone::Mitigated))
            .collect()
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
        // Only a commander or an admin reopens a closed incident (the role check is in
        // `incident::decide`, which knows who asks).
        (Closed, Investigating) => Some(TransitionRule::Reopen),
        (Closed, _) => None,
        (Postmortem, Closed) => Some(TransitionRule::Free),
        (_, Closed) => Some(TransitionRule::CloseEarly),
        // "The fix did not work": back to investigating, with a written reason, as a reopen.
        (Mitigating | Mitigated | Postmortem, Investigating) => Some(TransitionRule::Reopen),
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
    #[error("going back from {from} to investigating: give a reason (what changed)")]
    ReasonRequired { from: Status },
    #[error("closing from {from} skips the postmortem: give a closure reason ({})", closure_reasons())]
    ClosureRequired { from: Status },
    #[error(
        "`{given}` is not a closure reason: start the reason with one of {} (e.g. `duplicate: of INC-3`)",
        closure_reasons()
    )]
    UnknownClosure { given: String },
}

/// The valid closure reasons, for messages: `resolved, duplicate, false_positive or cancelled`.
fn closure_reasons() -> String {
    let names: Vec<&str> = ClosureReason::ALL.iter().map(|c| c.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Checks a status change and returns the closure reason it carries, if it closes.
pub fn check_transition(
    from: Status,
    to: Status,
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
            let closure = match reason {
                None => return Err(TransitionError::ClosureRequired { from }),
                Some(r) => {
                    ClosureReason::from_reason_text(r).ok_or_else(|| TransitionError::UnknownClosure {
                        given: r
                            .split(|c: char| c == ':' || c.is_whitespace())
                            .next()
                            .unwrap_or(r)
                            .to_string(),
                    })?
                }
            };
            Ok(Some(closure))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_move_reaches_the_milestones_of_the_statuses_it_skips() {
        use Milestone as M;
        use Status as S;
        assert_eq!(S::Investigating.milestones_from(S::Declared, None), [M::Acknowledged]);
        assert_eq!(S::Mitigating.milestones_from(S::Declared, None), [M::Acknowledged]);
        assert_eq!(S::Mitigated.milestones_from(S::Declared, None), [M::Acknowledged, M::Mitigated]);
        assert_eq!(S::Postmortem.milestones_from(S::Mitigating, None), [M::Mitigated]);
        let resolved = Some(ClosureReason::Resolved);
        assert_eq!(
            S::Closed.milestones_from(S::Declared, resolved),
            [M::Acknowledged, M::Mitigated, M::Resolved]
        );
        // A false positive was acknowledged and closed, never mitigated.
        let fp = Some(ClosureReason::FalsePositive);
        assert_eq!(S::Closed.milestones_from(S::Declared, fp), [M::Acknowledged, M::Resolved]);
        // Back to investigating: only its own (already stamped, so the first time stays).
        assert_eq!(S::Investigating.milestones_from(S::Closed, None), [M::Acknowledged]);
        assert_eq!(S::Mitigating.milestones_from(S::Investigating, None), Vec::<M>::new());
    }

    #[test]
    fn the_lifecycle_moves_forward_freely() {
        use Status::*;
        for pair in [Declared, Investigating, Mitigating, Mitigated, Postmortem, Closed].windows(2) {
            assert!(check_transition(pair[0], pair[1], None).is_ok(), "{pair:?}");
        }
        assert_eq!(check_transition(Declared, Mitigated, None), Ok(None));
    }

    #[test]
    fn going_backwards_is_a_reopen_that_needs_a_reason() {
        use Status::*;
        assert_eq!(
            check_transition(Mitigated, Investigating, None),
            Err(TransitionError::ReasonRequired { from: Mitigated })
        );
        assert_eq!(
            check_transition(Postmortem, Investigating, Some("  ")),
            Err(TransitionError::ReasonRequired { from: Postmortem })
        );
        assert_eq!(check_transition(Mitigated, Investigating, Some("errors are back")), Ok(None));
        // The fix did not work, or mitigating was a slip of the key: back, with a reason.
        assert_eq!(
            check_transition(Mitigating, Investigating, None),
            Err(TransitionError::ReasonRequired { from: Mitigating })
        );
        assert_eq!(check_transition(Mitigating, Investigating, Some("the rollback did not help")), Ok(None));
        assert!(matches!(
            check_transition(Mitigating, Declared, Some("x")),
            Err(TransitionError::NotAllowed { .. })
        ));
        assert!(matches!(
            check_transition(Mitigated, Mitigating, Some("x")),
            Err(TransitionError::NotAllowed { .. })
        ));
    }

    #[test]
    fn closed_only_reopens_with_a_reason_and_same_status_is_refused() {
        for to in Status::ALL.iter().filter(|s| **s != Status::Investigating) {
            assert!(check_transition(Status::Closed, *to, Some("resolved")).is_err());
        }
        assert_eq!(
            check_transition(Status::Closed, Status::Investigating, None),
            Err(TransitionError::ReasonRequired { from: Status::Closed })
        );
        assert_eq!(
            check_transition(Status::Closed, Status::Investigating, Some("errors are back")),
            Ok(None)
        );
        assert_eq!(
            check_transition(Status::Mitigating, Status::Mitigating, None),
            Err(TransitionError::Unchanged(Status::Mitigating))
        );
    }

    #[test]
    fn closing_early_needs_a_closure_reason() {
        use Status::*;
        assert_eq!(
            check_transition(Investigating, Closed, None),
            Err(TransitionError::ClosureRequired { from: Investigating })
        );
        let bad = check_transition(Investigating, Closed, Some("because: it is")).unwrap_err();
        assert_eq!(bad, TransitionError::UnknownClosure { given: "because".into() });
        assert_eq!(
            bad.to_string(),
            "`because` is not a closure reason: start the reason with one of resolved, duplicate, \
             false_positive or cancelled (e.g. `duplicate: of INC-3`)"
        );
        assert_eq!(
            check_transition(Investigating, Closed, Some("duplicate: of INC-3")),
            Ok(Some(ClosureReason::Duplicate))
        );
        assert_eq!(
            check_transition(Declared, Closed, Some("false_positive")),
            Ok(Some(ClosureReason::FalsePositive))
        );
        // Whether a major closes as resolved without its postmortem document is the
        // configuration's call (model::postmortem), not the lifecycle's.
        assert_eq!(check_transition(Mitigated, Closed, Some("resolved")), Ok(Some(ClosureReason::Resolved)));
        assert_eq!(check_transition(Mitigated, Closed, Some("resolved")), Ok(Some(ClosureReason::Resolved)));
        assert_eq!(check_transition(Postmortem, Closed, None), Ok(Some(ClosureReason::Resolved)));
    }

    #[test]
    fn menus_offer_only_allowed_transitions() {
        use Status::*;
        assert_eq!(Mitigated.next_choices(), vec![Investigating, Postmortem, Closed]);
        assert_eq!(Closed.next_choices(), vec![Investigating]);
    }
}
