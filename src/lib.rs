//! warroom: a terminal war-room console for incident response and chaos game days.
//! One ordered event log on a server, folded by the same pure reducer on every client.

/// Like `eprintln!`, but a closed or dead stderr is ignored instead of panicking: a
/// diagnostic must never be what kills the CLI or skips the console's cleanup. Messages
/// often quote other people's text (a refusal naming a step), so they are escaped too.
/// For what a CLI verb tells its user; the server logs through `tracing` (see [`logging`]).
#[macro_export]
macro_rules! stderr {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($t)*);
        let _ = writeln!(std::io::stderr(), "{}", $crate::present::escape_control(&line));
    }};
}

pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod journal;
pub mod logging;
pub mod model;
pub mod present;
pub mod protocol;
pub mod report;
pub mod server;
pub mod tui;
