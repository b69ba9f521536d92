//! The `:` command line as a component: typing, completion and history through the command
//! line's keymap layer; what was entered goes back to the console to run as a verb.

use crossterm::event::{KeyCode, KeyModifiers};

use super::{Context, Input, Outcome};
use crate::tui::command;
use crate::tui::keymap::Action;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandLine {
    pub input: String,
    pub history_pos: Option<usize>,
    pub candidates: Vec<String>,
}

impl CommandLine {
    pub fn handle(&mut self, input: &Input, cx: &Context) -> Outcome {
        match input.action {
            Some(Action::Cancel) => return Outcome::Close,
            Some(Action::Submit) => {
                let text = self.input.trim();
                return if text.is_empty() { Outcome::Close } else { Outcome::Run(text.to_string()) };
            }
            Some(Action::Complete) => {
                let (new, candidates) = command::complete_in(&self.input, &cx.pools);
                self.input = new;
                self.candidates = candidates;
            }
            Some(action @ (Action::HistoryPrev | Action::HistoryNext)) => self.recall(action, cx.history),
            Some(Action::ClearLine) => self.input.clear(),
            Some(_) => {}
            None => match input.key.code {
                // Backspace on an empty line leaves it, as in vim.
                KeyCode::Backspace if self.input.is_empty() => return Outcome::Close,
                KeyCode::Backspace => {
                    self.input.pop();
                    self.candidates.clear();
                }
                KeyCode::Char(c) if !input.key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.input.push(c);
                    self.candidates.clear();
                }
                _ => {}
            },
        }
        Outcome::Stay
    }

    /// Walks the history: back from the newest, forward to an empty line again.
    fn recall(&mut self, action: Action, history: &[String]) {
        let Some(last) = history.len().checked_sub(1) else { return };
        let pos = match (self.history_pos, action) {
            (None, Action::HistoryPrev) => Some(last),
            (Some(p), Action::HistoryPrev) => Some(p.saturating_sub(1)),
            (Some(p), _) if p < last => Some(p + 1),
            _ => None,
        };
        self.history_pos = pos;
        self.input = pos.and_then(|p| history.get(p)).cloned().unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::{Keymap, Scope};
    use crate::tui::overlay::press;

    #[test]
    fn the_command_line_types_completes_recalls_and_runs() {
        let km = Keymap::default();
        let key = |k| press(&km, Scope::CommandLine, k);
        let history = ["note one".to_string(), "note two".to_string()];
        let cx =
            Context { history: &history, pools: command::Pools { themes: &["mono"], ..Default::default() } };
        let mut line = CommandLine::default();
        for k in ["t", "h", "q", "backspace", "tab"] {
            assert_eq!(line.handle(&key(k), &cx), Outcome::Stay);
        }
        assert_eq!(line.input, "theme ");
        assert_eq!(line.handle(&key("up"), &cx), Outcome::Stay);
        assert_eq!(line.input, "note two");
        line.handle(&key("up"), &cx);
        line.handle(&key("up"), &cx);
        assert_eq!(line.input, "note one");
        line.handle(&key("down"), &cx);
        assert_eq!(line.input, "note two");
        line.handle(&key("down"), &cx);
        assert_eq!(line.input, "");
        line.handle(&key("x"), &cx);
        line.handle(&key("ctrl-u"), &cx);
        assert_eq!(line.input, "");
        assert_eq!(line.handle(&key("enter"), &cx), Outcome::Close, "nothing to run");
        line.input = " quit ".into();
        assert_eq!(line.handle(&key("enter"), &cx), Outcome::Run("quit".into()));
        line.input.clear();
        assert_eq!(line.handle(&key("backspace"), &cx), Outcome::Close);
    }
}
