//! The `http` chaos driver: one HTTP request to a fault API (Toxiproxy, a Chaos Mesh or Gremlin
//! endpoint), its status and the start of its answer on the timeline; anything but 2xx fails.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};

use super::driver::{DriverCx, Injected};
use crate::model::chaos::millis;
use crate::present::error_chain;

/// Without a `timeout` in the action: long enough for a slow fault API, short enough that a
/// hung one does not hold up a game day's rollback.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters of the answer quoted on the timeline.
const SHOWN: usize = 200;
/// Bytes of the answer read at most: enough for [`SHOWN`] characters of any encoding, and a
/// fault API that streams megabytes cannot fill the server's memory.
const READ_LIMIT: usize = 16 * 1024;

/// Sends one request: `method` to `url` with `headers` and `body` as JSON, within `timeout`
/// (like "5s"; [`DEFAULT_TIMEOUT`] without one). `Ok` and `Err` both read
/// `HTTP 201 POST host/path: <start of the answer>`; header values are never shown (they carry
/// tokens), nor the URL's query or credentials.
pub async fn act(
    cx: &DriverCx,
    method: &str,
    url: &str,
    headers: &BTreeMap<String, String>,
    body: Option<&serde_json::Value>,
    timeout: Option<&str>,
) -> Result<Injected, String> {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("http: `{method}` is not an HTTP method"))?;
    let parsed = Url::parse(url).map_err(|e| format!("http: url is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("http: url scheme `{}` is not http or https", parsed.scheme()));
    }
    let timeout = match timeout {
        Some(t) => Duration::from_millis(millis(t).map_err(|e| format!("http: timeout {e}"))?),
        None => DEFAULT_TIMEOUT,
    };
    let target = format!("{method} {}", shown_target(&parsed));
    let mut request = cx.http.request(method, parsed).timeout(timeout);
    for (name, value) in headers {
        let name_ok = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("http: header `{name}` is not a valid header name"))?;
        // The value is a secret as often as not: the error names the header only.
        let value_ok = HeaderValue::from_str(value)
            .map_err(|_| format!("http: the value of header `{name}` is not a valid header value"))?;
        request = request.header(name_ok, value_ok);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| format!("{target}: {}", transport(e, timeout)))?;
    let status = response.status();
    let answer = read_start(response)
        .await
        .map_err(|e| format!("HTTP {} {target}: {}", status.as_u16(), transport(e, timeout)))?;
    let line = match answer.is_empty() {
        true => format!("HTTP {} {target}", status.as_u16()),
        false => format!("HTTP {} {target}: {answer}", status.as_u16()),
    };
    if status.is_success() {
        Ok(Injected::done(line))
    } else {
        Err(line)
    }
}

/// `host:port/path` without scheme, credentials, query or fragment (a query may carry a key).
fn shown_target(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}{}", url.path()),
        None => format!("{host}{}", url.path()),
    }
}

/// A transport error without the URL reqwest puts in its message (it would show the query).
fn transport(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", shown_duration(timeout));
    }
    error_chain(&e.without_url())
}

/// `10s`, or `250ms` when not whole seconds: as a scenario file writes it.
pub(super) fn shown_duration(d: Duration) -> String {
    match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        _ => format!("{}ms", d.as_millis()),
    }
}

/// The start of the answer, on one line: at most [`READ_LIMIT`] bytes read, [`SHOWN`] kept.
async fn read_start(response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut stream = response.bytes_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() >= READ_LIMIT {
            bytes.truncate(READ_LIMIT);
            break;
        }
    }
    Ok(one_line(&String::from_utf8_lossy(&bytes), SHOWN))
}

/// Folds whitespace runs (newlines included) into single spaces and keeps `max` characters,
/// marking the cut. The console escapes control characters when it draws the line.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match folded.char_indices().nth(max) {
        None => folded,
        Some((cut, _)) => format!("{}…", &folded[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_sees_host_and_path_but_no_credentials_or_query() {
        let url = Url::parse("https://user:secret@toxi.example:8474/proxies/shop/toxics?key=abc#x").unwrap();
        assert_eq!(shown_target(&url), "toxi.example:8474/proxies/shop/toxics");
        let url = Url::parse("http://gremlin.example/v1/attacks").unwrap();
        assert_eq!(shown_target(&url), "gremlin.example/v1/attacks");
    }

    #[test]
    fn an_answer_is_folded_onto_one_clipped_line() {
        assert_eq!(one_line("{\n  \"ok\": true\r\n}\n", 200), "{ \"ok\": true }");
        assert_eq!(one_line("ééééé", 3), "ééé…");
        assert_eq!(one_line("", 3), "");
    }
}
