//! The server's diagnostics as `tracing` events: human lines (escaped) or one JSON object a
//! line, filtered by `WARROOM_LOG`; set up once by each CLI verb that runs a server.

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// The variable holding the filter (`RUST_LOG`'s syntax). Not `RUST_LOG` itself: a shell that
/// sets it for some other Rust tool must not turn a production server's log up.
pub const FILTER_ENV: &str = "WARROOM_LOG";
/// What is logged when `WARROOM_LOG` is unset: start-up, reloads, and every problem. The
/// per-request lines are `debug` (target `warroom::request`).
pub const DEFAULT_FILTER: &str = "info";
/// The target of the per-request lines, for filters such as `info,warroom::request=debug`.
pub const REQUEST_TARGET: &str = "warroom::request";

/// How each line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `time level target: message field=value`, control characters escaped.
    #[default]
    Human,
    /// One JSON object a line: `timestamp`, `level`, `target`, `message`, the event's fields
    /// and its request's (`span`).
    Json,
}

/// Where the lines go.
#[derive(Debug, Clone)]
pub enum Sink {
    Stderr,
    /// Appended to this file (the demo: its console owns the terminal).
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{FILTER_ENV}: {0}")]
    Filter(String),
    #[error("opening the log file {path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("setting up logging: {0}")]
    Init(String),
}

/// Installs the process's logger. Call once, before the server starts.
pub fn init(format: LogFormat, sink: Sink) -> Result<(), LogError> {
    let filter = match std::env::var(FILTER_ENV) {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(&spec).map_err(|e| LogError::Filter(format!("`{spec}`: {e}")))?
        }
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let (writer, ansi) = match &sink {
        Sink::Stderr => (Lines::Stderr, std::io::stderr().is_terminal()),
        Sink::File(path) => (Lines::File(Mutex::new(open(path)?)), false),
    };
    let writer = SafeWriter { lines: writer, json: format == LogFormat::Json };
    // `log_internal_errors(false)`: a failed write is reported with `eprintln!`, which panics
    // on a closed stderr; a diagnostic must never be what kills the server.
    let layer: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> = match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .fmt_fields(EscapedFields)
            .log_internal_errors(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .log_internal_errors(false)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init()
        .map_err(|e| LogError::Init(e.to_string()))
}

fn open(path: &Path) -> Result<std::fs::File, LogError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogError::File { path: path.to_path_buf(), source })
}

enum Lines {
    Stderr,
    File(Mutex<std::fs::File>),
}

/// Writes each formatted line whole, ignoring a dead destination (as `crate::stderr!` did);
/// JSON lines also get the controls serde_json leaves raw (C1, bidi) as `\uXXXX`.
struct SafeWriter {
    lines: Lines,
    json: bool,
}

impl<'a> MakeWriter<'a> for SafeWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter(self)
    }
}

struct LineWriter<'a>(&'a SafeWriter);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        let line = if self.0.json { crate::present::json_safe(line.into_owned()) } else { line.into_owned() };
        // Failures are dropped on purpose: there is nowhere left to report them.
        match &self.0.lines {
            Lines::Stderr => {
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            Lines::File(file) => {
                let _ = file.lock().unwrap_or_else(|p| p.into_inner()).write_all(line.as_bytes());
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Human fields: `message` as text, the rest as `name=value`, every value through
/// [`crate::present::escape_control`] (a refusal quotes other people's text; a terminal must
/// not run what they typed).
struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> std::fmt::Result {
        let mut visitor = Escaper { writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Escaper<'w> {
    writer: Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl Escaper<'_> {
    fn field(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        // A newline is fine on a terminal but would start a forged log line.
        let value = crate::present::escape_control(value);
        let value = if value.contains('\n') { value.replace('\n', "\\n").into() } else { value };
        let sep = if self.first { "" } else { " " };
        self.first = false;
        self.result = if field.name() == "message" {
            write!(self.writer, "{sep}{value}")
        } else {
            write!(self.writer, "{sep}{}={value}", field.name())
        };
    }
}

impl Visit for Escaper<'_> {
    /// Quoted, as `tracing`'s own formatter does: a value with spaces stays one value.
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, value);
        } else {
            self.field(field, &format!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.field(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats one event's fields as the human format does.
    fn human(f: impl FnOnce()) -> String {
        let out = std::sync::Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Capture(sink.clone()))
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(EscapedFields)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Capture(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_users_control_characters_are_escaped_in_the_message_and_in_fields() {
        let title = "evil\u{1b}[2Jtitle\nINFO forged line";
        let line = human(|| tracing::warn!(step = title, "refused: {title}"));
        assert!(!line.contains('\u{1b}'), "{line:?}");
        assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
        assert!(line.contains("refused: evil\\u{1b}[2Jtitle"), "{line:?}");
        assert!(line.contains("step=\"evil\\u{1b}[2Jtitle\\nINFO forged line\""), "{line:?}");
    }

    #[test]
    fn json_lines_get_c1_and_bidi_controls_escaped_and_still_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.log");
        let writer = SafeWriter { lines: Lines::File(Mutex::new(open(&path).unwrap())), json: true };
        let line = "{\"message\":\"a\u{9b}b\u{202e}c\"}\n";
        writer.make_writer().write_all(line.as_bytes()).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(!written.contains('\u{9b}') && !written.contains('\u{202e}'), "{written:?}");
        let parsed: serde_json::Value = serde_json::from_str(written.trim()).unwrap();
        assert_eq!(parsed["message"], "a\u{9b}b\u{202e}c");
    }
}
