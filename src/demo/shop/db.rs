//! The shop's embedded database: the catalogue (the prices' truth), stock and orders, one
//! SQLite file per table so that a villain's lock on one table is a real lock that spares the others.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use super::Product;

/// How long a customer's request waits for a lock before it answers 503.
pub(super) const REQUEST_BUSY: Duration = Duration::from_secs(2);
/// Health checks wait less: the demo's probes give up after 1 s, and a check that answers
/// "DOWN: stock locked" tells a hero more than one that times out.
pub(super) const HEALTH_BUSY: Duration = Duration::from_millis(300);
/// How often stock corruption rewrites the counts while it is active.
const CORRUPT_EVERY: Duration = Duration::from_millis(500);

/// The shop's tables. SQLite locks whole files, so each table lives in its own file: a lock
/// held on `stock.db` is a lock on the stock table and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Products,
    Stock,
    Orders,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Products => "products",
            Table::Stock => "stock",
            Table::Orders => "orders",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Table::Products => "catalog.db",
            Table::Stock => "stock.db",
            Table::Orders => "orders.db",
        }
    }

    /// The column a lock or a health check rewrites to itself: a write that changes nothing.
    fn touch_column(self) -> &'static str {
        match self {
            Table::Products => "price_cents",
            Table::Stock => "count",
            Table::Orders => "qty",
        }
    }

    fn schema(self) -> &'static str {
        match self {
            // `list_cents` is the catalogue's original price, the anchor the updater drifts around.
            Table::Products => {
                "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                 price_cents INTEGER NOT NULL, list_cents INTEGER NOT NULL)"
            }
            // `initial` is the stock before any order: truth = initial - ordered quantity.
            Table::Stock => {
                "CREATE TABLE stock (product INTEGER PRIMARY KEY, initial INTEGER NOT NULL,
                 count INTEGER NOT NULL)"
            }
            Table::Orders => {
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, product INTEGER NOT NULL,
                 qty INTEGER NOT NULL, price_cents INTEGER NOT NULL, at TEXT NOT NULL)"
            }
        }
    }

    /// Stock keeps the rollback journal: its writer's EXCLUSIVE lock blocks readers too, as
    /// `LOCK TABLES stock WRITE` did in the game day, so `/stock/{id}` really waits. The
    /// catalogue and the orders ledger use WAL: the price updater writes twice a second while
    /// pages read, and a lock on orders stops payments but not the stock reconciliation's
    /// snapshot read. (With WAL in a transaction, commits are atomic per file, not across files:
    /// the shop's files live in a temp dir that a crash discards, so only isolation matters.)
    fn journal_mode(self) -> &'static str {
        match self {
            Table::Stock => "DELETE",
            Table::Products | Table::Orders => "WAL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum DbError {
    #[error("database busy: the {tables} table is locked; gave up after {} ms", waited.as_millis())]
    Busy { tables: &'static str, waited: Duration },
    #[error("database: {0}")]
    Other(String),
}

impl DbError {
    fn from_sqlite(e: rusqlite::Error, tables: &'static str, waited: Duration) -> DbError {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::Busy { tables, waited },
            _ => DbError::Other(e.to_string()),
        }
    }
}

/// A row of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CatalogRow {
    pub id: u32,
    pub name: String,
    pub price_cents: u64,
    pub list_cents: u64,
}

/// A product whose stock count differs from what the orders say it should be.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(super) struct Drift {
    pub product: u32,
    pub count: i64,
    pub truth: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PayError {
    NoProduct,
    OutOfStock { available: i64 },
    Db(DbError),
}

