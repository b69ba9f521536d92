//! Postmortems and action items: the document a team writes after a serious incident (every
//! revision kept in the log) and the follow-ups it tracks until they are done.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::event::{Event, Fact};
use super::intent::{check_count, check_len, check_text, Intent, Rejection, MAX_NAME, MAX_TEXT, MAX_TITLE};
use super::timeline::EntryKind;
use super::{Context, Incident, IncidentId, Severity, State};

/// Entries in each of a postmortem's lists (went well, went badly, got lucky).
pub const MAX_ENTRIES: usize = 64;
/// Action items one incident may hold.
pub const MAX_ACTION_ITEMS: usize = 256;
/// A link (a ticket, a pull request): long enough for any tracker's URL.
pub const MAX_LINK: usize = 2048;
/// How far ahead a due date may lie: ten years is already a wish, not a plan.
pub const MAX_DUE_YEARS: i32 = 10;

/// What a team writes. Everything else a postmortem shows (timeline, metrics, who took part,
/// what was sent) is read from the log when it is rendered, so it can never disagree with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// What happened, in a few sentences.
    pub summary: String,
    /// One of the server's failure classes (`[postmortem] failure_classes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<String>,
    /// Contributing factors: why it happened and why it was not caught sooner.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub factors: String,
    /// What went well (seeded from notes tagged `#well`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub well: Vec<String>,
    /// What went badly (`#badly`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub badly: Vec<String>,
    /// Where we got lucky (`#lucky`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lucky: Vec<String>,
}

/// One write of the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// From 1.
    pub revision: u32,
    /// The event that wrote it: `GET /api/v1/state?at=SEQ` shows the document as it was.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// An incident's postmortem: the latest document and who wrote each revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postmortem {
    pub document: Document,
    pub revisions: Vec<Revision>,
}

impl Postmortem {
    /// The number of the latest revision (0 before any).
    pub fn revision(&self) -> u32 {
        self.revisions.last().map_or(0, |r| r.revision)
    }
}

/// A follow-up the team committed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionItem {
    /// Numbered from 1 within its incident: `INC-7#2`.
    pub item: u32,
    pub title: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Done>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub at: DateTime<Utc>,
    pub by: String,
}

impl ActionItem {
    /// Open and past its due date (the whole due day counts) at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.done.is_none() && self.due.is_some_and(|due| now.date_naive() > due)
    }
}

/// What an action item's fact carries (the rest comes from the event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewItem {
    pub item: u32,
    pub title: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `[postmortem]` in the server's config: which incidents need one before they close as
/// resolved, and the failure classes a team files them under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Severities whose incidents need a postmortem to close as resolved [default: SEV1, SEV2].
    pub required: Vec<Severity>,
    /// Whether drills need one too [default: true: a game day's lesson is its postmortem].
    pub drills: bool,
    /// The classes a postmortem's failure is filed under; empty allows any.
    pub failure_classes: Vec<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            required: vec![Severity::Sev1, Severity::Sev2],
            drills: true,
            failure_classes: [
                "deployment",
                "configuration",
                "capacity",
                "dependency",
                "data",
                "network",
                "security",
                "human_error",
                "unknown",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl Settings {
    /// Whether `incident` needs a postmortem before closing as resolved.
    pub fn requires(&self, incident: &Incident) -> bool {
        self.required.contains(&incident.severity) && (self.drills || !incident.drill)
    }

    /// The configured spelling of `class`, matched ignoring case, `-` and `_`.
    pub fn failure_class(&self, class: &str) -> Result<String, Rejection> {
        let class = class.trim();
        if self.failure_classes.is_empty() {
            check_text("failure_class", class, MAX_NAME)?;
            return Ok(class.to_string());
        }
        let fold = |s: &str| s.trim().to_lowercase().replace(['-', ' '], "_");
        self.failure_classes.iter().find(|c| fold(c) == fold(class)).cloned().ok_or_else(|| {
            Rejection::Invalid {
                field: "failure_class",
                detail: format!(
                    "`{class}` is not one of this server's ({})",
                    self.failure_classes.join(", ")
                ),
            }
        })
    }
}

/// The notes tagged `#well`, `#badly` and `#lucky`, tag removed, in timeline order: the first
/// draft of those three lists.
pub fn tagged_notes(incident: &Incident) -> Document {
    let mut doc = Document::default();
    for entry in &incident.timeline {
        let EntryKind::Note { text } = &entry.kind else { continue };
        for (tag, list) in [("#well", &mut doc.well), ("#badly", &mut doc.badly), ("#lucky", &mut doc.lucky)]
        {
            if has_tag(text, tag) {
                list.push(strip_tag(text, tag));
            }
        }
    }
    doc
}

/// `#well` as a word of its own (not `#wellness`), any case.
fn has_tag(text: &str, tag: &str) -> bool {
    text.split_whitespace()
        .any(|w| w.trim_end_matches(['.', ',', ';', ':', '!', '?']).eq_ignore_ascii_case(tag))
}

fn strip_tag(text: &str, tag: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.trim_end_matches(['.', ',', ';', ':', '!', '?']).eq_ignore_ascii_case(tag))
        .collect();
    words.join(" ")
}

