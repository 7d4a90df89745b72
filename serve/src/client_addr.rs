//! The client's address, when requests arrive through reverse proxies (a load balancer).
//!
//! Behind a proxy the TCP peer of every request is the proxy, so every user would share its address
//! in the login throttle, the audit trails and the gateway's policy. The client's address is in
//! the header the proxy adds: `X-Forwarded-For` or `Forwarded` (RFC 7239). Anyone can send those
//! headers too, so they are believed only as far as proxies the operator listed
//! ([`TrustedProxies`], `--trusted-proxy`) vouch for them:
//!
//! * a peer that is not a trusted proxy is the client, whatever its headers say;
//! * from a trusted peer, the addresses of the header are walked from the right (the hop nearest
//!   to us; each proxy appends the address it received the request from), past the addresses of
//!   trusted proxies; the first other address is the client. If every hop is a trusted proxy, the
//!   leftmost is;
//! * an address that cannot be read (malformed, `unknown`, an obfuscated `_name`) where the walk
//!   would take it stops the walk at the nearest trusted hop (or the peer): no proxy vouched for
//!   anything to its left in a form we can use, and guessing would let a client choose.
//!
//! Exactly one header is read, the one the operator names ([`ForwardedHeader`],
//! `--forwarded-header`), never the other and never one in place of the other: a proxy appends to
//! the header it knows and passes any other through untouched, so the other header of a request
//! is whatever the client wrote. nginx and AWS's load balancers, among most others, append
//! `X-Forwarded-For` and leave a client's `Forwarded` alone, which is why `X-Forwarded-For` is
//! the default. Several lines of the header are one list, in order.
//!
//! With no trusted proxies (the default), no header is ever read.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};

/// The de-facto header of most load balancers: `client, proxy1, proxy2`.
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// A block of addresses: `10.0.0.0/8`, `2001:db8::/32`, or one address (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a string is not a [`Cidr`]; its text names the input and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError {
    input: String,
    problem: String,
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an address or CIDR block (like 10.0.0.0/8 or ::1/128): {}",
            self.input, self.problem
        )
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// The block of `prefix` leading bits of `network`. A prefix longer than the address, or bits
    /// set past it, are refused: `10.0.0.1/8` is more likely a typo than a wish to trust
    /// `10.0.0.0/8`. An IPv4-mapped IPv6 block (`::ffff:10.0.0.0/104`) is kept as the IPv4 block
    /// it means, so it matches the addresses peers are compared as.
    fn new(network: IpAddr, prefix: u8) -> Result<Self, String> {
        let (network, prefix) = match network {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (network, prefix),
            },
            _ => (network, prefix),
        };
        let width = bits(network);
        if prefix > width {
            return Err(format!("the prefix is longer than the address ({width} bits)"));
        }
        let block = Self { network, prefix };
        if block.masked(network) != network {
            let base = block.masked(network);
            return Err(format!("bits are set past the /{prefix} prefix: did you mean {base}/{prefix}?"));
        }
        Ok(block)
    }

    /// Whether `address` is in the block. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a
    /// dual-stack socket reports for an IPv4 peer) are compared as the IPv4 address they carry.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        let same_family = address.is_ipv4() == self.network.is_ipv4();
        same_family && self.masked(address) == self.network
    }

    /// `address` with the bits past the prefix cleared (of the block's family).
    fn masked(&self, address: IpAddr) -> IpAddr {
        match address {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }
}

