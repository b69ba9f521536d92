//! Menus as a component: move, pick by cursor or by number, cancel; every key comes from the
//! menu layer of the keymap, and a pick is handed back for the console to act on.

use crossterm::event::KeyCode;

use super::{Input, Outcome};
use crate::tui::form::Menu;
use crate::tui::keymap::Action;

impl Menu {
    pub fn handle(&mut self, input: &Input) -> Outcome {
        match input.action {
            Some(Action::Cancel) => return Outcome::Close,
            Some(Action::Down) => self.selected = (self.selected + 1).min(self.items.len().saturating_sub(1)),
            Some(Action::Up) => self.selected = self.selected.saturating_sub(1),
            Some(Action::PickNumber) => {
                // Numbers are shown from 1; a number past the end is ignored.
                let n = match input.key.code {
                    KeyCode::Char(c) => c.to_digit(10).map_or(0, |d| d as usize),
                    _ => 0,
                };
                if let Some(i) = (0..self.items.len()).find(|i| self.number(*i) == n) {
                    self.selected = i;
                    return Outcome::Pick(self.items[i].1);
                }
            }
            Some(Action::Pick) => {
                return match self.items.get(self.selected) {
                    Some((_, pick)) => Outcome::Pick(*pick),
                    None => Outcome::Close,
                }
            }
            _ => {}
        }
        Outcome::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IncidentId, Severity};
    use crate::tui::form::MenuPick;
    use crate::tui::keymap::{Keymap, Scope};
    use crate::tui::overlay::press;

    fn menu() -> Menu {
        let items =
            Severity::ALL.iter().map(|s| (s.to_string(), MenuPick::Severity(IncidentId(1), *s))).collect();
        Menu::new("severity".into(), items)
    }

    #[test]
    fn a_menu_moves_picks_by_cursor_or_number_and_cancels() {
        let km = Keymap::default();
        let key = |k| press(&km, Scope::Menu, k);
        let mut m = menu();
        assert_eq!(m.handle(&key("k")), Outcome::Stay);
        assert_eq!(m.selected, 0);
        for _ in 0..9 {
            m.handle(&key("j"));
        }
        assert_eq!(m.selected, 4, "stops at the last item");
        assert_eq!(m.handle(&key("enter")), Outcome::Pick(MenuPick::Severity(IncidentId(1), Severity::Sev5)));
        assert_eq!(m.handle(&key("2")), Outcome::Pick(MenuPick::Severity(IncidentId(1), Severity::Sev2)));
        assert_eq!(m.handle(&key("9")), Outcome::Stay, "no ninth item");
        assert_eq!(m.handle(&key("x")), Outcome::Stay);
        assert_eq!(m.handle(&key("q")), Outcome::Close);
        assert_eq!(Menu::new("empty".into(), vec![]).handle(&key("space")), Outcome::Close);
    }
}
