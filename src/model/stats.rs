//! Incident statistics: counts, and median and p90 times to detect, acknowledge, mitigate and
//! recover, overall and by severity, service, failure class and drill vs real, with the series
//! the console's sparklines draw. Pure: the state and "now" come in; no clock, no I/O.
//!
//! - **Which incidents**: those declared (milestone `declared`) at or after `since` — all of
//!   them when `since` is `None`. A client's windowed state is enough: summaries keep the
//!   milestones, severity, services, drill flag and postmortem these read.
//! - **Metrics** are [`Incident::durations`] (FireFighter's definitions), in whole seconds.
//!   An incident lacking either milestone of a metric is left out of that metric and counted
//!   in its `missing`; one whose duration is negative (a milestone set before the one it is
//!   measured from, by a tired human) is left out and counted in its `inconsistent`. So for
//!   every metric `n + missing + inconsistent == incidents`.
//! - **Percentiles are nearest-rank**: of `n` values sorted ascending, the p-th percentile is
//!   the value at rank ⌈p/100 · n⌉ (ranks from 1; rank 1 when that is 0). The median is p50 by
//!   the same rule — the lower middle value when `n` is even, never a mean — so every figure
//!   shown is a time some incident really took. No values, no percentile (`null`).
//! - **Groups**: the incident's current severity; each of its services (an incident about
//!   several counts in each; one about none is in `(none)`); its postmortem's failure class
//!   (`(none)` without a postmortem or a class); `real` or `drill`.
//! - **Series**: the range cut into days (up to 31 days) or weeks (longer), from `since` (for
//!   all incidents, from the midnight before the first declaration) to `now`; per bucket the
//!   incidents declared in it and the median time to recover of those.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Incident, Severity, State};

/// The group key of incidents without a service, or without a failure class.
pub const NONE: &str = "(none)";

/// Longest span `--since` takes: a century is already every incident anyone has.
const MAX_SPAN_DAYS: i64 = 36_525;

/// Where a range of incidents starts: the last span of time, a day, or the beginning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    All,
    /// The last this long, up to now (positive, whole seconds).
    Last(Duration),
    /// From this day's midnight, UTC.
    Date(NaiveDate),
}

impl Since {
    /// The console's ranges, in the order its key cycles through them.
    pub const PRESETS: [Since; 4] = [
        Since::Last(Duration::days(7)),
        Since::Last(Duration::days(30)),
        Since::Last(Duration::days(90)),
        Since::All,
    ];

    /// The first declaration time counted at `now`; None counts every incident.
    pub fn start(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Since::All => None,
            // Spans are bounded when parsed; one built by hand past the calendar counts all.
            Since::Last(d) => now.checked_sub_signed(d),
            Since::Date(day) => Some(day.and_time(chrono::NaiveTime::MIN).and_utc()),
        }
    }

    /// The next of [`Since::PRESETS`] (the first after any other range).
    pub fn next_preset(self) -> Since {
        let at = Since::PRESETS.iter().position(|p| *p == self);
        at.map_or(Since::PRESETS[0], |i| Since::PRESETS[(i + 1) % Since::PRESETS.len()])
    }
}

impl fmt::Display for Since {
    /// What [`Since::from_str`] reads back: `all`, `2026-10-01`, or a span in its largest
    /// whole unit up to days (`30d`, `12h`, `90m`, `45s`; a week shows as `7d`, the way the
    /// console's ranges are named).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Since::All => f.write_str("all"),
            Since::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Since::Last(d) => {
                let secs = d.num_seconds();
                let unit =
                    [(86_400, "d"), (3600, "h"), (60, "m")].into_iter().find(|(size, _)| secs % size == 0);
                match unit {
                    Some((size, name)) => write!(f, "{}{name}", secs / size),
                    None => write!(f, "{secs}s"),
                }
            }
        }
    }
}

