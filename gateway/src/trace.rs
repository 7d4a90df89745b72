//! The trace a request belongs to, passed on: every request the gateway makes on behalf of a
//! client's call (token exchange and approvals at the AS, the upstream call) carries a
//! `traceparent` in the client's trace, or in a new one, so one call can be followed through the
//! gateway's, the AS's and the upstream's logs. Its trace id is also the audit record's request id.

use std::future::Future;

tokio::task_local! {
    static TRACE_ID: String;
}

/// Runs `work` as part of the trace `trace_id` (32 lowercase hex digits).
pub async fn within<F: Future>(trace_id: String, work: F) -> F::Output {
    TRACE_ID.scope(trace_id, work).await
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
