//! The faults a villain can inject into the shop: each one checked from the admin API's flat
//! JSON, made real (a lock, a stopped port, a stalled indexer…), listed while active, and undone.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::db::{Table, Worker};
use super::{Shop, SERVICES};

/// Every fault's name, as the admin API and the scenarios spell it.
pub const FAULTS: [&str; 7] =
    ["table_lock", "latency", "error_rate", "degraded_page", "stock_corruption", "price_desync", "down"];
/// The longest delay a fault may add (latency, degraded page): a minute.
pub const MAX_DELAY_MS: u64 = 60_000;
/// How much slower a degraded product page is when the fault does not say.
pub const DEGRADED_MS: u64 = 800;
/// The sections a degraded product page drops.
pub const DROPPED_SECTIONS: [&str; 3] = ["recommendations", "reviews", "stock"];

/// One fault with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A connection holds `BEGIN EXCLUSIVE` on the table until cleared.
    TableLock { table: Table },
    /// Every request of the service waits `ms` first.
    Latency { service: &'static str, ms: u64 },
    /// That share of the service's requests (health included) answers `status`.
    ErrorRate { service: &'static str, status: u16, share: f64 },
    /// Product pages drop [`DROPPED_SECTIONS`] and answer `ms` late.
    DegradedPage { ms: u64 },
    /// Stock counts are rewritten with wrong values until cleared (which repairs them).
    StockCorruption,
    /// The search indexer stops consuming price updates.
    PriceDesync,
    /// The service's port refuses connections.
    Down { service: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// A missing or bad field, an unknown fault or service: the request is wrong (422).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// That fault is already active (409).
    #[error("{0}")]
    Conflict(String),
    /// The fault could not be made real, or undone (500): the shop says why.
    #[error("{0}")]
    Failed(String),
}

fn invalid(field: &str, reason: impl Into<String>) -> FaultError {
    FaultError::Invalid { field: field.into(), reason: reason.into() }
}

fn service_field(obj: &Map<String, Value>) -> Result<&'static str, FaultError> {
    let name = match obj.get("service") {
        None => return Err(invalid("service", format!("missing: one of {}", SERVICES.join(", ")))),
        Some(v) => v.as_str().ok_or_else(|| invalid("service", "must be a string"))?,
    };
    SERVICES.iter().copied().find(|s| *s == name).ok_or_else(|| {
        invalid("service", format!("unknown service `{name}` (one of {})", SERVICES.join(", ")))
    })
}

fn ms_field(obj: &Map<String, Value>, default: Option<u64>) -> Result<u64, FaultError> {
    let ms = match (obj.get("ms"), default) {
        (None, Some(d)) => d,
        (None, None) => return Err(invalid("ms", format!("missing: milliseconds, 1 to {MAX_DELAY_MS}"))),
        (Some(v), _) => v.as_u64().ok_or_else(|| invalid("ms", "must be a whole number of milliseconds"))?,
    };
    if ms > MAX_DELAY_MS || (ms == 0 && default.is_none()) {
        return Err(invalid("ms", format!("{ms} is out of range: 1 to {MAX_DELAY_MS}")));
    }
    Ok(ms)
}

impl Fault {
    /// Reads a fault from the admin API's flat JSON (`{"fault": "latency", "service":
    /// "payment", "ms": 1500}`). Strict: an unknown field is refused, so a typo never injects
    /// a fault with a default where the villain meant something else.
    pub fn parse(v: &Value) -> Result<Fault, FaultError> {
        let obj = v.as_object().ok_or_else(|| {
            invalid("fault", "expected a JSON object such as {\"fault\": \"price_desync\"}")
        })?;
        let name = match obj.get("fault") {
            None => return Err(invalid("fault", format!("missing: one of {}", FAULTS.join(", ")))),
            Some(v) => v.as_str().ok_or_else(|| invalid("fault", "must be a string"))?,
        };
        let fields: &[&str] = match name {
            "table_lock" => &["table"],
            "latency" => &["service", "ms"],
            "error_rate" => &["service", "status", "share"],
            "degraded_page" => &["ms"],
            "stock_corruption" | "price_desync" => &[],
            "down" => &["service"],
            other => {
                return Err(invalid(
                    "fault",
                    format!("unknown fault `{other}` (one of {}, or clear)", FAULTS.join(", ")),
                ))
            }
        };
        if let Some(extra) = obj.keys().find(|k| *k != "fault" && !fields.contains(&k.as_str())) {
            let known = if fields.is_empty() { "none".to_string() } else { fields.join(", ") };
            return Err(invalid(extra, format!("not a field of {name} (its fields: {known})")));
        }
        Ok(match name {
            "table_lock" => {
                let table = match obj.get("table").map(|t| t.as_str()) {
                    None => return Err(invalid("table", "missing: stock or orders")),
                    Some(Some("stock")) => Table::Stock,
                    Some(Some("orders")) => Table::Orders,
                    Some(Some(other)) => {
                        return Err(invalid("table", format!("unknown table `{other}` (stock or orders)")))
                    }
                    Some(None) => return Err(invalid("table", "must be a string: stock or orders")),
                };
                Fault::TableLock { table }
            }
            "latency" => Fault::Latency { service: service_field(obj)?, ms: ms_field(obj, None)? },
            "error_rate" => {
                let service = service_field(obj)?;
                let status = match obj.get("status") {
                    None => return Err(invalid("status", "missing: an HTTP error status, 400 to 599")),
                    Some(v) => v.as_u64().ok_or_else(|| invalid("status", "must be a whole number"))?,
                };
                if !(400..=599).contains(&status) {
                    return Err(invalid("status", format!("{status} is not an error status (400 to 599)")));
                }
                let share = match obj.get("share") {
                    None => 1.0,
                    Some(v) => {
                        v.as_f64().ok_or_else(|| invalid("share", "must be a number from 0.0 to 1.0"))?
                    }
                };
                if !(0.0..=1.0).contains(&share) {
                    return Err(invalid("share", format!("{share} is out of range: 0.0 to 1.0")));
                }
                // Checked above: 400..=599 fits.
                Fault::ErrorRate { service, status: status as u16, share }
            }
            "degraded_page" => Fault::DegradedPage { ms: ms_field(obj, Some(DEGRADED_MS))? },
            "stock_corruption" => Fault::StockCorruption,
            "price_desync" => Fault::PriceDesync,
            _ => Fault::Down { service: service_field(obj)? },
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Fault::TableLock { .. } => "table_lock",
            Fault::Latency { .. } => "latency",
            Fault::ErrorRate { .. } => "error_rate",
            Fault::DegradedPage { .. } => "degraded_page",
            Fault::StockCorruption => "stock_corruption",
            Fault::PriceDesync => "price_desync",
            Fault::Down { .. } => "down",
        }
    }

    /// What the fault acts on, when it acts on one of several things.
    fn target(&self) -> Option<&'static str> {
        match self {
            Fault::TableLock { table } => Some(table.name()),
            Fault::Latency { service, .. } | Fault::ErrorRate { service, .. } | Fault::Down { service } => {
                Some(service)
            }
            _ => None,
        }
    }

    /// Two faults clash when they are the same kind on the same target: the second would
    /// overwrite the first, and clearing one would silently clear both.
    pub fn clashes(&self, other: &Fault) -> bool {
        self.name() == other.name() && self.target() == other.target()
    }

    /// The fault as the admin API lists it: flat, in the same spelling it was injected with.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "fault": self.name() });
        match self {
            Fault::TableLock { table } => v["table"] = json!(table.name()),
            Fault::Latency { service, ms } => {
                v["service"] = json!(service);
                v["ms"] = json!(ms);
            }
            Fault::ErrorRate { service, status, share } => {
                v["service"] = json!(service);
                v["status"] = json!(status);
                v["share"] = json!(share);
            }
            Fault::DegradedPage { ms } => v["ms"] = json!(ms),
            Fault::Down { service } => v["service"] = json!(service),
            Fault::StockCorruption | Fault::PriceDesync => {}
        }
        v
    }
}

