//! The event log from the command line: one page after another, or `--follow` live over
//! the server's event stream.

use color_eyre::eyre::{bail, WrapErr};
use futures_util::StreamExt;

use super::{connect, Connection};
use crate::client::{ClientError, StreamItem};
use crate::present::{event_line, json_safe};

pub(super) async fn events(
    conn: &Connection,
    json: bool,
    follow: bool,
    after: u64,
) -> color_eyre::Result<()> {
    let client = connect(conn)?;
    let print = |e: &crate::model::Event| -> color_eyre::Result<()> {
        if json {
            out!("{}", json_safe(serde_json::to_string(e)?));
        } else {
            out!("{}", event_line(e));
        }
        Ok(())
    };
    if !follow {
        let mut after = after;
        loop {
            let page = client.events(after, 1000).await?;
            for e in &page.events {
                print(e)?;
                after = e.seq;
            }
            if page.events.is_empty() || after >= page.head {
                return Ok(());
            }
        }
    }
    let mut stream = client.stream(after).await?;
    while let Some(item) = stream.next().await {
        match item? {
            StreamItem::Event(e) => print(&e)?,
            StreamItem::Hello { .. } | StreamItem::Heartbeat { .. } | StreamItem::Sample(_) => {}
            StreamItem::Resync(why) => bail!("the server asked to re-sync ({why}); run again with --after"),
        }
    }
    Err(ClientError::Unreachable { url: client.base().into(), detail: "the stream ended".into() })
        .wrap_err("following events")
}
