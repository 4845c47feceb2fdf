//! Tunnels: the hosts on which the well-known endpoints are active.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::Request;
use http::header::HOST;

use crate::error::ConfigError;
use crate::origin::{Origin, default_port, parse_authority};

/// An active HTTP tunnel host: where the well-known endpoints answer, the
/// identifiers reported in the session endpoint's `tunnel` object, and the
/// origin that logout requests must come from.
///
/// The origin defaults to `https://{host}`; local development over plain
/// HTTP sets it with [`Tunnel::with_origin`]. The origin is configuration
/// only: the layer never derives it from `X-Forwarded-*`, `Forwarded` or any
/// other header a client controls.
///
/// ```
/// use rstream_well_known::Tunnel;
///
/// let tunnel = Tunnel::new("api-f587ee53.t.aws-eu-west-3-1.c.rstream.io", "workspace-id", "project-id")?;
/// assert_eq!(tunnel.origin(), "https://api-f587ee53.t.aws-eu-west-3-1.c.rstream.io");
///
/// let local = Tunnel::new("127.0.0.1:3000", "ws", "proj")?.with_origin("http://127.0.0.1:3000")?;
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
    workspace_id: String,
    project_id: String,
    origin: Origin,
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
        let (name, port) = parse_authority(host)
            .filter(|(name, _)| !name.ends_with('.'))
            .ok_or(ConfigError::InvalidTunnelHost)?;
        let host = host.to_ascii_lowercase();
        let origin =
            Origin::parse(&format!("https://{host}")).ok_or(ConfigError::InvalidTunnelHost)?;
        Ok(Self {
            inner: Arc::new(TunnelInner {
                host,
                name,
                port,
                workspace_id: workspace_id.into(),
                project_id: project_id.into(),
                origin,
            }),
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
            .ok_or(ConfigError::InvalidTunnelOrigin)?;
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

    /// The workspace id (`tunnel.workspaceId`).
    pub fn workspace_id(&self) -> &str {
        &self.inner.workspace_id
    }

    /// The project id (`tunnel.projectId`).
    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// The tunnel origin, serialised (`scheme://host[:port]`, default port
    /// omitted).
    pub fn origin(&self) -> String {
        self.inner.origin.to_string()
    }

    pub(crate) fn origin_ref(&self) -> &Origin {
        &self.inner.origin
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
    by_name: HashMap<String, Vec<Tunnel>>,
    resolver: Option<Arc<dyn TunnelResolver>>,
}

impl Tunnels {
    pub(crate) fn add(&mut self, tunnel: Tunnel) -> Result<(), ConfigError> {
        let same_host = self.by_name.entry(tunnel.inner.name.clone()).or_default();
        if same_host
            .iter()
            .any(|t| t.effective_port() == tunnel.effective_port())
        {
            return Err(ConfigError::DuplicateTunnel);
        }
        same_host.push(tunnel);
        Ok(())
    }

    pub(crate) fn set_resolver(&mut self, resolver: Arc<dyn TunnelResolver>) {
        self.resolver = Some(resolver);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty() && self.resolver.is_none()
    }

    /// The tunnel a request is for: the authority of the request URI
    /// (HTTP/2's `:authority`, or an absolute-form target), else the single
    /// `Host` header, compared without case and without the trailing dot of
    /// a fully qualified name. A missing, repeated or malformed host (userinfo
    /// included) is no tunnel.
    pub(crate) fn for_request<B>(&self, request: &Request<B>) -> Option<Tunnel> {
        let authority = match request.uri().authority() {
            Some(authority) => authority.as_str(),
            None => {
                let mut hosts = request.headers().get_all(HOST).iter();
                let host = hosts.next()?;
                if hosts.next().is_some() {
                    return None;
                }
                host.to_str().ok()?
            }
        };
        let (mut name, port) = parse_authority(authority)?;
        // `app.example.com.` is the same DNS name as `app.example.com`.
        if name.len() > 1 && name.ends_with('.') {
            name.pop();
        }
        if let Some(tunnel) = self
            .by_name
            .get(&name)
            .and_then(|tunnels| tunnels.iter().find(|t| t.serves(port)))
        {
            return Some(tunnel.clone());
        }
        self.resolver.as_ref()?.resolve(&name, port)
    }
}

impl fmt::Debug for Tunnels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnels")
            .field(
                "tunnels",
                &self.by_name.values().flatten().collect::<Vec<_>>(),
            )
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}
