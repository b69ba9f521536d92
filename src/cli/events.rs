//! The event log from the command line: one page after another, or `--follow` live over
//! the server's event stream, reconnecting after a restart and resuming from the last seq.

use std::time::Duration;

use color_eyre::eyre::WrapErr;
use futures_util::StreamExt;

use super::outbox::flush_first;
use super::{connect, Connection};
use crate::client::{Client, ClientError, StreamItem};
use crate::model::Event;
use crate::present::{event_line, json_safe};

/// Reconnection backoff: like the console's (`client/sync.rs`), 200 ms doubling to 5 s.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longer than the server's heartbeat: silence this long means the connection is dead.
const SILENCE: Duration = Duration::from_secs(25);

fn print(json: bool, e: &Event) -> color_eyre::Result<()> {
    if json {
        out!("{}", json_safe(serde_json::to_string(e)?));
    } else {
        out!("{}", event_line(e));
    }
    Ok(())
}

/// Prints every event after `after` from the paged log; returns the last seq printed.
async fn page_through(client: &Client, json: bool, mut after: u64) -> Result<u64, ClientError> {
    loop {
        let page = client.events(after, 1000).await?;
        for e in &page.events {
            if e.seq > after {
                print(json, e).map_err(|err| ClientError::Protocol {
                    url: client.base().into(),
                    detail: err.to_string(),
                })?;
                after = e.seq;
            }
        }
        if page.events.is_empty() || after >= page.head {
            return Ok(after);
        }
    }
}

pub(super) async fn events(
    conn: &Connection,
    json: bool,
    follow: bool,
    after: u64,
) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    flush_first(&client).await?;
    if !follow {
        page_through(&client, json, after).await?;
        return Ok(());
    }
    follow_events(&client, json, after).await
}

/// Follows the stream for as long as the reader wants it. When the connection drops (a server
/// restart, a network blip) it says so on stderr, waits with backoff and resumes after the
/// last seq printed, so nothing is printed twice and nothing is skipped. Only a refusal (a
/// wrong token) or another log at the same address ends it.
async fn follow_events(client: &Client, json: bool, after: u64) -> color_eyre::Result<()> {
    let mut last = after;
    let mut log: Option<uuid::Uuid> = None;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let why = match follow_once(client, json, &mut last, &mut log, &mut backoff).await {
            Ok(why) => why,
            Err(e @ ClientError::Rejected { .. }) => return Err(e).wrap_err("following events"),
            Err(e) => e.to_string(),
        };
        crate::stderr!(
            "warroom: {why}; reconnecting in {} ms (resuming after seq {last})",
            backoff.as_millis()
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life: `Ok` says why it ended and a retry may help.
async fn follow_once(
    client: &Client,
    json: bool,
    last: &mut u64,
    log: &mut Option<uuid::Uuid>,
    backoff: &mut Duration,
) -> Result<String, ClientError> {
    let mut stream = client.stream(*last).await?;
    loop {
        let item = match tokio::time::timeout(SILENCE, stream.next()).await {
            Err(_) => return Ok("no heartbeat from the server".into()),
            Ok(None) => return Ok("the server closed the stream".into()),
            Ok(Some(item)) => item?,
        };
        match item {
            StreamItem::Hello { log: Some(other), .. } if log.is_some_and(|l| l != other) => {
                return Err(ClientError::Rejected {
                    status: 409,
                    error: "another_log".into(),
                    detail: format!(
                        "the server at {} now serves another log (a reset or another server): \
                         seqs after {last} there are not this log's; run again with --after 0",
                        client.base()
                    ),
                });
            }
            StreamItem::Hello { log: hello_log, .. } => {
                *log = log.or(hello_log);
                *backoff = FIRST_BACKOFF;
            }
            StreamItem::Event(e) if e.seq <= *last => {}
            StreamItem::Event(e) if e.seq == *last + 1 => {
                print(json, &e).map_err(|err| ClientError::Protocol {
                    url: client.base().into(),
                    detail: err.to_string(),
                })?;
                *last = e.seq;
            }
            // A gap, or the server says we fell behind: the paged log fills it in order,
            // then the stream resumes after it.
            StreamItem::Event(_) | StreamItem::Resync(_) => {
                *last = page_through(client, json, *last).await?;
                return Ok("caught up from the log".into());
            }
            StreamItem::Heartbeat { head } if head > *last => {
                *last = page_through(client, json, *last).await?;
            }
            StreamItem::Heartbeat { .. } | StreamItem::Sample(_) => {}
            StreamItem::Shutdown { reconnect_after } => {
                *backoff = reconnect_after;
                return Ok("the server is restarting".into());
            }
        }
    }
}
