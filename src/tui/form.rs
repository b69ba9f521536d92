//! Forms and menus: declare, note, reopen reason, assign; pick lists for status, closure,
//! severity and role. A form turns keys into an `Intent` on submit and nothing else.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_textarea::TextArea;

use super::theme::Theme;
use crate::model::intent::{MAX_NAME, MAX_TEXT, MAX_TITLE};
use crate::model::{ClosureReason, IncidentId, Intent, Role, Severity, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuPick {
    Status(IncidentId, Status),
    Close(IncidentId, ClosureReason),
    Severity(IncidentId, Severity),
    Role(IncidentId, Role),
    /// An index into the library's playbooks.
    Playbook(IncidentId, usize),
    /// A row of the action-items overlay: open its incident.
    ActionRow(usize),
    /// Write the incident's postmortem (offered when closing it was refused for want of one).
    Postmortem(IncidentId),
    /// Close it for a reason other than resolved (duplicate, false positive, cancelled).
    CloseOther(IncidentId),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Menu {
    pub title: String,
    pub items: Vec<(String, MenuPick)>,
    pub selected: usize,
    /// The number that picks each item: 1, 2, 3… unless a menu keeps them stable.
    pub numbers: Vec<usize>,
}

impl Menu {
    pub fn new(title: String, items: Vec<(String, MenuPick)>) -> Menu {
        let numbers = (1..=items.len()).collect();
        Menu { title, items, selected: 0, numbers }
    }

    /// A menu whose items keep their own numbers (a status is always the same key,
    /// whichever statuses are offered from here).
    pub fn numbered(title: String, items: Vec<(usize, String, MenuPick)>) -> Menu {
        let numbers = items.iter().map(|(n, _, _)| *n).collect();
        let items = items.into_iter().map(|(_, l, p)| (l, p)).collect();
        Menu { title, items, selected: 0, numbers }
    }

    /// The number shown and pressed for item `i`.
    pub fn number(&self, i: usize) -> usize {
        self.numbers.get(i).copied().unwrap_or(i + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclareField {
    Title,
    Severity,
    Impact,
    Drill,
}

/// Only one form is open at a time (boxed in the overlay), so variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Form {
    Declare {
        title: TextArea<'static>,
        severity: Severity,
        impact: TextArea<'static>,
        drill: bool,
        /// Services (probes) the incident is about, when declared from the health board.
        services: Vec<String>,
        field: DeclareField,
        error: Option<String>,
    },
    Note {
        incident: IncidentId,
        text: TextArea<'static>,
        error: Option<String>,
    },
    Reason {
        incident: IncidentId,
        status: Status,
        text: TextArea<'static>,
        error: Option<String>,
    },
    Assign {
        incident: IncidentId,
        role: Role,
        person: TextArea<'static>,
        error: Option<String>,
        /// The server's users, completed with tab; and the matches of the last tab.
        users: Vec<String>,
        matches: Vec<String>,
    },
    Message {
        incident: IncidentId,
        channel: String,
        step: Option<String>,
        text: TextArea<'static>,
        error: Option<String>,
    },
    /// Halt-all's reason, prefilled so that halting is two keys; the halt goes straight to
    /// the server, not through the outbox (see `App::send`).
    Halt {
        text: TextArea<'static>,
        error: Option<String>,
    },
}

pub enum FormOutcome {
    Continue,
    Cancel,
    Submit(Intent),
}

fn area(placeholder: &str, theme: &Theme) -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text(placeholder);
    t.set_placeholder_style(theme.get("muted"));
    t.set_cursor_line_style(ratatui::style::Style::default());
    t.set_style(theme.get("text"));
    t
}

/// Where a line of `chars` breaks when shown `width` columns wide: `(start, end)` ranges
/// that cover it exactly, broken after a space when one is in reach. Widths are terminal
/// cells, not characters: CJK and most emoji take two, so counting characters would hand
/// ratatui lines twice too wide, and it cuts what does not fit. Only the display breaks; the
/// text keeps its own lines, so what is sent is what was typed.
pub fn soft_breaks(chars: &[char], width: usize) -> Vec<(usize, usize)> {
    use unicode_width::UnicodeWidthChar;
    let width = width.max(1);
    let mut pieces = Vec::new();
    let mut start = 0;
    loop {
        let (mut end, mut used, mut space) = (start, 0, None);
        while let Some(c) = chars.get(end) {
            let w = c.width().unwrap_or(1);
            if used + w > width {
                break;
            }
            used += w;
            if *c == ' ' {
                space = Some(end);
            }
            end += 1;
        }
        if end == chars.len() {
            pieces.push((start, end));
            return pieces;
        }
        // At least one character a piece, even one wider than the width: always moves on.
        let cut = space.map_or(end.max(start + 1), |i| i + 1);
        pieces.push((start, cut));
        start = cut;
    }
}

fn text_of(t: &TextArea) -> String {
    t.lines().join("\n").trim().to_string()
}

/// Checks a field like the server will, so the user fixes it before sending.
fn check(field: &str, text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    let n = text.chars().count();
    if n > max {
        return Err(format!("{field} is {n} characters; the limit is {max}"));
    }
    Ok(())
}

impl Form {
    pub fn declare(theme: &Theme) -> Form {
        Form::Declare {
            title: area("what is broken, for whom", theme),
            // If unsure, assume the worst: major by default.
            severity: Severity::Sev2,
            impact: area("who is affected and how (optional)", theme),
            drill: false,
            services: Vec::new(),
            field: DeclareField::Title,
            error: None,
        }
    }

    /// The declare form filled in from a probe: title, service, severity and impact.
    pub fn declare_prefilled(
        theme: &Theme,
        title: &str,
        severity: Severity,
        impact: &str,
        services: Vec<String>,
    ) -> Form {
        let mut form = Form::declare(theme);
        if let Form::Declare { title: t, severity: s, impact: i, services: sv, .. } = &mut form {
            t.insert_str(title);
            *s = severity;
            i.insert_str(impact);
            *sv = services;
        }
        form
    }

    pub fn note(incident: IncidentId, theme: &Theme) -> Form {
        Form::Note { incident, text: area("what you learned or did", theme), error: None }
    }

    pub fn reason(incident: IncidentId, status: Status, theme: &Theme) -> Form {
        Form::Reason { incident, status, text: area("why it goes back: what changed", theme), error: None }
    }

    pub fn assign(incident: IncidentId, role: Role, theme: &Theme, users: Vec<String>) -> Form {
        Form::Assign {
            incident,
            role,
            person: area("name (tab completes)", theme),
            error: None,
            users,
            matches: Vec::new(),
        }
    }

    pub fn message(
        incident: IncidentId,
        channel: String,
        step: Option<String>,
        text: &str,
        theme: &Theme,
    ) -> Form {
        let mut area = area("what this audience needs to know now", theme);
        // Inserted as rendered: the form soft-wraps it for reading, and hard breaks here
        // reached the status page and customers' mail (issue 11).
        area.insert_str(text);
        Form::Message { incident, channel, step, text: area, error: None }
    }

    /// The halt-all reason, prefilled with `reason`.
    pub fn halt(theme: &Theme, reason: &str) -> Form {
        let mut text = area("why everything stops", theme);
        text.insert_str(reason);
        // Selected: enter sends it as it is, typing replaces it, an arrow keeps it to edit.
        text.select_all();
        Form::Halt { text, error: None }
    }

    pub fn title(&self) -> String {
        match self {
            Form::Halt { .. } => "HALT ALL chaos and disarm: reason".into(),
            Form::Declare { .. } => "Declare an incident".into(),
            Form::Note { incident, .. } => format!("Note on {incident}"),
            Form::Reason { incident, status, .. } => format!("{incident} → {status}: reason"),
            Form::Assign { incident, role, .. } => format!("{incident}: who is {role}?"),
            Form::Message { incident, channel, step, .. } => match step {
                Some(s) => format!("{incident} → {channel} (step {s})"),
                None => format!("{incident} → {channel}"),
            },
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Form::Declare { error, .. }
            | Form::Note { error, .. }
            | Form::Reason { error, .. }
            | Form::Assign { error, .. }
            | Form::Message { error, .. }
            | Form::Halt { error, .. } => error.as_deref(),
        }
    }

    fn set_error(&mut self, e: String) {
        match self {
            Form::Declare { error, .. }
            | Form::Note { error, .. }
            | Form::Reason { error, .. }
            | Form::Assign { error, .. }
            | Form::Message { error, .. }
            | Form::Halt { error, .. } => *error = Some(e),
        }
    }

    /// The text area that receives typing, if any.
    fn active_text(&mut self) -> Option<&mut TextArea<'static>> {
        match self {
            Form::Declare { title, impact, field, .. } => match field {
                DeclareField::Title => Some(title),
                DeclareField::Impact => Some(impact),
                _ => None,
            },
            Form::Note { text, .. } | Form::Reason { text, .. } | Form::Message { text, .. } => Some(text),
            Form::Assign { person, .. } => Some(person),
            Form::Halt { text, .. } => Some(text),
        }
    }

    /// Whether the field shown for this form is drawn soft-wrapped (it may hold prose).
    pub fn multiline(&self) -> bool {
        matches!(
            self,
            Form::Note { .. } | Form::Message { .. } | Form::Declare { field: DeclareField::Impact, .. }
        )
    }

    pub fn paste(&mut self, text: &str) {
        let multiline = self.multiline();
        if let Some(t) = self.active_text() {
            if multiline {
                t.insert_str(text.replace("\r\n", "\n").replace('\r', "\n"));
            } else {
                t.insert_str(text.replace(['\n', '\r'], " "));
            }
        }
    }

    pub fn submit(&mut self) -> FormOutcome {
        let result = match self {
            Form::Declare { title, severity, impact, drill, services, .. } => {
                let t = text_of(title);
                let i = text_of(impact);
                check("title", &t, MAX_TITLE).map(|_| Intent::DeclareIncident {
                    title: t,
                    severity: *severity,
                    impact: i,
                    drill: *drill,
                    services: services.clone(),
                    private: false,
                })
            }
            Form::Note { incident, text, .. } => {
                let t = text_of(text);
                check("note", &t, MAX_TEXT).map(|_| Intent::AddNote { incident: *incident, text: t })
            }
            Form::Reason { incident, status, text, .. } => {
                let t = text_of(text);
                check("reason", &t, MAX_TEXT).map(|_| Intent::SetStatus {
                    incident: *incident,
                    status: *status,
                    reason: Some(t),
                })
            }
            Form::Message { incident, channel, step, text, .. } => {
                let t = text_of(text);
                check("message", &t, MAX_TEXT).map(|_| Intent::SendMessage {
                    incident: *incident,
                    channel: channel.clone(),
                    text: t,
                    step: step.clone(),
                    status: None,
                })
            }
            Form::Halt { text, .. } => {
                let t = text_of(text);
                check("reason", &t, MAX_TEXT).map(|_| Intent::HaltAll { reason: t })
            }
            Form::Assign { incident, role, person, .. } => {
                let p = text_of(person);
                check("name", &p, MAX_NAME).map(|_| Intent::AssignRole {
                    incident: *incident,
                    role: *role,
                    person: p,
                })
            }
        };
        match result {
            Ok(intent) => FormOutcome::Submit(intent),
            Err(e) => {
                self.set_error(e);
                FormOutcome::Continue
            }
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> FormOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Esc => return FormOutcome::Cancel,
            KeyCode::Char('s') if ctrl => return self.submit(),
            // Enter sends; Alt-Enter (or Ctrl-J) starts a new line where lines make sense.
            KeyCode::Enter if alt && self.multiline() => {
                if let Some(t) = self.active_text() {
                    t.insert_newline();
                }
                return FormOutcome::Continue;
            }
            KeyCode::Char('j') if ctrl && self.multiline() => {
                if let Some(t) = self.active_text() {
                    t.insert_newline();
                }
                return FormOutcome::Continue;
            }
            KeyCode::Enter => return self.submit(),
            _ => {}
        }
        if let Form::Assign { person, users, matches, .. } = self {
            if key.code == KeyCode::Tab {
                // The same completion as the command line's: the whole name when one fits,
                // else the common prefix, with the choices shown under the field.
                let (line, found) = crate::tui::command::complete_word(&text_of(person), users);
                person.move_cursor(tui_textarea::CursorMove::Head);
                person.delete_line_by_end();
                person.insert_str(line.trim_end());
                *matches = found;
                return FormOutcome::Continue;
            }
            matches.clear();
        }
        if let Form::Declare { field, severity, drill, .. } = self {
            let order =
                [DeclareField::Title, DeclareField::Severity, DeclareField::Impact, DeclareField::Drill];
            let i = order.iter().position(|f| f == field).unwrap_or(0);
            match key.code {
                KeyCode::Tab | KeyCode::Down
                    if !matches!(field, DeclareField::Impact) || key.code == KeyCode::Tab =>
                {
                    *field = order[(i + 1) % order.len()];
                    return FormOutcome::Continue;
                }
                KeyCode::BackTab => {
                    *field = order[(i + order.len() - 1) % order.len()];
                    return FormOutcome::Continue;
                }
                KeyCode::Up if !matches!(field, DeclareField::Impact) => {
                    *field = order[(i + order.len() - 1) % order.len()];
                    return FormOutcome::Continue;
                }
                _ => {}
            }
            match (*field, key.code) {
                (DeclareField::Severity, KeyCode::Left | KeyCode::Char('h')) => {
                    *severity = Severity::ALL[(*severity as usize).saturating_sub(1)];
                }
                (DeclareField::Severity, KeyCode::Right | KeyCode::Char('l')) => {
                    *severity = Severity::ALL[(*severity as usize + 1).min(4)];
                }
                (DeclareField::Severity, KeyCode::Char(c @ '1'..='5')) => {
                    *severity = Severity::ALL[c as usize - '1' as usize];
                }
                (DeclareField::Drill, KeyCode::Char(' ' | 'x')) => *drill = !*drill,
                _ => {
                    if let Some(t) = self.active_text() {
                        t.input(key);
                    }
                }
            }
            return FormOutcome::Continue;
        }
        if let Some(t) = self.active_text() {
            t.input(key);
        }
        FormOutcome::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_breaks_cover_the_line_exactly_and_break_after_spaces() {
        let chars: Vec<char> = "Next update by 14:19 UTC, sooner if we learn more".chars().collect();
        let pieces = soft_breaks(&chars, 20);
        let text: Vec<String> = pieces.iter().map(|(a, b)| chars[*a..*b].iter().collect()).collect();
        assert_eq!(text.concat(), chars.iter().collect::<String>(), "nothing added or lost");
        assert_eq!(text[0], "Next update by ");
        assert!(text.iter().all(|p| p.chars().count() <= 20), "{text:?}");
        let long: Vec<char> = "x".repeat(45).chars().collect();
        assert_eq!(soft_breaks(&long, 20), [(0, 20), (20, 40), (40, 45)], "no space: cut at the width");
        assert_eq!(soft_breaks(&[], 20), [(0, 0)]);
    }

    #[test]
    fn soft_breaks_count_terminal_cells_so_wide_characters_are_never_cut() {
        use unicode_width::UnicodeWidthStr;
        let note = "決済サービスが停止しています。原因はデータベースの接続プールの枯渇です。 Payments 💳 down — الدفع معطل";
        let chars: Vec<char> = note.chars().collect();
        for width in [1, 2, 3, 7, 20, 41] {
            let pieces = soft_breaks(&chars, width);
            let text: Vec<String> = pieces.iter().map(|(a, b)| chars[*a..*b].iter().collect()).collect();
            assert_eq!(text.concat(), note, "nothing added or lost at width {width}");
            // A piece fits its cells, but for a lone character wider than the whole width.
            assert!(
                text.iter().all(|p| p.width() <= width || p.chars().count() == 1),
                "width {width}: {text:?}"
            );
        }
        // Twenty cells hold ten CJK characters, not twenty.
        assert_eq!(soft_breaks(&chars, 20)[0], (0, 10));
    }
}
