//! A plain HTTP client for the tests of `herd serve` (loopback only, no TLS).

use serde_json::Value;
use ureq::RequestBuilder;

/// A client that reports 4xx and 5xx as answers, not as errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// GETs `url`, or POSTs `body` to it as JSON, with `token` as the bearer token when
/// given: the status and the answer, which must be JSON.
pub fn json(
    agent: &ureq::Agent,
    url: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    let answer = match body {
        Some(body) => with_token(agent.post(url), token)
            .header("Content-Type", "application/json")
            .send(body),
        None => with_token(agent.get(url), token).call(),
    };
    let mut answer = answer.unwrap_or_else(|e| panic!("no HTTP answer from {url}: {e}"));
    let status = answer.status().as_u16();
    let text = answer.body_mut().read_to_string().unwrap_or_default();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"));
    (status, value)
}

fn with_token<B>(request: RequestBuilder<B>, token: Option<&str>) -> RequestBuilder<B> {
    match token {
        Some(token) => request.header("Authorization", format!("Bearer {token}")),
        None => request,
    }
}