/// What keeps a fault going, when something must (a thread holding a lock, a corrupter).
#[derive(Debug)]
enum Hold {
    Nothing,
    Worker(Worker),
}

/// An injected fault, until cleared.
#[derive(Debug)]
pub(super) struct Active {
    fault: Fault,
    since: DateTime<Utc>,
    hold: Hold,
}

/// Undo order for a full clear: locks first (a repair needs the stock table), the stock
/// repair last (after anything that could still write stock).
fn undo_rank(f: &Fault) -> u8 {
    match f {
        Fault::TableLock { .. } => 0,
        Fault::StockCorruption => 2,
        _ => 1,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, FaultError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(FaultError::Failed),
        Err(e) => Err(FaultError::Failed(format!("fault task failed: {e}"))),
    }
}

impl Shop {
    /// Injects a fault from its flat JSON (`{"fault": "table_lock", "table": "stock"}`) and
    /// returns the line a human reads on the timeline. `{"fault": "clear"}` clears them all.
    /// A fault of the same kind on the same target already active is a conflict.
    pub async fn inject(&self, fault: Value) -> Result<String, FaultError> {
        if fault.get("fault").and_then(Value::as_str) == Some("clear") {
            if let Some(extra) = fault.as_object().and_then(|o| o.keys().find(|k| *k != "fault")) {
                return Err(invalid(extra, "not a field of clear (it has none)"));
            }
            return self.clear(None).await;
        }
        let fault = Fault::parse(&fault)?;
        let mut active = self.faults.lock().await;
        if let Some(a) = active.iter().find(|a| a.fault.clashes(&fault)) {
            return Err(FaultError::Conflict(format!(
                "{} is already active since {}: clear it first (DELETE /admin/faults/{})",
                describe_short(&a.fault),
                a.since.to_rfc3339_opts(SecondsFormat::Secs, true),
                a.fault.name()
            )));
        }
        let (hold, detail) = self.make_real(&fault).await?;
        active.push(Active { fault, since: Utc::now(), hold });
        Ok(detail)
    }