fn bits(address: IpAddr) -> u8 {
    if address.is_ipv4() { 32 } else { 128 }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(input: &str) -> Result<Self, CidrError> {
        let error = |problem: String| CidrError { input: input.to_owned(), problem };
        let text = input.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr =
            address.parse().map_err(|_| error(format!("{address:?} is not an IPv4 or IPv6 address")))?;
        let prefix = match prefix {
            None => bits(address),
            // Digits only: `u8::from_str` would also take `+8`.
            Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => {
                prefix.parse().map_err(|_| error(format!("the prefix /{prefix} is too long")))?
            }
            Some(prefix) => return Err(error(format!("the prefix {prefix:?} is not a number of bits"))),
        };
        Self::new(address, prefix).map_err(error)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Which forwarding header the trusted proxies append, and so the one header that is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1`: what nearly every load balancer appends.
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239), for proxies configured to append it.
    Forwarded,
}

impl ForwardedHeader {
    /// The name `--forwarded-header` takes, which is the header's name in lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

impl FromStr for ForwardedHeader {
    type Err = String;

    /// `x-forwarded-for` or `forwarded`, in any case.
    fn from_str(name: &str) -> Result<Self, String> {
        [Self::XForwardedFor, Self::Forwarded]
            .into_iter()
            .find(|header| name.trim().eq_ignore_ascii_case(header.as_str()))
            .ok_or_else(|| format!("{name:?} is not a forwarding header: x-forwarded-for or forwarded"))
    }
}

impl fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::XForwardedFor => "X-Forwarded-For",
            Self::Forwarded => "Forwarded",
        })
    }
}

/// The reverse proxies whose forwarding header is believed, and which header that is. No proxies
/// by default: then the peer is always the client. Cheap to clone (one per request, as a request
/// extension).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Arc<[Cidr]>,
    header: ForwardedHeader,
}

/// The proxies, appending the default header ([`ForwardedHeader::XForwardedFor`]).
impl FromIterator<Cidr> for TrustedProxies {
    fn from_iter<I: IntoIterator<Item = Cidr>>(blocks: I) -> Self {
        Self { blocks: blocks.into_iter().collect(), header: ForwardedHeader::default() }
    }
}

impl fmt::Display for TrustedProxies {
    /// `10.0.0.0/8, ::1/128`, or `none` (the header is [`TrustedProxies::header`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.blocks.is_empty() {
            return f.write_str("none");
        }
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{block}")?;
        }
        Ok(())
    }
}

impl TrustedProxies {
    /// The same proxies, read through `header` (`--forwarded-header`).
    pub fn with_header(self, header: ForwardedHeader) -> Self {
        Self { header, ..self }
    }

    /// The one header read from the trusted proxies' requests.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.blocks.iter().any(|block| block.contains(address))
    }

    /// The client's address for a request from `peer` with `headers` (see the module's rules).
    /// IPv4-mapped IPv6 addresses come back as IPv4, so one client has one spelling.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for_hops(headers),
            ForwardedHeader::Forwarded => forwarded_hops(headers),
        };
        // The nearest address a trusted proxy vouches for: where the walk falls back to.
        let mut nearest = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(address) if self.contains(address) => nearest = address,
                Some(address) => return address,
                None => return nearest,
            }
        }
        nearest
    }
}

/// One entry of a forwarding header: the address it names, or `None` when it names none that can
/// be used (missing, malformed, `unknown`, obfuscated).
type Hop = Option<IpAddr>;

/// The `for=` of every element of every `Forwarded` line, left to right.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for line in headers.get_all(header::FORWARDED) {
        // A line that is not visible ASCII is one unreadable hop: its elements cannot be told apart.
        let Ok(line) = line.to_str() else {
            hops.push(None);
            continue;
        };
        hops.extend(list_elements(split_outside_quotes(line, b',')).map(forwarded_for));
    }
    hops
}

/// The addresses of every `X-Forwarded-For` line, left to right.
fn x_forwarded_for_hops(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for line in headers.get_all(&X_FORWARDED_FOR) {
        let Ok(line) = line.to_str() else {
            hops.push(None);
            continue;
        };
        // No quoted strings here: a quote is just a malformed address.
        hops.extend(list_elements(line.split(',')).map(|node| node_address(node, true)));
    }
    hops
}

/// The non-empty elements of a header list, trimmed: RFC 9110 §5.6.1 lets senders leave empty
/// ones, and recipients ignore them.
fn list_elements<'a>(elements: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    elements.map(str::trim).filter(|element| !element.is_empty())
}

/// `text` split at `separator` where it is not inside a quoted string (`"…"`, with `\` escaping
/// the next character). An unterminated quote runs to the end, making that piece malformed.
fn split_outside_quotes(text: &str, separator: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, byte) in current.bytes().enumerate() {
            match byte {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                b if b == separator && !quoted => {
                    rest = Some(&current[i + 1..]);
                    return Some(&current[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(current)
    })
}

/// The address in the `for` parameter of one `Forwarded` element (`for=192.0.2.60;proto=http`,
/// `for="[2001:db8::17]:4711"`). No `for`, two of them, or a pair that is not `name=value`: none.
fn forwarded_for(element: &str) -> Hop {
    let mut node = None;
    for pair in list_elements(split_outside_quotes(element, b';')) {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if node.is_some() {
                return None;
            }
            node = Some(unquote(value.trim())?);
        }
    }
    // RFC 7239 §6: an IPv6 address must be in brackets (and so quoted); unbracketed, its last
    // group could be a port.
    node_address(&node?, false)
}

/// A token as it is; a quoted string without its quotes and escapes. Anything else (a quote
/// inside a token, an unterminated string): none.
fn unquote(value: &str) -> Option<String> {
    let Some(quoted) = value.strip_prefix('"') else {
        return (!value.contains(['"', '\\'])).then(|| value.to_owned());
    };
    let mut unquoted = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => unquoted.push(chars.next()?),
            // The closing quote must be the last character.
            '"' => return chars.next().is_none().then_some(unquoted),
            c => unquoted.push(c),
        }
    }
    None
}

/// The address of a node: `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::17]`, `[2001:db8::17]:4711`,
/// and with `bare_v6` also `2001:db8::17` (as `X-Forwarded-For` writes it). `unknown` and
/// obfuscated names (`_hidden`) are no address, like anything else that does not parse.
fn node_address(node: &str, bare_v6: bool) -> Hop {
    if let Some(bracketed) = node.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']')?;
        let address: Ipv6Addr = address.parse().ok()?;
        if !after.is_empty() {
            port(after.strip_prefix(':')?)?;
        }
        return Some(IpAddr::V6(address).to_canonical());
    }
    if bare_v6 && let Ok(address) = node.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(address).to_canonical());
    }
    let address = match node.split_once(':') {
        Some((address, after)) => {
            port(after)?;
            address
        }
        None => node,
    };
    address.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A port, or an obfuscated one (RFC 7239 §6.3: `_` and letters, digits, `.`, `_`, `-`).
fn port(text: &str) -> Option<()> {
    let number = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = text.len() > 1
        && text.starts_with('_')
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ((number && text.parse::<u16>().is_ok()) || obfuscated).then_some(())
}

/// The client's address, as [`TrustedProxies::client_ip`] finds it for the request: from the peer
/// address [`crate::serve`] records and the [`TrustedProxies`] a router puts in the request's
/// extensions (`router.layer(axum::Extension(trusted))`). Without that extension no header is
/// read: a router that forgets it falls back to the safe answer, the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// `None` for a request that did not come through [`crate::serve`] (no peer address), such as
    /// one sent to a router directly in a test.
    pub fn of(parts: &Parts) -> Option<Self> {
        let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
        Some(Self::from_peer(*peer, parts))
    }

    fn from_peer(peer: SocketAddr, parts: &Parts) -> Self {
        match parts.extensions.get::<TrustedProxies>() {
            Some(trusted) => Self(trusted.client_ip(peer.ip(), &parts.headers)),
            None => Self(peer.ip().to_canonical()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    /// What `ConnectInfo` answers without a peer address: a server error, not the client's fault.
    type Rejection = ExtensionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await?;
        Ok(Self::from_peer(peer, parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// These proxies, appending `X-Forwarded-For` (the default).
    fn trusted(blocks: &[&str]) -> TrustedProxies {
        blocks.iter().map(|b| cidr(b)).collect()
    }

    /// These proxies, appending `Forwarded`.
    fn trusted_forwarded(blocks: &[&str]) -> TrustedProxies {
        trusted(blocks).with_header(ForwardedHeader::Forwarded)
    }

    /// Headers with these lines, in order (a name may repeat).
    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in lines {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn client(proxies: &TrustedProxies, peer: &str, lines: &[(&str, &str)]) -> String {
        proxies.client_ip(ip(peer), &headers(lines)).to_string()
    }

    #[test]
    fn cidr_blocks_parse_in_both_families_and_a_bare_address_is_one_address() {
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr(" 192.168.1.0/24 ").to_string(), "192.168.1.0/24");
        assert_eq!(cidr("::1/128").to_string(), "::1/128");
        assert_eq!(cidr("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(cidr("203.0.113.7").to_string(), "203.0.113.7/32");
        assert_eq!(cidr("::1").to_string(), "::1/128");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("::/0").to_string(), "::/0");
        // A mapped IPv4 block is the IPv4 block.
        assert_eq!(cidr("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
    }

    #[test]
    fn garbage_is_refused_with_an_error_naming_the_input_and_the_problem() {
        for bad in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0/x",
            "10.0.0.0/256",
            "10.0.0.0/99999999999",
            "10.0.0",
            "010.0.0.0/8",
            "localhost",
            "10.0.0.0 /8",
            "fe80::1%eth0",
            "[::1]",
        ] {
            let error = bad.parse::<Cidr>().expect_err(bad);
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
        let typo = "10.0.0.1/8".parse::<Cidr>().unwrap_err().to_string();
        assert!(typo.contains("did you mean 10.0.0.0/8"), "{typo}");
        let long = "10.0.0.0/33".parse::<Cidr>().unwrap_err().to_string();
        assert!(long.contains("longer than the address"), "{long}");
    }

    #[test]
    fn a_block_contains_the_addresses_under_its_prefix_of_its_own_family() {
        let ten = cidr("10.0.0.0/8");
        assert!(ten.contains(ip("10.0.0.0")) && ten.contains(ip("10.255.255.255")));
        assert!(!ten.contains(ip("11.0.0.0")) && !ten.contains(ip("9.255.255.255")));
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.7")));
        assert!(
            cidr("203.0.113.7").contains(ip("203.0.113.7"))
                && !cidr("203.0.113.7").contains(ip("203.0.113.8"))
        );
        let v6 = cidr("2001:db8::/32");
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(cidr("::1/128").contains(ip("::1")) && !cidr("::1/128").contains(ip("127.0.0.1")));
        // No family matches the other: `::/0` is every IPv6 address, not every address.
        assert!(!cidr("::/0").contains(ip("10.0.0.1")) && !cidr("0.0.0.0/0").contains(ip("::1")));
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_matches_its_ipv4_block() {
        assert!(cidr("10.0.0.0/8").contains(ip("::ffff:10.0.0.1")));
        assert!(!cidr("10.0.0.0/8").contains(ip("::ffff:11.0.0.1")));
        assert!(cidr("::ffff:10.0.0.0/104").contains(ip("10.1.2.3")));
        // A dual-stack socket's IPv4 peer, trusted by its IPv4 block, and reported as IPv4.
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(client(&proxies, "::ffff:10.0.0.1", &[("x-forwarded-for", "203.0.113.7")]), "203.0.113.7");
        assert_eq!(
            client(&proxies, "::ffff:203.0.113.9", &[("x-forwarded-for", "198.51.100.1")]),
            "203.0.113.9"
        );
        assert_eq!(client(&proxies, "10.0.0.2", &[("x-forwarded-for", "::ffff:203.0.113.7")]), "203.0.113.7");
    }

    #[test]
    fn the_list_displays_for_the_startup_log() {
        assert_eq!(trusted(&["10.0.0.0/8", "::1"]).to_string(), "10.0.0.0/8, ::1/128");
        assert_eq!(TrustedProxies::default().to_string(), "none");
        assert!(TrustedProxies::default().is_empty());
        assert_eq!(trusted(&["10.0.0.0/8"]).header().to_string(), "X-Forwarded-For");
        assert_eq!(trusted_forwarded(&["10.0.0.0/8"]).header().to_string(), "Forwarded");
    }

    #[test]
    fn the_header_is_named_as_the_flag_takes_it_and_x_forwarded_for_by_default() {
        assert_eq!(ForwardedHeader::default(), ForwardedHeader::XForwardedFor);
        assert_eq!(TrustedProxies::default().header(), ForwardedHeader::XForwardedFor);
        for header in [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded] {
            assert_eq!(header.as_str().parse::<ForwardedHeader>(), Ok(header));
        }
        assert_eq!("X-Forwarded-For".parse::<ForwardedHeader>(), Ok(ForwardedHeader::XForwardedFor));
        for refused in ["", "x-real-ip", "forwarded-for", "both"] {
            let error = refused.parse::<ForwardedHeader>().expect_err(refused);
            assert!(error.contains("x-forwarded-for or forwarded"), "{error}");
        }
    }

    #[test]
    fn headers_from_a_peer_that_is_not_a_trusted_proxy_are_ignored() {
        let forged = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
            ("x-forwarded-for", "10.0.0.1"),
        ];
        // Nothing trusted (the default): the peer, whatever it sends.
        assert_eq!(client(&TrustedProxies::default(), "127.0.0.1", &forged), "127.0.0.1");
        // Trusted proxies elsewhere: a client claiming to come through one is still the client.
        for proxies in [trusted(&["10.0.0.0/8"]), trusted_forwarded(&["10.0.0.0/8"])] {
            assert_eq!(client(&proxies, "203.0.113.7", &forged), "203.0.113.7");
            assert_eq!(client(&proxies, "2001:db8::7", &forged), "2001:db8::7");
        }
    }

    #[test]
    fn x_forwarded_for_is_walked_from_the_right_past_trusted_proxies() {
        let proxies = trusted(&["10.0.0.0/8", "192.168.0.1"]);
        let xff = |value| client(&proxies, "10.0.0.1", &[("x-forwarded-for", value)]);
        assert_eq!(xff("203.0.113.7"), "203.0.113.7");
        // The client prepended a forged address; the proxy appended the real one.
        assert_eq!(xff("198.51.100.1, 203.0.113.7"), "203.0.113.7");
        // Two proxies of ours in a row, then the client.
        assert_eq!(xff("198.51.100.1, 203.0.113.7, 192.168.0.1, 10.1.1.1"), "203.0.113.7");
        assert_eq!(xff("2001:db8::7"), "2001:db8::7");
        assert_eq!(xff("[2001:db8::7]:4711, 10.2.2.2"), "2001:db8::7");
        assert_eq!(xff("203.0.113.7:51234"), "203.0.113.7");
        assert_eq!(xff(" 203.0.113.7 ,,  "), "203.0.113.7", "spaces and empty elements");
        // No header, or nothing in it: the peer.
        assert_eq!(client(&proxies, "10.0.0.1", &[]), "10.0.0.1");
        assert_eq!(xff(""), "10.0.0.1");
    }

    #[test]
    fn when_every_hop_is_a_trusted_proxy_the_leftmost_is_the_client() {
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(client(&proxies, "10.0.0.1", &[("x-forwarded-for", "10.9.9.9, 10.5.5.5")]), "10.9.9.9");
        let proxies = trusted_forwarded(&["10.0.0.0/8"]);
        assert_eq!(client(&proxies, "10.0.0.1", &[("forwarded", "for=10.9.9.9, for=10.5.5.5")]), "10.9.9.9");
    }

    #[test]
    fn an_unreadable_hop_where_the_walk_would_take_it_falls_back_to_the_nearest_trusted_one() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let xff = |value| client(&proxies, "10.0.0.1", &[("x-forwarded-for", value)]);
        assert_eq!(xff("garbage"), "10.0.0.1");
        assert_eq!(xff("unknown"), "10.0.0.1");
        assert_eq!(xff("203.0.113.7, not-an-address, 10.3.3.3"), "10.3.3.3");
        assert_eq!(xff("203.0.113.7:99999"), "10.0.0.1", "no such port");
        assert_eq!(xff("203.0.113.7:"), "10.0.0.1");
        assert_eq!(xff("[2001:db8::7"), "10.0.0.1");
        assert_eq!(xff("[203.0.113.7]"), "10.0.0.1");
        assert_eq!(xff("2001:db8::7]"), "10.0.0.1");
        assert_eq!(xff("999.0.113.7"), "10.0.0.1");
        // Garbage to the left of the client never matters.
        assert_eq!(xff("\"oops, garbage, 203.0.113.7"), "203.0.113.7");
        // A line that is not visible ASCII is one unreadable hop.
        let mut headers = HeaderMap::new();
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.1"));
        headers.append(&X_FORWARDED_FOR, HeaderValue::from_bytes(b"203.0.113.7\xff").unwrap());
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &headers).to_string(), "10.0.0.1");
    }

    #[test]
    fn forwarded_for_values_are_read_in_every_form_rfc_7239_allows() {
        let proxies = trusted_forwarded(&["10.0.0.0/8"]);
        let forwarded = |value| client(&proxies, "10.0.0.1", &[("forwarded", value)]);
        // RFC 7239 §4's examples.
        assert_eq!(forwarded("for=\"_gazonk\""), "10.0.0.1");
        assert_eq!(forwarded("For=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17");
        assert_eq!(forwarded("for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60");
        assert_eq!(forwarded("for=192.0.2.43, for=198.51.100.17"), "198.51.100.17");
        // Quoted, with a port, bracketed without a port, an obfuscated port.
        assert_eq!(forwarded("for=\"192.0.2.43:47011\""), "192.0.2.43");
        assert_eq!(forwarded("for=\"[2001:db8::17]\""), "2001:db8::17");
        // Brackets belong in quotes, but unquoted they are just as unambiguous.
        assert_eq!(forwarded("for=[2001:db8::17]"), "2001:db8::17");
        assert_eq!(forwarded("for=\"192.0.2.43:_p1\""), "192.0.2.43");
        assert_eq!(forwarded("for=\"\\192.0.2.43\""), "192.0.2.43", "a quoted-pair is its character");
        // Parameters in any order and case, a `by` naming someone else, quotes hiding separators.
        assert_eq!(forwarded("proto=https;FOR=192.0.2.43;by=\"[::1]:80\""), "192.0.2.43");
        assert_eq!(forwarded("for=192.0.2.43;host=\"a,b;c\", for=10.7.7.7"), "192.0.2.43");
    }

    #[test]
    fn obfuscated_unknown_or_malformed_forwarded_hops_are_never_taken() {
        let proxies = trusted_forwarded(&["10.0.0.0/8"]);
        let forwarded = |value| client(&proxies, "10.0.0.1", &[("forwarded", value)]);
        for unusable in [
            "for=unknown",
            "for=\"unknown\"",
            "for=_hidden",
            "for=\"_hidden\"",
            "for=2001:db8::17",
            "for=\"2001:db8::17\"",
            "for=192.0.2.43\"",
            "for=\"192.0.2.43",
            "for=\"192.0.2.43\"x",
            "for=192.0.2.43;for=192.0.2.44",
            "by=192.0.2.43",
            "for",
            "for=192.0.2.43;proto",
            "for=",
            "for=192.0.2.43:_",
            "for=192.0.2.43:80:80",
        ] {
            assert_eq!(forwarded(unusable), "10.0.0.1", "{unusable}");
        }
        // Falls back to the nearest trusted hop, not to the peer, nor past it.
        assert_eq!(forwarded("for=192.0.2.43, for=_hidden, for=10.4.4.4"), "10.4.4.4");
        assert_eq!(forwarded("for=192.0.2.43, by=10.0.0.9, for=10.4.4.4"), "10.4.4.4");
        // An unterminated quote swallows the rest of its line, which is then unreadable.
        assert_eq!(forwarded("for=\"192.0.2.43, for=198.51.100.17"), "10.0.0.1");
    }

    #[test]
    fn by_default_a_client_sent_forwarded_header_is_ignored() {
        // The proxy appended X-Forwarded-For and passed on the `Forwarded` the client wrote.
        let proxies = trusted(&["10.0.0.0/8"]);
        let both = [("forwarded", "for=192.0.2.43"), ("x-forwarded-for", "198.51.100.1")];
        assert_eq!(client(&proxies, "10.0.0.1", &both), "198.51.100.1");
        // Alone, it names nobody: the peer, not the address the client chose.
        assert_eq!(client(&proxies, "10.0.0.1", &[("forwarded", "for=192.0.2.43")]), "10.0.0.1");
        // An unreadable `X-Forwarded-For` does not fall over to `Forwarded` either.
        let garbage = [("forwarded", "for=192.0.2.43"), ("x-forwarded-for", "garbage")];
        assert_eq!(client(&proxies, "10.0.0.1", &garbage), "10.0.0.1");
    }

    #[test]
    fn with_forwarded_chosen_a_client_sent_x_forwarded_for_is_ignored() {
        let proxies = trusted_forwarded(&["10.0.0.0/8"]);
        let both = [("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=192.0.2.43")];
        assert_eq!(client(&proxies, "10.0.0.1", &both), "192.0.2.43");
        assert_eq!(client(&proxies, "10.0.0.1", &[("x-forwarded-for", "198.51.100.1")]), "10.0.0.1");
        // An obfuscated or empty `Forwarded` names nothing, and the other header is not read instead.
        let hidden = [("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=_hidden")];
        assert_eq!(client(&proxies, "10.0.0.1", &hidden), "10.0.0.1");
        let empty = [("x-forwarded-for", "198.51.100.1"), ("forwarded", " , ")];
        assert_eq!(client(&proxies, "10.0.0.1", &empty), "10.0.0.1");
    }

    #[test]
    fn several_lines_of_one_header_are_one_list_in_order() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let lines = [("x-forwarded-for", "198.51.100.1, 203.0.113.7"), ("x-forwarded-for", "10.1.1.1")];
        assert_eq!(client(&proxies, "10.0.0.1", &lines), "203.0.113.7");
        let proxies = trusted_forwarded(&["10.0.0.0/8"]);
        let lines = [("forwarded", "for=198.51.100.1"), ("forwarded", "for=203.0.113.7, for=10.1.1.1")];
        assert_eq!(client(&proxies, "10.0.0.1", &lines), "203.0.113.7");
        // A line broken by its sender does not break the lines our proxy appended after it.
        let lines = [("forwarded", "for=\"198.51.100.1"), ("forwarded", "for=203.0.113.7")];
        assert_eq!(client(&proxies, "10.0.0.1", &lines), "203.0.113.7");
    }

    #[test]
    fn any_bytes_in_the_headers_give_an_address_and_never_panic() {
        let everyone = ["0.0.0.0/0", "::/0"];
        let samples: [&[u8]; 10] = [
            b"\"",
            b"\\",
            b"for=\"\\",
            b"for=\"\\\"",
            b"[",
            b"]:",
            b"[]:1",
            b";;;,,,===",
            b"for=\"[::1]:\"",
            b"\xff\xfe for=1.2.3.4",
        ];
        for sample in samples {
            for (name, proxies) in
                [(&header::FORWARDED, trusted_forwarded(&everyone)), (&X_FORWARDED_FOR, trusted(&everyone))]
            {
                let mut headers = HeaderMap::new();
                headers.append(name, HeaderValue::from_bytes(sample).unwrap());
                let _ = proxies.client_ip(ip("10.0.0.1"), &headers);
            }
        }
    }

    #[tokio::test]
    async fn handlers_get_the_client_address_through_the_router_s_trusted_proxies() {
        use axum::Router;
        use axum::routing::get;
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        /// The address the handler sees for a request with `X-Forwarded-For: forwarded_for`, and a
        /// `Forwarded` a client might have sent naming 192.0.2.66.
        async fn ask(router: Router, forwarded_for: &str) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(crate::serve(listener, router, std::future::pending()));
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let request = format!(
                "GET / HTTP/1.1\r\nHost: x\r\nForwarded: for=192.0.2.66\r\nX-Forwarded-For: {forwarded_for}\r\n\
                 Connection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.unwrap();
            let response = String::from_utf8_lossy(&response).into_owned();
            response.rsplit("\r\n").next().unwrap().to_owned()
        }

        let router = || {
            Router::new().route("/", get(|ClientAddr(client): ClientAddr| async move { client.to_string() }))
        };
        // Without the extension, headers are not read.
        assert_eq!(ask(router(), "203.0.113.7").await, "127.0.0.1");
        let nobody = router().layer(axum::Extension(TrustedProxies::default()));
        assert_eq!(ask(nobody, "203.0.113.7").await, "127.0.0.1");
        let loopback = router().layer(axum::Extension(trusted(&["127.0.0.1/32"])));
        assert_eq!(ask(loopback, "203.0.113.7").await, "203.0.113.7");
        let loopback = router().layer(axum::Extension(trusted_forwarded(&["127.0.0.1/32"])));
        assert_eq!(ask(loopback, "203.0.113.7").await, "192.0.2.66");
    }

    #[tokio::test]
    async fn without_a_peer_address_there_is_no_client_address() {
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        assert_eq!(ClientAddr::of(&parts), None);
        assert!(ClientAddr::from_request_parts(&mut parts, &()).await.is_err());
    }
}
