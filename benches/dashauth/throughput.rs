//! Server throughput at 64 connections: `request_challenge`, and `client/me`
//! authenticated by a fresh single-use nonce per request (signed before the timed phase,
//! since each costs the client a millisecond of RSA). Also the server's CPU time per
//! request, from `/proc/PID/stat`.

use crate::capi::Client as CClient;
use crate::load::{self, LoadResult, Pool};
use crate::server::{Backend, Server};
use dashauth::client::{Client, Token};
use dashauth::device::Device;
use dashauth::keys::DeviceKey;
use dashauth::protocol::NonceHeader;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Connections of the load generator.
pub const CONNECTIONS: usize = 64;
/// Length of one timed phase.
pub const DURATION: Duration = Duration::from_secs(5);
/// Devices whose nonces `client/me` is called with.
const DEVICES: usize = 4;
/// Longest the nonce signing before one `client/me` run may take (two threads).
const SIGNING_BUDGET: Duration = Duration::from_secs(20);
/// Nonces at most per run: each device's timestamps must stay inside the ±30 s window.
const MAX_NONCES: usize = 120_000;

/// One run's figures.
pub struct Run {
    pub load: LoadResult,
    /// Server CPU time per successful request.
    pub server_cpu: Duration,
    /// Nonces available (client/me only).
    pub nonces: usize,
}

fn measured(server: &Server, f: impl FnOnce() -> LoadResult) -> (LoadResult, Duration) {
    let cpu = server.cpu_time();
    let load = f();
    let per = (server.cpu_time() - cpu) / u32::try_from(load.ok.max(1)).unwrap_or(u32::MAX);
    (load, per)
}

/// One `request_challenge` run against a fresh server (challenges pile up in the store,
/// and a fresh store keeps runs comparable).
pub fn request_challenge(backend: &Backend) -> Run {
    let server = Server::start_on("challenge", backend);
    let addr = server.addr;
    let (load, server_cpu) = measured(&server, || {
        load::run(addr, CONNECTIONS, DURATION, |c, seq| {
            let account = 1_000_000 + c as u64 * 10_000_000 + seq % 10_000_000;
            Some(load::get(
                addr,
                &format!("/request_challenge/{account}"),
                None,
            ))
        })
    });
    Run {
        load,
        server_cpu,
        nonces: 0,
    }
}

/// A server with `DEVICES` registered devices of one account.
pub struct NonceTarget {
    pub server: Server,
    devices: Vec<Device>,
    /// The last timestamp an earlier run signed: the server remembers used nonces for
    /// the window, so a later run must not sign any of them again.
    signed_until: AtomicI64,
}

impl NonceTarget {
    /// Starts the server, logs in through the C API and registers the devices.
    pub fn new(backend: &Backend) -> NonceTarget {
        let server = Server::start_on("nonce", backend);
        let token = {
            let client = CClient::new(&server.base_url(), &server.gd_url());
            let batch = crate::login::run(&client, 1, 1);
            batch.token.expect("a login for the device handshake")
        };
        let client = Client::new(&server.base_url()).expect("client");
        let token = Token::parse(&token).expect("token");
        let devices = (0..DEVICES)
            .map(|i| {
                let key = DeviceKey::generate().expect("key");
                Device::register(&client, &token, &key, &format!("bench {i}"), "linux")
                    .expect("handshake")
            })
            .collect();
        NonceTarget {
            server,
            devices,
            signed_until: AtomicI64::new(0),
        }
    }

    /// Signs as many nonces as fit the budget, timestamps centred on the coming run.
    fn sign_pool(&self) -> Pool {
        let key = self.devices[0].key();
        let calibration = Instant::now();
        for i in 0..50 {
            key.sign_nonce(i).expect("signs");
        }
        let per_signature = calibration.elapsed() / 50;
        let budget = (SIGNING_BUDGET * 2).as_secs_f64() / per_signature.as_secs_f64();
        let per_device = (budget as usize).min(MAX_NONCES) / DEVICES;
        let signing_time = per_signature * u32::try_from(per_device * DEVICES / 2).unwrap_or(0);
        let mid = dashauth::clock::now_ms()
            + i64::try_from((signing_time + DURATION / 2).as_millis()).unwrap_or(0)
            + 500;
        let first = (mid - i64::try_from(per_device / 2).unwrap_or(0))
            .max(self.signed_until.load(Ordering::Relaxed) + 1);
        self.signed_until.store(
            first + i64::try_from(per_device).unwrap_or(0),
            Ordering::Relaxed,
        );
        let addr = self.server.addr;
        // Two signing threads, each taking every other timestamp of every device.
        let halves: Vec<Vec<(usize, Vec<u8>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|half| {
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        for j in (half..per_device).step_by(2) {
                            for (d, device) in self.devices.iter().enumerate() {
                                let ts = first + j as i64;
                                let header = NonceHeader {
                                    device_id: device.id(),
                                    timestamp_ms: ts,
                                    signature: device.key().sign_nonce(ts).expect("signs"),
                                };
                                let request =
                                    load::get(addr, "/client/me", Some(&header.to_string()));
                                out.push((j * DEVICES + d, request));
                            }
                        }
                        out
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("signer"))
                .collect()
        });
        let mut all: Vec<(usize, Vec<u8>)> = halves.into_iter().flatten().collect();
        all.sort_by_key(|(i, _)| *i);
        Pool::new(all.into_iter().map(|(_, r)| r).collect())
    }

    /// One `client/me` run with fresh nonces.
    pub fn client_me(&self) -> Run {
        let pool = self.sign_pool();
        let nonces = pool.len();
        let (load, server_cpu) = measured(&self.server, || {
            load::run(self.server.addr, CONNECTIONS, DURATION, |_, _| pool.take())
        });
        Run {
            load,
            server_cpu,
            nonces,
        }
    }
}
