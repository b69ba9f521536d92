//! Draws the whole console from `&App`: panes, bars, overlay, or the "too small" notice.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::app::App;
use super::layout::{MIN_HEIGHT, MIN_WIDTH};
use super::panes;

pub fn draw(f: &mut Frame, app: &App) {
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
