//! Private incidents: who may know one exists (its declarer, its role holders, its members,
//! admins), and the commands that change its members.

use super::Incident;
use crate::model::event::Fact;
use crate::model::intent::{check_text, Intent, Rejection, MAX_NAME};
use crate::model::{Context, State};

impl Incident {
    /// Whether `name` (with user role `role`) may know this incident exists: everyone for a
    /// public one; for a private one its declarer, whoever holds a response role in it, its
    /// members, and admins.
    pub fn visible_to(&self, name: &str, role: crate::model::UserRole) -> bool {
        !self.private
            || role == crate::model::UserRole::Admin
            || self.declared_by == name
            || self.roles.values().any(|p| p == name)
            || self.members.contains(name)
    }
}

/// `add_member` / `remove_member`: only the incident's commander or an admin, only on a
/// private incident.
pub(super) fn decide(state: &State, intent: &Intent, cx: &Context) -> Result<Fact, Rejection> {
    let (Intent::AddMember { incident, person } | Intent::RemoveMember { incident, person }) = intent else {
        return Err(crate::model::misrouted("incident membership", intent));
    };
    // `State::decide_with` already refused actors who cannot see the incident.
    let inc = state.incident(*incident)?;
    check_text("person", person, MAX_NAME)?;
    let person = person.trim().to_string();
    if cx.role != crate::model::UserRole::Admin && inc.commander() != Some(cx.actor) {
        return Err(Rejection::Forbidden(format!(
            "only the incident_commander of {incident} or an admin changes its members"
        )));
    }
    if !inc.private {
        return Err(Rejection::Conflict(format!("{incident} is not private: everyone sees it")));
    }
    // Like a role: a typo would let nobody in. Removing is not checked, so a member who has
    // left the server's config can still be taken off.
    if matches!(intent, Intent::AddMember { .. }) {
        super::check_person(&person, cx)?;
    }
    let member = inc.members.contains(&person);
    Ok(match intent {
        Intent::AddMember { .. } if member => {
            return Err(Rejection::Conflict(format!("{person} is already a member of {incident}")));
        }
        Intent::AddMember { .. } => Fact::MemberAdded { incident: *incident, person },
        _ if !member => {
            return Err(Rejection::Conflict(format!("{person} is not a member of {incident}")));
        }
        _ => Fact::MemberRemoved { incident: *incident, person },
    })
}

#[cfg(test)]
mod tests {
    use super::super::{IncidentId, Role, Severity};
    use super::*;
    use crate::model::tests::t;

    /// Decides as `actor` with user role `role`, like the server's writer does.
    fn act(
        s: &mut State,
        actor: &str,
        role: crate::model::UserRole,
        intent: Intent,
    ) -> Result<(), Rejection> {
        let cx = Context {
            library: &crate::model::Library::default(),
            now: t(0),
            command_id: uuid::Uuid::nil(),
            role,
            actor,
        };
        let facts = s.decide_with(&intent, &cx)?;
        for e in crate::model::stamp(s.seq + 1, t(s.seq as u32), actor, role, uuid::Uuid::nil(), facts) {
            s.apply(&e);
        }
        Ok(())
    }

    #[test]
    fn a_private_incident_is_seen_only_by_its_people_and_admins_and_hidden_like_a_missing_one() {
        use crate::model::UserRole::{Admin, Commander, Responder};
        let mut s = State::default();
        let declare = Intent::DeclareIncident {
            title: "Leaked keys".into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: true,
        };
        act(&mut s, "alice", Responder, declare).unwrap();
        let id = IncidentId(1);
        let inc = s.incident(id).unwrap();
        assert!(inc.private && inc.visible_to("alice", Responder) && inc.visible_to("root", Admin));
        assert!(!inc.visible_to("bob", Commander));
        // bob cannot tell it from INC-9, which does not exist, whatever he tries.
        let note = |incident| Intent::AddNote { incident, text: "hi".into() };
        assert_eq!(act(&mut s, "bob", Commander, note(id)), Err(Rejection::UnknownIncident(id)));
        let add_bob = Intent::AddMember { incident: id, person: "bob".into() };
        assert_eq!(act(&mut s, "bob", Commander, add_bob.clone()), Err(Rejection::UnknownIncident(id)));
        // A member who is not its commander cannot add members; the commander and admins can.
        act(&mut s, "alice", Responder, Intent::AddMember { incident: id, person: "carol".into() }).unwrap();
        assert!(matches!(act(&mut s, "carol", Commander, add_bob.clone()), Err(Rejection::Forbidden(_))));
        act(&mut s, "root", Admin, add_bob.clone()).unwrap();
        assert!(matches!(act(&mut s, "alice", Responder, add_bob), Err(Rejection::Conflict(_))));
        act(&mut s, "bob", Commander, note(id)).unwrap();
        // Removed, bob is back to 404; the declarer stays whatever happens to membership.
        act(&mut s, "alice", Responder, Intent::RemoveMember { incident: id, person: "bob".into() }).unwrap();
        assert_eq!(act(&mut s, "bob", Commander, note(id)), Err(Rejection::UnknownIncident(id)));
        assert!(s.incident(id).unwrap().visible_to("alice", Responder));
        // Holding a response role also makes one see it.
        act(
            &mut s,
            "alice",
            Responder,
            Intent::AssignRole { incident: id, role: Role::Scribe, person: "dave".into() },
        )
        .unwrap();
        assert!(s.incident(id).unwrap().visible_to("dave", Responder));
        // Membership means nothing on a public incident.
        act(
            &mut s,
            "alice",
            Responder,
            Intent::DeclareIncident {
                title: "Slow".into(),
                severity: Severity::Sev3,
                impact: String::new(),
                drill: false,
                services: Vec::new(),
                private: false,
            },
        )
        .unwrap();
        let public = Intent::AddMember { incident: IncidentId(2), person: "bob".into() };
        assert!(matches!(act(&mut s, "alice", Responder, public), Err(Rejection::Conflict(_))));
    }

    #[test]
    fn a_member_added_must_be_one_of_the_servers_users_and_any_member_can_be_removed() {
        use crate::model::UserRole::Commander;
        let mut s = State::default();
        let declare = Intent::DeclareIncident {
            title: "Leaked keys".into(),
            severity: Severity::Sev1,
            impact: String::new(),
            drill: false,
            services: Vec::new(),
            private: true,
        };
        act(&mut s, "alice", Commander, declare).unwrap();
        // Before users were checked, any name was let in: this one came from a replay.
        act(
            &mut s,
            "alice",
            Commander,
            Intent::AddMember { incident: IncidentId(1), person: "ghost".into() },
        )
        .unwrap();
        let library = crate::model::Library {
            users: vec!["alice".into(), "bob".into(), "carol".into()],
            ..Default::default()
        };
        let decide = |s: &State, intent: Intent| {
            let cx = Context {
                library: &library,
                now: t(0),
                command_id: uuid::Uuid::nil(),
                role: Commander,
                actor: "alice",
            };
            s.decide_with(&intent, &cx)
        };
        let typo = Intent::AddMember { incident: IncidentId(1), person: "crol".into() };
        match decide(&s, typo) {
            Err(Rejection::Invalid { field: "person", detail }) => {
                assert!(detail.contains("no user `crol`") && detail.contains("carol"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        assert!(decide(&s, Intent::AddMember { incident: IncidentId(1), person: "carol".into() }).is_ok());
        assert!(decide(&s, Intent::RemoveMember { incident: IncidentId(1), person: "ghost".into() }).is_ok());
    }
}