impl FromStr for Since {
    type Err = String;
    /// `12h`, `30d`, `2w` (or any duration the playbooks take, like `1h30m`), a date
    /// `YYYY-MM-DD`, or `all`.
    fn from_str(s: &str) -> Result<Since, String> {
        let text = s.trim();
        let bad = || format!("`{s}` is not a time span (like 12h, 30d, 2w), a date (2026-10-01) or `all`");
        if text.eq_ignore_ascii_case("all") {
            return Ok(Since::All);
        }
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Since::Date(day));
        }
        // Go's durations (the playbooks' syntax) stop at hours: days and weeks are read here.
        let secs: i128 = match text.char_indices().last() {
            Some((at, unit @ ('d' | 'w'))) => {
                let n: i128 = text[..at].parse().map_err(|_| bad())?;
                n.saturating_mul(if unit == 'd' { 86_400 } else { 604_800 })
            }
            _ => {
                let nanos = super::playbook::parse_go_duration(text).map_err(|_| bad())?;
                if nanos % 1_000_000_000 != 0 {
                    return Err(format!("`{s}` is not a whole number of seconds"));
                }
                nanos / 1_000_000_000
            }
        };
        if secs <= 0 {
            return Err(format!("`{s}` is not a positive time span"));
        }
        if secs > i128::from(MAX_SPAN_DAYS) * 86_400 {
            return Err(format!("`{s}` is longer than a century: use `all`"));
        }
        // Within a century, so it fits.
        i64::try_from(secs).ok().and_then(Duration::try_seconds).map(Since::Last).ok_or_else(bad)
    }
}

/// One metric over a group of incidents, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// Incidents measured.
    pub n: u64,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
    /// Incidents lacking a milestone this metric needs.
    pub missing: u64,
    /// Incidents whose duration came out negative: left out.
    pub inconsistent: u64,
}

/// The figures of one group of incidents (all of them, a severity, a service…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// `SEV1`, a service's name, a failure class, `(none)`, `real` or `drill`.
    pub key: String,
    pub incidents: u64,
    pub time_to_detect: Metric,
    pub time_to_acknowledge: Metric,
    pub time_to_mitigate: Metric,
    pub time_to_recover: Metric,
}

impl Group {
    /// The four metrics with their names, in the order they happen.
    pub fn metrics(&self) -> [(&'static str, &Metric); 4] {
        [
            ("detect", &self.time_to_detect),
            ("acknowledge", &self.time_to_acknowledge),
            ("mitigate", &self.time_to_mitigate),
            ("recover", &self.time_to_recover),
        ]
    }
}

/// How long one point of a series covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Day,
    Week,
}

impl Bucket {
    pub fn duration(self) -> Duration {
        match self {
            Bucket::Day => Duration::days(1),
            Bucket::Week => Duration::weeks(1),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }
}

/// Points over the range, oldest first, for sparklines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    pub bucket: Bucket,
    /// Where the first bucket starts; the last one ends at `until` (it may be partial).
    pub start: DateTime<Utc>,
    /// Incidents declared in each bucket.
    pub incidents: Vec<u64>,
    /// The median time to recover of those, when any was measured.
    pub median_time_to_recover_seconds: Vec<Option<i64>>,
}

/// Everything `warroom stats` prints and the console's stats pane draws.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// The earliest declaration counted; null: every incident.
    pub since: Option<DateTime<Utc>>,
    /// The "now" the range ends at.
    pub until: DateTime<Utc>,
    pub incidents: u64,
    pub real: u64,
    pub drills: u64,
    /// Still open now.
    pub open: u64,
    /// Incidents with at least one negative duration.
    pub inconsistent: u64,
    pub overall: Group,
    /// SEV1 first; severities without incidents are left out.
    pub by_severity: Vec<Group>,
    /// Most incidents first, then by name.
    pub by_service: Vec<Group>,
    /// Most incidents first, then by name; `(none)` for incidents without a class.
    pub by_failure_class: Vec<Group>,
    /// `real`, then `drill` (each only when it has incidents).
    pub by_kind: Vec<Group>,
    pub series: Series,
}

impl Stats {
    pub fn severity(&self, s: Severity) -> Option<&Group> {
        let key = s.to_string();
        self.by_severity.iter().find(|g| g.key == key)
    }
}

