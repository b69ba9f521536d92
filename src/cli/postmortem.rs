//! `warroom postmortem`: an incident's postmortem as Markdown (or its template's data as JSON),
//! and writing the document with `$EDITOR` or from a file without ever losing what was typed.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::Args;
use color_eyre::eyre::{bail, eyre, WrapErr};

use super::outbox::flush_first;
use super::{connect, Connection};
use crate::client::Client;
use crate::model::postmortem::{tagged_notes, Document};
use crate::model::{Incident, IncidentId, Intent};
use crate::present::json_safe;
use crate::protocol::Command;
use crate::report::postmortem::{render, report, Input, Template};

#[derive(Args, Debug)]
pub struct PostmortemArgs {
    /// The incident: INC-7 or 7.
    pub id: IncidentId,
    /// Write the Markdown (the JSON with --json) to this file instead of printing it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["edit", "from"])]
    pub out: Option<PathBuf>,
    /// Write the postmortem in $EDITOR (then $VISUAL, then vi), starting from the latest
    /// revision or, before any, from the notes tagged #well, #badly and #lucky.
    #[arg(long, conflicts_with = "from")]
    pub edit: bool,
    /// Write the postmortem from a file in the editor's form (what --edit opens), without an
    /// editor: for scripts, or to retry what an editing session kept.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
}

pub(super) async fn postmortem(
    conn: &Connection,
    json: bool,
    args: PostmortemArgs,
) -> color_eyre::Result<()> {
    // A broken template is reported before anything is fetched.
    let template = if args.edit || args.from.is_some() {
        None
    } else {
        Some(Template::for_config_dir(&crate::config::config_dir())?)
    };
    let client = connect(conn)?;
    // What you queued offline goes first, so the postmortem includes it.
    flush_first(&client).await?;
    if args.edit {
        return edit(&client, json, args.id).await;
    }
    if let Some(path) = &args.from {
        return from_file(&client, json, args.id, path).await;
    }
    let template = template.unwrap_or_else(Template::builtin);
    let full = client.incident(args.id).await?;
    let state = super::snapshot(&client).await?;
    let library = client.library().await?.library;
    let input =
        Input { incident: &full.incident, state: &state, settings: &library.postmortem, now: Utc::now() };
    let text = if json {
        json_safe(serde_json::to_string_pretty(&report(&input))?) + "\n"
    } else {
        render(&input, &template)?
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).wrap_err_with(|| format!("writing {}", path.display()))?;
            crate::stderr!("warroom: wrote {}'s postmortem to {}", args.id, path.display());
        }
        None => out!("{}", text.trim_end_matches('\n')),
    }
    Ok(())
}

/// The document to start editing from, and the revision it is (0: none yet).
fn starting_point(inc: &Incident) -> (Document, u32) {
    match &inc.postmortem {
        Some(pm) => (pm.document.clone(), pm.revision()),
        None => (tagged_notes(inc), 0),
    }
}

/// `$EDITOR`, then `$VISUAL`, then `vi`; empty variables count as unset.
fn editor() -> String {
    ["EDITOR", "VISUAL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string())
}

async fn edit(client: &Client, json: bool, id: IncidentId) -> color_eyre::Result<()> {
    let full = client.incident(id).await?;
    let library = client.library().await?.library;
    let inc = &full.incident;
    let (start, base) = starting_point(inc);
    let text = start.to_editable(&format!("{} {}", inc.id, inc.title), &library.postmortem.failure_classes);
    // Kept from the start and removed only once the server took it: whatever happens in
    // between (an editor crash, a refusal, a lost connection), what was typed is on disk.
    let (_, path) = tempfile::Builder::new()
        .prefix(&format!("warroom-{id}-postmortem-"))
        .suffix(".md")
        .tempfile()
        .wrap_err("creating the file to edit")?
        .keep()
        .wrap_err("keeping the file to edit")?;
    std::fs::write(&path, text).wrap_err_with(|| format!("writing {}", path.display()))?;
    let editor = editor();
    let document = loop {
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$@\""))
            .arg(&editor)
            .arg(&path)
            .status()
            .await
            .wrap_err_with(|| format!("starting the editor `{editor}`; the text is in {}", path.display()))?;
        if !status.success() {
            bail!("the editor `{editor}` exited with {status}; {}", kept(id, &path));
        }
        let edited =
            std::fs::read_to_string(&path).wrap_err_with(|| format!("reading back {}", path.display()))?;
        match Document::from_editable(&edited) {
            Ok(doc) => break doc,
            Err(e) => {
                crate::stderr!("{}:{}: {}", path.display(), e.line, e.detail);
                if ask("Re-open the editor to fix it? [Y/n] ") {
                    continue;
                }
                bail!("{}:{}: {}; {}", path.display(), e.line, e.detail, kept(id, &path));
            }
        }
    };
    if inc.postmortem.as_ref().is_some_and(|pm| pm.document == document) {
        remove(&path);
        out!("no change: {id}'s postmortem already says this (revision {base})");
        return Ok(());
    }
    match send(client, json, id, document, base).await {
        Ok(()) => {
            remove(&path);
            Ok(())
        }
        Err(e) => Err(eyre!("{e:#}; {}", kept(id, &path))),
    }
}

/// Where the text was kept and how to send it again.
fn kept(id: IncidentId, path: &Path) -> String {
    format!(
        "what you wrote is kept in {} (`warroom postmortem {id} --from {}` writes it, `--edit` starts over from the server's)",
        path.display(),
        path.display()
    )
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        crate::stderr!("warroom: could not remove {}: {e}", path.display());
    }
}

/// Asks a yes/no question on the terminal (yes by default); false when nobody can answer.
fn ask(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    use std::io::Write as _;
    // A prompt nobody can see is a question nobody can answer: keep the file instead.
    let mut err = std::io::stderr();
    if write!(err, "{question}").and_then(|()| err.flush()).is_err() {
        return false;
    }
    let mut answer = String::new();
    match std::io::stdin().read_line(&mut answer) {
        Ok(0) | Err(_) => false,
        Ok(_) => !matches!(answer.trim().to_lowercase().as_str(), "n" | "no"),
    }
}

async fn from_file(client: &Client, json: bool, id: IncidentId, path: &Path) -> color_eyre::Result<()> {
    let text = std::fs::read_to_string(path).wrap_err_with(|| format!("reading {}", path.display()))?;
    let document =
        Document::from_editable(&text).map_err(|e| eyre!("{}:{}: {}", path.display(), e.line, e.detail))?;
    // The file is the writer's own copy: this writes it over whatever is there now.
    let full = client.incident(id).await?;
    let (_, base) = starting_point(&full.incident);
    send(client, json, id, document, base).await
}

/// Sends the document straight to the server (never queued: a document written against a
/// revision must be refused now if it is stale, not later when nobody is looking).
async fn send(
    client: &Client,
    json: bool,
    id: IncidentId,
    document: Document,
    base: u32,
) -> color_eyre::Result<()> {
    let command = Command::new(Intent::WritePostmortem { incident: id, document, base: Some(base) });
    let ack = client.send(&command).await?;
    super::outbox::print_ack(&ack, json)
}
