//! The service each connection calls. Tracking's `POST /1.0/...` requests, the most
//! frequent by far, go straight to their handler; everything else goes through the
//! router. The router wraps every route in the metrics middleware and boxes the
//! request's service and future several times over: measured ad hoc (a perf profile and
//! an A/B of CPU time per event around an `h2load` run of `POST /1.0/view`, scratch
//! scripts), about a fifteenth of a tracked event's CPU, and the medians of five runs went
//! from 15.3 to 13.6 µs an event with this bypass.

use crate::state::AppState;
use crate::tracking;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::future::BoxFuture;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::time::Instant;
use tower::Service;

#[derive(Clone)]
pub struct Front {
    state: AppState,
    router: Router,
}

impl Front {
    pub fn new(state: AppState) -> Front {
        Front {
            router: crate::router(state.clone()),
            state,
        }
    }
}

// hyper's own service trait, called by reference: the tower adapter cloned the whole
// service and drove a poll_ready/call state machine for every request.
impl hyper::service::Service<hyper::Request<Incoming>> for Front {
    type Response = Response;
    type Error = Infallible;
    // Boxed both ways: hyper moves the service's future around, and the router's
    // future is large.
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let Some(method) = tracking::direct_method(request.method(), request.uri().path()) else {
            return Box::pin(self.router.clone().call(request));
        };
        let state = self.state.clone();
        Box::pin(async move {
            let started = Instant::now();
            let route = crate::metrics::route_labels(request.uri().path());
            let response = tracking::direct(state.clone(), method, request)
                .await
                .into_response();
            crate::metrics::observed(&state, route, started, &response);
            Ok(response)
        })
    }
}