fn check_list(field: &'static str, list: &[String]) -> Result<(), Rejection> {
    check_count(field, list, MAX_ENTRIES)?;
    for (i, entry) in list.iter().enumerate() {
        check_text(field, entry, MAX_TEXT).map_err(|e| match e {
            Rejection::Invalid { field, detail } => {
                Rejection::Invalid { field, detail: format!("entry {} {detail}", i + 1) }
            }
            other => other,
        })?;
    }
    Ok(())
}

/// The document as it is stored: trimmed, empty entries dropped, the class in its configured
/// spelling; or the first field that cannot be accepted.
fn checked(doc: &Document, cx: &Context) -> Result<Document, Rejection> {
    check_text("summary", &doc.summary, MAX_TEXT)?;
    check_len("factors", &doc.factors, MAX_TEXT)?;
    let tidy = |list: &[String]| -> Vec<String> {
        list.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
    };
    let (well, badly, lucky) = (tidy(&doc.well), tidy(&doc.badly), tidy(&doc.lucky));
    check_list("well", &well)?;
    check_list("badly", &badly)?;
    check_list("lucky", &lucky)?;
    let failure_class = match doc.failure_class.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(class) => Some(cx.library.postmortem.failure_class(class)?),
    };
    Ok(Document {
        summary: doc.summary.trim().to_string(),
        failure_class,
        factors: doc.factors.trim().to_string(),
        well,
        badly,
        lucky,
    })
}

fn check_due(due: NaiveDate, now: DateTime<Utc>) -> Result<(), Rejection> {
    let today = now.date_naive();
    let latest = today.with_year_saturating(MAX_DUE_YEARS);
    if due > latest {
        return Err(Rejection::Invalid {
            field: "due",
            detail: format!("{due} is more than {MAX_DUE_YEARS} years away (latest {latest})"),
        });
    }
    if due < DateTime::UNIX_EPOCH.date_naive() {
        return Err(Rejection::Invalid { field: "due", detail: format!("{due} is before 1970") });
    }
    Ok(())
}

trait AddYears {
    fn with_year_saturating(self, years: i32) -> NaiveDate;
}

impl AddYears for NaiveDate {
    fn with_year_saturating(self, years: i32) -> NaiveDate {
        self.checked_add_months(chrono::Months::new(12 * years.unsigned_abs())).unwrap_or(NaiveDate::MAX)
    }
}

fn check_link(link: &str) -> Result<(), Rejection> {
    check_text("link", link, MAX_LINK)?;
    // Zero-width and bidi characters make a link read as another than it is.
    let invisible = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
    if link.chars().any(|c| c.is_control() || c.is_whitespace() || invisible(c)) {
        return Err(Rejection::Invalid {
            field: "link",
            detail: "must be one URL or ticket id, without spaces".into(),
        });
    }
    Ok(())
}

/// The sections of the editable text, in order: heading and what it holds.
const SECTIONS: [&str; 6] = [
    "Summary",
    "Failure class",
    "Contributing factors",
    "What went well",
    "What went badly",
    "Where we got lucky",
];

