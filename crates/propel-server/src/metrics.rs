//! Prometheus metrics, kept by hand: a few counters and histograms with bounded labels.

use crate::ratelimit::Api;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use propel_model::EventKind;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const BATCH_BUCKETS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 20000.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; buckets.len()];
        }
        for (i, le) in buckets.iter().enumerate() {
            if value <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, buckets: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, le) in buckets.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braced = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braced} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braced} {}", self.count);
    }
}

pub type RouteKey = (&'static str, &'static str);

const OTHER_ROUTES: [RouteKey; 13] = [
    ("tracking", "visitorEvents"),
    ("tracking", "unknown"),
    ("recommendations", "productRecommendations"),
    ("recommendations", "partnerRecommendations"),
    ("recommendations", "categoryRecommendations"),
    ("recommendations", "searchRecommendations"),
    ("sponsored", "impressions"),
    ("catalog", "catalog"),
    ("admin", "admin"),
    ("ops", "healthz"),
    ("ops", "readyz"),
    ("ops", "metrics"),
    ("ops", "openapi"),
];
const UNKNOWN_ROUTE: RouteKey = ("other", "unknown");
const ROUTES: usize = EventKind::ALL.len() + OTHER_ROUTES.len() + 1;
const STATUSES: [u16; 13] = [
    200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503,
];

/// The label pair of a route index.
fn route_key(index: usize) -> RouteKey {
    let kinds = EventKind::ALL.len();
    if index < kinds {
        ("tracking", EventKind::ALL[index].name())
    } else {
        OTHER_ROUTES
            .get(index - kinds)
            .copied()
            .unwrap_or(UNKNOWN_ROUTE)
    }
}

fn route_index(key: RouteKey) -> usize {
    (0..ROUTES)
        .find(|&i| route_key(i) == key)
        .unwrap_or(ROUTES - 1)
}

