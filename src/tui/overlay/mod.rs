//! Overlays over the panes (help, a reader, menus, forms, the `:` command line, the filter, the
//! postmortem editor, action items): each takes a key as its keymap layer reads it.

pub mod actions;
pub mod command_line;
pub mod confirm;
pub mod filter;
mod form;
pub mod help;
mod menu;
pub mod reader;

use crossterm::event::KeyEvent;

pub use actions::ActionsView;
pub use command_line::CommandLine;
pub use confirm::Confirm;
pub use help::Help;
pub use reader::{Para, Reader};

use super::form::{Form, MenuPick};
use super::keymap::{Action, Key, Keymap, Scope};
use crate::model::Intent;

/// A key as an overlay sees it: what its layer of the keymap binds the key to, if anything,
/// and the key itself, for text and numbered choices.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub action: Option<Action>,
    pub key: KeyEvent,
}

impl Input {
    /// Reads `key` through the layer for `scope`; overlays never fall back to global keys.
    pub fn read(keymap: &Keymap, scope: Scope, key: KeyEvent) -> Input {
        Input { action: Key::from_event(&key).and_then(|k| keymap.lookup(scope, k)), key }
    }
}

/// What an overlay asks of the console after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stay open; its own state may have changed.
    Stay,
    /// Close, with nothing else to do.
    Close,
    /// Close and send this intent.
    Send(Intent),
    /// Close and act on a menu choice (which may open the next overlay).
    Pick(MenuPick),
    /// Close and run this command line.
    Run(String),
}

#[derive(Debug)]
pub enum Overlay {
    Help(Help),
    Command(CommandLine),
    Form(Box<Form>),
    Menu(super::form::Menu),
    Reader(Reader),
    Confirm(Confirm),
    /// The postmortem editor: its keys go to `App::on_editor_key`, which can send a save
    /// and keep the editor open.
    Postmortem(Box<super::postmortem::Editor>),
    Actions(ActionsView),
}

/// What the command line needs from the console to complete and recall.
pub struct Context<'a> {
    pub history: &'a [String],
    /// Themes, the server's users (empty until the library has loaded), scenarios, teams.
    pub pools: super::command::Pools<'a>,
}

impl Overlay {
    /// The keymap layer this overlay reads its keys through.
    pub fn scope(&self) -> Scope {
        match self {
            Overlay::Help(_) => Scope::Help,
            Overlay::Command(_) => Scope::CommandLine,
            Overlay::Form(_) => Scope::Form,
            Overlay::Menu(_) => Scope::Menu,
            Overlay::Reader(_) => Scope::Reader,
            Overlay::Confirm(_) => Scope::Confirm,
            // The editor's own question and reader read their keys through their layers.
            Overlay::Postmortem(e) if e.asking => Scope::Confirm,
            Overlay::Postmortem(e) if e.theirs.is_some() => Scope::Reader,
            Overlay::Postmortem(_) => Scope::Postmortem,
            Overlay::Actions(_) => Scope::Actions,
        }
    }

    pub fn handle(&mut self, input: &Input, cx: &Context) -> Outcome {
        match self {
            Overlay::Help(help) => help.handle(input),
            Overlay::Command(line) => line.handle(input, cx),
            Overlay::Form(form) => form.handle(input),
            Overlay::Menu(menu) => menu.handle(input),
            Overlay::Reader(reader) => reader.handle(input),
            Overlay::Confirm(confirm) => confirm.handle(input),
            Overlay::Actions(view) => view.handle(input),
            // Never reached: the console hands the editor its keys itself.
            Overlay::Postmortem(_) => Outcome::Stay,
        }
    }

    /// Pasted text goes where typing would; overlays without text ignore it.
    pub fn paste(&mut self, text: &str) {
        match self {
            Overlay::Form(form) => form.paste(text),
            Overlay::Command(line) => line.input.push_str(&text.replace(['\n', '\r'], " ")),
            Overlay::Postmortem(editor) if editor.theirs.is_none() && !editor.asking => editor.paste(text),
            Overlay::Help(_)
            | Overlay::Menu(_)
            | Overlay::Reader(_)
            | Overlay::Confirm(_)
            | Overlay::Postmortem(_)
            | Overlay::Actions(_) => {}
        }
    }
}

#[cfg(test)]
pub(crate) fn press(keymap: &Keymap, scope: Scope, key: &str) -> Input {
    use crossterm::event::{KeyCode, KeyModifiers};
    let k: Key = key.parse().expect("test keys parse");
    let code = match k.code {
        super::keymap::KeyCodeOrd::Char(c) => KeyCode::Char(c),
        super::keymap::KeyCodeOrd::Enter => KeyCode::Enter,
        super::keymap::KeyCodeOrd::Esc => KeyCode::Esc,
        super::keymap::KeyCodeOrd::Tab => KeyCode::Tab,
        super::keymap::KeyCodeOrd::Up => KeyCode::Up,
        super::keymap::KeyCodeOrd::Down => KeyCode::Down,
        super::keymap::KeyCodeOrd::Backspace => KeyCode::Backspace,
        super::keymap::KeyCodeOrd::PageUp => KeyCode::PageUp,
        super::keymap::KeyCodeOrd::PageDown => KeyCode::PageDown,
        other => panic!("test helper does not know {other:?}"),
    };
    let mut mods = KeyModifiers::NONE;
    if k.ctrl {
        mods |= KeyModifiers::CONTROL;
    }
    if k.alt {
        mods |= KeyModifiers::ALT;
    }
    Input::read(keymap, scope, KeyEvent::new(code, mods))
}
