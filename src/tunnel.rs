//! Tunnels: the hosts on which the well-known endpoints are active.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::{HeaderValue, Uri, Version};

use crate::error::ConfigError;
use crate::origin::{NAME_BYTES, Origin, default_port, parse_authority, split_authority};

/// An active HTTP tunnel host: where the well-known endpoints answer, the
/// identifiers reported in the session endpoint's `tunnel` object, and the
/// origin that logout requests must come from.
///
/// Behind rstream's edge, [`Tunnel::new`] takes the tunnel's host and the
/// workspace and project ids the edge reports. Off the edge, where there are
/// no such ids, [`Tunnel::from_origin`] takes the one URL the application is
/// served on; [`with_ids`](Tunnel::with_ids) adds ids if the application
/// has some of its own.
///
/// The origin defaults to `https://{host}` with [`Tunnel::new`]. The origin
/// is configuration only: the layer never derives it from `X-Forwarded-*`,
/// `Forwarded` or any other header a client controls. Its scheme also
/// chooses the session cookie's `Secure` attribute when the cookie is not
/// set explicitly (see [`WellKnownBuilder::session_cookie`](crate::WellKnownBuilder::session_cookie)).
///
/// # Without ids
///
/// The session endpoint's `tunnel` object always has its three members, as
/// the edge's does: a tunnel without ids reports `"workspaceId": null` and
/// `"projectId": null`, the way the `user` object reports a missing name
/// (present as `null`, not omitted), so that a page reading them never
/// meets `undefined`.
///
/// ```
/// use rstream_well_known::Tunnel;
///
/// let tunnel = Tunnel::new("api-f587ee53.t.aws-eu-west-3-1.c.rstream.io", "workspace-id", "project-id")?;
/// assert_eq!(tunnel.origin(), "https://api-f587ee53.t.aws-eu-west-3-1.c.rstream.io");
/// assert_eq!(tunnel.project_id(), Some("project-id"));
///
/// let app = Tunnel::from_origin("https://app.example.com")?;
/// assert_eq!(app.host(), "app.example.com");
/// assert_eq!(app.workspace_id(), None);
///
/// let local = Tunnel::from_origin("http://127.0.0.1:3000")?;
/// assert_eq!(local.host(), "127.0.0.1:3000");
/// assert_eq!(local.origin(), "http://127.0.0.1:3000");
/// # Ok::<(), rstream_well_known::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Tunnel {
    inner: Arc<TunnelInner>,
}

#[derive(Clone)]
struct TunnelInner {
    /// As reported in `tunnel.host`: lower-cased, with the port if one was given.
    host: String,
    /// The host name alone, lower-cased, for matching.
    name: String,
    /// The port given with the host, if any.
    port: Option<u16>,
    workspace_id: Option<String>,
    project_id: Option<String>,
    origin: Origin,
    /// The session endpoint's `tunnel` object, rendered once.
    json: Box<str>,
}

impl Tunnel {
    /// A tunnel on `host` (a host name or IP literal, optionally with a
    /// port), reported with the given workspace and project ids. Its origin is
    /// `https://{host}`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidTunnelHost`] when `host` is not a plain
    /// `host[:port]` authority. Write names without the trailing dot of a
    /// fully qualified name; requests that use it still match.
    pub fn new(
        host: &str,
        workspace_id: impl Into<String>,
        project_id: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        Self::on_host(host)?.with_ids(workspace_id, project_id)
    }

    /// A tunnel served on `origin` (`http://host[:port]` or
    /// `https://host[:port]`, nothing after it), for an application that is
    /// not behind rstream's edge: its host is the origin's host, with the
    /// port when it is not the scheme's default, and it has no workspace
    /// or project id (the session endpoint reports them as `null`; see
    /// [Without ids](Tunnel#without-ids)).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidTunnelOrigin`] when `origin` is not such an
    /// origin (a path after it, userinfo, another scheme, a trailing dot).
    pub fn from_origin(origin: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::InvalidTunnelOrigin(origin.to_owned());
        let parsed = Origin::parse(origin)
            .filter(|o| matches!(o.scheme(), "http" | "https"))
            .ok_or_else(invalid)?;
        let serialised = parsed.to_string();
        let host = serialised
            .split_once("://")
            .map(|(_, host)| host)
            .ok_or_else(invalid)?;
        let tunnel = Self::on_host(host).map_err(|_| invalid())?;
        tunnel.with_origin(&serialised)
    }

