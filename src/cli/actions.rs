//! `warroom actions`: every action item across the incidents you can see, overdue first, and
//! adding or completing one. Reads print a table or `--json`; changes go through the outbox.

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::outbox::{flush_first, write};
use super::{connect, Connection};
use crate::model::postmortem::{action_items, ActionItem};
use crate::model::{IncidentId, Intent, State};
use crate::present::{json_safe, one_line};
use crate::protocol::Command;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ActionsArgs {
    /// Only the items not done yet.
    #[arg(long)]
    pub open: bool,
    #[command(subcommand)]
    pub cmd: Option<ActionsCmd>,
}

#[derive(Subcommand, Debug)]
pub enum ActionsCmd {
    /// Add an action item to an incident: `warroom actions add INC-7 --owner bob Alert on 5xx`.
    Add {
        incident: IncidentId,
        /// Who sees it done (one of the server's users).
        #[arg(long)]
        owner: String,
        #[arg(long, value_name = "YYYY-MM-DD")]
        due: Option<NaiveDate>,
        /// A ticket or URL tracking it.
        #[arg(long)]
        link: Option<String>,
        /// What is to be done (the words are joined).
        #[arg(required = true, num_args = 1..)]
        title: Vec<String>,
    },
    /// Mark an action item done: `INC-7#2`, or `INC-7 2`.
    Done {
        #[arg(value_name = "INC#N")]
        item: String,
        /// The item's number, when not written as `INC-7#2`.
        #[arg(value_name = "N")]
        number: Option<String>,
    },
}

pub(super) async fn actions(conn: &Connection, json: bool, args: ActionsArgs) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let intent = match args.cmd {
        None => {
            flush_first(&client).await?;
            let state = super::snapshot(&client).await?;
            return list(&state, json, args.open, Utc::now());
        }
        Some(ActionsCmd::Add { incident, owner, due, link, title }) => {
            Intent::AddActionItem { incident, title: title.join(" "), owner, due, link }
        }
        Some(ActionsCmd::Done { item, number }) => {
            let (incident, item) =
                parse_item(&item, number.as_deref()).map_err(|e| color_eyre::eyre::eyre!(e))?;
            Intent::CompleteActionItem { incident, item }
        }
    };
    write(&client, json, Command::new(intent)).await
}

/// `INC-7#2`, `7#2`, or `INC-7` and `2` (`#2`) as two words.
fn parse_item(first: &str, second: Option<&str>) -> Result<(IncidentId, u32), String> {
    let (incident, number) = match (first.split_once('#'), second) {
        (Some((inc, n)), None) => (inc, n),
        (None, Some(n)) => (first, n.trim_start_matches('#')),
        (Some(_), Some(_)) => {
            return Err(format!("`{first}` already names the item; drop `{}`", second.unwrap_or("")))
        }
        (None, None) => {
            return Err(format!("`{first}` names no item: write INC-7#2, or INC-7 2"));
        }
    };
    let incident: IncidentId = incident.trim().parse()?;
    let item = number
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{number}` is not an action item number (1, 2, …)"))?;
    Ok((incident, item))
}

/// One row of `warroom actions`, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Row<'a> {
    incident: IncidentId,
    incident_title: &'a str,
    item: u32,
    title: &'a str,
    owner: &'a str,
    due: Option<NaiveDate>,
    /// `overdue`, `open` or `done`.
    status: &'static str,
    link: Option<&'a str>,
    done_at: Option<DateTime<Utc>>,
    done_by: Option<&'a str>,
}

fn status(a: &ActionItem, now: DateTime<Utc>) -> &'static str {
    if a.done.is_some() {
        "done"
    } else if a.is_overdue(now) {
        "overdue"
    } else {
        "open"
    }
}

/// Overdue first, then open, then done; within each, by due date (none last), then incident.
fn rows(state: &State, open_only: bool, now: DateTime<Utc>) -> Vec<Row<'_>> {
    let mut rows: Vec<Row> = action_items(state)
        .into_iter()
        .filter(|(_, a)| !open_only || a.done.is_none())
        .map(|(id, a)| Row {
            incident: id,
            incident_title: state.incidents.get(&id).map_or("", |i| i.title.as_str()),
            item: a.item,
            title: &a.title,
            owner: &a.owner,
            due: a.due,
            status: status(a, now),
            link: a.link.as_deref(),
            done_at: a.done.as_ref().map(|d| d.at),
            done_by: a.done.as_ref().map(|d| d.by.as_str()),
        })
        .collect();
    let rank = |s: &str| match s {
        "overdue" => 0,
        "open" => 1,
        _ => 2,
    };
    rows.sort_by_key(|r| (rank(r.status), r.due.is_none(), r.due, r.incident, r.item));
    rows
}

fn list(state: &State, json: bool, open_only: bool, now: DateTime<Utc>) -> color_eyre::Result<()> {
    let rows = rows(state, open_only, now);
    if json {
        out!("{}", json_safe(serde_json::to_string_pretty(&rows)?));
        return Ok(());
    }
    if rows.is_empty() {
        out!("no {}action items", if open_only { "open " } else { "" });
        return Ok(());
    }
    // The title last, as in `incident list`, with its link after it: a long title or URL
    // never pushes another column out of line.
    out!("{:<12} {:<8} {:<10} {:<12} TITLE (LINK)", "ITEM", "STATUS", "DUE", "OWNER");
    for r in rows {
        out!(
            "{:<12} {:<8} {:<10} {:<12} {}{}",
            format!("{}#{}", r.incident, r.item),
            if r.status == "overdue" { "OVERDUE" } else { r.status },
            r.due.map_or_else(|| "-".to_string(), |d| d.to_string()),
            one_line(r.owner),
            one_line(r.title),
            r.link.map_or_else(String::new, |l| format!("  ({})", one_line(l)))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_named_with_a_hash_or_as_two_words() {
        assert_eq!(parse_item("INC-7#2", None), Ok((IncidentId(7), 2)));
        assert_eq!(parse_item("7#2", None), Ok((IncidentId(7), 2)));
        assert_eq!(parse_item("INC-7", Some("2")), Ok((IncidentId(7), 2)));
        assert_eq!(parse_item("inc-7", Some("#2")), Ok((IncidentId(7), 2)));
        assert!(parse_item("INC-7", None).unwrap_err().contains("INC-7#2"));
        assert!(parse_item("INC-7#0", None).is_err());
        assert!(parse_item("INC-7#x", None).unwrap_err().contains("`x`"));
        assert!(parse_item("INC-7#2", Some("3")).is_err());
        assert!(parse_item("nope#2", None).is_err());
    }
}
