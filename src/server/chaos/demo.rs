//! The `demo` driver: the demo shop's application faults, through its admin API (the shop runs
//! them for real: a held table lock, a stopped indexer, drifting stock). `clear` restores it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::driver::{DriverCx, Injected};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Injects `fault` with its fields, or clears every fault for `clear`.
pub async fn act(
    cx: &DriverCx,
    fault: &str,
    params: &BTreeMap<String, serde_json::Value>,
) -> Result<Injected, String> {
    let (Some(url), Some(token)) = (cx.config.demo_url.as_deref(), cx.config.demo_token.as_deref()) else {
        return Err("the demo driver needs [chaos] demo_url and demo_token (warroom demo sets them)".into());
    };
    let url = url.trim_end_matches('/');
    let request = if fault == "clear" {
        cx.http.delete(format!("{url}/admin/faults"))
    } else {
        let mut body = serde_json::Map::new();
        body.insert("fault".into(), fault.into());
        body.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
        cx.http.post(format!("{url}/admin/faults")).json(&body)
    };
    let response = request
        .bearer_auth(token)
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("demo shop at {url}: {}", crate::present::one_line(&e.to_string())))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    let said = body["detail"]
        .as_str()
        .or_else(|| body["error"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| text.chars().take(200).collect());
    let said = crate::present::one_line(&said);
    if status.is_success() {
        Ok(Injected::done(said))
    } else {
        Err(format!("demo shop answered {}: {said}", status.as_u16()))
    }
}
