//! W3C Trace Context (`traceparent`): the one header that lets a call be followed through the
//! gateway's, the servers' and the authorization server's logs. Pure parsing and rendering;
//! the programs decide what to log.

/// The header's name.
pub const TRACEPARENT: &str = "traceparent";

/// The trace id of a `traceparent` header (`version-traceid-parentid-flags`, lowercase hex,
/// neither id all zeros, version `ff` invalid, version `00` exactly four fields), or `None`.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let fields: Vec<&str> = traceparent.trim().split('-').collect();
    let &[version, trace_id, parent_id, flags, ..] = fields.as_slice() else {
        return None;
    };
    let hex = |field: &str, len: usize| {
        field.len() == len && field.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |field: &str| field.bytes().any(|b| b != b'0');
    let valid = hex(version, 2)
        && version != "ff"
        && (version != "00" || fields.len() == 4)
        && hex(trace_id, 32)
        && nonzero(trace_id)
        && hex(parent_id, 16)
        && nonzero(parent_id)
        && hex(flags, 2);
    valid.then_some(trace_id)
}

/// The trace id to log for a request with this `traceparent` header value: its trace id, or `-`.
pub fn trace_id_or_dash(traceparent: Option<&str>) -> &str {
    traceparent.and_then(trace_id).unwrap_or("-")
}

/// A `traceparent` for a request sent on within the trace `trace_id` (32 lowercase hex digits),
/// as the span `span_id` (random, not all zeros: the caller's, since this crate does no I/O).
pub fn child(trace_id: &str, span_id: [u8; 8]) -> String {
    format!("00-{trace_id}-{}-01", crate::hex(&span_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_traceparent_names_a_trace() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(trace_id(&format!("00-{trace}-00f067aa0ba902b7-01")), Some(trace));
        assert_eq!(trace_id(&format!(" 01-{trace}-00f067aa0ba902b7-01-future ")), Some(trace));
        for invalid in [
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            format!("00-{trace}-0000000000000000-01"),
            format!("ff-{trace}-00f067aa0ba902b7-01"),
            format!("00-{trace}-00f067aa0ba902b7-01-extra"),
            format!("00-{}-00f067aa0ba902b7-01", trace.to_uppercase()),
            "1".to_owned(),
        ] {
            assert_eq!(trace_id(&invalid), None, "{invalid}");
        }
        let sent = child(trace, [0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(sent, format!("00-{trace}-00f067aa0ba902b7-01"));
        assert_eq!(trace_id(&sent), Some(trace));
    }
}
