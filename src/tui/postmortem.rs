//! The postmortem editor: an incident's postmortem as the Markdown a person edits, in a full-size
//! text area, saved as a new revision of the one it was opened at; nothing typed is ever dropped.

use crossterm::event::KeyEvent;
use tui_textarea::{CursorMove, TextArea};

use super::merge;
use super::overlay::{Para, Reader};
use super::theme::Theme;
use crate::model::postmortem::{tagged_notes, Document, EditError};
use crate::model::{Incident, IncidentId};
use crate::present::escape_control;

/// Where the text came from, said in the header.
pub const DRAFT: &str = "draft from #well/#badly/#lucky notes";
/// The same, when no note carries one of those tags.
pub const BLANK: &str = "new: no notes tagged #well, #badly or #lucky to start from";

/// A save sent and not yet answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Saving {
    /// The command's id: its event (or its refusal) names it.
    pub id: uuid::Uuid,
    /// The text as it was saved: "saved" once the log has it, if nothing was typed since.
    pub text: String,
}

/// A newer revision than the one the text started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newer {
    pub revision: u32,
    pub by: String,
}

#[derive(Debug)]
pub struct Editor {
    pub incident: IncidentId,
    /// The incident's title, for the heading of the text and the pane.
    pub title: String,
    /// The revision this text grew from: a save's `base` (0 when there is none yet).
    pub base: u32,
    /// That revision's text (or the draft's): the common ancestor when merging a newer one.
    pub base_text: String,
    /// The text last saved, or as opened: "saved" means the text is this again.
    pub saved_text: String,
    /// Who wrote the revision opened, or that it is a draft.
    pub origin: String,
    pub text: TextArea<'static>,
    pub saving: Option<Saving>,
    /// Someone else saved a revision after the one this text grew from: a save would be
    /// refused (and was, once `refused` is set) until it is merged.
    pub newer: Option<Newer>,
    /// The server's refusal of the last save, in its words.
    pub refused: Option<String>,
    /// What is wrong with the text, `line N: detail`, after a save that could not be read.
    pub error: Option<String>,
    /// Leaving with unsaved changes was asked for: the next key answers.
    pub asking: bool,
    /// The newer revision, shown beside your text (which stays as it is).
    pub theirs: Option<Reader>,
}

/// The text a person edits for `inc`: its postmortem's, or a draft from its tagged notes.
/// Returns the text, the revision and who wrote it (or that it is a draft).
pub fn editable(inc: &Incident, classes: &[String]) -> (String, u32, String) {
    match &inc.postmortem {
        Some(pm) => {
            let who = pm.revisions.last().map_or("nobody".into(), |r| crate::present::one_line(&r.by));
            let origin = format!("revision {} by {who}", pm.revision());
            (text_of(&pm.document, &inc.title, classes), pm.revision(), origin)
        }
        None => {
            let draft = tagged_notes(inc);
            let origin = if draft == Document::default() { BLANK } else { DRAFT };
            (text_of(&draft, &inc.title, classes), 0, origin.to_string())
        }
    }
}

/// `doc` as editable Markdown, other people's control characters escaped: their notes and
/// revisions reach the text area, and from it the terminal.
pub fn text_of(doc: &Document, title: &str, classes: &[String]) -> String {
    escape_control(&doc.to_editable(title, classes)).into_owned()
}

/// A text area holding `text`, styled like the console's forms. Other people's text is
/// escaped first: a note's escape sequence must not reach the terminal through the draft.
fn area(text: &str, theme: &Theme) -> TextArea<'static> {
    let lines: Vec<String> = escape_control(text).lines().map(String::from).collect();
    let mut t = TextArea::new(if lines.is_empty() { vec![String::new()] } else { lines });
    t.set_style(theme.get("text"));
    t.set_cursor_line_style(ratatui::style::Style::default());
    t.set_line_number_style(theme.get("muted"));
    t.set_cursor_style(theme.get("text").add_modifier(ratatui::style::Modifier::REVERSED));
    t
}