    /// Clears one kind of fault (`Some("latency")`: every latency fault) or, with `None` or
    /// `Some("clear")`, every fault, and then restores the whole shop: stock repaired from the
    /// orders, every service up, indexer running. Returns the line for the timeline.
    pub async fn clear(&self, which: Option<&str>) -> Result<String, FaultError> {
        match which {
            None | Some("clear") => self.clear_where(|_| true, "clear").await,
            Some(name) if FAULTS.contains(&name) => self.clear_where(|f| f.name() == name, name).await,
            Some(other) => Err(invalid(
                "fault",
                format!("unknown fault `{other}` (one of {}, or clear)", FAULTS.join(", ")),
            )),
        }
    }

    /// The active faults, flat, each with the time it was injected (`since`, RFC 3339).
    pub async fn faults(&self) -> Vec<Value> {
        self.faults
            .lock()
            .await
            .iter()
            .map(|a| {
                let mut v = a.fault.to_json();
                v["since"] = json!(a.since.to_rfc3339_opts(SecondsFormat::Secs, true));
                v
            })
            .collect()
    }

    /// The old admin endpoints (stop, start, latency/MS) keep working through the same
    /// register, so `GET /admin/faults` and a full clear see what they did. Idempotent.
    pub(super) async fn set_down(&self, service: &'static str, down: bool) -> Result<String, FaultError> {
        let active = self.faults.lock().await.iter().any(|a| a.fault == Fault::Down { service });
        match (down, active) {
            // Two stops at once: the second finds the first's fault, which is what it wanted.
            (true, false) => match self.inject(Fault::Down { service }.to_json()).await {
                Err(FaultError::Conflict(_)) => Ok(format!("{service} already down")),
                other => other,
            },
            (false, true) => self.clear_where(|f| *f == Fault::Down { service }, "down").await,
            (true, true) => Ok(format!("{service} already down")),
            (false, false) => {
                // Not ours to know why it stopped (a failed restart?): start it anyway.
                self.start_service(service).await.map_err(|e| FaultError::Failed(format!("{e:#}")))?;
                Ok(format!("{service} running"))
            }
        }
    }

    pub(super) async fn set_latency(&self, service: &'static str, ms: u64) -> Result<String, FaultError> {
        self.clear_where(|f| matches!(f, Fault::Latency { service: s, .. } if *s == service), "latency")
            .await?;
        match ms {
            0 => Ok(format!("{service} latency removed")),
            ms => self.inject(Fault::Latency { service, ms: ms.min(MAX_DELAY_MS) }.to_json()).await,
        }
    }

