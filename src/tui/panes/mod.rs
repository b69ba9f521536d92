//! One module per pane; each draws from `&App` only and never blocks.

pub mod actions;
pub mod chaos;
pub mod detail;
pub mod health;
pub mod incidents;
pub mod overlay;
pub mod playbook;
pub mod postmortem;
pub mod scoreboard;
pub mod stats;
pub mod status;

use ratatui::widgets::{Block, BorderType, Borders};

use super::app::{App, Pane};

/// A pane's frame: the focused pane is drawn with the `focus` style and a thick border.
pub fn frame<'a>(app: &App, pane: Pane, title: ratatui::text::Line<'a>) -> Block<'a> {
    let focused = app.focus == pane;
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused { BorderType::Thick } else { BorderType::Plain })
        .border_style(if focused { app.theme.get("focus") } else { app.theme.get("border") })
        .title(title)
}

/// A pane title's mark while the view is stale (the server is away): how old what it
/// shows is, so nobody acts on a picture from minutes ago as if it were now.
pub fn stale_mark(app: &App) -> Option<ratatui::text::Span<'static>> {
    let age = app.stale()?;
    Some(ratatui::text::Span::styled(
        format!("STALE {} old ", crate::model::incident::format_duration(age)),
        app.theme.get("warn"),
    ))
}
