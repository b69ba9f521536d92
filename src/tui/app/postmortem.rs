//! The console's postmortem work: the editor pane and `$EDITOR` on the selected incident (saved
//! through the outbox, a stale save kept and merged), action items, and closing refused for one.

use crossterm::event::KeyEvent;

use super::{App, Effect, Level, Pane};
use crate::model::postmortem::Settings;
use crate::model::{ClosureReason, Event, Fact, IncidentId, Intent, Status};
use crate::present::one_line;
use crate::tui::form::{Menu, MenuPick};
use crate::tui::keymap::{Action, Scope};
use crate::tui::overlay::{actions, ActionsView, Input, Outcome, Overlay};
use crate::tui::postmortem::{editable, text_of, Editor, Newer};

/// A command of this console's that the server refused for good (from an outbox flush).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub id: uuid::Uuid,
    pub intent: Intent,
    /// The HTTP status, when the server answered with one.
    pub status: Option<u16>,
    /// Why, in the server's words.
    pub detail: String,
}

/// `$EDITOR` on a postmortem: the text the runner hands to the editor in a temp file, and
/// where it grew from, to save it from there.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalEdit {
    pub incident: IncidentId,
    pub base: u32,
    pub base_text: String,
    pub origin: String,
    pub text: String,
}

/// What came back from `$EDITOR`: the edited text, or why there is none (the temp file is
/// kept then, and named).
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub request: ExternalEdit,
    pub outcome: Result<String, String>,
}

/// What opens once the incident a postmortem waits for is held in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Pane,
    External,
}

/// What becomes of the editor after a key.
enum After {
    Keep,
    Leave,
}

/// Action items shown in the incident pane before "+N more".
pub const DETAIL_ITEMS: usize = 4;

impl App {
    /// The server's postmortem settings, or the defaults until the library has loaded.
    pub fn postmortem_settings(&self) -> Settings {
        self.library.as_ref().map_or_else(Settings::default, |l| l.library.postmortem.clone())
    }

    /// `P` (`external` false) or `E` on the selected incident; `E` in the editor hands its
    /// text to `$EDITOR`.
    pub(super) fn postmortem_action(&mut self, external: bool) -> Vec<Effect> {
        if external {
            if let Some(Overlay::Postmortem(editor)) = &self.overlay {
                return vec![Effect::Edit(Box::new(request_from(editor)))];
            }
        }
        let Some(inc) = self.selected_incident() else {
            self.flash(Level::Warn, "select an incident first");
            return vec![];
        };
        let (id, summary) = (inc.id, inc.postmortem.is_none() && !inc.is_full());
        let probe = Intent::WritePostmortem { incident: id, document: Default::default(), base: None };
        if !self.guard(&probe) {
            return vec![];
        }
        // An editor closed while its save was on the way comes back as it was.
        if !external && self.parked.as_ref().is_some_and(|e| e.incident == id) {
            self.overlay = self.parked.take().map(Overlay::Postmortem);
            return vec![];
        }
        let want = if external { Want::External } else { Want::Pane };
        if summary {
            // The draft is made of its notes, and a closed incident's are on the server: it
            // is fetched in full first, as Enter does, and the editor opens when it arrives.
            if !self.conn.online {
                self.flash(
                    Level::Warn,
                    format!("{id} is held as a summary and its notes are on the server: offline, try again once online"),
                );
                return vec![];
            }
            self.wanted = Some((id, want));
            self.flash(Level::Info, format!("fetching {id} in full for its notes…"));
            if self.fetching.insert(id) {
                return vec![Effect::Fetch(id)];
            }
            return vec![];
        }
        self.open_postmortem(id, want)
    }