    /// A tunnel on `host` without ids, its origin `https://{host}`.
    fn on_host(host: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::InvalidTunnelHost(host.to_owned());
        let (name, port) = parse_authority(host)
            .filter(|(name, _)| !name.ends_with('.'))
            .ok_or_else(invalid)?;
        let host = host.to_ascii_lowercase();
        let origin = Origin::parse(&format!("https://{host}")).ok_or_else(invalid)?;
        let json = tunnel_json(&host, None, None);
        Ok(Self {
            inner: Arc::new(TunnelInner {
                host,
                name,
                port,
                workspace_id: None,
                project_id: None,
                origin,
                json,
            }),
        })
    }

    /// Sets the workspace and project ids the session endpoint reports
    /// (`tunnel.workspaceId`, `tunnel.projectId`).
    ///
    /// # Errors
    ///
    /// None today; the `Result` lets [`Tunnel::new`] and
    /// [`Tunnel::from_origin`] chain into it with `?` alike.
    pub fn with_ids(
        self,
        workspace_id: impl Into<String>,
        project_id: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.workspace_id = Some(workspace_id.into());
        inner.project_id = Some(project_id.into());
        inner.json = tunnel_json(
            &inner.host,
            inner.workspace_id.as_deref(),
            inner.project_id.as_deref(),
        );
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Replaces the tunnel origin (`scheme://host[:port]`, scheme `http` or
    /// `https`), which logout's `Origin`/`Referer` check compares against.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidTunnelOrigin`] when `origin` is not such an origin.
    pub fn with_origin(self, origin: &str) -> Result<Self, ConfigError> {
        let origin = Origin::parse(origin)
            .filter(|o| matches!(o.scheme(), "http" | "https"))
            .ok_or_else(|| ConfigError::InvalidTunnelOrigin(origin.to_owned()))?;
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.origin = origin;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The host as reported in `tunnel.host` (lower-cased).
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The workspace id (`tunnel.workspaceId`), `None` for a tunnel made
    /// without ids.
    pub fn workspace_id(&self) -> Option<&str> {
        self.inner.workspace_id.as_deref()
    }

    /// The project id (`tunnel.projectId`), `None` for a tunnel made
    /// without ids.
    pub fn project_id(&self) -> Option<&str> {
        self.inner.project_id.as_deref()
    }

    /// The tunnel origin, serialised (`scheme://host[:port]`, default port
    /// omitted).
    pub fn origin(&self) -> String {
        self.inner.origin.to_string()
    }

    /// Whether `self` and `other` are the same tunnel value (clones of one
    /// [`Tunnel::new`]).
    pub(crate) fn same(&self, other: &Tunnel) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The session endpoint's `tunnel` object.
    pub(crate) fn json(&self) -> &str {
        &self.inner.json
    }

    pub(crate) fn origin_ref(&self) -> &Origin {
        &self.inner.origin
    }

    /// Whether the tunnel is served over plain `http`.
    fn is_plain_http(&self) -> bool {
        self.inner.origin.scheme() == "http"
    }

    /// Whether the origin's host is a loopback name, which browsers treat
    /// as a secure context even over plain HTTP (Chromium then keeps
    /// `Secure` and `__Host-` cookies): `localhost` and names under it,
    /// `127.0.0.0/8`, `[::1]`.
    fn is_loopback(&self) -> bool {
        let host = self.inner.origin.host();
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        literal
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }

    /// The port requests reach this tunnel on.
    fn effective_port(&self) -> Option<u16> {
        self.inner
            .port
            .or_else(|| default_port(self.inner.origin.scheme()))
    }

    /// Whether a request that named `port` (on this tunnel's host name) is for
    /// this tunnel. A request that names no port is on the scheme's default port.
    fn serves(&self, port: Option<u16>) -> bool {
        port.or_else(|| default_port(self.inner.origin.scheme())) == self.effective_port()
    }
}

/// `{"host":…,"workspaceId":…,"projectId":…}`, the ids `null` when absent.
fn tunnel_json(host: &str, workspace_id: Option<&str>, project_id: Option<&str>) -> Box<str> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct TunnelJson<'a> {
        host: &'a str,
        workspace_id: Option<&'a str>,
        project_id: Option<&'a str>,
    }
    let json = TunnelJson {
        host,
        workspace_id,
        project_id,
    };
    // Serialising strings cannot fail.
    serde_json::to_string(&json)
        .unwrap_or_default()
        .into_boxed_str()
}

impl fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("host", &self.inner.host)
            .field("workspace_id", &self.inner.workspace_id)
            .field("project_id", &self.inner.project_id)
            .field("origin", &self.origin())
            .finish()
    }
}

