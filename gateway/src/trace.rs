//! The trace a request belongs to, passed on: every request the gateway makes on behalf of a
//! client's call (token exchange and approvals at the AS, the upstream call) carries a
//! `traceparent` in the client's trace, or in a new one, so one call can be followed through the
//! gateway's, the AS's and the upstream's logs. Its trace id is also the audit record's request id.

use std::future::Future;

tokio::task_local! {
    static TRACE_ID: String;
}

/// Runs `work` as part of the trace `trace_id` (32 lowercase hex digits).
///
/// A plain function returning the scoped future, not an `async fn`: an `async fn` would hold
/// `work` twice (as its argument and inside the scope it awaits), doubling the size of every
/// request's future and of what is copied each time it moves.
pub fn within<F: Future>(trace_id: String, work: F) -> impl Future<Output = F::Output> {
    TRACE_ID.scope(trace_id, work)
}

/// The `traceparent` for a request sent now, within the current trace: a new span of it.
pub fn outgoing() -> Option<String> {
    TRACE_ID
        .try_with(|trace_id| {
            let mut span = [0u8; 8];
            getrandom::fill(&mut span).expect("the operating system's random number generator failed");
            span[0] |= 1; // never all zeros
            protocol::trace::child(trace_id, span)
        })
        .ok()
}