    fn open_postmortem(&mut self, id: IncidentId, want: Want) -> Vec<Effect> {
        let classes = self.postmortem_settings().failure_classes;
        let Some(inc) = self.state.incidents.get(&id) else { return vec![] };
        match want {
            Want::Pane => {
                let editor = Editor::open(inc, &classes, &self.theme);
                self.overlay = Some(Overlay::Postmortem(Box::new(editor)));
                vec![]
            }
            Want::External => {
                let (text, base, origin) = editable(inc, &classes);
                vec![Effect::Edit(Box::new(ExternalEdit {
                    incident: id,
                    base,
                    base_text: text.clone(),
                    origin,
                    text,
                }))]
            }
        }
    }

    /// After every message: opens the postmortem that waited for its incident in full, once
    /// it is (and if it is still the one selected, with nothing else open).
    pub(super) fn open_wanted(&mut self) -> Vec<Effect> {
        let Some((id, want)) = self.wanted else { return vec![] };
        if self.selected != Some(id) {
            self.wanted = None;
            return vec![];
        }
        if !self.state.incidents.get(&id).is_some_and(|i| i.is_full()) || self.overlay.is_some() {
            return vec![];
        }
        self.wanted = None;
        self.open_postmortem(id, want)
    }

    /// A key while the editor is open: its question's, its reader's, or its own layer's;
    /// anything else is typed.
    pub(super) fn on_editor_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::Postmortem(mut editor)) = self.overlay.take() else { return vec![] };
        let scope = if editor.asking {
            Scope::Confirm
        } else if editor.theirs.is_some() {
            Scope::Reader
        } else {
            Scope::Postmortem
        };
        let input = Input::read(&self.keymap, scope, key);
        let mut effects = Vec::new();
        let mut after = After::Keep;
        if editor.asking {
            match input.action {
                Some(Action::Submit) => {
                    let n = editor.unsaved();
                    self.flash(
                        Level::Info,
                        format!(
                            "{}: postmortem closed, {n} unsaved change{} dropped",
                            editor.incident,
                            if n == 1 { "" } else { "s" }
                        ),
                    );
                    editor.asking = false;
                    after = After::Leave;
                }
                Some(Action::Cancel) => editor.asking = false,
                // Any other key neither leaves nor types: the question stays until answered.
                _ => {}
            }
        } else if let Some(reader) = &mut editor.theirs {
            if reader.handle(&input) == Outcome::Close {
                editor.theirs = None;
            } else {
                reader.clamp(self.size);
            }
        } else {
            match input.action {
                Some(Action::Save) => effects = self.save(&mut editor),
                Some(Action::Cancel) if editor.unsaved() > 0 => editor.asking = true,
                Some(Action::Cancel) => {
                    if editor.saving.is_some() {
                        self.flash(
                            Level::Info,
                            format!("{}: saving in the background; P reopens it", editor.incident),
                        );
                    }
                    after = After::Leave;
                }
                Some(Action::EditPostmortem) => effects.push(Effect::Edit(Box::new(request_from(&editor)))),
                Some(Action::Theirs) => self.show_theirs(&mut editor),
                Some(Action::Merge) => self.merge_newer(&mut editor),
                _ => {
                    editor.type_key(key);
                }
            }
        }
        match after {
            After::Keep => self.overlay = Some(Overlay::Postmortem(editor)),
            // A save on its way may still be refused: its text is kept for that (P reopens it).
            After::Leave if editor.saving.is_some() => self.parked = Some(editor),
            After::Leave => {}
        }
        effects
    }

    /// ctrl-s: the text as a document, sent as a new revision of the one it grew from.
    fn save(&mut self, editor: &mut Editor) -> Vec<Effect> {
        let id = editor.incident;
        if editor.saving.is_some() {
            self.flash(Level::Warn, format!("{id}: revision {} is still being saved", editor.base + 1));
            return vec![];
        }
        let document = match editor.document() {
            Ok(d) => d,
            Err(e) => {
                self.flash(Level::Error, format!("{id}: not saved, line {}: {}", e.line, e.detail));
                return vec![];
            }
        };
        if let Some(n) = &editor.newer {
            let merge = self.keymap.first_key(Scope::Postmortem, Action::Merge).unwrap_or_else(|| ":".into());
            self.flash(
                Level::Warn,
                format!(
                    "{} saved revision {} since you opened {}: {merge} merges it into your text first",
                    one_line(&n.by),
                    n.revision,
                    editor.base
                ),
            );
            return vec![];
        }
        let current = self.state.incidents.get(&id).and_then(|i| i.postmortem.as_ref());
        if current.is_some_and(|p| p.revision() == editor.base && p.document == document) {
            editor.saved_text = editor.current();
            self.flash(Level::Info, format!("nothing to save: revision {} already says this", editor.base));
            return vec![];
        }
        let effects = self.send(Intent::WritePostmortem { incident: id, document, base: Some(editor.base) });
        if let Some(Effect::Send(cmd)) = effects.first() {
            editor.sent(cmd.id);
        }
        effects
    }

    /// The newest revision of `id`'s postmortem when it is newer than `base`: its text and who.
    fn newer_than(&self, id: IncidentId, base: u32) -> Option<(String, Newer)> {
        let inc = self.state.incidents.get(&id)?;
        let pm = inc.postmortem.as_ref().filter(|p| p.revision() > base)?;
        let by = pm.revisions.last().map_or_else(String::new, |r| r.by.clone());
        let classes = self.postmortem_settings().failure_classes;
        Some((text_of(&pm.document, &inc.title, &classes), Newer { revision: pm.revision(), by }))
    }

    fn show_theirs(&mut self, editor: &mut Editor) {
        match self.newer_than(editor.incident, editor.base) {
            Some((text, newer)) => editor.show_theirs(&text, &newer),
            None => self.flash(
                Level::Info,
                format!("revision {} is the newest this console has: nothing newer to show", editor.base),
            ),
        }
    }

    fn merge_newer(&mut self, editor: &mut Editor) {
        let Some((text, newer)) = self.newer_than(editor.incident, editor.base) else {
            self.flash(
                Level::Info,
                format!("revision {} is the newest this console has: nothing to merge", editor.base),
            );
            return;
        };
        let revision = newer.revision;
        let merged = editor.merge_with(&text, newer, &self.theme);
        let save = self.keymap.first_key(Scope::Postmortem, Action::Save).unwrap_or_else(|| "save".into());
        match merged.conflicts.len() {
            0 => self.flash(Level::Info, format!("revision {revision} merged into your text: read it, then {save}")),
            n => self.flash(
                Level::Warn,
                format!("revision {revision} merged: {n} clash(es) marked <<<<<<< — keep what should stay, then {save}"),
            ),
        }
    }

    /// An event of the log: a save of ours arriving, or someone else's revision.
    pub(super) fn postmortem_news(&mut self, e: &Event) {
        let Fact::PostmortemWritten { incident, revision, .. } = &e.fact else { return };
        let origin = format!("revision {revision} by {}", one_line(&e.actor));
        let mut saved = false;
        let mut newer = None;
        let open = match &mut self.overlay {
            Some(Overlay::Postmortem(editor)) => Some(editor.as_mut()),
            _ => None,
        };
        for editor in open.into_iter().chain(self.parked.as_deref_mut()) {
            if editor.incident != *incident {
                continue;
            }
            if editor.saving.as_ref().is_some_and(|s| s.id == e.command_id) {
                editor.saved(*revision, origin.clone());
                saved = true;
            } else if *revision > editor.base {
                editor.newer = Some(Newer { revision: *revision, by: e.actor.clone() });
                newer = Some(e.actor.clone());
            }
        }
        if saved {
            self.parked = self.parked.take().filter(|p| p.incident != *incident || p.saving.is_some());
            self.flash(Level::Info, format!("{incident}: postmortem revision {revision} saved"));
        } else if let Some(by) = newer {
            let merge = self.keymap.first_key(Scope::Postmortem, Action::Merge).unwrap_or_else(|| ":".into());
            self.flash(
                Level::Warn,
                format!("{} saved {incident}'s postmortem as revision {revision} while you edit it: {merge} merges it into your text", one_line(&by)),
            );
        }
    }

    /// Commands the server refused for good: a postmortem save keeps its text and says who
    /// wrote what; a close refused for want of a postmortem offers to write it.
    pub(super) fn on_refused(&mut self, refusals: Vec<Refusal>) {
        for r in refusals {
            match &r.intent {
                Intent::WritePostmortem { incident, .. } => self.save_refused(*incident, &r),
                // The server's reason names what is missing; the state says it still is.
                Intent::SetStatus { incident, status: Status::Closed, .. }
                    if r.status == Some(409)
                        && r.detail.contains("postmortem")
                        && self.state.incidents.get(incident).is_some_and(|i| i.postmortem.is_none()) =>
                {
                    self.offer_postmortem(*incident, &r.detail);
                }
                _ => {}
            }
        }
    }

    fn save_refused(&mut self, incident: IncidentId, r: &Refusal) {
        let ours = |e: &Editor| e.saving.as_ref().is_some_and(|s| s.id == r.id);
        // An editor left while this save was on the way comes back, if nothing else is open.
        if self.overlay.is_none() && self.parked.as_deref().is_some_and(ours) {
            self.overlay = self.parked.take().map(Overlay::Postmortem);
        }
        let base = match &self.overlay {
            Some(Overlay::Postmortem(e)) if ours(e) => e.base,
            _ => {
                if let Some(parked) = self.parked.as_deref_mut().filter(|e| ours(e)) {
                    parked.refuse(r.detail.clone());
                    let key = self.keymap.first_key(Scope::Global, Action::Postmortem).unwrap_or_default();
                    self.flash(
                        Level::Error,
                        format!("{incident}: postmortem NOT saved: {}; {key} reopens your text", r.detail),
                    );
                }
                return;
            }
        };
        // The log may already hold who saved since; else the stream brings it soon.
        let newer = self.newer_than(incident, base).map(|(_, n)| n);
        let (theirs, merge) = (
            self.keymap.first_key(Scope::Postmortem, Action::Theirs).unwrap_or_default(),
            self.keymap.first_key(Scope::Postmortem, Action::Merge).unwrap_or_default(),
        );
        if let Some(Overlay::Postmortem(editor)) = &mut self.overlay {
            editor.refuse(r.detail.clone());
            editor.newer = newer.or(editor.newer.take());
        }
        // Only a newer revision has a "theirs" to show or merge; any other refusal (a field's
        // limit, the body's size) is for the writer to fix in their own text.
        let stale = r.detail.contains("reload it")
            || matches!(&self.overlay, Some(Overlay::Postmortem(e)) if e.newer.is_some());
        let advice = if stale {
            format!("Your text is kept: {theirs} shows theirs, {merge} merges")
        } else {
            "Your text is kept: fix it and save again".to_string()
        };
        self.flash(Level::Error, format!("{incident}: postmortem NOT saved: {}. {advice}", r.detail));
    }

    /// Closing `id` as resolved was refused: its postmortem is missing. Says why and offers to
    /// write it right there (or to close it for another reason).
    fn offer_postmortem(&mut self, id: IncidentId, why: &str) {
        self.flash(Level::Error, format!("refused: {why}"));
        if self.overlay.is_some() {
            return;
        }
        let key =
            self.keymap.first_key(Scope::Global, Action::Postmortem).unwrap_or_else(|| ":postmortem".into());
        let items = vec![
            (format!("write its postmortem now ({key})"), MenuPick::Postmortem(id)),
            ("close it for another reason (duplicate, false positive…)".into(), MenuPick::CloseOther(id)),
        ];
        self.overlay =
            Some(Overlay::Menu(Menu::new(format!("{id} is not closed: it needs its postmortem"), items)));
    }

    /// The menu's choices of [`App::offer_postmortem`] and the action-items overlay's rows.
    pub(super) fn postmortem_pick(&mut self, pick: MenuPick) -> Vec<Effect> {
        match pick {
            MenuPick::Postmortem(id) => {
                self.show_incident(id);
                self.postmortem_action(false)
            }
            MenuPick::CloseOther(id) => {
                let items = ClosureReason::ALL
                    .iter()
                    .filter(|c| **c != ClosureReason::Resolved)
                    .map(|c| (c.to_string(), MenuPick::Close(id, *c)))
                    .collect();
                self.overlay = Some(Overlay::Menu(Menu::new(
                    format!("{id}: close without postmortem, because…"),
                    items,
                )));
                vec![]
            }
            MenuPick::ActionRow(row) => {
                let rows = actions::rows(&self.state, self.now, self.actions_open_only);
                if let Some(id) = rows.get(row).map(|(id, _)| *id) {
                    self.show_incident(id);
                }
                vec![]
            }
            _ => vec![],
        }
    }

    fn show_incident(&mut self, id: IncidentId) {
        self.filter.clear();
        self.list_stale = true;
        self.select(Some(id));
        self.focus = Pane::Detail;
    }

    /// `:actions` or `I`: every action item the console holds.
    pub(super) fn show_actions(&mut self, open_only: bool) {
        self.actions_open_only = open_only;
        self.overlay = Some(Overlay::Actions(ActionsView { open_only, selected: 0 }));
    }

    /// After a key in the action-items overlay: its row kept among the rows, its filter
    /// remembered for the pick that closes it.
    pub(super) fn actions_keyed(&mut self, view: &mut ActionsView) {
        self.actions_open_only = view.open_only;
        view.clamp(actions::rows(&self.state, self.now, view.open_only).len());
    }

    /// What came back from `$EDITOR`: the text goes into the editor (opened on it if it was
    /// not) and is saved from there, so a refusal keeps it like any other save.
    pub(super) fn on_edited(&mut self, edited: Edited) -> Vec<Effect> {
        let Edited { request, outcome } = edited;
        let text = match outcome {
            Ok(text) => crate::present::escape_control(&text).into_owned(),
            Err(why) => {
                self.flash(Level::Error, why);
                return vec![];
            }
        };
        let open = matches!(&self.overlay, Some(Overlay::Postmortem(e)) if e.incident == request.incident);
        let mut editor = if open {
            let Some(Overlay::Postmortem(editor)) = self.overlay.take() else { return vec![] };
            editor
        } else {
            let Some(inc) = self.state.incidents.get(&request.incident) else {
                self.flash(Level::Error, format!("{} is no longer held by this console", request.incident));
                return vec![];
            };
            Box::new(Editor::with_text(
                inc,
                request.base,
                request.origin.clone(),
                &request.base_text,
                &request.text,
                &self.theme,
            ))
        };
        if text.trim_end_matches('\n') == editor.current().trim_end_matches('\n') {
            self.flash(
                Level::Info,
                format!("{}: nothing changed in the editor, nothing saved", request.incident),
            );
            if open {
                self.overlay = Some(Overlay::Postmortem(editor));
            }
            return vec![];
        }
        editor.replace(&text, &self.theme);
        let effects = self.save(&mut editor);
        // Another overlay opened meanwhile (it cannot, the console was suspended) keeps its place.
        if self.overlay.is_none() {
            self.overlay = Some(Overlay::Postmortem(editor));
        }
        effects
    }

    /// The selected incident's open action items, for completing `:action done`.
    pub fn open_items(&self) -> Vec<u32> {
        self.selected_incident()
            .map(|i| i.actions.iter().filter(|a| a.done.is_none()).map(|a| a.item).collect())
            .unwrap_or_default()
    }
}

/// `$EDITOR` on what the editor pane holds.
fn request_from(editor: &Editor) -> ExternalEdit {
    ExternalEdit {
        incident: editor.incident,
        base: editor.base,
        base_text: editor.base_text.clone(),
        origin: editor.origin.clone(),
        text: editor.current(),
    }
}
