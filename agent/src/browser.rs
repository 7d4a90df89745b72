//! Getting the authorization URL in front of a user agent (RFC 8252 §4: an external browser, never
//! an embedded one whose page the app could read).
//!
//! * [`BrowserMode::Auto`]: `$BROWSER` if set, else the desktop's opener (`xdg-open`, `open`,
//!   `rundll32 url.dll,FileProtocolHandler`); the URL is printed as well, for when no browser
//!   appears. Only `http(s)` URLs are ever handed to an opener.
//! * [`BrowserMode::Print`]: only print it (a headless machine, or a browser elsewhere).
//! * [`BrowserMode::Fetch`]: no person at all. The agent requests the URL itself and follows the
//!   redirects, keeping cookies, until one leads to its own redirect URI. This only completes
//!   against authorization servers that approve without a login page (test harnesses, such as
//!   the MCP conformance suite's); a login page is reported as such.

use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::error::{AgentError, Result};
use crate::output::Progress;

/// Most redirects followed in [`BrowserMode::Fetch`].
const MAX_HOPS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrowserMode {
    Auto,
    Print,
    Fetch,
}

/// Shows or follows `authorize_url`, whose answer is expected at `redirect_uri`.
pub async fn open(
    mode: BrowserMode,
    authorize_url: &str,
    redirect_uri: &str,
    progress: &Progress,
) -> Result<()> {
    match mode {
        BrowserMode::Print => {
            progress.always(format!("Open this URL in a browser to log in:\n\n  {authorize_url}\n"));
            Ok(())
        }
        BrowserMode::Auto => {
            match launch(authorize_url) {
                Some(how) => progress.always(format!(
                    "Opening {how} to log in. If no browser window appears, open this URL:\n\n  {authorize_url}\n"
                )),
                None => progress.always(format!("Open this URL in a browser to log in:\n\n  {authorize_url}\n")),
            }
            Ok(())
        }
        BrowserMode::Fetch => follow(authorize_url, redirect_uri, progress).await,
    }
}

/// Shows the page where a person approves a tool call a gateway holds back: opened in a browser
/// with [`BrowserMode::Auto`], printed always. Never fetched: approving is the person's to do.
pub fn show_approval(mode: BrowserMode, server: &str, url: &str, progress: &Progress) {
    progress.always(approval_prompt(server, url));
    if mode == BrowserMode::Auto
        && let Some(how) = launch(url)
    {
        progress.always(format!("(opening it with {how})"));
    }
}

/// What a person reads before approving: which MCP server asks, and the approval page's site,
/// apart from the URL (MCP URL-mode elicitation: the client makes clear which server requests,
/// and shows the target host), so that a look-alike address is easier to notice.
fn approval_prompt(server: &str, url: &str) -> String {
    let site = launchable(url)
        .map(|u| match u.port() {
            Some(port) => format!("{}:{port}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_owned(),
        })
        .unwrap_or_else(|| "(not a web address: not opened)".to_owned());
    format!(
        "The MCP server {server} asks a person to approve this call.\nThe approval page is at {site}; \
         approve it there, signed in as yourself:\n\n  {url}\n\nWaiting for the approval…"
    )
}

/// `url` if it may go to a URL opener: `http` or `https` only, as the parser writes it back. An
/// opener starts whatever handles a scheme (`file:`, `vscode:`, `javascript:`…), and the URLs
/// come from servers: an authorization endpoint, a gateway's approval page.
fn launchable(url: &str) -> Option<url::Url> {
    url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// Starts `$BROWSER` or the platform's URL opener; says which, or `None` if none could start
/// (or `url` is not one to open, see [`launchable`]).
fn launch(url: &str) -> Option<String> {
    let url = launchable(url)?;
    let url = url.as_str();
    if let Some(browsers) = std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        // `$BROWSER` is a colon-separated list of commands; `%s` marks where the URL goes.
        for entry in browsers.to_string_lossy().split(':').filter(|e| !e.trim().is_empty()) {
            let mut words: Vec<String> = entry.split_whitespace().map(str::to_owned).collect();
            if words.iter().any(|w| w.contains("%s")) {
                words.iter_mut().for_each(|w| *w = w.replace("%s", url));
            } else {
                words.push(url.to_owned());
            }
            if spawn(&words[0], &words[1..]) {
                return Some(format!("$BROWSER ({})", words[0]));
            }
        }
        return None;
    }
    let opener: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        // Not `cmd /C start`: cmd would read `&` in the query as the end of a command.
        &["rundll32", "url.dll,FileProtocolHandler"]
    } else {
        // Without a display there is no browser to open; a terminal-only session prints instead.
        let graphical =
            ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
        if !graphical {
            return None;
        }
        &["xdg-open"]
    };
    let mut args: Vec<String> = opener[1..].iter().map(|s| (*s).to_owned()).collect();
    args.push(url.to_owned());
    spawn(opener[0], &args).then(|| "your browser".to_owned())
}

