//! `warroom replay INC`: an incident's events played back in order with their timing scaled,
//! in a read-only console (an observer's token is enough) — how a game day is reviewed.

use clap::Args;
use color_eyre::eyre::eyre;

use super::{client, Connection};
use crate::model::IncidentId;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The incident, e.g. INC-7
    pub incident: IncidentId,
    /// How many times faster than it happened (space pauses, + and - change it while playing)
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
    /// Quiet stretches longer than this many seconds of replay time are cut to it (and marked)
    #[arg(long, default_value_t = 10.0)]
    pub max_gap: f64,
    /// Theme: default, light, high-contrast, mono, or one of yours [default: config, or mono under NO_COLOR]
    #[arg(long)]
    pub theme: Option<String>,
}

pub async fn replay(conn: &Connection, args: ReplayArgs) -> color_eyre::Result<()> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(eyre!("--speed must be a number above 0, got {}", args.speed));
    }
    let max_gap = std::time::Duration::try_from_secs_f64(args.max_gap)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| eyre!("--max-gap must be a number of seconds above 0, got {}", args.max_gap))?;
    crate::tui::open_replay(client(conn)?, args.theme.as_deref(), args.incident, args.speed, max_gap).await
}
