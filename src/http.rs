//! The one blocking HTTP transport, shared by the DashAuth client and everything that
//! talks to GD (the client's message, the server's bot). Non-2xx statuses are answers,
//! not errors: the callers decide what each status means.

use std::time::Duration;
use ureq::config::AutoHeaderValue;

/// Largest response body read; anything larger is a protocol error, not a memory spike.
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// An HTTP answer of any status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After`, in seconds, when the server sent one.
    pub retry_after_s: Option<u64>,
    /// The `Date` header as UNIX ms, when the server sent a valid one.
    pub date_ms: Option<i64>,
    /// The body as text (invalid UTF-8 is replaced).
    pub body: String,
}

/// Why no answer was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A blocking HTTP agent with a per-request timeout. Cheap to clone; connections are
/// pooled. Sends no User-Agent: GD's CDN rejects unusual agents.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
}

/// Methods the protocol uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// DELETE
    Delete,
}

impl Http {
    /// An agent whose every request (connect to last byte) ends within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(AutoHeaderValue::None)
            .max_redirects(0)
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Sends one request. `body` is `(content_type, bytes)`.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        authorization: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> Result<Response, TransportError> {
        let result = match (method, body) {
            (Method::Get, _) => with_auth(self.agent.get(url), authorization).call(),
            (Method::Delete, _) => with_auth(self.agent.delete(url), authorization).call(),
            (Method::Post, Some((content_type, bytes))) => {
                with_auth(self.agent.post(url), authorization)
                    .header("Content-Type", content_type)
                    .send(bytes)
            }
            (Method::Post, None) => with_auth(self.agent.post(url), authorization).send_empty(),
        };
        let mut response = result.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after_s = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let date_ms = response
            .headers()
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::clock::parse_http_date);
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(describe)?;
        Ok(Response {
            status,
            retry_after_s,
            date_ms,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// POSTs an `application/x-www-form-urlencoded` body.
    pub fn post_form(&self, url: &str, form: &str) -> Result<Response, TransportError> {
        self.send(
            Method::Post,
            url,
            None,
            Some(("application/x-www-form-urlencoded", form)),
        )
    }
}

fn with_auth<B>(
    req: ureq::RequestBuilder<B>,
    authorization: Option<&str>,
) -> ureq::RequestBuilder<B> {
    match authorization {
        Some(value) => req.header("Authorization", value),
        None => req,
    }
}

fn describe(e: ureq::Error) -> TransportError {
    TransportError(match e {
        ureq::Error::Timeout(t) => format!("request timed out ({t})"),
        ureq::Error::HostNotFound => "host not found (DNS)".to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::BodyExceedsLimit(n) => format!("response larger than {n} bytes"),
        other => other.to_string(),
    })
}
