//! Who may do what: the roles that bearer tokens map to, and the one permission table.
//! The server enforces it; clients only use it to grey out what would be refused anyway.

use serde::{Deserialize, Serialize};

use super::incident::snake_enum;
use super::intent::Intent;
use std::fmt;
use std::str::FromStr;

snake_enum! {
    /// A user's role on the server, from the server's config file.
    UserRole {
        Commander = "commander",
        Responder = "responder",
        Villain = "villain",
        Observer = "observer",
        Admin = "admin",
    } what = "user role"
}

impl UserRole {
    /// The permission table. Observers never write; handing over response roles is the
    /// commander's call; villains act through chaos controls, not on the heroes' incidents.
    pub fn may(self, intent: &Intent) -> bool {
        use UserRole::*;
        match (self, intent) {
            // The runner's records are the server's own, like probes' and deliveries'.
            (_, i) if i.is_internal() => false,
            (role, i) if i.is_gameday() => super::gameday::may(role, i),
            (Villain | Admin, i) if i.is_chaos() => true,
            (_, i) if i.is_chaos() => false,
            (Admin | Commander, _) => true,
            (Observer | Villain, _) => false,
            (Responder, Intent::AssignRole { .. }) => false,
            (Responder, _) => true,
        }
    }

    /// Whether setting a status page component that does not exist yet may create it.
    pub fn may_create_components(self) -> bool {
        matches!(self, UserRole::Admin | UserRole::Commander)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::incident::{IncidentId, Role};

    #[test]
    fn observers_never_write_and_only_commanders_hand_over_roles() {
        let note = Intent::AddNote { incident: IncidentId(1), text: "x".into() };
        let assign = Intent::AssignRole { incident: IncidentId(1), role: Role::Scribe, person: "bob".into() };
        assert!(!UserRole::Observer.may(&note));
        assert!(!UserRole::Villain.may(&note));
        assert!(UserRole::Responder.may(&note));
        assert!(!UserRole::Responder.may(&assign));
        assert!(UserRole::Commander.may(&assign));
        assert!(UserRole::Admin.may(&assign));
    }
}
