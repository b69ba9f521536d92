//! The `?` help overlay as a component: its layer scrolls it, and any other key closes it,
//! so a reader who opened it by accident leaves with whatever they press next.

use super::{Input, Outcome};
use crate::tui::keymap::Action;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Help {
    pub scroll: u16,
}

impl Help {
    pub fn handle(&mut self, input: &Input) -> Outcome {
        match input.action {
            Some(Action::Down) => self.scroll = self.scroll.saturating_add(1),
            Some(Action::Up) => self.scroll = self.scroll.saturating_sub(1),
            _ => return Outcome::Close,
        }
        Outcome::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::{Keymap, Scope};
    use crate::tui::overlay::press;

    #[test]
    fn help_scrolls_with_its_layer_and_closes_on_anything_else() {
        let km = Keymap::default();
        let mut help = Help::default();
        assert_eq!(help.handle(&press(&km, Scope::Help, "j")), Outcome::Stay);
        assert_eq!(help.handle(&press(&km, Scope::Help, "down")), Outcome::Stay);
        assert_eq!(help.handle(&press(&km, Scope::Help, "k")), Outcome::Stay);
        assert_eq!(help.scroll, 1);
        assert_eq!(help.handle(&press(&km, Scope::Help, "x")), Outcome::Close);
    }
}