    async fn make_real(&self, fault: &Fault) -> Result<(Hold, String), FaultError> {
        let state = &self.state;
        let knobs = |service: &str| self.services.get(service).map(|s| s.knobs.clone());
        let detail = match fault {
            Fault::TableLock { table } => {
                let (db, table) = (state.db.clone(), *table);
                let worker = blocking(move || db.hold_lock(table).map_err(|e| e.to_string())).await?;
                let blocked = match table {
                    Table::Stock => "/stock and /pay",
                    _ => "/pay",
                };
                let detail = format!(
                    "{} table locked (BEGIN EXCLUSIVE held): requests to {blocked} wait {} s for the lock, then answer 503",
                    table.name(),
                    super::db::REQUEST_BUSY.as_secs()
                );
                return Ok((Hold::Worker(worker), detail));
            }
            Fault::Latency { service, ms } => {
                if let Some(k) = knobs(service) {
                    k.set_latency(*ms);
                }
                format!("{service} answers every request {ms} ms late")
            }
            Fault::ErrorRate { service, status, share } => {
                if let Some(k) = knobs(service) {
                    k.set_errors(Some((*status, *share)));
                }
                format!(
                    "{service} answers {status} to {:.0}% of requests, health checks included",
                    share * 100.0
                )
            }
            Fault::DegradedPage { ms } => {
                state.set_degraded(Some(*ms));
                format!("product pages drop {} and answer {ms} ms late", DROPPED_SECTIONS.join(", "))
            }
            Fault::StockCorruption => {
                let db = state.db.clone();
                let (worker, changed) =
                    blocking(move || db.start_corrupting().map_err(|e| e.to_string())).await?;
                let detail = format!("stock counts rewritten with wrong values ({changed} products drifted), and again every 500 ms");
                return Ok((Hold::Worker(worker), detail));
            }
            Fault::PriceDesync => {
                state.prices.pause();
                "search indexer stopped consuming price updates; the updater keeps changing prices"
                    .to_string()
            }
            Fault::Down { service } => {
                self.stop_service(service).await.map_err(|e| FaultError::Failed(format!("{e:#}")))?;
                let addr = self.services.get(service).map(|s| s.addr.to_string()).unwrap_or_default();
                format!("{service} stopped: {addr} refuses connections")
            }
        };
        Ok((Hold::Nothing, detail))
    }

    /// Undoes one fault; on failure the fault stays listed (its worker already stopped), so
    /// another clear retries what is left.
    async fn undo(&self, active: &mut Active) -> Result<String, FaultError> {
        let state = &self.state;
        if let Hold::Worker(worker) = std::mem::replace(&mut active.hold, Hold::Nothing) {
            blocking(move || worker.stop()).await?;
        }
        Ok(match &active.fault {
            Fault::TableLock { table } => format!("{} table unlocked", table.name()),
            Fault::Latency { service, .. } => {
                if let Some(s) = self.services.get(service) {
                    s.knobs.set_latency(0);
                }
                format!("{service} latency removed")
            }
            Fault::ErrorRate { service, .. } => {
                if let Some(s) = self.services.get(service) {
                    s.knobs.set_errors(None);
                }
                format!("{service} errors stopped")
            }
            Fault::DegradedPage { .. } => {
                state.set_degraded(None);
                "product pages whole again".to_string()
            }
            Fault::StockCorruption => {
                let db = state.db.clone();
                let fixed =
                    blocking(move || db.repair().map_err(|e| format!("stock not repaired: {e}"))).await?;
                format!("stock corruption stopped; {fixed} products repaired from the orders")
            }
            Fault::PriceDesync => {
                let behind = state.prices.resume();
                format!("search indexer resumed, catching up on {behind} price updates")
            }
            Fault::Down { service } => {
                self.start_service(service).await.map_err(|e| FaultError::Failed(format!("{e:#}")))?;
                format!("{service} running again")
            }
        })
    }

    async fn clear_where(&self, matches: impl Fn(&Fault) -> bool, what: &str) -> Result<String, FaultError> {
        let mut active = self.faults.lock().await;
        let mut chosen: Vec<Active> = Vec::new();
        let mut kept: Vec<Active> = Vec::new();
        for a in active.drain(..) {
            if matches(&a.fault) {
                chosen.push(a);
            } else {
                kept.push(a);
            }
        }
        chosen.sort_by_key(|a| undo_rank(&a.fault));
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for mut a in chosen {
            match self.undo(&mut a).await {
                Ok(d) => done.push(d),
                Err(e) => {
                    failed.push(format!("{}: {e}", describe_short(&a.fault)));
                    kept.push(a);
                }
            }
        }
        *active = kept;
        if what == "clear" && failed.is_empty() {
            // Whatever the register says, a full clear leaves the shop whole: every service
            // up, the indexer running, stock true (a repair changes nothing on a true stock).
            for service in SERVICES {
                self.start_service(service).await.map_err(|e| FaultError::Failed(format!("{e:#}")))?;
            }
            state_restore(self);
            let db = self.state.db.clone();
            let fixed = blocking(move || db.repair().map_err(|e| format!("stock not repaired: {e}"))).await?;
            if fixed > 0 {
                done.push(format!("{fixed} stock counts repaired"));
            }
        }
        if !failed.is_empty() {
            let mut line = format!("could not clear {}", failed.join("; "));
            if !done.is_empty() {
                line.push_str(&format!(" (done: {})", done.join("; ")));
            }
            return Err(FaultError::Failed(line));
        }
        Ok(match (done.is_empty(), what) {
            (true, "clear") => "shop restored: no fault was active".to_string(),
            (true, name) => format!("nothing to clear: no {name} active"),
            (false, _) => done.join("; "),
        })
    }
}