/// A line of the editable text that cannot be read back, with its 1-based number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {detail}")]
pub struct EditError {
    pub line: usize,
    pub detail: String,
}

impl Document {
    /// The document as Markdown a person edits (in `$EDITOR` or the console's editor): one
    /// `## ` section per field, lists as `- ` items (further lines of an item indented), hints
    /// in one-line HTML comments. [`Document::from_editable`] reads it back to the same
    /// document: a written line that would read as a heading, a comment or an escape starts
    /// with `\`.
    pub fn to_editable(&self, title: &str, classes: &[String]) -> String {
        let mut out = format!(
            "<!-- Postmortem of {}. Edit the sections below and keep their `## ` headings; \
             lines like this one are hints, left out when it is saved. -->\n",
            hint_text(title)
        );
        let list = |items: &[String]| -> String {
            items
                .iter()
                .map(|i| {
                    let mut lines = i.lines();
                    let first = lines.next().unwrap_or("");
                    let rest: String = lines.map(|l| format!("\n  {l}")).collect();
                    format!("- {first}{rest}\n")
                })
                .collect()
        };
        for heading in SECTIONS {
            out.push_str(&format!("\n## {heading}\n"));
            match heading {
                "Summary" => out.push_str(&block(&self.summary)),
                "Failure class" => {
                    if !classes.is_empty() {
                        out.push_str(&format!("<!-- one of: {} -->\n", hint_text(&classes.join(", "))));
                    }
                    out.push_str(&block(self.failure_class.as_deref().unwrap_or("")));
                }
                "Contributing factors" => out.push_str(&block(&self.factors)),
                "What went well" => out.push_str(&list(&self.well)),
                "What went badly" => out.push_str(&list(&self.badly)),
                _ => out.push_str(&list(&self.lucky)),
            }
        }
        out
    }

    /// Reads back what [`Document::to_editable`] wrote, after a person edited it. Nothing typed
    /// is silently dropped: an unknown heading, text before the first section, a comment left
    /// open and a list line that is not an item are errors naming their line. Field limits are
    /// checked by the server when it is written.
    pub fn from_editable(text: &str) -> Result<Document, EditError> {
        let mut doc = Document::default();
        let mut section: Option<&str> = None;
        let mut seen = std::collections::BTreeSet::new();
        let mut class_lines: Vec<(usize, String)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line_no = n + 1;
            let line = raw.trim_end();
            // Hints are one-line comments at the start of a line; one left open would hide
            // everything after it, so it is refused rather than guessed at.
            if line.starts_with("<!--") {
                if line.ends_with("-->") {
                    continue;
                }
                return Err(EditError {
                    line: line_no,
                    detail: "a comment left open: hints are one line, `<!-- … -->` (start a line of \
                             text with `\\<!--` to keep it)"
                        .into(),
                });
            }
            if let Some(heading) = line.strip_prefix("## ") {
                let found =
                    SECTIONS.iter().find(|s| s.eq_ignore_ascii_case(heading.trim())).ok_or_else(|| {
                        EditError {
                            line: line_no,
                            detail: format!(
                                "`## {}` is not a section (sections: {}; start a line of text with `\\##` \
                             to keep it)",
                                heading.trim(),
                                SECTIONS.join(", ")
                            ),
                        }
                    })?;
                if !seen.insert(*found) {
                    return Err(EditError { line: line_no, detail: format!("`## {found}` appears twice") });
                }
                section = Some(found);
                continue;
            }
            let Some(current) = section else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(EditError {
                    line: line_no,
                    detail: "text before the first `## ` section (start with `## Summary`)".into(),
                });
            };
            let list = match current {
                "What went well" => Some(&mut doc.well),
                "What went badly" => Some(&mut doc.badly),
                "Where we got lucky" => Some(&mut doc.lucky),
                _ => None,
            };
            match list {
                Some(items) => {
                    if let Some(item) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
                        items.push(item.trim().to_string());
                    } else if line.trim().is_empty() || line == "-" || line == "*" {
                    } else if line.starts_with([' ', '\t']) && !items.is_empty() {
                        // An indented line continues the item above it.
                        if let Some(last) = items.last_mut() {
                            last.push('\n');
                            last.push_str(line.trim());
                        }
                    } else {
                        return Err(EditError {
                            line: line_no,
                            detail: format!(
                                "under `## {current}` each entry starts with `- ` (further lines of it \
                                 indented)"
                            ),
                        });
                    }
                }
                None if current == "Failure class" => {
                    if !line.trim().is_empty() {
                        class_lines.push((line_no, unescape(line).trim().to_string()));
                    }
                }
                None => {
                    // A heading typed onto the end of a line (or its line break lost) would pour
                    // the next section into this one and drop it without a word. (In a list the
                    // line is refused anyway: it does not start with `- `.)
                    if let Some(glued) = glued_heading(line) {
                        return Err(EditError {
                            line: line_no,
                            detail: format!(
                                "`## {glued}` ends a line of text: a section heading starts its own \
                                 line (start the line with `\\` to keep it as text)"
                            ),
                        });
                    }
                    let field = if current == "Summary" { &mut doc.summary } else { &mut doc.factors };
                    field.push_str(unescape(line));
                    field.push('\n');
                }
            }
        }
        match class_lines.as_slice() {
            [] => {}
            [(_, class)] => doc.failure_class = Some(class.clone()),
            [_, (line, _), ..] => {
                return Err(EditError {
                    line: *line,
                    detail: "the failure class is one name on one line".into(),
                })
            }
        }
        doc.summary = doc.summary.trim().to_string();
        doc.factors = doc.factors.trim().to_string();
        Ok(doc)
    }
}

