//! Request latency histograms by route, for `/metrics`. The label is the matched route
//! template (`/request_challenge/{account_id}`), never the raw path, so a client cannot
//! create series; requests that match no route share the `unmatched` series. Recording is
//! lock-free: a route takes a lock once, the first time it is seen, to claim its slot.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// Upper bounds of the buckets, in seconds: from loopback-fast answers to the longest
/// `challenge_complete` long poll (10 s).
pub const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// The series of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";
/// Route templates tracked at most; the server has about a dozen. Later ones (there are
/// none today) would share the [`UNMATCHED`] series rather than grow without bound.
const MAX_ROUTES: usize = 32;

/// One histogram. Buckets hold per-bucket (not cumulative) counts; +Inf is the last.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A copy of one histogram, cumulative as Prometheus wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Observations at or below each of [`BUCKETS`], then all of them (+Inf).
    pub cumulative: Vec<u64>,
    /// Sum of the observations, in seconds.
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

impl Histogram {
    /// Records one observation of `nanos` nanoseconds.
    pub fn observe(&self, nanos: u64) {
        let seconds = nanos as f64 / 1e9;
        let bucket = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

#[derive(Debug, Default)]
struct Series {
    route: OnceLock<Box<str>>,
    histogram: Histogram,
}

/// Latency histograms, one per route template seen so far.
#[derive(Debug)]
pub struct RouteLatency {
    series: [Series; MAX_ROUTES],
    unmatched: Histogram,
    claim: Mutex<()>,
}

impl Default for RouteLatency {
    fn default() -> Self {
        RouteLatency {
            series: std::array::from_fn(|_| Series::default()),
            unmatched: Histogram::default(),
            claim: Mutex::new(()),
        }
    }
}

impl RouteLatency {
    fn find(&self, route: &str) -> Result<&Histogram, usize> {
        for (i, series) in self.series.iter().enumerate() {
            match series.route.get() {
                Some(r) if **r == *route => return Ok(&series.histogram),
                Some(_) => {}
                None => return Err(i),
            }
        }
        Err(MAX_ROUTES)
    }

    /// The histogram of `route` (a template, or `None` for an unmatched request).
    pub fn histogram(&self, route: Option<&str>) -> &Histogram {
        let Some(route) = route else {
            return &self.unmatched;
        };
        if let Ok(found) = self.find(route) {
            return found;
        }
        // First sighting: claim a slot under the lock, so two threads cannot claim the
        // same route twice.
        let _claim = self.claim.lock().unwrap_or_else(PoisonError::into_inner);
        match self.find(route) {
            Ok(found) => found,
            Err(free) => match self.series.get(free) {
                Some(series) => {
                    let _ = series.route.set(route.into());
                    &series.histogram
                }
                None => &self.unmatched,
            },
        }
    }

    /// Every series: `(route label, counts)`, routes in order of first sighting, then
    /// [`UNMATCHED`].
    pub fn snapshot(&self) -> Vec<(String, HistogramSnapshot)> {
        self.series
            .iter()
            .map_while(|s| Some((s.route.get()?.to_string(), s.histogram.snapshot())))
            .chain([(UNMATCHED.to_string(), self.unmatched.snapshot())])
            .collect()
    }
}

/// Middleware: times each request from arrival to response head under its route's
/// template. Layered with `Router::layer`, which runs it inside routing, where axum has
/// already put the [`MatchedPath`] in the request.
pub async fn measure(
    State(latency): State<Arc<RouteLatency>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    latency
        .histogram(route.as_ref().map(MatchedPath::as_str))
        .observe(nanos);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let h = Histogram::default();
        h.observe(50_000); // 50 µs: first bucket
        h.observe(2_000_000); // 2 ms: the 2.5 ms bucket
        h.observe(60_000_000_000); // 60 s: only +Inf
        let s = h.snapshot();
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[3], 1);
        assert_eq!(s.cumulative[4], 2);
        assert_eq!(s.cumulative[BUCKETS.len() - 1], 2);
        assert_eq!(s.count(), 3);
        assert!((s.sum_seconds - 60.00205).abs() < 1e-9);
    }

    #[test]
    fn each_route_gets_one_series_and_unmatched_its_own() {
        let latency = RouteLatency::default();
        latency.histogram(Some("/a/{id}")).observe(1);
        latency.histogram(Some("/b")).observe(1);
        latency.histogram(Some("/a/{id}")).observe(1);
        latency.histogram(None).observe(1);
        let counts: Vec<(String, u64)> = latency
            .snapshot()
            .into_iter()
            .map(|(r, s)| (r, s.count()))
            .collect();
        assert_eq!(
            counts,
            [
                ("/a/{id}".into(), 2),
                ("/b".into(), 1),
                ("unmatched".into(), 1)
            ]
        );
    }

    #[test]
    fn routes_beyond_the_cap_share_the_unmatched_series() {
        let latency = RouteLatency::default();
        for i in 0..MAX_ROUTES + 3 {
            latency.histogram(Some(&format!("/r{i}"))).observe(1);
        }
        let snapshot = latency.snapshot();
        assert_eq!(snapshot.len(), MAX_ROUTES + 1);
        assert_eq!(snapshot[MAX_ROUTES].1.count(), 3);
    }
}