impl PartialEq for Tunnel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (self.inner.host == other.inner.host
                && self.inner.workspace_id == other.inner.workspace_id
                && self.inner.project_id == other.inner.project_id
                && self.inner.origin == other.inner.origin)
    }
}

impl Eq for Tunnel {}

/// A dynamic host → tunnel mapping, consulted for well-known requests whose
/// host is not one of the layer's configured tunnels.
///
/// It is synchronous on purpose: it runs for well-known requests only, and an
/// application whose mapping lives in a database keeps a copy in memory
/// (refreshed on its own schedule) rather than making every session lookup
/// wait on a query. Closures `Fn(&str, Option<u16>) -> Option<Tunnel>`
/// implement it.
///
/// `host` is the request's host, lower-cased, without the trailing dot of a
/// fully qualified name (IPv6 literals keep their brackets); `port` is the
/// port the request named, if any.
///
/// ```
/// use rstream_well_known::{Tunnel, WellKnownLayer};
///
/// let layer = WellKnownLayer::builder()
///     .tunnel_resolver(|host: &str, _port: Option<u16>| {
///         let project = host.strip_suffix(".apps.example.com")?;
///         Tunnel::new(host, "workspace-id", project).ok()
///     })
///     .build()?;
/// # Ok::<(), rstream_well_known::ConfigError>(())
/// ```
pub trait TunnelResolver: Send + Sync + 'static {
    /// The tunnel serving `host` and `port`, or `None` when the host is not an
    /// active tunnel (its requests are then forwarded untouched).
    fn resolve(&self, host: &str, port: Option<u16>) -> Option<Tunnel>;
}

impl<F> TunnelResolver for F
where
    F: Fn(&str, Option<u16>) -> Option<Tunnel> + Send + Sync + 'static,
{
    fn resolve(&self, host: &str, port: Option<u16>) -> Option<Tunnel> {
        self(host, port)
    }
}

/// The configured tunnels and the optional dynamic resolver.
#[derive(Clone, Default)]
pub(crate) struct Tunnels {
    /// Every configured tunnel, scanned in order when there are few.
    list: Vec<Tunnel>,
    /// The same tunnels by lower-cased host name, for many.
    by_name: HashMap<String, Vec<Tunnel>>,
    resolver: Option<Arc<dyn TunnelResolver>>,
}

/// Up to this many tunnels, a request's host is compared with each in turn
/// (no hashing, no lower-casing); beyond, it is looked up by name.
const SCAN_AT_MOST: usize = 8;

impl Tunnels {
    pub(crate) fn add(&mut self, tunnel: Tunnel) -> Result<(), ConfigError> {
        let same_host = self.by_name.entry(tunnel.inner.name.clone()).or_default();
        if same_host
            .iter()
            .any(|t| t.effective_port() == tunnel.effective_port())
        {
            return Err(ConfigError::DuplicateTunnel(tunnel.inner.host.clone()));
        }
        same_host.push(tunnel.clone());
        self.list.push(tunnel);
        Ok(())
    }

    pub(crate) fn set_resolver(&mut self, resolver: Arc<dyn TunnelResolver>) {
        self.resolver = Some(resolver);
    }

    /// The first configured tunnel served over `https`.
    pub(crate) fn first_https(&self) -> Option<&Tunnel> {
        self.list.iter().find(|tunnel| !tunnel.is_plain_http())
    }

