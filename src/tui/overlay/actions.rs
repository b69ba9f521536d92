//! The action-items overlay (`:actions`, `I`): every follow-up of every incident the console
//! holds, overdue first; enter opens the item's incident, a key narrows it to open items.

use chrono::{DateTime, Utc};

use super::{Input, Outcome};
use crate::model::postmortem::{action_items, ActionItem};
use crate::model::{IncidentId, State};
use crate::tui::form::MenuPick;
use crate::tui::keymap::Action;

/// Rows moved by a page key.
const PAGE: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionsView {
    /// Only items not done yet.
    pub open_only: bool,
    /// The highlighted row; kept within the rows by the console.
    pub selected: usize,
}

/// Where an item stands, in the order the overlay lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemState {
    Overdue,
    Open,
    Done,
}

impl ItemState {
    pub fn of(item: &ActionItem, now: DateTime<Utc>) -> ItemState {
        if item.done.is_some() {
            ItemState::Done
        } else if item.is_overdue(now) {
            ItemState::Overdue
        } else {
            ItemState::Open
        }
    }
}

/// The items the overlay lists, in its order: overdue first (the longest overdue first),
/// then open ones by due date (undated last), then done ones, newest done first.
pub fn rows(state: &State, now: DateTime<Utc>, open_only: bool) -> Vec<(IncidentId, &ActionItem)> {
    let mut items: Vec<(IncidentId, &ActionItem)> =
        action_items(state).into_iter().filter(|(_, a)| !open_only || a.done.is_none()).collect();
    items.sort_by(|(ia, a), (ib, b)| {
        let (sa, sb) = (ItemState::of(a, now), ItemState::of(b, now));
        sa.cmp(&sb)
            .then_with(|| match sa {
                ItemState::Done => b.done.as_ref().map(|d| d.at).cmp(&a.done.as_ref().map(|d| d.at)),
                // `None` sorts first: an undated item goes after every dated one.
                _ => a.due.is_none().cmp(&b.due.is_none()).then(a.due.cmp(&b.due)),
            })
            .then(ia.cmp(ib))
            .then(a.item.cmp(&b.item))
    });
    items
}

impl ActionsView {
    pub fn handle(&mut self, input: &Input) -> Outcome {
        match input.action {
            Some(Action::Cancel) => return Outcome::Close,
            Some(Action::Down) => self.selected = self.selected.saturating_add(1),
            Some(Action::Up) => self.selected = self.selected.saturating_sub(1),
            Some(Action::PageDown) => self.selected = self.selected.saturating_add(PAGE),
            Some(Action::PageUp) => self.selected = self.selected.saturating_sub(PAGE),
            Some(Action::Top) => self.selected = 0,
            Some(Action::Bottom) => self.selected = usize::MAX,
            Some(Action::ToggleOpen) => {
                self.open_only = !self.open_only;
                self.selected = 0;
            }
            Some(Action::Pick) => return Outcome::Pick(MenuPick::ActionRow(self.selected)),
            _ => {}
        }
        Outcome::Stay
    }

    /// Keeps the highlighted row among `len` rows.
    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Intent, Severity};
    use crate::tui::keymap::{Keymap, Scope};
    use crate::tui::overlay::press;
    use crate::tui::postmortem::test_state::{declare, play as run};

    #[test]
    fn overdue_items_come_first_then_open_by_due_date_then_done_ones() {
        let mut s = State::default();
        let a = declare(&mut s, "a", Severity::Sev1);
        let b = declare(&mut s, "b", Severity::Sev2);
        let day = |d| chrono::NaiveDate::from_ymd_opt(2030, 1, d);
        let add = |incident, title: &str, due| Intent::AddActionItem {
            incident,
            title: title.into(),
            owner: "carol".into(),
            due,
            link: None,
        };
        for intent in [
            add(a, "undated", None),
            add(a, "due later", day(20)),
            add(b, "overdue", day(2)),
            add(b, "done", day(1)),
            add(a, "due soon", day(10)),
        ] {
            run(&mut s, "alice", intent);
        }
        run(&mut s, "bob", Intent::CompleteActionItem { incident: b, item: 2 });
        let now = day(5).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc();
        let titles = |open_only| -> Vec<String> {
            rows(&s, now, open_only).iter().map(|(_, i)| i.title.clone()).collect()
        };
        assert_eq!(titles(false), ["overdue", "due soon", "due later", "undated", "done"]);
        assert_eq!(titles(true), ["overdue", "due soon", "due later", "undated"]);
    }

    #[test]
    fn keys_move_pick_toggle_and_close() {
        let km = Keymap::default();
        let key = |k| press(&km, Scope::Actions, k);
        let mut v = ActionsView::default();
        v.handle(&key("j"));
        v.handle(&key("G"));
        v.clamp(3);
        assert_eq!(v.selected, 2);
        assert_eq!(v.handle(&key("enter")), Outcome::Pick(MenuPick::ActionRow(2)));
        assert_eq!(v.handle(&key("o")), Outcome::Stay);
        assert!(v.open_only);
        assert_eq!(v.selected, 0);
        assert_eq!(v.handle(&key("esc")), Outcome::Close);
    }
}