/// A paragraph section's body: each line, escaped where it would read as structure, and a
/// newline; or nothing.
fn block(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    text.lines().map(|l| format!("{}{l}\n", if needs_escape(l) { "\\" } else { "" })).collect()
}

/// Whether a written line would read as a heading, a hint or an escape at the start of a line,
/// or as a heading glued to the end of one.
fn needs_escape(line: &str) -> bool {
    line.starts_with("## ")
        || line.starts_with("<!--")
        || line.starts_with('\\')
        || glued_heading(line).is_some()
}

/// The section whose heading ends `line` after some text (`pool too small## What went well`);
/// `None` for a line escaped with `\\`.
fn glued_heading(line: &str) -> Option<&'static str> {
    if line.starts_with('\\') {
        return None;
    }
    let lower = line.trim_end().to_lowercase();
    SECTIONS.iter().copied().find(|s| {
        let heading = format!("## {}", s.to_lowercase());
        lower.len() > heading.len() && lower.ends_with(&heading)
    })
}

/// A paragraph line as written: one leading `\` dropped.
fn unescape(line: &str) -> &str {
    line.strip_prefix('\\').unwrap_or(line)
}

/// Text inside a one-line hint: on one line, and unable to close the comment early.
fn hint_text(s: &str) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    flat.replace("-->", "→")
}