    /// The first configured tunnel served over plain `http`, and the first
    /// of those whose host is not loopback.
    pub(crate) fn first_plain_http(&self) -> (Option<&Tunnel>, Option<&Tunnel>) {
        let mut plain = self.list.iter().filter(|tunnel| tunnel.is_plain_http());
        let first = plain.next();
        let public = first
            .into_iter()
            .chain(plain)
            .find(|tunnel| !tunnel.is_loopback());
        (first, public)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty() && self.resolver.is_none()
    }

    /// The tunnel a well-known request is for.
    ///
    /// The host is read from the request URI's authority (HTTP/2's
    /// `:authority`, or an absolute-form target) and from the `Host` field.
    /// A request whose host is missing (in HTTP/1.1 and later), repeated,
    /// malformed, carries userinfo, or differs between the two places is
    /// [`HostMatch::Invalid`]: the inner service would read its tunnel host
    /// from `Host`, so such a request is neither answered for a tunnel nor
    /// forwarded. Names compare without case and without the trailing dot
    /// of a fully qualified name.
    pub(crate) fn for_request(&self, request: &RequestHost<'_>) -> HostMatch<'_> {
        // The common case first: a single `Host` field that is, byte for
        // byte, a configured tunnel's host (which is valid and lower-case),
        // and no other authority in the URI.
        if let (Some(field), false, None) =
            (request.field, request.repeated, request.uri.authority())
        {
            if let Some(tunnel) = self
                .list
                .iter()
                .take(SCAN_AT_MOST)
                .find(|t| t.inner.host.as_bytes() == field.as_bytes())
            {
                return HostMatch::Tunnel(Cow::Borrowed(tunnel));
            }
        }
        let (name, port) = match request.host() {
            Ok(Some(host)) => host,
            Ok(None) => return HostMatch::None,
            Err(reason) => return HostMatch::Invalid(reason),
        };
        if self.list.len() <= SCAN_AT_MOST {
            if let Some(tunnel) = self
                .list
                .iter()
                .find(|t| t.inner.name.eq_ignore_ascii_case(name) && t.serves(port))
            {
                return HostMatch::Tunnel(Cow::Borrowed(tunnel));
            }
        }
        // Names are keyed (and given to the resolver) lower-cased; lower-case
        // a mixed-case one on the stack (a DNS name has at most 253 bytes).
        let mut buffer = [0u8; 255];
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            let Some(lower) = buffer.get_mut(..name.len()) else {
                return HostMatch::None;
            };
            lower.copy_from_slice(name.as_bytes());
            lower.make_ascii_lowercase();
            // Lower-casing ASCII letters keeps the bytes valid UTF-8.
            std::str::from_utf8(lower).unwrap_or_default()
        } else {
            name
        };
        if self.list.len() > SCAN_AT_MOST {
            if let Some(tunnel) = self
                .by_name
                .get(name)
                .and_then(|tunnels| tunnels.iter().find(|t| t.serves(port)))
            {
                return HostMatch::Tunnel(Cow::Borrowed(tunnel));
            }
        }
        match self.resolver.as_ref().and_then(|r| r.resolve(name, port)) {
            Some(tunnel) => HostMatch::Tunnel(Cow::Owned(tunnel)),
            None => HostMatch::None,
        }
    }
}

/// Which tunnel a well-known request is for.
#[derive(Debug)]
pub(crate) enum HostMatch<'t> {
    /// An active tunnel: the layer answers. Borrowed from the configuration
    /// (a resolver's tunnel is owned): answers that need it owned clone it.
    Tunnel(Cow<'t, Tunnel>),
    /// A well-formed host that is no tunnel (or, in HTTP/1.0, no host): the
    /// request is forwarded untouched.
    None,
    /// A missing, repeated, malformed or ambiguous host: `400` with this
    /// reason.
    Invalid(&'static str),
}

/// Where a request names its host: the URI (its authority, and the scheme
/// that gives a missing port its default), the `Host` field (the first, and
/// whether there were more) and the HTTP version.
#[derive(Debug)]
pub(crate) struct RequestHost<'a> {
    pub(crate) uri: &'a Uri,
    pub(crate) version: Version,
    pub(crate) field: Option<&'a HeaderValue>,
    pub(crate) repeated: bool,
}

