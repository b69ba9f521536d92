//! warroom: a terminal war-room console for incident response and chaos game days.
//! One ordered event log on a server, folded by the same pure reducer on every client.

pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod model;
pub mod present;
pub mod protocol;
pub mod server;
pub mod tui;
