//! Incidents on demand: summaries with filters and paging, one incident's full fold, and its
//! timeline by range. Clients hold closed incidents as summaries and ask here for the rest;
//! the server folds a closed incident again from the log's per-incident index.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::Json;
use serde::Deserialize;

use super::api::{App, HttpError};
use super::hub::View;
use super::writer::Caller;
use crate::model::{Incident, IncidentId, Severity};
use crate::protocol::{FullIncident, IncidentPage, IncidentSummary, TimelinePage};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_ENTRIES: u64 = 500;
pub const MAX_ENTRIES: u64 = 10_000;

/// `GET /api/v1/incidents?status=open&severity=sev1,sev2&drill=false&service=payment&q=checkout&offset=0&limit=100`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `open`, `closed` or `all` (the default).
    status: Option<String>,
    /// Comma-separated severities.
    severity: Option<String>,
    drill: Option<bool>,
    service: Option<String>,
    /// Words that must all appear in the title, any case.
    q: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// The query, or a 400 in our error shape naming what is wrong in it.
fn query<T: serde::de::DeserializeOwned + Default>(uri: &Uri) -> Result<T, HttpError> {
    if uri.query().is_none_or(str::is_empty) {
        return Ok(T::default());
    }
    Query::<T>::try_from_uri(uri).map(|Query(q)| q).map_err(|e| HttpError::bad_request(e.body_text()))
}

fn unknown(id: IncidentId) -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, "unknown_incident", format!("no incident {id}"))
}

fn parse_id(raw: &str) -> Result<IncidentId, HttpError> {
    raw.parse().map_err(HttpError::bad_request)
}

pub async fn list(State(app): State<App>, caller: Caller, uri: Uri) -> Result<Json<IncidentPage>, HttpError> {
    let q: ListQuery = query(&uri)?;
    let open = match q.status.as_deref() {
        None | Some("all") => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => {
            return Err(HttpError::bad_request(format!(
                "`status` must be open, closed or all, got `{other}`"
            )))
        }
    };
    let severities: Option<Vec<Severity>> = match q.severity.as_deref() {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|s| {
                    s.trim()
                        .parse::<Severity>()
                        .map_err(|e| HttpError::bad_request(format!("`severity`: {e}")))
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let words: Vec<String> = q.q.as_deref().unwrap_or("").split_whitespace().map(str::to_lowercase).collect();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(HttpError::bad_request(format!("`limit` must be between 1 and {MAX_LIMIT}")));
    }
    let offset = q.offset.unwrap_or(0);
    let matches = |i: &Incident| {
        open.is_none_or(|o| i.status.is_open() == o)
            && severities.as_ref().is_none_or(|s| s.contains(&i.severity))
            && q.drill.is_none_or(|d| i.drill == d)
            && q.service.as_ref().is_none_or(|s| i.services.contains(s))
            && (words.is_empty() || {
                let title = i.title.to_lowercase();
                words.iter().all(|w| title.contains(w.as_str()))
            })
    };
    let state = app.hub().state();
    let view = View::of(&state, &caller);
    let mut found: Vec<&Incident> = state
        .incidents
        .values()
        .map(|i| &**i)
        .filter(|i| {
            view.sees(super::hub::Readers { incident: i.private.then_some(i.id), plot: None }) && matches(i)
        })
        .collect();
    found.sort_by_key(|i| (!i.status.is_open(), i.severity, i.declared_at(), i.id));
    let total = found.len();
    let incidents = found.into_iter().skip(offset).take(limit).map(IncidentSummary::from).collect();
    Ok(Json(IncidentPage { log: app.hub().log, seq: state.seq, total, offset, incidents }))
}

/// Incident `id` in full as of a seq, as `caller` may see it. Open incidents are held in full;
/// closed ones are folded again from their own events, off the async threads.
async fn full(app: &App, caller: &Caller, id: IncidentId) -> Result<FullIncident, HttpError> {
    let seq = {
        let state = app.hub().state();
        let inc = state.incidents.get(&id).ok_or_else(|| unknown(id))?;
        // A hidden incident is answered exactly like a missing one.
        if !View::sees_incident(inc, caller) {
            return Err(unknown(id));
        }
        if inc.is_full() {
            return Ok(FullIncident { log: app.hub().log, seq: state.seq, incident: Incident::clone(inc) });
        }
        state.seq
    };
    let incident = app.fold_incident(id, seq).await?.ok_or_else(|| unknown(id))?;
    Ok(FullIncident { log: app.hub().log, seq, incident })
}

pub async fn one(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<FullIncident>, HttpError> {
    Ok(Json(full(&app, &caller, parse_id(&id)?).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineQuery {
    from: Option<u64>,
    limit: Option<u64>,
}

pub async fn timeline(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Json<TimelinePage>, HttpError> {
    let q: TimelineQuery = query(&uri)?;
    let limit = q.limit.unwrap_or(DEFAULT_ENTRIES);
    if limit == 0 || limit > MAX_ENTRIES {
        return Err(HttpError::bad_request(format!("`limit` must be between 1 and {MAX_ENTRIES}")));
    }
    let from = q.from.unwrap_or(0);
    let FullIncident { seq, incident, .. } = full(&app, &caller, parse_id(&id)?).await?;
    let total = incident.timeline_len();
    let start = usize::try_from(from).unwrap_or(usize::MAX);
    let entries = incident
        .timeline
        .into_iter()
        .skip(start)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(Json(TimelinePage { seq, total, from, entries }))
}