impl RequestHost<'_> {
    /// The host of the request, as written but without the trailing dot of
    /// a fully qualified name, and the port it names; `None` for an HTTP/1.0
    /// request without a host.
    fn host(&self) -> Result<Option<(&str, Option<u16>)>, &'static str> {
        const INVALID: &str = "invalid_host";
        const AMBIGUOUS: &str = "ambiguous_host";
        if self.repeated {
            return Err(AMBIGUOUS);
        }
        let from_field = match self.field {
            Some(value) => Some(parse_host(value.as_bytes()).ok_or(INVALID)?),
            None => None,
        };
        let from_uri = match self.uri.authority() {
            Some(authority) => Some(parse_host(authority.as_str().as_bytes()).ok_or(INVALID)?),
            None => None,
        };
        match (from_uri, from_field) {
            (Some(uri), Some(field)) => {
                let scheme_port = self.uri.scheme_str().and_then(default_port);
                let same = uri.0.eq_ignore_ascii_case(field.0)
                    && uri.1.or(scheme_port) == field.1.or(scheme_port);
                if same { Ok(Some(uri)) } else { Err(AMBIGUOUS) }
            }
            (Some(host), None) | (None, Some(host)) => Ok(Some(host)),
            (None, None) if self.version <= Version::HTTP_10 => Ok(None),
            (None, None) => Err(INVALID),
        }
    }
}

/// Parses a host as a request names it: `host[:port]`, no userinfo, a
/// registered name of non-empty labels (one trailing dot allowed and
/// dropped) or an IP literal. Registered names, the common case, are checked
/// in one pass over the bytes.
fn parse_host(authority: &[u8]) -> Option<(&str, Option<u16>)> {
    if authority.first() == Some(&b'[') {
        return split_authority(std::str::from_utf8(authority).ok()?);
    }
    let mut end = authority.len();
    // A leading dot would start with an empty label.
    let mut after_dot = true;
    for (i, &b) in authority.iter().enumerate() {
        if b == b':' {
            end = i;
            break;
        }
        if !NAME_BYTES[usize::from(b)] || (b == b'.' && after_dot) {
            return None;
        }
        after_dot = b == b'.';
    }
    let port = match &authority[end..] {
        [] | [b':'] => None,
        [b':', digits @ ..] => Some(parse_port(digits)?),
        _ => return None,
    };
    let name = match &authority[..end] {
        [] => return None,
        [name @ .., b'.'] => name,
        name => name,
    };
    // Only bytes of `NAME_BYTES`, all ASCII.
    Some((std::str::from_utf8(name).ok()?, port))
}

/// 1 to 5 decimal digits of a value up to 65535.
fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    let mut port: u32 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        port = port * 10 + u32::from(digit - b'0');
    }
    u16::try_from(port).ok()
}

impl fmt::Debug for Tunnels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnels")
            .field("tunnels", &self.list)
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious reading of the rule, to compare the one-pass parser with.
    fn reference(authority: &[u8]) -> Option<(String, Option<u16>)> {
        let (name, port) = split_authority(std::str::from_utf8(authority).ok()?)?;
        let name = if name.starts_with('[') {
            name
        } else {
            let name = if name.len() > 1 {
                name.strip_suffix('.').unwrap_or(name)
            } else {
                name
            };
            if name.split('.').any(str::is_empty) {
                return None;
            }
            name
        };
        Some((name.to_owned(), port))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        #[test]
        fn the_one_pass_host_parser_agrees_with_the_rule(
            authority in "[a-zA-Z0-9.:\\\\[\\\\]_~@-]{0,12}|[a-z.]{1,6}(:[0-9]{0,6})?"
        ) {
            let parsed = parse_host(authority.as_bytes()).map(|(n, p)| (n.to_owned(), p));
            proptest::prop_assert_eq!(parsed, reference(authority.as_bytes()), "{:?}", authority);
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host(b"App.Example.com."),
            Some(("App.Example.com", None))
        );
        assert_eq!(parse_host(b"a:443"), Some(("a", Some(443))));
        assert_eq!(parse_host(b"a:"), Some(("a", None)));
        assert_eq!(parse_host(b"[::1]:3000"), Some(("[::1]", Some(3000))));
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a..",
            b".a",
            b"a..b",
            b"a:65536",
            b"a:1:2",
            b"u@a",
            b"a b",
            b"a:+1",
        ] {
            assert_eq!(parse_host(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
