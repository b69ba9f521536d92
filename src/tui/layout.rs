//! Where each pane goes for a terminal size: side by side when wide, stacked when narrow,
//! one pane when zoomed. Pure, so drawing and mouse hit-testing agree.

use ratatui::layout::{Constraint, Direction, Layout, Rect};

use super::app::Pane;

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;
/// From this width the incidents list and the detail sit side by side.
pub const WIDE: u16 = 150;
/// The incidents list's narrowest width when side by side: every column readable. Wider
/// terminals give it two fifths, so titles are not cut at 28 characters at 250 columns.
const LIST_WIDTH: u16 = 76;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub incidents: Option<Rect>,
    pub detail: Option<Rect>,
    pub playbook: Option<Rect>,
    pub health: Option<Rect>,
    pub chaos: Option<Rect>,
    pub scoreboard: Option<Rect>,
    /// The stats pane: all of the main area (it is about every incident, not the selected).
    pub stats: Option<Rect>,
    /// The chaos banner's row, at the top, while chaos runs or is disarmed: in every view.
    pub banner: Option<Rect>,
    pub hints: Rect,
    pub status: Rect,
    pub too_small: bool,
}

pub fn layout(size: Rect, focus: Pane, zoom: bool, probes: usize, banner: bool) -> Areas {
    if size.width < MIN_WIDTH || size.height < MIN_HEIGHT {
        return Areas {
            incidents: None,
            detail: None,
            playbook: None,
            health: None,
            chaos: None,
            scoreboard: None,
            stats: None,
            banner: None,
            hints: Rect::default(),
            status: Rect::default(),
            too_small: true,
        };
    }
    let [top, main, hints, status] = Layout::vertical([
        Constraint::Length(u16::from(banner)),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(size);
    let banner = banner.then_some(top);
    if focus == Pane::Stats {
        return Areas {
            incidents: None,
            detail: None,
            playbook: None,
            health: None,
            chaos: None,
            scoreboard: None,
            stats: Some(main),
            banner,
            hints,
            status,
            too_small: false,
        };
    }
    if matches!(focus, Pane::Chaos | Pane::Scoreboard) {
        // The chaos pane and the scoreboard take the place of the incident's timeline (beside
        // the list when wide, under it when narrow), or the whole screen when zoomed.
        let (incidents, side) = if zoom {
            (None, main)
        } else if size.width >= WIDE {
            let [left, right] = Layout::horizontal([
                Constraint::Length((size.width * 2 / 5).max(LIST_WIDTH)),
                Constraint::Min(40),
            ])
            .areas(main);
            (Some(left), right)
        } else {
            let list = (main.height * 2 / 5).max(5);
            let [a, b] = Layout::vertical([Constraint::Length(list), Constraint::Min(5)]).areas(main);
            (Some(a), b)
        };
        let (chaos, scoreboard) = if focus == Pane::Chaos { (Some(side), None) } else { (None, Some(side)) };
        return Areas {
            incidents,
            detail: None,
            playbook: None,
            health: None,
            chaos,
            scoreboard,
            stats: None,
            banner,
            hints,
            status,
            too_small: false,
        };
    }
    let (incidents, detail, playbook, health) = if zoom {
        match focus {
            Pane::Incidents => (Some(main), None, None, None),
            Pane::Detail => (None, Some(main), None, None),
            Pane::Playbook => (None, None, Some(main), None),
            Pane::Health | Pane::Chaos | Pane::Scoreboard | Pane::Stats => (None, None, None, Some(main)),
        }
    } else if size.width >= WIDE {
        // Left: incidents, the health board, the playbook; right: the incident's timeline.
        let [left, right] = Layout::horizontal([
            Constraint::Length((size.width * 2 / 5).max(LIST_WIDTH)),
            Constraint::Min(40),
        ])
        .areas(main);
        let board = (probes as u16 + 3).clamp(4, main.height / 3);
        let [a, h, c] =
            Layout::vertical([Constraint::Percentage(35), Constraint::Length(board), Constraint::Min(6)])
                .areas(left);
        (Some(a), Some(right), Some(c), Some(h))
    } else {
        // Narrow: the lower area shows the timeline, the playbook or the health board,
        // whichever has focus.
        let list = (main.height * 2 / 5).max(5);
        let [a, b] = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Length(list), Constraint::Min(5)])
            .areas(main);
        match focus {
            Pane::Playbook => (Some(a), None, Some(b), None),
            Pane::Health => (Some(a), None, None, Some(b)),
            _ => (Some(a), Some(b), None, None),
        }
    };
    Areas {
        incidents,
        detail,
        playbook,
        health,
        chaos: None,
        scoreboard: None,
        stats: None,
        banner,
        hints,
        status,
        too_small: false,
    }
}

/// Rows of incidents that fit: the pane minus its borders and header row.
pub fn list_rows(area: Rect) -> usize {
    area.height.saturating_sub(3) as usize
}