/// The knobs a full clear resets even if no fault in the register set them.
fn state_restore(shop: &Shop) {
    for s in shop.services.values() {
        s.knobs.set_latency(0);
        s.knobs.set_errors(None);
    }
    shop.state.set_degraded(None);
    shop.state.prices.resume();
}

/// "latency on payment", "table_lock on stock", "price_desync".
fn describe_short(f: &Fault) -> String {
    match f.target() {
        Some(t) => format!("{} on {t}", f.name()),
        None => f.name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(v: Value) -> String {
        match Fault::parse(&v) {
            Err(FaultError::Invalid { field, .. }) => field,
            other => panic!("{v} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn each_fault_reads_from_its_flat_json_and_lists_the_same_way() {
        let cases = [
            json!({"fault": "table_lock", "table": "stock"}),
            json!({"fault": "table_lock", "table": "orders"}),
            json!({"fault": "latency", "service": "payment", "ms": 1500}),
            json!({"fault": "error_rate", "service": "payment", "status": 502, "share": 0.5}),
            json!({"fault": "degraded_page", "ms": 800}),
            json!({"fault": "stock_corruption"}),
            json!({"fault": "price_desync"}),
            json!({"fault": "down", "service": "search"}),
        ];
        for v in cases {
            let f = Fault::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(f.to_json(), v, "round trip");
        }
        assert_eq!(
            Fault::parse(&json!({"fault": "degraded_page"})),
            Ok(Fault::DegradedPage { ms: DEGRADED_MS })
        );
        assert_eq!(
            Fault::parse(&json!({"fault": "error_rate", "service": "stock", "status": 503})),
            Ok(Fault::ErrorRate { service: "stock", status: 503, share: 1.0 })
        );
    }

    #[test]
    fn a_bad_or_missing_field_is_refused_by_its_name() {
        assert_eq!(field_of(json!("table_lock")), "fault");
        assert_eq!(field_of(json!({})), "fault");
        assert_eq!(field_of(json!({"fault": 3})), "fault");
        assert_eq!(field_of(json!({"fault": "meteor"})), "fault");
        assert_eq!(field_of(json!({"fault": "table_lock"})), "table");
        assert_eq!(field_of(json!({"fault": "table_lock", "table": "users"})), "table");
        assert_eq!(field_of(json!({"fault": "latency", "service": "payment"})), "ms");
        assert_eq!(field_of(json!({"fault": "latency", "service": "payment", "ms": 60_001})), "ms");
        assert_eq!(field_of(json!({"fault": "latency", "service": "payment", "ms": 0})), "ms");
        assert_eq!(field_of(json!({"fault": "latency", "service": "payment", "ms": -5})), "ms");
        assert_eq!(field_of(json!({"fault": "latency", "ms": 10})), "service");
        assert_eq!(field_of(json!({"fault": "down", "service": "checkout"})), "service");
        assert_eq!(field_of(json!({"fault": "error_rate", "service": "payment"})), "status");
        assert_eq!(field_of(json!({"fault": "error_rate", "service": "payment", "status": 200})), "status");
        assert_eq!(
            field_of(json!({"fault": "error_rate", "service": "payment", "status": 502, "share": 1.5})),
            "share"
        );
        assert_eq!(
            field_of(json!({"fault": "error_rate", "service": "payment", "status": 502, "share": "half"})),
            "share"
        );
        assert_eq!(field_of(json!({"fault": "degraded_page", "ms": 90_000})), "ms");
        assert_eq!(field_of(json!({"fault": "price_desync", "service": "search"})), "service");
        assert_eq!(field_of(json!({"fault": "down", "service": "search", "servce": "x"})), "servce");
    }

    #[test]
    fn the_same_kind_on_the_same_target_clashes_and_nothing_else() {
        let lat = |service, ms| Fault::Latency { service, ms };
        assert!(lat("payment", 10).clashes(&lat("payment", 900)));
        assert!(!lat("payment", 10).clashes(&lat("stock", 10)));
        assert!(!lat("payment", 10).clashes(&Fault::Down { service: "payment" }));
        assert!(Fault::PriceDesync.clashes(&Fault::PriceDesync));
        assert!(!Fault::TableLock { table: Table::Stock }.clashes(&Fault::TableLock { table: Table::Orders }));
    }
}