/// Decides writing a postmortem and adding or completing action items.
pub(super) fn decide(state: &State, intent: &Intent, cx: &Context) -> Result<Vec<Fact>, Rejection> {
    let fact = match intent {
        Intent::WritePostmortem { incident, document, base } => {
            let inc = state.incident(*incident)?;
            let document = checked(document, cx)?;
            let current = inc.postmortem.as_ref();
            let revision = current.map_or(0, Postmortem::revision);
            // An editor says which revision it started from, so two people editing at once
            // never silently overwrite each other: the second is told to merge.
            if let Some(base) = base {
                if *base != revision {
                    let by = current.and_then(|p| p.revisions.last()).map_or("nobody", |r| r.by.as_str());
                    return Err(Rejection::Conflict(format!(
                        "{incident}'s postmortem is at revision {revision} (by {by}), not {base}: \
                         reload it and apply your changes again"
                    )));
                }
            }
            if current.is_some_and(|p| p.document == document) {
                return Err(Rejection::Conflict(format!(
                    "{incident}'s postmortem already says exactly this (revision {revision})"
                )));
            }
            Fact::PostmortemWritten { incident: *incident, revision: revision.saturating_add(1), document }
        }
        Intent::AddActionItem { incident, title, owner, due, link } => {
            let inc = state.incident(*incident)?;
            check_text("title", title, MAX_TITLE)?;
            check_text("owner", owner, MAX_NAME)?;
            super::incident::check_person(owner, cx).map_err(|e| match e {
                Rejection::Invalid { detail, .. } => Rejection::Invalid { field: "owner", detail },
                other => other,
            })?;
            // An owner who cannot see a private incident would never learn of their item.
            if !inc.visible_to(owner.trim(), super::UserRole::Responder) {
                return Err(Rejection::Invalid {
                    field: "owner",
                    detail: format!(
                        "{} cannot see private {incident}: add them as a member first \
                         (`warroom incident member add {incident} {}`)",
                        owner.trim(),
                        owner.trim()
                    ),
                });
            }
            if let Some(due) = due {
                check_due(*due, cx.now)?;
            }
            let link = link.as_deref().map(str::trim).filter(|l| !l.is_empty());
            if let Some(l) = link {
                check_link(l)?;
            }
            if inc.actions.len() >= MAX_ACTION_ITEMS {
                return Err(Rejection::Conflict(format!(
                    "{incident} already has {MAX_ACTION_ITEMS} action items, the limit"
                )));
            }
            let item = inc.actions.last().map_or(1, |a| a.item.saturating_add(1));
            Fact::ActionItemAdded {
                incident: *incident,
                item: NewItem {
                    item,
                    title: title.trim().to_string(),
                    owner: owner.trim().to_string(),
                    due: *due,
                    link: link.map(String::from),
                },
            }
        }
        Intent::CompleteActionItem { incident, item } => {
            let inc = state.incident(*incident)?;
            let found = inc.actions.iter().find(|a| a.item == *item).ok_or_else(|| Rejection::Invalid {
                field: "item",
                detail: match inc.actions.len() {
                    0 => format!("{incident} has no action items"),
                    n => format!("{incident} has no action item {item} (it has {n}, from 1)"),
                },
            })?;
            if let Some(done) = &found.done {
                return Err(Rejection::Conflict(format!(
                    "{incident}#{item} was already completed by {} at {}",
                    done.by,
                    done.at.format("%Y-%m-%d %H:%M UTC")
                )));
            }
            Fact::ActionItemCompleted { incident: *incident, item: *item }
        }
        other => return Err(super::misrouted("postmortem", other)),
    };
    Ok(vec![fact])
}

/// Folds a postmortem or action-item fact into its incident; the timeline entry it writes.
pub(super) fn apply(inc: &mut Incident, event: &Event) -> Option<EntryKind> {
    match &event.fact {
        Fact::PostmortemWritten { revision, document, .. } => {
            let pm = inc
                .postmortem
                .get_or_insert_with(|| Postmortem { document: Document::default(), revisions: Vec::new() });
            pm.document = document.clone();
            pm.revisions.push(Revision {
                revision: *revision,
                seq: event.seq,
                at: event.at,
                by: event.actor.clone(),
            });
            Some(EntryKind::Postmortem { revision: *revision })
        }
        Fact::ActionItemAdded { item, .. } => {
            inc.actions.push(ActionItem {
                item: item.item,
                title: item.title.clone(),
                owner: item.owner.clone(),
                due: item.due,
                link: item.link.clone(),
                added_at: event.at,
                added_by: event.actor.clone(),
                done: None,
            });
            Some(EntryKind::ActionItem { item: item.item, title: item.title.clone(), action: "added".into() })
        }
        Fact::ActionItemCompleted { item, .. } => {
            let found = inc.actions.iter_mut().find(|a| a.item == *item)?;
            found.done = Some(Done { at: event.at, by: event.actor.clone() });
            let title = found.title.clone();
            Some(EntryKind::ActionItem { item: *item, title, action: "completed".into() })
        }
        _ => None,
    }
}

