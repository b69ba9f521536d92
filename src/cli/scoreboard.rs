//! `warroom scoreboard`: the game day's scoreboard alone in the terminal, full screen, live and
//! read-only (an observer's token is enough: it sends nothing), for anyone watching the game.

use clap::Args;

use super::{client, Connection};

#[derive(Args, Debug)]
pub struct ScoreboardArgs {
    /// Theme: default, light, high-contrast, mono, or one of yours [default: config, or mono under NO_COLOR]
    #[arg(long)]
    pub theme: Option<String>,
    /// No terminal bell for kick-offs (they still show as a toast)
    #[arg(long)]
    pub quiet: bool,
}

pub async fn scoreboard(conn: &Connection, args: ScoreboardArgs) -> color_eyre::Result<()> {
    crate::tui::open_scoreboard(client(conn)?, args.theme.as_deref(), args.quiet).await
}
