//! The `/` filter as a component: typing narrows the incident list as you go; its layer's
//! submit keeps the filter, cancel clears it.

use crossterm::event::{KeyCode, KeyModifiers};

use super::{Input, Outcome};
use crate::tui::keymap::Action;

/// Edits `filter` with one key; `Close` ends editing.
pub fn handle(filter: &mut String, input: &Input) -> Outcome {
    match input.action {
        Some(Action::Submit) => return Outcome::Close,
        Some(Action::Cancel) => {
            filter.clear();
            return Outcome::Close;
        }
        _ => {}
    }
    match input.key.code {
        KeyCode::Backspace => {
            filter.pop();
        }
        KeyCode::Char(c) if !input.key.modifiers.contains(KeyModifiers::CONTROL) => filter.push(c),
        _ => {}
    }
    Outcome::Stay
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::{Keymap, Scope};
    use crate::tui::overlay::press;

    #[test]
    fn the_filter_is_typed_kept_or_cleared() {
        let km = Keymap::default();
        let key = |k| press(&km, Scope::Filter, k);
        let mut f = String::new();
        for k in ["q", "j", "backspace", "x"] {
            assert_eq!(handle(&mut f, &key(k)), Outcome::Stay);
        }
        assert_eq!(f, "qx");
        assert_eq!(handle(&mut f, &key("enter")), Outcome::Close);
        assert_eq!(f, "qx");
        assert_eq!(handle(&mut f, &key("esc")), Outcome::Close);
        assert_eq!(f, "");
    }
}