/// The refusal for closing as resolved an incident whose postmortem is required and missing.
pub(super) fn check_close(inc: &Incident, cx: &Context) -> Result<(), Rejection> {
    if inc.postmortem.is_none() && cx.library.postmortem.requires(inc) {
        let drill = if inc.drill { "drill " } else { "" };
        return Err(Rejection::Conflict(format!(
            "{} is a {} {drill}incident: write its postmortem before closing it as resolved \
             (`warroom postmortem {} --edit`, or `P` in the console)",
            inc.id, inc.severity, inc.id
        )));
    }
    Ok(())
}

/// Action items of every incident `state` holds, with their incident, oldest incident first.
pub fn action_items(state: &State) -> Vec<(IncidentId, &ActionItem)> {
    state.incidents.values().flat_map(|i| i.actions.iter().map(move |a| (i.id, a))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::{declare, run, t};
    use crate::model::{Library, Status, UserRole};
    use uuid::Uuid;

    fn cx<'a>(library: &'a Library, actor: &'a str) -> Context<'a> {
        Context { library, now: t(0), command_id: Uuid::nil(), role: UserRole::Commander, actor }
    }

    fn write(incident: IncidentId, summary: &str, base: Option<u32>) -> Intent {
        Intent::WritePostmortem {
            incident,
            document: Document { summary: summary.into(), ..Document::default() },
            base,
        }
    }

    #[test]
    fn revisions_are_numbered_and_a_stale_editor_is_told_to_merge() {
        let mut s = State::default();
        let id = declare(&mut s, "Checkout down", Severity::Sev1);
        run(&mut s, "alice", write(id, "first", Some(0))).unwrap();
        run(&mut s, "bob", write(id, "second", Some(1))).unwrap();
        let pm = s.incident(id).unwrap().postmortem.clone().unwrap();
        assert_eq!(pm.document.summary, "second");
        assert_eq!(
            pm.revisions.iter().map(|r| (r.revision, r.by.as_str())).collect::<Vec<_>>(),
            [(1, "alice"), (2, "bob")]
        );
        let stale = s.decide(&write(id, "third", Some(1))).unwrap_err();
        assert!(stale.to_string().contains("at revision 2 (by bob), not 1"), "{stale}");
        let same = s.decide(&write(id, "second", None)).unwrap_err();
        assert!(matches!(same, Rejection::Conflict(_)), "{same}");
        let empty = s.decide(&write(id, "  ", None)).unwrap_err();
        assert!(matches!(empty, Rejection::Invalid { field: "summary", .. }), "{empty}");
    }

    #[test]
    fn a_failure_class_must_be_one_of_the_servers() {
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev2);
        let library = Library::default();
        let with = |class: &str| Intent::WritePostmortem {
            incident: id,
            document: Document {
                summary: "s".into(),
                failure_class: Some(class.into()),
                ..Document::default()
            },
            base: None,
        };
        let facts = s.decide_with(&with("Human-Error"), &cx(&library, "a")).unwrap();
        let Fact::PostmortemWritten { document, .. } = &facts[0] else { panic!("{facts:?}") };
        assert_eq!(document.failure_class.as_deref(), Some("human_error"));
        let err = s.decide_with(&with("gremlins"), &cx(&library, "a")).unwrap_err();
        assert!(
            matches!(&err, Rejection::Invalid { field: "failure_class", detail } if detail.contains("deployment"))
        );
    }

    #[test]
    fn closing_a_major_as_resolved_needs_its_postmortem_unless_configured_otherwise() {
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev1);
        run(&mut s, "a", Intent::SetStatus { incident: id, status: Status::Postmortem, reason: None })
            .unwrap();
        let close = Intent::SetStatus { incident: id, status: Status::Closed, reason: None };
        let err = s.decide(&close).unwrap_err();
        assert!(
            matches!(&err, Rejection::Conflict(why) if why.contains("SEV1") && why.contains("postmortem")),
            "{err}"
        );
        // Closing for another reason is not a resolution: nothing to learn from a duplicate.
        let dup = Intent::SetStatus {
            incident: id,
            status: Status::Closed,
            reason: Some("duplicate: of INC-9".into()),
        };
        assert!(s.decide(&dup).is_ok());
        let mut relaxed = Library::default();
        relaxed.postmortem.required = vec![];
        assert!(s.decide_with(&close, &cx(&relaxed, "a")).is_ok());
        // Straight from mitigated, as resolved: the same rule, nothing more (the lifecycle asks
        // only for the closure reason).
        let early = declare(&mut s, "z", Severity::Sev2);
        run(&mut s, "a", Intent::SetStatus { incident: early, status: Status::Mitigated, reason: None })
            .unwrap();
        let close_early = Intent::SetStatus {
            incident: early,
            status: Status::Closed,
            reason: Some("resolved: fixed".into()),
        };
        assert!(
            matches!(s.decide(&close_early), Err(Rejection::Conflict(why)) if why.contains("postmortem"))
        );
        assert!(s.decide_with(&close_early, &cx(&relaxed, "a")).is_ok());
        run(&mut s, "a", write(early, "what happened", None)).unwrap();
        assert!(s.decide(&close_early).is_ok());
        run(&mut s, "a", write(id, "what happened", None)).unwrap();
        assert!(s.decide(&close).is_ok());
        // A SEV3 needs none by default; a drill's need follows `drills`.
        let minor = declare(&mut s, "y", Severity::Sev3);
        let close3 =
            Intent::SetStatus { incident: minor, status: Status::Closed, reason: Some("resolved".into()) };
        assert!(s.decide(&close3).is_ok());
    }

    #[test]
    fn action_items_are_numbered_completed_once_and_overdue_after_their_day() {
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev2);
        let due = NaiveDate::from_ymd_opt(2026, 11, 20);
        let add = |title: &str| Intent::AddActionItem {
            incident: id,
            title: title.into(),
            owner: "carol".into(),
            due,
            link: Some(" https://tracker/ISSUE-1 ".into()),
        };
        run(&mut s, "alice", add("Alert on gateway 5xx")).unwrap();
        run(&mut s, "alice", add("Runbook for failover")).unwrap();
        run(&mut s, "bob", Intent::CompleteActionItem { incident: id, item: 2 }).unwrap();
        let again = s.decide(&Intent::CompleteActionItem { incident: id, item: 2 }).unwrap_err();
        assert!(again.to_string().contains("already completed by bob"), "{again}");
        let missing = s.decide(&Intent::CompleteActionItem { incident: id, item: 9 }).unwrap_err();
        assert!(matches!(missing, Rejection::Invalid { field: "item", .. }));
        let items = &s.incident(id).unwrap().actions;
        assert_eq!(items.iter().map(|a| a.item).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(items[0].link.as_deref(), Some("https://tracker/ISSUE-1"));
        let day =
            |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap().and_hms_opt(23, 59, 0).unwrap().and_utc();
        assert!(!items[0].is_overdue(day(20)));
        assert!(items[0].is_overdue(day(21)));
        assert!(!items[1].is_overdue(day(21)), "done is never overdue");
        let odd = |due: Option<NaiveDate>, link: Option<&str>| Intent::AddActionItem {
            incident: id,
            title: "t".into(),
            owner: "o".into(),
            due,
            link: link.map(String::from),
        };
        let refused = |intent: Intent| match s.decide(&intent) {
            Err(Rejection::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(odd(NaiveDate::from_ymd_opt(262_000, 1, 1), None)), "due");
        assert_eq!(refused(odd(None, Some("rm -rf /"))), "link");
        assert_eq!(refused(odd(None, Some("https://a.example/\u{202E}gpj.exe"))), "link");
        // On a private incident the owner must be able to see it.
        let secret = run(
            &mut s,
            "alice",
            Intent::DeclareIncident {
                title: "leak".into(),
                severity: Severity::Sev1,
                impact: String::new(),
                drill: false,
                services: Vec::new(),
                private: true,
            },
        )
        .unwrap()[0]
            .fact
            .incident()
            .unwrap();
        let to = |owner: &str| Intent::AddActionItem {
            incident: secret,
            title: "rotate keys".into(),
            owner: owner.into(),
            due: None,
            link: None,
        };
        let err = s.decide(&to("bob")).unwrap_err();
        assert!(
            matches!(&err, Rejection::Invalid { field: "owner", detail } if detail.contains("member add")),
            "{err}"
        );
        assert!(s.decide(&to("alice")).is_ok(), "the declarer sees it");
    }

    #[test]
    fn tagged_notes_seed_the_three_lists() {
        let mut s = State::default();
        let id = declare(&mut s, "x", Severity::Sev2);
        for text in [
            "#well paging worked",
            "the rollback was slow #badly.",
            "#wellness is not a tag",
            "#LUCKY low traffic",
        ] {
            run(&mut s, "a", Intent::AddNote { incident: id, text: text.into() }).unwrap();
        }
        let doc = tagged_notes(s.incident(id).unwrap());
        assert_eq!(doc.well, ["paging worked"]);
        assert_eq!(doc.badly, ["the rollback was slow"]);
        assert_eq!(doc.lucky, ["low traffic"]);
    }
    #[test]
    fn the_editable_text_reads_back_to_the_same_document_and_names_bad_lines() {
        let doc = Document {
            summary: "Payments failed for 12 minutes.\n\nThe gateway's pool was exhausted.".into(),
            failure_class: Some("dependency".into()),
            factors: "No alert on pool size.".into(),
            well: vec!["paging worked".into(), "two lines\nof text".into()],
            badly: vec![],
            lucky: vec!["low traffic".into()],
        };
        let classes = Settings::default().failure_classes;
        let text = doc.to_editable("Checkout fails", &classes);
        assert!(text.contains("<!-- one of: deployment,"), "{text}");
        assert_eq!(Document::from_editable(&text), Ok(doc.clone()));
        let bad = text.replace("## What went badly", "## Lessons");
        let err = Document::from_editable(&bad).unwrap_err();
        assert!(err.detail.contains("`## Lessons` is not a section"), "{err}");
        assert_eq!(bad.lines().nth(err.line - 1), Some("## Lessons"));
        let stray = text.replace("- low traffic", "low traffic");
        assert!(Document::from_editable(&stray).unwrap_err().detail.contains("starts with `- `"));
        // A heading typed onto the end of a line would drop its section: refused, named.
        let glued = text.replace(
            "No alert on pool size.\n\n## What went well",
            "No alert on pool size.## What went well",
        );
        let err = Document::from_editable(&glued).unwrap_err();
        assert!(err.detail.contains("`## What went well` ends a line of text"), "{err}");
        assert_eq!(glued.lines().nth(err.line - 1), Some("No alert on pool size.## What went well"));
        let two = text.replace("dependency\n", "dependency\nnetwork\n");
        assert!(Document::from_editable(&two).unwrap_err().detail.contains("one name"));
        assert_eq!(Document::from_editable(""), Ok(Document::default()));
    }

    #[test]
    fn whatever_was_written_reads_back_the_same_and_nothing_typed_is_dropped() {
        let doc = Document {
            summary: "## not a heading\n<!-- not a hint\n\\ a backslash\n# a hash\nsee ## What went well"
                .into(),
            failure_class: Some("data".into()),
            factors: "We saw <!-- in the logs\n<!-- TODO ask bob\nThe TTL was wrong.".into(),
            well: vec!["a\n- b".into(), "<!-- x -->".into()],
            badly: vec!["slow rollback".into()],
            lucky: vec!["low traffic".into()],
        };
        let text = doc.to_editable("A title --> that tries to close the hint", &[]);
        assert_eq!(Document::from_editable(&text), Ok(doc), "{text}");
        // A comment left open would hide the rest: refused, with its line.
        let open = text.replace("- slow rollback", "<!-- ask bob\n- slow rollback");
        let err = Document::from_editable(&open).unwrap_err();
        assert!(err.detail.contains("comment left open"), "{err}");
        assert_eq!(open.lines().nth(err.line - 1), Some("<!-- ask bob"));
        // Text typed onto the first line (the hint) opens it; text above the sections is refused.
        let pasted = text.replacen("-->", "--> pasted text", 1);
        assert!(Document::from_editable(&pasted).is_err());
        let above = format!("# My notes\n{text}");
        assert_eq!(Document::from_editable(&above).unwrap_err().line, 1);
    }
}
