//! The offline outbox from the command line, and the one `write` path every changing verb
//! takes: flush what waits, send, or queue when the server is away.

use clap::Subcommand;
use color_eyre::eyre::eyre;

use super::{connect, Connection};
use crate::client::outbox::{Flushed, Outbox};
use crate::client::{Client, ClientError};
use crate::config;
use crate::present::{escape_control, event_line, json_safe, one_line};
use crate::protocol::Command;

#[derive(Subcommand, Debug)]
pub enum OutboxCmd {
    /// Show queued commands in order and whose each is. Everyone using this data dir shares
    /// one outbox per server, but each user's flush sends only their own commands.
    List,
    /// Send your queued commands now, in order. Stops with exit 1, keeping everything, when
    /// the server is away or refuses your token (401/403); a command the server refuses for
    /// good moves to the outbox's `.rejected.jsonl` file, as do unreadable lines.
    Flush {
        /// Also send the commands of unknown owner (queued by a warroom that did not record
        /// who queued them) as you. Only when you know they are yours, or vouch for them.
        #[arg(long)]
        adopt: bool,
    },
    /// Take one of your queued commands out unsent (kept in the rejected file), e.g. one
    /// the server will never take from you.
    Drop {
        /// The command's id, as `warroom outbox list` shows it.
        id: uuid::Uuid,
    },
}

/// The outbox for the client's server, in the data dir, as the client's user.
pub fn outbox_for(client: &Client) -> Outbox {
    Outbox::open(&config::data_dir(), client)
}

/// Records a successful call, so this server may get a queue later. Failing to record costs
/// only that, so it is a warning, not an error.
pub(super) fn remember(outbox: &Outbox, log: Option<uuid::Uuid>, name: Option<&str>) {
    if let Err(e) = outbox.reached(log, name) {
        crate::stderr!("warroom: {e}");
    }
}

/// The error for a flush that stopped: what stopped it, and what the user can do.
fn flush_stopped(e: &ClientError, outbox: &Outbox, flushed: &Flushed) -> color_eyre::Report {
    let waiting = format!("waiting {} in {}", flushed.waiting, outbox.path().display());
    if flushed.stopped_on_auth() {
        eyre!(
            "flush stopped: {e}. The server refused your token or its user, so nothing was removed \
             ({waiting}); check WARROOM_TOKEN, --token or `token` in config.toml, then run \
             `warroom outbox flush`; `warroom outbox drop ID` takes out one the server will never accept"
        )
    } else {
        eyre!("flush stopped: {e} ({waiting})")
    }
}

fn report_flush(flushed: &Flushed) {
    for (cmd, ack) in &flushed.sent {
        crate::stderr!("warroom: sent queued {} (seq {})", cmd.intent.kind(), ack.seq);
    }
    for (cmd, e) in &flushed.refused {
        crate::stderr!(
            "warroom: queued {} {} was refused: {e}; moved to {}",
            cmd.intent.kind(),
            cmd.id,
            flushed.rejected_path.display()
        );
    }
    if flushed.unreadable > 0 {
        crate::stderr!(
            "warroom: {} unreadable outbox line(s) moved to {}",
            flushed.unreadable,
            flushed.rejected_path.display()
        );
    }
}

/// Sends your queued commands before a verb reads or writes, so that what it shows (or
/// decides on) includes them, as the README promises. A server that cannot be reached stops
/// nothing here: the verb itself then says so, or queues.
pub(super) async fn flush_first(client: &Client) -> color_eyre::Result<()> {
    let outbox = outbox_for(client);
    let flushed = outbox.flush(client).await?;
    report_flush(&flushed);
    match &flushed.stopped {
        Some(e) if !e.keeps_queued() => Err(flush_stopped(e, &outbox, &flushed)),
        _ => Ok(()),
    }
}

