//! The public status page (`/status`, `/status.json`): no auth, no JavaScript, readable on a
//! phone. It shows only what was published to it — never internal notes, titles or drills.

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::api::App;
use crate::model::comms::{Delivery, PublicStatus};
use crate::model::{Audience, Incident, State as WarState};

#[derive(Debug, Serialize)]
pub struct PublicUpdate {
    pub at: DateTime<Utc>,
    pub text: String,
    /// What this update said the incident's state was.
    pub status: PublicStatus,
}

#[derive(Debug, Serialize)]
pub struct PublicIncident {
    pub id: String,
    /// The status of its last published update: the page never runs ahead of what was said.
    pub status: PublicStatus,
    pub updates: Vec<PublicUpdate>,
}

#[derive(Debug, Serialize)]
pub struct Component {
    pub name: String,
    pub status: &'static str,
    /// True when a human set it; otherwise it follows its probe.
    pub manual: bool,
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub updated: DateTime<Utc>,
    pub components: Vec<Component>,
    pub incidents: Vec<PublicIncident>,
}

/// The updates published about an incident, oldest first. One sent before updates carried a
/// status (an old log) states the incident's status now, as the page used to.
fn published(inc: &Incident) -> Vec<PublicUpdate> {
    inc.messages
        .iter()
        .filter(|m| m.audience == Audience::StatusPage)
        .filter_map(|m| match m.delivery {
            Delivery::Delivered { at, .. } => Some(PublicUpdate {
                at,
                text: m.text.clone(),
                status: m.status.unwrap_or(PublicStatus::of(inc.status)),
            }),
            _ => None,
        })
        .collect()
}

/// The page's content: incidents with at least one published update, newest first.
pub fn page(state: &WarState, now: DateTime<Utc>) -> Page {
    let mut incidents: Vec<PublicIncident> = state
        .incidents
        .values()
        .filter(|i| !i.drill)
        .filter_map(|i| {
            let mut updates = published(i);
            let status = updates.last()?.status;
            updates.reverse();
            Some(PublicIncident { id: i.id.to_string(), status, updates })
        })
        .collect();
    incidents.sort_by_key(|i| std::cmp::Reverse(i.updates.first().map(|u| u.at)));
    let mut names: Vec<&String> = state.probes.keys().chain(state.components.keys()).collect();
    names.sort();
    names.dedup();
    let components = names
        .into_iter()
        .map(|name| match state.components.get(name) {
            Some(s) => Component { name: name.clone(), status: s.as_str(), manual: true },
            None => Component {
                name: name.clone(),
                status: state.probes.get(name).map_or("unknown", |p| p.health.component()),
                manual: false,
            },
        })
        .collect();
    Page { updated: now, components, incidents }
}

pub async fn json(State(app): State<App>) -> Json<Page> {
    Json(page(&app.hub().state(), Utc::now()))
}

/// The page's skeleton and stylesheet, kept in `assets/` where they can be read and edited as
/// HTML and CSS. `<!--warroom:…-->` marks where the server fills in.
const TEMPLATE: &str = include_str!("../../assets/status-page/status.html");
const STYLESHEET: &str = include_str!("../../assets/status-page/status.css");

/// Text for the page: HTML-escaped, and without control characters (a terminal reading the
/// page with `curl` would obey an ESC or an OSC 52 clipboard write; HTML has no use for them).
/// Line breaks and tabs stay: they are whitespace there.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub async fn html(State(app): State<App>) -> impl IntoResponse {
    let p = page(&app.hub().state(), Utc::now());
    let open = p.incidents.iter().filter(|i| i.status != PublicStatus::Fixed).count();
    let broken = p.components.iter().filter(|c| c.status != "operational" && c.status != "unknown").count();
    let banner = if open == 0 && broken == 0 {
        "<p class=\"ok\">All systems operational</p>".to_string()
    } else {
        format!("<p class=\"bad\">{open} ongoing incident{}</p>", if open == 1 { "" } else { "s" })
    };
    let mut body = String::new();
    if !p.components.is_empty() {
        body.push_str("<ul class=\"components\">");
        for c in &p.components {
            body.push_str(&format!(
                "<li><span>{}</span> <span class=\"st c-{}\">{}</span></li>",
                esc(&c.name),
                c.status,
                c.status.replace('_', " ")
            ));
        }
        body.push_str("</ul>");
    }
    for i in &p.incidents {
        body.push_str(&format!(
            "<section><h2>Incident {} <span class=\"st {}\">{}</span></h2><ol>",
            esc(&i.id),
            i.status,
            i.status
        ));
        for u in &i.updates {
            body.push_str(&format!(
                "<li><time datetime=\"{}\">{}</time> <span class=\"st {}\">{}</span><p>{}</p></li>",
                u.at.to_rfc3339(),
                u.at.format("%Y-%m-%d %H:%M UTC"),
                u.status,
                u.status,
                esc(&u.text)
            ));
        }
        body.push_str("</ol></section>");
    }
    // The page's own parts first, the published text last, so nothing in what was published
    // is ever read as a placeholder.
    Html(
        TEMPLATE
            .replace("<!--warroom:style-->", STYLESHEET.trim_end())
            .replace("<!--warroom:banner-->", &banner)
            .replace("<!--warroom:updated-->", &p.updated.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .replace("<!--warroom:body-->", &body),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_escapes_html_and_drops_control_characters() {
        assert_eq!(super::esc("<b>\"a&b\"</b>"), "&lt;b&gt;&quot;a&amp;b&quot;&lt;/b&gt;");
        assert_eq!(
            super::esc("cdn\u{1b}[2J\u{1b}]52;c;SGk=\u{7}\r"),
            "cdn\u{FFFD}[2J\u{FFFD}]52;c;SGk=\u{FFFD}\u{FFFD}"
        );
        assert_eq!(super::esc("line one\nline two"), "line one\nline two");
    }

    use super::*;

    #[test]
    fn the_template_in_assets_has_each_placeholder_once_and_the_stylesheet_no_markup() {
        for mark in ["style", "banner", "body", "updated"] {
            let mark = format!("<!--warroom:{mark}-->");
            assert_eq!(TEMPLATE.matches(&mark).count(), 1, "assets/status-page/status.html: {mark}");
        }
        assert!(!STYLESHEET.contains('<'), "assets/status-page/status.css would end the <style> element");
    }
}