impl Editor {
    /// The editor on `inc`'s postmortem, or on a draft when it has none yet.
    pub fn open(inc: &Incident, classes: &[String], theme: &Theme) -> Editor {
        let (text, base, origin) = editable(inc, classes);
        Editor::with_text(inc, base, origin, &text, &text, theme)
    }

    /// The editor on `text`, grown from revision `base` whose text was `base_text`.
    pub fn with_text(
        inc: &Incident,
        base: u32,
        origin: String,
        base_text: &str,
        text: &str,
        theme: &Theme,
    ) -> Editor {
        let mut editor = Editor {
            incident: inc.id,
            title: inc.title.clone(),
            base,
            base_text: base_text.to_string(),
            saved_text: base_text.to_string(),
            origin,
            text: area(text, theme),
            saving: None,
            newer: None,
            refused: None,
            error: None,
            asking: false,
            theirs: None,
        };
        // The cursor starts where the writing does: the line under `## Summary`.
        if let Some(row) = editor.text.lines().iter().position(|l| l.trim() == "## Summary") {
            editor.text.move_cursor(CursorMove::Jump(u16::try_from(row + 1).unwrap_or(u16::MAX), 0));
        }
        editor
    }

    /// The text as it stands, one `\n` after each line.
    pub fn current(&self) -> String {
        let mut text = self.text.lines().join("\n");
        text.push('\n');
        text
    }

    /// Unsaved changes: lines that differ from the text last saved, or being saved (none once
    /// it is back to it). A save refused makes its text unsaved again.
    pub fn unsaved(&self) -> usize {
        let against = self.saving.as_ref().map_or(&self.saved_text, |s| &s.text);
        merge::changed_lines(against, &self.current())
    }

    /// A key typed into the text; true if it changed it.
    pub fn type_key(&mut self, key: KeyEvent) -> bool {
        let changed = self.text.input(key);
        self.note_edit(changed);
        changed
    }

    pub fn paste(&mut self, text: &str) {
        let changed = self.text.insert_str(text.replace("\r\n", "\n").replace('\r', "\n"));
        self.note_edit(changed);
    }

    fn note_edit(&mut self, changed: bool) {
        if changed {
            self.error = None;
        }
    }

    /// Replaces the whole text (a merge, an external editor's result), as one edit.
    pub fn replace(&mut self, text: &str, theme: &Theme) {
        let (row, col) = self.text.cursor();
        self.text = area(text, theme);
        self.text.move_cursor(CursorMove::Jump(clamp16(row), clamp16(col)));
        self.note_edit(true);
    }

    /// Moves the cursor to 1-based `line`, where an error points.
    pub fn jump(&mut self, line: usize) {
        self.text.move_cursor(CursorMove::Jump(clamp16(line.saturating_sub(1)), 0));
    }

    /// The document the text says, or the first line that cannot be saved as it is (the
    /// cursor is moved there and the error kept for the footer).
    pub fn document(&mut self) -> Result<Document, EditError> {
        let text = self.current();
        let found = match merge::marker_line(&text) {
            Some(row) => Err(EditError {
                line: row + 1,
                detail: "a merge clash is still marked here: keep what should stay, delete the \
                         <<<<<<< ======= >>>>>>> lines"
                    .into(),
            }),
            None => Document::from_editable(&text).and_then(|doc| {
                // The server refuses an empty summary: said here with its line, before sending.
                if doc.summary.trim().is_empty() {
                    let line = text.lines().position(|l| l.trim() == "## Summary").map_or(1, |r| r + 2);
                    return Err(EditError {
                        line,
                        detail: "the summary is empty: say what happened in a few sentences".into(),
                    });
                }
                Ok(doc)
            }),
        };
        match &found {
            Ok(_) => self.error = None,
            Err(e) => {
                self.error = Some(e.to_string());
                self.jump(e.line);
            }
        }
        found
    }

