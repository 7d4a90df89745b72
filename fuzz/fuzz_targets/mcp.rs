//! MCP JSON-RPC messages: a POSTed body as the server reads it (JSON, then `classify` into
//! request, notification or response, then the params of the methods it serves), the results a
//! client reads, and the `Mcp-Name` header encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::mcp::{
    CallToolParams, CallToolResult, InitializeResult, ListToolsResult, Message, Response, classify,
    decode_header_value, encode_header_value, is_supported_version, negotiate_version,
};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        match classify(value) {
            Ok(Message::Request(request)) => {
                assert_eq!(request.jsonrpc, "2.0");
                let params = request.params.clone().unwrap_or(Value::Null);
                let _ = serde_json::from_value::<CallToolParams>(params.clone());
                if let Some(version) = params.get("protocolVersion").and_then(Value::as_str) {
                    assert!(is_supported_version(negotiate_version(version)));
                }
                // A request the server accepted serializes and classifies the same way again.
                let again = serde_json::to_value(&request).expect("a request serializes");
                assert_eq!(classify(again), Ok(Message::Request(request)), "request round trip");
            }
            Ok(Message::Notification(notification)) => assert_eq!(notification.jsonrpc, "2.0"),
            Ok(Message::Response(_)) => {}
            Err((_, error)) => {
                let _ = serde_json::to_string(&Response::failure(None, error)).expect("an error serializes");
            }
        }
    }

    // What a client reads back.
    if let Ok(response) = serde_json::from_slice::<Response>(data)
        && let Some(result) = response.result
    {
        let _ = serde_json::from_value::<InitializeResult>(result.clone());
        let _ = serde_json::from_value::<ListToolsResult>(result.clone());
        let _ = serde_json::from_value::<CallToolResult>(result);
    }

    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(decode_header_value(&encode_header_value(text)), text, "Mcp-Name round trip");
        let _ = decode_header_value(text);
    }
});