/// The p-th percentile (0–100) of `sorted` (ascending) by nearest rank; None when empty.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len() as u64;
    let rank = (u64::from(p.min(100)) * n).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// What one metric of one group has seen so far.
#[derive(Default)]
struct MetricAcc {
    values: Vec<i64>,
    missing: u64,
    inconsistent: u64,
}

impl MetricAcc {
    fn add(&mut self, d: Option<Duration>) {
        match d {
            None => self.missing += 1,
            Some(d) if d < Duration::zero() => self.inconsistent += 1,
            Some(d) => self.values.push(d.num_seconds()),
        }
    }

    fn finish(mut self) -> Metric {
        self.values.sort_unstable();
        Metric {
            n: self.values.len() as u64,
            median_seconds: percentile(&self.values, 50),
            p90_seconds: percentile(&self.values, 90),
            missing: self.missing,
            inconsistent: self.inconsistent,
        }
    }
}

#[derive(Default)]
struct GroupAcc {
    incidents: u64,
    metrics: [MetricAcc; 4],
}

impl GroupAcc {
    fn add(&mut self, d: &[Option<Duration>; 4]) {
        self.incidents += 1;
        for (acc, d) in self.metrics.iter_mut().zip(d) {
            acc.add(*d);
        }
    }

    fn finish(self, key: String) -> Group {
        let [detect, acknowledge, mitigate, recover] = self.metrics.map(MetricAcc::finish);
        Group {
            key,
            incidents: self.incidents,
            time_to_detect: detect,
            time_to_acknowledge: acknowledge,
            time_to_mitigate: mitigate,
            time_to_recover: recover,
        }
    }
}

fn finish_all(groups: BTreeMap<&str, GroupAcc>) -> Vec<Group> {
    let mut out: Vec<Group> = groups.into_iter().map(|(k, g)| g.finish(k.to_string())).collect();
    // Stable for equal counts: the map gave them in name order.
    out.sort_by_key(|g| std::cmp::Reverse(g.incidents));
    out
}