/// Sends a command, after your queued ones so your order is kept; queues it when the server
/// cannot be reached (only a server reached before: a typo in its URL is an error).
pub(super) async fn write(client: &Client, json: bool, command: Command) -> color_eyre::Result<()> {
    let outbox = outbox_for(client);
    let flushed = outbox.flush(client).await?;
    report_flush(&flushed);
    let result = match &flushed.stopped {
        Some(e) if !e.keeps_queued() => return Err(flush_stopped(e, &outbox, &flushed)),
        Some(e) => Err(e.clone()),
        None => client.send(&command).await,
    };
    match result {
        Ok(ack) => {
            remember(&outbox, None, ack.events.first().map(|e| e.actor.as_str()));
            print_ack(&ack, json)
        }
        Err(e) if e.keeps_queued() => {
            let waiting =
                outbox.push(&command).map_err(|q| color_eyre::Report::new(q).wrap_err(e.to_string()))?;
            if json {
                let queued = serde_json::json!({ "queued": command.id, "waiting": waiting.total(), "yours": waiting.yours });
                out!("{}", json_safe(queued.to_string()));
            }
            crate::stderr!("warroom: {e}");
            crate::stderr!(
                "warroom: queued {} in {}; waiting {waiting}; your next warroom command or `warroom outbox flush` sends it",
                command.intent.kind(),
                outbox.path().display()
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn outbox(conn: &Connection, json: bool, cmd: OutboxCmd) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let outbox = outbox_for(&client);
    match cmd {
        OutboxCmd::List => {
            let listing = outbox.list()?;
            if json {
                out!("{}", json_safe(serde_json::to_string_pretty(&listing)?));
                return Ok(());
            }
            if listing.queued.is_empty() && listing.unreadable.is_empty() {
                out!("outbox empty ({})", outbox.path().display());
                return Ok(());
            }
            let mut unknown = false;
            for (i, q) in listing.queued.iter().enumerate() {
                unknown |= q.queued_by.is_none();
                let who = if q.yours { format!("{} (you)", q.who) } else { q.who.clone() };
                let at = q.queued_at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
                out!(
                    "{:>3}  {:<22} {:<19}  {}  {}",
                    i + 1,
                    one_line(&who),
                    at,
                    q.command.id,
                    escape_control(&serde_json::to_string(&q.command.intent)?)
                );
            }
            for e in &listing.unreadable {
                out!(
                    "     unreadable {}: moved to {} by the next flush",
                    one_line(e),
                    outbox.rejected_path().display()
                );
            }
            out!("{}", outbox.path().display());
            if unknown {
                out!(
                    "commands of unknown owner were queued by a warroom that did not record who queued them; \
                     `warroom outbox flush --adopt` sends them as you"
                );
            }
        }
        OutboxCmd::Flush { adopt } => {
            // Asking who we are first makes a wrong token an error even when nothing of its
            // own waits, and names the user for the summary.
            match client.whoami().await {
                Ok(me) => remember(&outbox, None, Some(&me.name)),
                Err(e) => {
                    let flushed = Flushed {
                        waiting: outbox.waiting()?,
                        stopped: Some(e.clone()),
                        ..Flushed::default()
                    };
                    return Err(flush_stopped(&e, &outbox, &flushed));
                }
            }
            if adopt {
                let n = outbox.adopt()?;
                crate::stderr!("warroom: adopted {n} command(s) of unknown owner: they are sent as you");
            }
            let flushed = outbox.flush(&client).await?;
            report_flush(&flushed);
            if json {
                let summary = serde_json::json!({
                    "sent": flushed.sent.len(),
                    "refused": flushed.refused.len(),
                    "unreadable": flushed.unreadable,
                    "waiting": flushed.waiting.total(),
                    "yours": flushed.waiting.yours,
                });
                out!("{}", json_safe(summary.to_string()));
            } else {
                out!("{}", flushed.summary());
            }
            if let Some(e) = &flushed.stopped {
                return Err(flush_stopped(e, &outbox, &flushed));
            }
        }
        OutboxCmd::Drop { id } => {
            let cmd = outbox.drop_command(id)?;
            out!("dropped {} {id}; kept in {}", cmd.intent.kind(), outbox.rejected_path().display());
        }
    }
    Ok(())
}

/// What a sent command wrote: its events, one line each, or the ack as JSON.
pub(super) fn print_ack(ack: &crate::protocol::Ack, json: bool) -> color_eyre::Result<()> {
    if json {
        out!("{}", json_safe(serde_json::to_string(ack)?));
    } else {
        for e in &ack.events {
            out!("{}", event_line(e));
        }
    }
    Ok(())
}
