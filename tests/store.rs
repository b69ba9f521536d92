//! The store seam holds: the writer, the API and the stream speak only to `EventStore`, and a
//! database written by a newer warroom is refused at start with both versions named.

mod common;

use warroom::server::{start, ServerOptions};

/// Files that must reach storage only through the trait, so a PostgreSQL store can replace
/// SQLite without touching them.
const SEAM_USERS: &[&str] = &["src/server/writer.rs", "src/server/api.rs", "src/server/stream.rs"];

#[test]
fn the_writer_the_api_and_the_stream_never_name_sqlite() {
    for file in SEAM_USERS {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {file}: {e}"));
        for (n, line) in text.lines().enumerate() {
            assert!(
                !line.contains("rusqlite"),
                "{file}:{}: uses rusqlite past the store seam: {line}",
                n + 1
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_warroom_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || ServerOptions {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        users: common::users(),
        ..Default::default()
    };
    start(opts()).await.unwrap().stop().await;
    let db = rusqlite::Connection::open(warroom::server::db_path(dir.path())).unwrap();
    db.execute("INSERT INTO schema_version(version, applied_at) VALUES (99, '2030-01-01T00:00:00Z')", [])
        .unwrap();
    drop(db);

    let err = start(opts()).await.err().expect("a newer database is refused");
    let text = format!("{err:?}");
    let known = warroom::server::store::SCHEMA_VERSION;
    assert!(text.contains("schema version 99") && text.contains(&format!("up to {known}")), "{text}");
    assert!(text.contains("events.sqlite3"), "the message names the file: {text}");
}
