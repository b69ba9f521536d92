//! The reader: one thing in full (a timeline entry, a probe and why it failed), scrollable,
//! over the panes. A pane cuts what does not fit its rows; the reader never cuts anything.

use ratatui::layout::Rect;

use super::{Input, Outcome};
use crate::present::escape_control;
use crate::tui::form::soft_breaks;
use crate::tui::keymap::Action;

/// A paragraph of the reader: a heading, or text (which may hold line breaks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Para {
    Heading(String),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub title: String,
    pub paras: Vec<Para>,
    /// The first row shown, of the rows laid out at the reader's width.
    pub scroll: usize,
    /// The probe it shows, kept current as samples and changes arrive (`None`: a fixed text).
    pub probe: Option<String>,
}

/// Rows moved by a page key: the reader is tall, but a page keeps a little context.
const PAGE: usize = 10;

impl Reader {
    pub fn new(title: impl Into<String>, paras: Vec<Para>) -> Reader {
        Reader { title: title.into(), paras, scroll: 0, probe: None }
    }

    /// Where the reader is drawn on a terminal of `full`: wide enough to read, never wider
    /// than the screen, with a border around `rows`.
    pub fn frame(full: Rect) -> Rect {
        let width = full.width.saturating_sub(4).clamp(20.min(full.width), 100);
        let height = full.height.saturating_sub(2);
        Rect { x: full.x + (full.width - width) / 2, y: full.y + (full.height - height) / 2, width, height }
    }

    /// The text laid out at `width`: (is a heading, row). Other users' text is escaped, and
    /// long lines wrap at word boundaries where they can.
    pub fn rows(&self, width: usize) -> Vec<(bool, String)> {
        let width = width.max(1);
        let mut rows = Vec::new();
        for para in &self.paras {
            let (heading, text) = match para {
                Para::Heading(h) => (true, h),
                Para::Text(t) => (false, t),
            };
            for line in escape_control(text).replace('\t', "    ").split('\n') {
                let chars: Vec<char> = line.chars().collect();
                for (a, b) in soft_breaks(&chars, width) {
                    rows.push((heading, chars[a..b].iter().collect::<String>().trim_end().to_string()));
                }
            }
        }
        rows
    }

    /// Keeps the last row reachable and no further, for a terminal of `full`.
    pub fn clamp(&mut self, full: Rect) {
        let inner = Reader::frame(full);
        let (width, height) =
            (inner.width.saturating_sub(2) as usize, inner.height.saturating_sub(3) as usize);
        let rows = self.rows(width).len();
        self.scroll = self.scroll.min(rows.saturating_sub(height.max(1)));
    }

    pub fn handle(&mut self, input: &Input) -> Outcome {
        match input.action {
            Some(Action::Cancel) => return Outcome::Close,
            Some(Action::Down) => self.scroll = self.scroll.saturating_add(1),
            Some(Action::Up) => self.scroll = self.scroll.saturating_sub(1),
            Some(Action::PageDown) => self.scroll = self.scroll.saturating_add(PAGE),
            Some(Action::PageUp) => self.scroll = self.scroll.saturating_sub(PAGE),
            Some(Action::Top) => self.scroll = 0,
            // Clamped to the last page by the console, which knows the terminal's size.
            Some(Action::Bottom) => self.scroll = usize::MAX,
            _ => {}
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
    fn the_reader_scrolls_within_its_text_and_closes_on_esc() {
        let km = Keymap::default();
        let key = |k| press(&km, Scope::Reader, k);
        let long = (0..40).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
        let mut r = Reader::new("entry", vec![Para::Heading("note".into()), Para::Text(long)]);
        assert_eq!(r.rows(30).len(), 41);
        let screen = Rect::new(0, 0, 80, 24);
        assert_eq!(r.handle(&key("j")), Outcome::Stay);
        assert_eq!(r.scroll, 1);
        r.handle(&key("G"));
        r.clamp(screen);
        // 20 rows inside the border, one of them the footer: the last page starts at 41 - 19.
        assert_eq!(r.scroll, 41 - 19);
        r.handle(&key("k"));
        assert_eq!(r.scroll, 41 - 20, "up moves at once after the end, no dead keys");
        assert_eq!(r.handle(&key("x")), Outcome::Stay, "stray keys do not lose the reader");
        assert_eq!(r.handle(&key("esc")), Outcome::Close);
    }

    #[test]
    fn long_lines_wrap_and_control_characters_are_escaped() {
        let r = Reader::new("x", vec![Para::Text("abc def ghi\x1b[31m".into())]);
        let rows: Vec<String> = r.rows(8).into_iter().map(|(_, t)| t).collect();
        assert!(rows.iter().all(|l| l.chars().count() <= 8), "{rows:?}");
        assert!(!rows.concat().contains('\x1b'), "{rows:?}");
    }
}
