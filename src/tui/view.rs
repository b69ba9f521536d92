//! Draws the whole console from `&App`: panes, bars, overlay, or the "too small" notice.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::app::App;
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use super::panes;

pub fn draw(f: &mut Frame, app: &App) {
    draw_panes(f, app);
    no_controls(f.buffer_mut());
}

/// The last gate before the terminal: a cell holding a control character (a tab in a pasted
/// `ps` table, anything a pane forgot to escape) is drawn as a space. A raw tab moves the
/// terminal's cursor past cells ratatui believes it wrote, leaving an older frame's text
/// there. Text is escaped where it is laid out (`present::escape_control`); this only makes
/// sure nothing slips past.
pub fn no_controls(buf: &mut ratatui::buffer::Buffer) {
    for cell in &mut buf.content {
        if cell.symbol().chars().any(char::is_control) {
            cell.set_symbol(" ");
        }
    }
}

fn draw_panes(f: &mut Frame, app: &App) {
    let areas = app.areas();
    let full = f.area();
    if areas.too_small {
        let msg = vec![
            Line::from(Span::styled("terminal too small", app.theme.get("alert"))),
            Line::from(Span::styled(
                format!("{}×{} — warroom needs {MIN_WIDTH}×{MIN_HEIGHT}", full.width, full.height),
                app.theme.get("muted"),
            )),
        ];
        f.render_widget(
            Paragraph::new(msg).centered(),
            Rect { y: full.height / 2, height: 2.min(full.height), ..full },
        );
        return;
    }
    if let Some(r) = areas.incidents {
        panes::incidents::draw(f, r, app);
    }
    if let Some(r) = areas.detail {
        panes::detail::draw(f, r, app);
    }
    if let Some(r) = areas.playbook {
        panes::playbook::draw(f, r, app);
    }
    if let Some(r) = areas.health {
        panes::health::draw(f, r, app);
    }
    if let Some(r) = areas.chaos {
        panes::chaos::draw(f, r, app);
    }
    if let Some(r) = areas.scoreboard {
        panes::scoreboard::draw(f, r, app);
    }
    if let Some(r) = areas.stats {
        panes::stats::draw(f, r, app);
    }
    if let Some(r) = areas.banner {
        panes::chaos::draw_banner(f, r, app);
    }
    panes::status::draw_hints(f, areas.hints, app);
    panes::status::draw_status(f, areas.hints, areas.status, app);
    panes::overlay::draw(f, full, app);
}
