//! Mounts the app. Everything else is in the library.
//!
//! No panic hook: with `panic = "abort"` a panic shows as "unreachable" in the console, and the
//! formatting code a hook pulls in costs about 2.5 KB of the 250 KB budget. The app is written not
//! to panic on anything it receives.

fn main() {
    leptos::mount::mount_to_body(web_client::App);
}
