//! One virtual user's keep-alive HTTP/1.1 connection to an authorization server, with the cookies
//! its browser would keep. Bare hyper, as in [`crate::load`]: the load generator shares the two
//! cores with the server it measures, so each request should cost it little.

use anyhow::Context as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;

/// An answer, read to its end.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The answer as a JSON object, or `None`.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `"status body"`, the body cut short: what an error message shows.
    pub fn describe(&self) -> String {
        let text = self.text();
        let cut: String = text.chars().take(160).collect();
        format!("{} {}", self.status, cut.trim())
    }
}

/// Who sends a request: the browser carries the cookies; the client (at the token,
/// introspection and registration endpoints) does not.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum By {
    Browser,
    Client,
}

pub struct Conn {
    authority: String,
    sender: SendRequest<Full<Bytes>>,
    cookies: Jar,
    requests: u64,
}

impl Conn {
    /// Connects to `base` (`http://host:port`).
    pub async fn open(base: &str) -> anyhow::Result<Self> {
        let authority = base.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let sender = connect(&authority).await?;
        Ok(Self { authority, sender, cookies: Jar::default(), requests: 0 })
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    pub async fn get(&mut self, target: &str) -> anyhow::Result<Answer> {
        self.send(Method::GET, target, By::Browser, None, Bytes::new()).await
    }

    /// A form POST; `basic` is an `Authorization` header value.
    pub async fn post_form(
        &mut self,
        path: &str,
        by: By,
        form: &[(&str, &str)],
        basic: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let body = serde_urlencoded::to_string(form)?;
        let content = ("application/x-www-form-urlencoded", basic);
        self.send(Method::POST, path, by, Some(content), Bytes::from(body)).await
    }

    pub async fn post_json(&mut self, path: &str, body: Bytes) -> anyhow::Result<Answer> {
        self.send(Method::POST, path, By::Client, Some(("application/json", None)), body).await
    }

    async fn send(
        &mut self,
        method: Method,
        target: &str,
        by: By,
        content: Option<(&str, Option<&str>)>,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        // A server may close an idle keep-alive connection (Node does after 5 s): connect again,
        // as any client does.
        if self.sender.is_closed() || self.sender.ready().await.is_err() {
            self.sender = connect(&self.authority).await?;
        }
        let mut request = Request::builder().method(method).uri(target).header(header::HOST, &self.authority);
        if let Some((content_type, authorization)) = content {
            request = request.header(header::CONTENT_TYPE, content_type);
            if let Some(authorization) = authorization {
                request = request.header(header::AUTHORIZATION, authorization);
            }
        }
        let path = target.split('?').next().unwrap_or(target);
        if by == By::Browser
            && let Some(cookies) = self.cookies.header(path)
        {
            request = request.header(header::COOKIE, cookies);
        }
        self.requests += 1;
        let response = self.sender.send_request(request.body(Full::new(body))?).await?;
        let status = response.status().as_u16();
        for set_cookie in response.headers().get_all(header::SET_COOKIE) {
            if let Ok(set_cookie) = set_cookie.to_str() {
                self.cookies.store(set_cookie);
            }
        }
        let location =
            response.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, location, body })
    }
}

async fn connect(authority: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// The cookies of one origin, by name and path (RFC 6265 §5.1.4 path matching; everything else
/// a browser checks does not arise on one loopback origin).
#[derive(Default)]
struct Jar {
    cookies: Vec<Cookie>,
}

struct Cookie {
    name: String,
    path: String,
    value: String,
}

impl Jar {
    /// Keeps, replaces or (when expired or emptied) forgets the cookie of a `Set-Cookie` value.
    fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else { return };
        let mut path = "/".to_owned();
        let mut expired = value.is_empty();
        for attribute in parts {
            let (key, argument) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.to_ascii_lowercase().as_str() {
                "path" if argument.starts_with('/') => path = argument.to_owned(),
                "max-age" => expired |= argument.trim().starts_with(['0', '-']),
                "expires" => expired |= argument.contains("1970"),
                _ => {}
            }
        }
        self.cookies.retain(|c| !(c.name == name && c.path == path));
        if !expired {
            self.cookies.push(Cookie { name: name.to_owned(), path, value: value.to_owned() });
        }
    }

    /// The `Cookie` header for a request to `path`, if any cookie goes there.
    fn header(&self, path: &str) -> Option<String> {
        let matches = |cookie_path: &str| {
            path == cookie_path
                || (path.starts_with(cookie_path)
                    && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
        };
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| matches(&c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::Jar;

    #[test]
    fn the_jar_sends_cookies_by_path_and_forgets_expired_ones() {
        let mut jar = Jar::default();
        jar.store("_session=abc; path=/; expires=Wed, 01 Dec 2027 00:00:00 GMT; samesite=lax; httponly");
        jar.store("_interaction=u1; path=/interaction/u1; httponly");
        assert_eq!(jar.header("/auth").as_deref(), Some("_session=abc"));
        assert_eq!(jar.header("/interaction/u1").as_deref(), Some("_session=abc; _interaction=u1"));
        assert_eq!(jar.header("/interaction/u10").as_deref(), Some("_session=abc"));
        jar.store("_interaction=; path=/interaction/u1; expires=Thu, 01 Jan 1970 00:00:00 GMT");
        jar.store("_session=def; Path=/");
        assert_eq!(jar.header("/interaction/u1").as_deref(), Some("_session=def"));
        jar.store("_session=gone; Path=/; Max-Age=0");
        assert_eq!(jar.header("/"), None);
    }
}