    /// The save was sent as command `id`.
    pub fn sent(&mut self, id: uuid::Uuid) {
        self.saving = Some(Saving { id, text: self.current() });
        self.refused = None;
    }

    /// The log has the save: revision `revision` is now what this text grew from.
    pub fn saved(&mut self, revision: u32, origin: String) {
        let Some(saving) = self.saving.take() else { return };
        self.base = revision;
        self.base_text = saving.text.clone();
        self.saved_text = saving.text;
        self.origin = origin;
        self.newer = None;
        self.refused = None;
    }

    /// The server refused the save: the text stays; why is shown.
    pub fn refuse(&mut self, why: String) {
        self.saving = None;
        self.refused = Some(why);
    }

    /// Takes `theirs` (revision `newer`, whose text it is) into the text: what only they
    /// changed comes in, what only you changed stays, clashes are marked. Returns the merge.
    pub fn merge_with(&mut self, theirs: &str, newer: Newer, theme: &Theme) -> merge::Merged {
        let label = format!("revision {} ({})", newer.revision, crate::present::one_line(&newer.by));
        let merged = merge::merge(&self.base_text, &self.current(), theirs, &label);
        self.base = newer.revision;
        self.base_text = theirs.to_string();
        self.saved_text = theirs.to_string();
        self.origin = format!("revision {} by {}", newer.revision, crate::present::one_line(&newer.by));
        self.newer = None;
        self.refused = None;
        self.theirs = None;
        self.replace(&merged.text, theme);
        if let Some(first) = merged.conflicts.first() {
            self.jump(first + 1);
        }
        merged
    }

    /// A reader on revision `newer`'s text, beside yours.
    pub fn show_theirs(&mut self, text: &str, newer: &Newer) {
        let title = format!(
            "{} postmortem, revision {} by {} (yours is kept)",
            self.incident,
            newer.revision,
            crate::present::one_line(&newer.by)
        );
        self.theirs = Some(Reader::new(title, vec![Para::Text(text.to_string())]));
    }

    /// The header's word on the text: saving, refused, N unsaved changes, saved.
    pub fn status(&self, online: bool) -> String {
        if self.saving.is_some() {
            let queued = if online { "" } else { " (queued: offline)" };
            return format!("saving revision {}…{queued}", self.base + 1);
        }
        if let Some(n) = &self.newer {
            let by = crate::present::one_line(&n.by);
            let state = if self.refused.is_some() { "NOT SAVED" } else { "will not save" };
            return format!("{state}: {by} saved revision {} since you opened {}", n.revision, self.base);
        }
        if self.refused.is_some() {
            return "NOT SAVED".into();
        }
        match self.unsaved() {
            0 if self.base == 0 => "not saved yet".into(),
            0 => "saved".into(),
            1 => "1 unsaved change".into(),
            n => format!("{n} unsaved changes"),
        }
    }
}

