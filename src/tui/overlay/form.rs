//! Forms as a component: the form layer's cancel and submit are handled here; new lines and
//! field moves stay with the form itself (`tui/form.rs`), which knows which fields have them.

use super::{Input, Outcome};
use crate::tui::form::{Form, FormOutcome};
use crate::tui::keymap::Action;

impl Form {
    pub fn handle(&mut self, input: &Input) -> Outcome {
        let outcome = match input.action {
            Some(Action::Cancel) => return Outcome::Close,
            Some(Action::Submit) => self.submit(),
            // The form decides: alt-enter on a one-line field sends, tab in a note is typed.
            _ => self.on_key(input.key),
        };
        match outcome {
            FormOutcome::Continue => Outcome::Stay,
            FormOutcome::Cancel => Outcome::Close,
            FormOutcome::Submit(intent) => Outcome::Send(intent),
        }
    }
}
