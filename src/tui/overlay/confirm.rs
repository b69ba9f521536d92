//! A confirmation for a dangerous action (starting or stopping chaos): what it will do, in
//! full, and one intent sent only when the user confirms with the confirm layer's key.

use super::{Input, Outcome};
use crate::model::Intent;
use crate::tui::keymap::Action;

#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub title: String,
    /// (label, value) rows: the blast radius, the duration, the stop condition…
    pub rows: Vec<(String, String)>,
    /// What confirming sends.
    pub intent: Intent,
    /// What the confirm key is said to do in the footer ("starts", "stops").
    pub verb: &'static str,
}

impl Confirm {
    pub fn handle(&mut self, input: &Input) -> Outcome {
        match input.action {
            Some(Action::Submit) => Outcome::Send(self.intent.clone()),
            Some(Action::Cancel) => Outcome::Close,
            // Anything else is ignored rather than taken as a no: a stray key must not
            // silently drop what was about to be confirmed, nor confirm it.
            _ => Outcome::Stay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::{Keymap, Scope};
    use crate::tui::overlay::press;

    #[test]
    fn only_the_confirm_key_sends_and_esc_cancels() {
        let km = Keymap::default();
        let intent = Intent::StartScenario { scenario: "price-desync".into() };
        let mut c = Confirm { title: "t".into(), rows: vec![], intent: intent.clone(), verb: "starts" };
        assert_eq!(c.handle(&press(&km, Scope::Confirm, "j")), Outcome::Stay);
        assert_eq!(c.handle(&press(&km, Scope::Confirm, "s")), Outcome::Stay);
        assert_eq!(c.handle(&press(&km, Scope::Confirm, "enter")), Outcome::Send(intent));
        assert_eq!(c.handle(&press(&km, Scope::Confirm, "esc")), Outcome::Close);
    }
}