impl From<DbError> for PayError {
    fn from(e: DbError) -> Self {
        PayError::Db(e)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Order {
    pub id: i64,
    pub total_cents: u64,
}

/// The database files in one directory. Every request opens its own connection (cheap for
/// SQLite, and it keeps a connection from carrying locks or schema state between requests).
#[derive(Debug, Clone)]
pub(super) struct Db {
    dir: PathBuf,
}

impl Db {
    /// Creates the three files and fills them from the catalogue asset.
    pub fn create(dir: &Path, products: &[Product]) -> Result<Db, String> {
        let db = Db { dir: dir.to_path_buf() };
        for table in [Table::Products, Table::Stock, Table::Orders] {
            let path = dir.join(table.file());
            let conn = Connection::open(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
            let mode: String = conn
                .query_row(&format!("PRAGMA journal_mode = {}", table.journal_mode()), [], |r| r.get(0))
                .map_err(|e| format!("{}: journal mode: {e}", path.display()))?;
            if !mode.eq_ignore_ascii_case(table.journal_mode()) {
                return Err(format!(
                    "{}: journal mode is {mode}, not {}",
                    path.display(),
                    table.journal_mode()
                ));
            }
            conn.execute_batch(table.schema()).map_err(|e| format!("{}: schema: {e}", path.display()))?;
            let seeded = match table {
                Table::Products => products.iter().try_for_each(|p| {
                    conn.execute(
                        "INSERT INTO products (id, name, price_cents, list_cents) VALUES (?1, ?2, ?3, ?3)",
                        params![p.id, p.name, p.price_cents],
                    )
                    .map(drop)
                }),
                Table::Stock => products.iter().try_for_each(|p| {
                    conn.execute(
                        "INSERT INTO stock (product, initial, count) VALUES (?1, ?2, ?2)",
                        params![p.id, p.stock],
                    )
                    .map(drop)
                }),
                Table::Orders => Ok(()),
            };
            seeded.map_err(|e| format!("{}: seeding: {e}", path.display()))?;
        }
        Ok(db)
    }

    /// A connection on `main` with `attach`ed tables, each under the schema `<table>_db`.
    fn open(&self, main: Table, attach: &[Table], busy: Duration) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(self.dir.join(main.file()), flags)?;
        conn.busy_timeout(busy)?;
        for t in attach {
            let path = self.dir.join(t.file());
            conn.execute(&format!("ATTACH DATABASE ?1 AS {}_db", t.name()), [path.to_string_lossy()])?;
        }
        Ok(conn)
    }

    /// The whole catalogue, by id.
    pub fn catalog(&self, busy: Duration) -> Result<Vec<CatalogRow>, DbError> {
        let run = || -> rusqlite::Result<Vec<CatalogRow>> {
            let conn = self.open(Table::Products, &[], busy)?;
            let mut stmt =
                conn.prepare("SELECT id, name, price_cents, list_cents FROM products ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(CatalogRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    price_cents: r.get(2)?,
                    list_cents: r.get(3)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| DbError::from_sqlite(e, "products", busy))
    }

    /// Changes a product's price in the catalogue.
    pub fn set_price(&self, id: u32, cents: u64) -> Result<(), DbError> {
        let run = || -> rusqlite::Result<()> {
            let conn = self.open(Table::Products, &[], REQUEST_BUSY)?;
            conn.execute("UPDATE products SET price_cents = ?2 WHERE id = ?1", params![id, cents])?;
            Ok(())
        };
        run().map_err(|e| DbError::from_sqlite(e, "products", REQUEST_BUSY))
    }

    /// The stock count of one product, as the stock table says (right or wrong).
    pub fn stock(&self, id: u32) -> Result<Option<i64>, DbError> {
        let run = || -> rusqlite::Result<Option<i64>> {
            let conn = self.open(Table::Stock, &[], REQUEST_BUSY)?;
            conn.query_row("SELECT count FROM stock WHERE product = ?1", [id], |r| r.get(0)).optional()
        };
        run().map_err(|e| DbError::from_sqlite(e, "stock", REQUEST_BUSY))
    }

    /// Records an order and takes its quantity off the stock, in one transaction.
    pub fn pay(&self, product: u32, qty: u32, price_cents: u64) -> Result<Order, PayError> {
        let run = || -> rusqlite::Result<Result<Order, PayError>> {
            let mut conn = self.open(Table::Stock, &[Table::Orders], REQUEST_BUSY)?;
            // IMMEDIATE takes both write locks up front: a read lock upgraded later could
            // deadlock with another payment, and SQLite answers that with BUSY at once.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let available: Option<i64> = tx
                .query_row("SELECT count FROM stock WHERE product = ?1", [product], |r| r.get(0))
                .optional()?;
            let Some(available) = available else { return Ok(Err(PayError::NoProduct)) };
            if available < i64::from(qty) {
                return Ok(Err(PayError::OutOfStock { available }));
            }
            tx.execute("UPDATE stock SET count = count - ?2 WHERE product = ?1", params![product, qty])?;
            tx.execute(
                "INSERT INTO orders (product, qty, price_cents, at) VALUES (?1, ?2, ?3, ?4)",
                params![product, qty, price_cents, chrono::Utc::now().to_rfc3339()],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(Ok(Order { id, total_cents: price_cents.saturating_mul(u64::from(qty)) }))
        };
        run().map_err(|e| PayError::Db(DbError::from_sqlite(e, "stock or orders", REQUEST_BUSY)))?
    }

    /// A real write to each table, rolled back: what a health check asks of the tables its
    /// service writes. Blocks (up to `busy`) exactly when that service's writes would.
    pub fn check_writable(&self, tables: &[Table], busy: Duration) -> Result<(), DbError> {
        let names = match tables {
            [Table::Stock] => "stock",
            [Table::Orders] => "orders",
            _ => "stock or orders",
        };
        let run = || -> rusqlite::Result<()> {
            let Some((main, rest)) = tables.split_first() else { return Ok(()) };
            let mut conn = self.open(*main, rest, busy)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for t in tables {
                let (name, col) = (t.name(), t.touch_column());
                tx.execute(
                    &format!("UPDATE {name} SET {col} = {col} WHERE rowid = (SELECT MIN(rowid) FROM {name})"),
                    [],
                )?;
            }
            tx.rollback()
        };
        run().map_err(|e| DbError::from_sqlite(e, names, busy))
    }

    /// Stock against the orders: every product whose count is not initial − ordered.
    pub fn reconcile(&self, busy: Duration) -> Result<Vec<Drift>, DbError> {
        let run = || -> rusqlite::Result<Vec<Drift>> {
            let conn = self.open(Table::Stock, &[Table::Orders], busy)?;
            let mut stmt = conn.prepare(
                "SELECT s.product, s.count,
                        s.initial - COALESCE((SELECT SUM(o.qty) FROM orders o WHERE o.product = s.product), 0)
                 FROM stock s ORDER BY s.product",
            )?;
            let rows =
                stmt.query_map([], |r| Ok(Drift { product: r.get(0)?, count: r.get(1)?, truth: r.get(2)? }))?;
            let mut drifted = Vec::new();
            for row in rows {
                let row = row?;
                if row.count != row.truth {
                    drifted.push(row);
                }
            }
            Ok(drifted)
        };
        run().map_err(|e| DbError::from_sqlite(e, "stock or orders", busy))
    }

    /// Sets every stock count back to the truth the orders give; returns how many changed.
    pub fn repair(&self) -> Result<usize, DbError> {
        let run = || -> rusqlite::Result<usize> {
            let conn = self.open(Table::Stock, &[Table::Orders], REQUEST_BUSY)?;
            conn.execute(
                "UPDATE stock SET count = initial
                   - COALESCE((SELECT SUM(o.qty) FROM orders o WHERE o.product = stock.product), 0)
                 WHERE count != initial
                   - COALESCE((SELECT SUM(o.qty) FROM orders o WHERE o.product = stock.product), 0)",
                [],
            )
        };
        run().map_err(|e| DbError::from_sqlite(e, "stock", REQUEST_BUSY))
    }

    /// Rewrites every stock count with a wrong value that changes with `round`. Above the
    /// initial stock, so always wrong (truth never exceeds it) without reading the orders.
    pub fn corrupt(&self, round: u64) -> Result<usize, DbError> {
        let run = || -> rusqlite::Result<usize> {
            let conn = self.open(Table::Stock, &[], REQUEST_BUSY)?;
            // The round is small (one per CORRUPT_EVERY); modulo keeps it in SQLite's i64.
            let round = (round % 1_000_003) as i64;
            conn.execute("UPDATE stock SET count = initial + 1 + ((?1 * 7 + product * 3) % 13)", [round])
        };
        run().map_err(|e| DbError::from_sqlite(e, "stock", REQUEST_BUSY))
    }

    /// Holds a real write lock on `table` (an open `BEGIN EXCLUSIVE` that rewrote the table)
    /// on a thread of its own, until the returned worker is stopped or dropped. Returns once
    /// the lock is held, so whoever asked can say so truthfully.
    pub fn hold_lock(&self, table: Table) -> Result<Worker, DbError> {
        let conn = self
            .open(table, &[], REQUEST_BUSY)
            .map_err(|e| DbError::from_sqlite(e, table.name(), REQUEST_BUSY))?;
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), DbError>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (name, col) = (table.name(), table.touch_column());
        let thread = std::thread::Builder::new()
            .name(format!("shop-lock-{name}"))
            .spawn(move || {
                let held = conn
                    .execute_batch(&format!("BEGIN EXCLUSIVE; UPDATE {name} SET {col} = {col};"))
                    .map_err(|e| DbError::from_sqlite(e, name, REQUEST_BUSY));
                let ok = held.is_ok();
                // If nobody waits any more, the lock is nobody's: let it go below.
                if ready_tx.send(held).is_ok() && ok {
                    // A message or a dropped sender both mean "release".
                    stop_rx.recv().ok();
                }
                // Closing the connection rolls the transaction back and frees the lock.
                drop(conn);
            })
            .map_err(|e| DbError::Other(format!("starting the lock holder: {e}")))?;
        let worker = Worker { stop: Some(stop_tx), thread: Some(thread) };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(worker),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(DbError::Other(format!("the lock holder for {name} died before locking"))),
        }
    }

    /// Starts rewriting the stock counts every [`CORRUPT_EVERY`] (after one rewrite now, so
    /// the symptom is there when this returns). Returns the worker and how many rows changed.
    pub fn start_corrupting(&self) -> Result<(Worker, usize), DbError> {
        let changed = self.corrupt(0)?;
        let db = self.clone();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("shop-stock-corruption".into())
            .spawn(move || {
                for round in 1.. {
                    match stop_rx.recv_timeout(CORRUPT_EVERY) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            // A round that meets a lock is skipped: the drift already written
                            // stays, and that drift is the fault.
                            if db.corrupt(round).is_err() {
                                continue;
                            }
                        }
                        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(|e| DbError::Other(format!("starting stock corruption: {e}")))?;
        Ok((Worker { stop: Some(stop_tx), thread: Some(thread) }, changed))
    }
}

/// A thread that works for a fault until told to stop: stopping waits for it to finish,
/// dropping only tells it (so the shop's drop never blocks).
#[derive(Debug)]
pub(super) struct Worker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Stops the thread and waits for it: once this returns, its lock is released or its
    /// last write is done. Blocking (up to a busy timeout): call it off the async threads.
    pub fn stop(mut self) -> Result<(), String> {
        drop(self.stop.take());
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Err(_)) => Err("a fault's worker thread panicked".into()),
            _ => Ok(()),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn products() -> Vec<Product> {
        (1..=3)
            .map(|id| Product {
                id,
                name: format!("p{id}"),
                price_cents: 1000 * u64::from(id),
                stock: 50,
                reviews: vec![],
            })
            .collect()
    }

    #[test]
    fn reconciliation_names_exactly_the_products_whose_stock_left_the_truth() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(dir.path(), &products()).unwrap();
        assert_eq!(db.reconcile(HEALTH_BUSY), Ok(vec![]), "a fresh shop is true");
        db.pay(1, 3, 1000).unwrap();
        db.pay(2, 5, 2000).unwrap();
        assert_eq!(db.reconcile(HEALTH_BUSY), Ok(vec![]), "orders move stock and truth together");
        assert_eq!(db.stock(1), Ok(Some(47)));

        // Someone rewrites one row behind the orders' back.
        let conn = db.open(Table::Stock, &[], REQUEST_BUSY).unwrap();
        conn.execute("UPDATE stock SET count = 60 WHERE product = 2", []).unwrap();
        assert_eq!(db.reconcile(HEALTH_BUSY), Ok(vec![Drift { product: 2, count: 60, truth: 45 }]));

        assert_eq!(db.corrupt(4), Ok(3));
        let drifted = db.reconcile(HEALTH_BUSY).unwrap();
        assert_eq!(drifted.iter().map(|d| d.product).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(drifted.iter().all(|d| d.count > d.truth), "{drifted:?}");

        assert_eq!(db.repair(), Ok(3));
        assert_eq!(db.reconcile(HEALTH_BUSY), Ok(vec![]));
        assert_eq!((db.stock(1), db.stock(2), db.stock(3)), (Ok(Some(47)), Ok(Some(45)), Ok(Some(50))));
    }

    #[test]
    fn payment_refuses_more_than_the_stock_and_unknown_products() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(dir.path(), &products()).unwrap();
        assert_eq!(db.pay(1, 51, 1000), Err(PayError::OutOfStock { available: 50 }));
        assert_eq!(db.pay(9, 1, 1000), Err(PayError::NoProduct));
        assert_eq!(db.pay(1, 2, 1000).map(|o| o.total_cents), Ok(2000));
    }

    #[test]
    fn a_held_stock_lock_blocks_stock_reads_but_not_orders_reads_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::create(dir.path(), &products()).unwrap();
        let lock = db.hold_lock(Table::Stock).unwrap();
        assert!(matches!(db.check_writable(&[Table::Stock], HEALTH_BUSY), Err(DbError::Busy { .. })));
        let read = db.open(Table::Stock, &[], HEALTH_BUSY).unwrap().query_row(
            "SELECT count FROM stock WHERE product = 1",
            [],
            |r| r.get::<_, i64>(0),
        );
        assert_eq!(read.map_err(|e| e.sqlite_error_code()), Err(Some(ErrorCode::DatabaseBusy)));
        assert_eq!(db.catalog(HEALTH_BUSY).map(|c| c.len()), Ok(3), "the catalogue is another table");
        lock.stop().unwrap();
        assert_eq!(db.stock(1), Ok(Some(50)));

        let lock = db.hold_lock(Table::Orders).unwrap();
        assert!(matches!(db.pay(1, 1, 1000), Err(PayError::Db(DbError::Busy { .. }))));
        assert_eq!(db.reconcile(HEALTH_BUSY), Ok(vec![]), "orders keep a readable snapshot under a lock");
        assert_eq!(db.stock(1), Ok(Some(50)));
        lock.stop().unwrap();
        assert!(db.pay(1, 1, 1000).is_ok());
    }
}