/// Starts `program`, detached from the terminal's streams, and reaps it in the background.
fn spawn(program: &str, args: &[String]) -> bool {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
            true
        }
        Err(_) => false,
    }
}

/// The programmatic browser: GET, follow redirects with cookies, stop at `redirect_uri`.
async fn follow(authorize_url: &str, redirect_uri: &str, progress: &Progress) -> Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| AgentError::Authorization(format!("cannot create the programmatic browser: {e}")))?;
    let mut url = url::Url::parse(authorize_url)
        .map_err(|e| AgentError::Authorization(format!("the authorization URL is not a URL: {e}")))?;
    for _ in 0..MAX_HOPS {
        progress.detail(format!("browser: GET {}", without_query(&url)));
        let response =
            client.get(url.clone()).send().await.map_err(|e| AgentError::unreachable(url.as_str(), &e))?;
        let status = response.status();
        if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content type");
            return Err(AgentError::Authorization(format!(
                "{} answered {status} ({kind}) instead of redirecting back: it wants a person to log in. \
                 `--browser fetch` only completes with servers that approve without one; use `--browser auto` \
                 or `--browser print`",
                without_query(&url)
            )));
        }
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).ok_or_else(|| {
            AgentError::Authorization(format!("{status} from {} without a Location", without_query(&url)))
        })?;
        let next = url
            .join(location)
            .map_err(|e| AgentError::Authorization(format!("redirect to an invalid URL ({e})")))?;
        if next.as_str().starts_with(redirect_uri)
            && next.as_str()[redirect_uri.len()..].chars().next().is_none_or(|c| c == '?')
        {
            // Deliver the answer to the listener, as a browser would.
            progress.detail(format!("browser: back at {redirect_uri}"));
            client.get(next.clone()).send().await.map_err(|e| AgentError::unreachable(redirect_uri, &e))?;
            return Ok(());
        }
        url = next;
    }
    Err(AgentError::Authorization(format!("more than {MAX_HOPS} redirects without coming back")))
}

/// A URL for messages: the query may carry a code.
fn without_query(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approval_prompt_names_the_asking_server_and_the_page_s_site() {
        let prompt =
            approval_prompt("http://localhost:9100/mcp", "https://as.example.com.evil.io/approvals/x");
        assert!(prompt.contains("The MCP server http://localhost:9100/mcp asks"), "{prompt}");
        assert!(prompt.contains("approval page is at as.example.com.evil.io;"), "{prompt}");
        assert!(prompt.contains("  https://as.example.com.evil.io/approvals/x\n"), "{prompt}");
        let local = approval_prompt("s", "http://localhost:9000/approvals");
        assert!(local.contains("approval page is at localhost:9000;"), "{local}");
        assert!(approval_prompt("s", "file:///etc/passwd").contains("not a web address"));
    }

    #[test]
    fn only_web_urls_go_to_an_opener() {
        for refused in [
            "file:///etc/passwd",
            "vscode://x/open?a=b",
            "javascript:alert(1)",
            "mailto:a@b.example",
            "not a url",
        ] {
            assert!(launchable(refused).is_none(), "{refused}");
        }
        let opened = launchable("https://as.example/authorize?a=1&b=2").unwrap();
        assert_eq!(opened.as_str(), "https://as.example/authorize?a=1&b=2");
        assert!(launchable("http://127.0.0.1:9000/approve/\u{1b}[2J").unwrap().as_str().ends_with("%1B[2J"));
    }
}
