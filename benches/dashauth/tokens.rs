//! Access tokens (protocol.md section 9): `POST token/exchange` throughput at 64
//! connections with the server's CPU time per exchange, and what a mod's backend pays to
//! verify one JWT offline with a standard library (`jsonwebtoken`, EdDSA) against the
//! published JWKS.

use crate::capi::Client as CClient;
use crate::load::{self, LoadResult};
use crate::server::{Backend, Server};
use crate::throughput::{CONNECTIONS, DURATION};
use std::time::{Duration, Instant};

/// JWTs verified to time offline verification.
const VERIFICATIONS: u32 = 20_000;
/// The audience the benchmark exchanges for.
const AUDIENCE: &str = "bench.mod";

/// One exchange run.
pub struct ExchangeRun {
    pub load: LoadResult,
    /// Server CPU time per successful exchange.
    pub server_cpu: Duration,
}

/// A server with one login token to exchange.
pub struct ExchangeTarget {
    pub server: Server,
    token: String,
}

impl ExchangeTarget {
    /// Starts the server and logs in once through the C API.
    pub fn new(backend: &Backend) -> ExchangeTarget {
        let server = Server::start_on("tokens", backend);
        let client = CClient::new(&server.base_url(), &server.gd_url());
        let token = crate::login::run(&client, 1, 1)
            .token
            .expect("a login to exchange");
        ExchangeTarget { server, token }
    }

    /// One timed `token/exchange` run: every request the same login token, each answer a
    /// freshly signed JWT.
    pub fn exchange(&self) -> ExchangeRun {
        let addr = self.server.addr;
        let request = load::post_json(
            addr,
            "/token/exchange",
            &format!("Bearer {}", self.token),
            &format!("{{\"audience\":\"{AUDIENCE}\"}}"),
        );
        let cpu = self.server.cpu_time();
        let load = load::run(addr, CONNECTIONS, DURATION, |_, _| Some(request.clone()));
        let server_cpu =
            (self.server.cpu_time() - cpu) / u32::try_from(load.ok.max(1)).unwrap_or(u32::MAX);
        ExchangeRun { load, server_cpu }
    }

    /// Time to verify one access token with `jsonwebtoken` (signature, `iss`, `aud`,
    /// `exp`), the key already taken from the JWKS as a backend caches it.
    pub fn offline_verification(&self) -> Duration {
        let http = dashauth::http::Http::new(Duration::from_secs(10));
        let base = self.server.base_url();
        let body = format!("{{\"audience\":\"{AUDIENCE}\"}}");
        let reply = http
            .send(
                dashauth::http::Method::Post,
                &format!("{base}/token/exchange"),
                Some(&format!("Bearer {}", self.token)),
                Some(("application/json", &body)),
            )
            .expect("exchange");
        let reply: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
        let jwt = reply["data"]["access_token"].as_str().expect("a JWT");
        let jwks = http
            .send(
                dashauth::http::Method::Get,
                &format!("{base}/.well-known/jwks.json"),
                None,
                None,
            )
            .expect("JWKS");
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&jwks.body).expect("JWKS");
        let kid = jsonwebtoken::decode_header(jwt)
            .ok()
            .and_then(|h| h.kid)
            .expect("kid");
        let key =
            jsonwebtoken::DecodingKey::from_jwk(set.find(&kid).expect("published")).expect("key");
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[base.as_str()]);
        let started = Instant::now();
        for _ in 0..VERIFICATIONS {
            let claims =
                jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation).expect("valid");
            std::hint::black_box(claims);
        }
        started.elapsed() / VERIFICATIONS
    }
}
