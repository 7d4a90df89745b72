// Loads the WebAssembly app. A file rather than Trunk's inline loader, so that the page's
// Content-Security-Policy can forbid inline scripts.
import init from "/web-client.js";

await init({ module_or_path: "/web-client_bg.wasm" });