/// Lock-free counters: the request path only does atomic additions.
struct RouteStats {
    by_status: [AtomicU64; STATUSES.len() + 1],
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Default for RouteStats {
    fn default() -> Self {
        RouteStats {
            by_status: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

pub struct Metrics {
    routes: Vec<RouteStats>,
    other_statuses: Mutex<BTreeMap<(usize, u16), u64>>,
    batches: Mutex<Histogram>,
    events_stored: AtomicU64,
    rate_limited: [AtomicU64; 3],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: (0..ROUTES).map(|_| RouteStats::default()).collect(),
            other_statuses: Mutex::default(),
            batches: Mutex::default(),
            events_stored: AtomicU64::new(0),
            rate_limited: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Metrics {
    pub fn observe_request(&self, route: RouteKey, status: u16, seconds: f64) {
        let index = route_index(route);
        let Some(stats) = self.routes.get(index) else {
            return;
        };
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => {
                stats.by_status[i].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                if let Ok(mut m) = self.other_statuses.lock() {
                    *m.entry((index, status)).or_default() += 1;
                }
            }
        }
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if seconds <= *le {
                stats.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        stats
            .sum_nanos
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
        stats.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe_commit(&self, events: usize) {
        self.events_stored
            .fetch_add(events as u64, Ordering::Relaxed);
        if let Ok(mut h) = self.batches.lock() {
            h.observe(&BATCH_BUCKETS, events as f64);
        }
    }

    pub fn rate_limited(&self, api: Api) {
        self.rate_limited[api as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP propel_http_requests_total HTTP requests answered, by API, method and status.\n");
        out.push_str("# TYPE propel_http_requests_total counter\n");
        let other = self
            .other_statuses
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        for (index, stats) in self.routes.iter().enumerate() {
            let (api, method) = route_key(index);
            let counted = STATUSES
                .iter()
                .enumerate()
                .map(|(i, s)| (*s, stats.by_status[i].load(Ordering::Relaxed)));
            let rare = other
                .iter()
                .filter(|((r, _), _)| *r == index)
                .map(|((_, s), n)| (*s, *n));
            for (status, n) in counted.chain(rare).filter(|(_, n)| *n > 0) {
                let _ = writeln!(out, "propel_http_requests_total{{api=\"{api}\",method=\"{method}\",status=\"{status}\"}} {n}");
            }
        }
        out.push_str(
            "# HELP propel_http_request_duration_seconds Time from request to response head.\n",
        );
        out.push_str("# TYPE propel_http_request_duration_seconds histogram\n");
        for (index, stats) in self.routes.iter().enumerate() {
            let count = stats.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let (api, method) = route_key(index);
            let h = Histogram {
                counts: stats
                    .buckets
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect(),
                sum: stats.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                count,
            };
            let labels = format!("api=\"{api}\",method=\"{method}\"");
            h.render(
                &mut out,
                "propel_http_request_duration_seconds",
                &labels,
                &LATENCY_BUCKETS,
            );
        }
        out.push_str("# HELP propel_events_stored_total Tracking events durably committed.\n");
        out.push_str("# TYPE propel_events_stored_total counter\n");
        let _ = writeln!(
            out,
            "propel_events_stored_total {}",
            self.events_stored.load(Ordering::Relaxed)
        );
        out.push_str("# HELP propel_event_commit_size Events per group commit.\n");
        out.push_str("# TYPE propel_event_commit_size histogram\n");
        if let Ok(h) = self.batches.lock() {
            h.render(&mut out, "propel_event_commit_size", "", &BATCH_BUCKETS);
        }
        out.push_str("# HELP propel_rate_limited_total Requests refused with 429, by API.\n");
        out.push_str("# TYPE propel_rate_limited_total counter\n");
        for api in [Api::Tracking, Api::Recommendations, Api::Sponsored] {
            let n = self.rate_limited[api as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "propel_rate_limited_total{{api=\"{}\"}} {n}",
                api.label()
            );
        }
        out
    }
}

/// The (api, method) labels of a path; bounded, so unknown paths share one label.
pub fn route_labels(path: &str) -> RouteKey {
    if let Some(method) = path.strip_prefix("/1.0/") {
        if method == "visitorEvents" {
            return ("tracking", "visitorEvents");
        }
        return (
            "tracking",
            EventKind::from_name(method).map_or("unknown", EventKind::name),
        );
    }
    if let Some(rest) = path.strip_prefix("/api/3.0/") {
        let group = rest.split('/').next().unwrap_or("");
        return OTHER_ROUTES
            .into_iter()
            .find(|&(api, method)| api == "recommendations" && method == group)
            .unwrap_or(UNKNOWN_ROUTE);
    }
    if crate::sponsored::split_path(path).is_some() {
        return ("sponsored", "impressions");
    }
    if path.starts_with("/catalog/") {
        return ("catalog", "catalog");
    }
    if path.starts_with("/admin/") || path == "/admin" {
        return ("admin", "admin");
    }
    match path {
        "/healthz" => ("ops", "healthz"),
        "/readyz" => ("ops", "readyz"),
        "/metrics" => ("ops", "metrics"),
        "/openapi.json" => ("ops", "openapi"),
        _ => ("other", "unknown"),
    }
}

/// Middleware: counts every answer and its latency; logs it without the query string.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_labels(request.uri().path());
    let response = next.run(request).await;
    observed(&state, route, started, &response);
    response
}

/// Counts and logs one answer (for [`record`] and the requests that bypass the router).
pub fn observed(state: &AppState, route: RouteKey, started: Instant, response: &Response) {
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state.metrics.observe_request(route, status, elapsed);
    tracing::debug!(
        api = route.0,
        method = route.1,
        status,
        seconds = elapsed,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.observe_request(("tracking", "view"), 200, 0.0007);
        m.observe_request(("ops", "healthz"), 418, 0.0001);
        m.observe_commit(3);
        m.rate_limited(Api::Sponsored);
        let text = m.render();
        assert!(text.contains(
            "propel_http_requests_total{api=\"tracking\",method=\"view\",status=\"200\"} 1"
        ));
        assert!(text.contains("propel_http_request_duration_seconds_bucket{api=\"tracking\",method=\"view\",le=\"0.001\"} 1"));
        assert!(text.contains("propel_http_request_duration_seconds_bucket{api=\"tracking\",method=\"view\",le=\"0.0005\"} 0"));
        assert!(text.contains("propel_events_stored_total 3"));
        assert!(text.contains(
            "propel_http_requests_total{api=\"ops\",method=\"healthz\",status=\"418\"} 1"
        ));
        for i in 0..ROUTES {
            assert_eq!(route_index(route_key(i)), i);
        }
        assert!(text.contains("propel_event_commit_size_bucket{le=\"5\"} 1"));
        assert!(text.contains("propel_rate_limited_total{api=\"sponsored\"} 1"));
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(route_labels("/1.0/view"), ("tracking", "view"));
        assert_eq!(route_labels("/1.0/anything"), ("tracking", "unknown"));
        assert_eq!(route_labels("/admin/partners/x"), ("admin", "admin"));
        assert_eq!(route_labels("/nope"), ("other", "unknown"));
        assert_eq!(
            route_labels("/api/3.0/productRecommendations/related/"),
            ("recommendations", "productRecommendations")
        );
        assert_eq!(route_labels("/api/3.0/elsewhere/x"), ("other", "unknown"));
        assert_eq!(
            route_labels("/v1/partners/p1/productPlacements/x/impressions"),
            ("sponsored", "impressions")
        );
        assert_eq!(
            route_labels("/v1/partners/p1/impressions"),
            ("other", "unknown")
        );
        assert_eq!(
            route_labels("/catalog/1.0/products"),
            ("catalog", "catalog")
        );
    }
}
