//! `authorization_details` (RFC 9396) as the AS receives it at `/bc-authorize`: a JSON array,
//! each entry put through the `mcp_tool_call` checks; what is accepted is shown on a page and put
//! into a token, so it must survive the round trip and stay within the bounds the page relies on.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::authorization_details::{AuthorizationDetail, MAX_ARGUMENTS_SUMMARY, MAX_TOOL_NAME, ToolCall};

fuzz_target!(|data: &[u8]| {
    let Ok(details) = serde_json::from_slice::<Vec<AuthorizationDetail>>(data) else { return };
    for detail in &details {
        let Ok(call) = ToolCall::check(detail) else { continue };
        assert!(!call.tool.is_empty() && call.tool.chars().count() <= MAX_TOOL_NAME);
        assert!(!call.tool.chars().any(char::is_control));
        assert_eq!(call.arguments_sha256.len(), 64);
        assert!(call.arguments_summary.as_ref().is_none_or(|s| s.chars().count() <= MAX_ARGUMENTS_SUMMARY));
        // What goes into a token reads back as the same call.
        let json = serde_json::to_string(&call.to_detail()).expect("a detail serializes");
        let back: AuthorizationDetail = serde_json::from_str(&json).expect("a serialized detail parses");
        assert_eq!(ToolCall::check(&back).as_ref(), Ok(&call), "round trip");
    }
});