fn clamp16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Intent, Severity, State};
    use crate::tui::postmortem::test_state::{declare, play as run};
    use crossterm::event::{KeyCode, KeyModifiers};

    fn theme() -> Theme {
        super::super::theme::Themes::presets().get("default").cloned().expect("the default theme")
    }

    fn incident_with_notes() -> (State, IncidentId) {
        let mut s = State::default();
        let id = declare(&mut s, "Checkout fails", Severity::Sev1);
        for text in ["#well paging worked", "the rollback was slow #badly", "no tag here"] {
            run(&mut s, "alice", Intent::AddNote { incident: id, text: text.into() });
        }
        (s, id)
    }

    fn type_str(e: &mut Editor, text: &str) {
        for c in text.chars() {
            e.type_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }

    #[test]
    fn a_draft_comes_from_tagged_notes_and_the_cursor_waits_under_the_summary() {
        let (s, id) = incident_with_notes();
        let classes = vec!["dependency".to_string()];
        let mut e = Editor::open(s.incident(id).unwrap(), &classes, &theme());
        assert_eq!(e.origin, DRAFT);
        assert_eq!(e.base, 0);
        let text = e.current();
        assert!(text.contains("- paging worked") && text.contains("- the rollback was slow"), "{text}");
        assert!(!text.contains("no tag here"));
        assert_eq!(e.status(true), "not saved yet");
        let err = e.document().unwrap_err();
        assert!(err.detail.contains("summary is empty"), "{err}");
        assert_eq!(e.text.cursor().0 + 1, err.line, "the cursor is moved to the error");
        type_str(&mut e, "Payments failed.");
        assert_eq!(e.status(true), "1 unsaved change");
        let doc = e.document().unwrap();
        assert_eq!(doc.summary, "Payments failed.");
        assert_eq!(doc.well, ["paging worked"]);
    }

    #[test]
    fn a_bad_line_is_named_and_the_text_kept() {
        let (s, id) = incident_with_notes();
        let mut e = Editor::open(s.incident(id).unwrap(), &[], &theme());
        e.replace(&e.current().replace("## What went badly", "## Lessons"), &theme());
        let before = e.current();
        let err = e.document().unwrap_err();
        assert!(e.error.as_deref().is_some_and(|x| x.starts_with(&format!("line {}:", err.line))));
        assert_eq!(e.text.lines()[e.text.cursor().0], "## Lessons");
        assert_eq!(e.current(), before, "nothing typed is lost");
    }

    #[test]
    fn saving_then_typing_counts_only_what_came_after() {
        let (s, id) = incident_with_notes();
        let mut e = Editor::open(s.incident(id).unwrap(), &[], &theme());
        type_str(&mut e, "Down.");
        e.sent(uuid::Uuid::nil());
        assert_eq!(e.status(false), "saving revision 1… (queued: offline)");
        type_str(&mut e, "!");
        e.saved(1, "revision 1 by alice".into());
        assert_eq!((e.base, e.unsaved()), (1, 1));
        e.type_key(KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE));
        assert_eq!(e.status(true), "saved", "back to the saved text");
    }

    #[test]
    fn a_newer_revision_merges_in_and_a_clash_must_be_resolved_before_saving() {
        let (s, id) = incident_with_notes();
        let mut e = Editor::open(s.incident(id).unwrap(), &[], &theme());
        let base = e.current();
        let newer = Newer { revision: 1, by: "bob".into() };
        let theirs = base.replace("## Summary\n", "## Summary\nBob's summary.\n");
        type_str(&mut e, "My summary.");
        e.newer = Some(newer.clone());
        e.refuse("stale".into());
        assert!(e.status(true).starts_with("NOT SAVED: bob saved revision 1 since you opened 0"));
        let merged = e.merge_with(&theirs, newer, &theme());
        assert_eq!(merged.conflicts.len(), 1, "{}", merged.text);
        assert_eq!(e.base, 1);
        let err = e.document().unwrap_err();
        assert!(err.detail.contains("merge clash"), "{err}");
        assert_eq!(e.text.lines()[err.line - 1], merge::YOURS);
    }
}

/// States for the console's unit tests, made like the server makes them.
#[cfg(test)]
pub(crate) mod test_state {
    use crate::model::{stamp, IncidentId, Intent, Severity, State, UserRole};

    /// Decides and applies `intent` as `actor`, a minute after the last event.
    pub fn play(state: &mut State, actor: &str, intent: Intent) {
        let facts = state.decide(&intent).expect("a command the model accepts");
        let at = "2026-11-21T09:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().expect("a time")
            + chrono::Duration::minutes(state.seq as i64);
        for e in stamp(state.seq + 1, at, actor, UserRole::Commander, uuid::Uuid::new_v4(), facts) {
            state.apply(&e);
        }
    }

    pub fn declare(state: &mut State, title: &str, severity: Severity) -> IncidentId {
        play(
            state,
            "alice",
            Intent::DeclareIncident {
                title: title.into(),
                severity,
                impact: String::new(),
                drill: false,
                services: Vec::new(),
                private: false,
            },
        );
        IncidentId(state.incidents.len() as u64)
    }
}