/// The statistics of the incidents in `state` declared at or after `since` (all of them when
/// None), as of `now`.
pub fn compute(state: &State, since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Stats {
    let counted: Vec<&Incident> = state
        .incidents
        .values()
        .map(|i| &**i)
        .filter(|i| since.is_none_or(|s| i.declared_at() >= s))
        .collect();
    let mut overall = GroupAcc::default();
    let mut severity: BTreeMap<Severity, GroupAcc> = BTreeMap::new();
    // Keys borrowed from the state: a year of incidents is not a year of string copies.
    let mut service: BTreeMap<&str, GroupAcc> = BTreeMap::new();
    let mut class: BTreeMap<&str, GroupAcc> = BTreeMap::new();
    let (mut real, mut drill) = (GroupAcc::default(), GroupAcc::default());
    let (mut open, mut inconsistent) = (0, 0);
    let series_start = since.unwrap_or_else(|| {
        let first = counted.iter().map(|i| i.declared_at()).min().unwrap_or(now);
        first.date_naive().and_time(chrono::NaiveTime::MIN).and_utc()
    });
    let bucket = if now - series_start <= Duration::days(31) { Bucket::Day } else { Bucket::Week };
    let width = bucket.duration().num_seconds();
    // At least one bucket; a range that starts in the future (a date ahead) has just that one.
    let span = (now - series_start).num_seconds().max(1);
    let buckets = usize::try_from((span + width - 1) / width).unwrap_or(1);
    let mut per_bucket: Vec<(u64, Vec<i64>)> = vec![(0, Vec::new()); buckets];
    for inc in &counted {
        let d = inc.durations();
        let d = [d.time_to_detect, d.time_to_acknowledge, d.time_to_mitigate, d.time_to_recover];
        overall.add(&d);
        severity.entry(inc.severity).or_default().add(&d);
        if inc.services.is_empty() {
            service.entry(NONE).or_default().add(&d);
        }
        // A service listed twice counts once.
        for (i, s) in inc.services.iter().enumerate() {
            if !inc.services[..i].contains(s) {
                service.entry(s.as_str()).or_default().add(&d);
            }
        }
        let failure = inc.postmortem.as_ref().and_then(|p| p.document.failure_class.as_deref());
        class.entry(failure.unwrap_or(NONE)).or_default().add(&d);
        if inc.drill { &mut drill } else { &mut real }.add(&d);
        open += u64::from(inc.status.is_open());
        inconsistent += u64::from(d.iter().flatten().any(|d| *d < Duration::zero()));
        // Declared after `now` (a clock ahead of ours): in the last bucket, not lost.
        let at = (inc.declared_at() - series_start).num_seconds().max(0) / width;
        let slot = &mut per_bucket[usize::try_from(at).unwrap_or(usize::MAX).min(buckets - 1)];
        slot.0 += 1;
        if let Some(ttr) = d[3].filter(|d| *d >= Duration::zero()) {
            slot.1.push(ttr.num_seconds());
        }
    }
    let (real_n, drills_n) = (real.incidents, drill.incidents);
    let by_kind = [("real", real), ("drill", drill)]
        .into_iter()
        .filter(|(_, g)| g.incidents > 0)
        .map(|(k, g)| g.finish(k.to_string()))
        .collect();
    let (incidents, median_ttr): (Vec<u64>, Vec<Option<i64>>) = per_bucket
        .into_iter()
        .map(|(n, mut ttr)| {
            ttr.sort_unstable();
            (n, percentile(&ttr, 50))
        })
        .unzip();
    Stats {
        since,
        until: now,
        incidents: overall.incidents,
        real: real_n,
        drills: drills_n,
        open,
        inconsistent,
        overall: overall.finish("all".to_string()),
        by_severity: severity.into_iter().map(|(s, g)| g.finish(s.to_string())).collect(),
        by_service: finish_all(service),
        by_failure_class: finish_all(class),
        by_kind,
        series: Series { bucket, start: series_start, incidents, median_time_to_recover_seconds: median_ttr },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::incident::Milestone;
    use crate::model::tests::{declare, t};
    use crate::model::{IncidentId, Intent};

    #[test]
    fn percentiles_by_nearest_rank_on_empty_one_two_odd_and_even_counts() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[], 90), None);
        assert_eq!(percentile(&[7], 0), Some(7));
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        // Two: the median is the lower one (rank ⌈1⌉), p90 the upper (rank ⌈1.8⌉ = 2).
        assert_eq!(percentile(&[3, 9], 50), Some(3));
        assert_eq!(percentile(&[3, 9], 90), Some(9));
        // Odd: the middle one; p90 of five is rank ⌈4.5⌉ = 5.
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 50), Some(3));
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 90), Some(5));
        // Even: the lower middle; p90 of ten is rank 9, of twenty rank 18.
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 50), Some(5));
        assert_eq!(percentile(&ten, 90), Some(9));
        let twenty: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&twenty, 90), Some(18));
        assert_eq!(percentile(&twenty, 100), Some(20));
        assert_eq!(percentile(&twenty, 250), Some(20), "past 100 is the largest");
    }

    #[test]
    fn since_reads_spans_dates_and_all_and_names_what_it_wants() {
        assert_eq!("30d".parse(), Ok(Since::Last(Duration::days(30))));
        assert_eq!("2w".parse(), Ok(Since::Last(Duration::weeks(2))));
        assert_eq!("12h".parse(), Ok(Since::Last(Duration::hours(12))));
        assert_eq!("1h30m".parse(), Ok(Since::Last(Duration::minutes(90))));
        assert_eq!(" ALL ".parse(), Ok(Since::All));
        let day = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        assert_eq!("2026-10-01".parse(), Ok(Since::Date(day)));
        for bad in ["", "d", "30x", "-3d", "0d", "2026-13-01", "1.5d", "500ms"] {
            let err = bad.parse::<Since>().unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
        assert!("99999999999999999999w".parse::<Since>().is_err());
        assert!("40000d".parse::<Since>().unwrap_err().contains("century"));
        for text in ["all", "7d", "30d", "12h", "90m", "45s", "2026-10-01"] {
            assert_eq!(text.parse::<Since>().unwrap().to_string(), text);
        }
        assert_eq!("2w".parse::<Since>().unwrap().to_string(), "14d");
        let now = t(0);
        assert_eq!(Since::All.start(now), None);
        assert_eq!(Since::Last(Duration::days(1)).start(now), Some(now - Duration::days(1)));
        assert_eq!(
            Since::Date(day).start(now),
            Some("2026-10-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap())
        );
        assert_eq!(Since::All.next_preset(), Since::PRESETS[0]);
        assert_eq!(Since::Date(day).next_preset(), Since::PRESETS[0]);
        assert_eq!(Since::PRESETS[0].next_preset(), Since::PRESETS[1]);
    }

    fn set(s: &mut State, id: IncidentId, m: Milestone, secs: u32) {
        crate::model::tests::run(
            s,
            "alice",
            Intent::SetMilestone { incident: id, milestone: m, time: t(secs) },
        )
        .unwrap();
    }

    #[test]
    fn groups_count_what_they_hold_and_leave_out_missing_and_negative_durations() {
        let mut s = State::default();
        let a = declare(&mut s, "a", Severity::Sev1);
        let b = declare(&mut s, "b", Severity::Sev1);
        let c = declare(&mut s, "c", Severity::Sev3);
        // a: started 100 s before declaration, detected 40 s after starting, recovered at 1000.
        set(&mut s, a, Milestone::Started, 0);
        set(&mut s, a, Milestone::Detected, 40);
        set(&mut s, a, Milestone::Recovered, 1000);
        // b: detected before it started (a typo): inconsistent, not a negative time.
        set(&mut s, b, Milestone::Started, 500);
        set(&mut s, b, Milestone::Detected, 400);
        let now = t(10_000);
        let st = compute(&s, None, now);
        assert_eq!((st.incidents, st.real, st.drills, st.open, st.inconsistent), (3, 3, 0, 3, 1));
        let detect = &st.overall.time_to_detect;
        assert_eq!((detect.n, detect.missing, detect.inconsistent), (1, 1, 1));
        assert_eq!((detect.median_seconds, detect.p90_seconds), (Some(40), Some(40)));
        assert_eq!(st.overall.time_to_recover.median_seconds, Some(1000));
        let keys: Vec<&str> = st.by_severity.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["SEV1", "SEV3"]);
        assert_eq!(st.severity(Severity::Sev3).map(|g| g.incidents), Some(1));
        assert_eq!(st.by_service[0].key, NONE);
        assert_eq!(st.by_failure_class[0].key, NONE);
        assert_eq!(st.by_kind.len(), 1);
        // Declared at or after `since` only: c was declared last.
        let since = s.incidents[&c].declared_at();
        let st = compute(&s, Some(since), now);
        assert_eq!(st.incidents, 1);
        assert_eq!(st.series.bucket, Bucket::Day);
        assert_eq!(st.series.incidents.iter().sum::<u64>(), 1);
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["overall"]["time_to_detect"]["median_seconds"], serde_json::Value::Null);
        assert_eq!(json["series"]["bucket"], "day");
    }

    #[test]
    fn an_empty_state_has_zero_counts_and_one_empty_bucket() {
        let st = compute(&State::default(), None, t(0));
        assert_eq!(st.incidents, 0);
        assert_eq!(st.overall.time_to_recover, Metric::default());
        assert!(st.by_severity.is_empty() && st.by_service.is_empty() && st.by_kind.is_empty());
        assert_eq!(st.series.incidents, [0]);
        assert_eq!(st.series.median_time_to_recover_seconds, [None]);
        // A range starting tomorrow still has its one bucket.
        let st = compute(&State::default(), Some(t(86_400)), t(0));
        assert_eq!(st.series.incidents.len(), 1);
    }
}
