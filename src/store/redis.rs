//! The Redis session store (feature `redis`): [`RedisStore`] and its
//! builder. The design is documented on [`RedisStore`].

use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, RedisError, Script, ScriptInvocation};
use sha2::{Digest, Sha256};

use super::{ListSessions, RevokeAll, Session, SessionDecodeError, SessionId, SessionStore};
use crate::encoding::{base64url, is_base64url};

/// A [`SessionStore`] in Redis, shared by every process that uses the same
/// Redis and key prefix (feature `redis`). Cloning is cheap and shares the
/// connection.
///
/// ```no_run
/// use std::time::Duration;
/// use rstream_well_known::{RedisStore, Tunnel, WellKnownLayer};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379/")
///     .key_prefix("myapp:session:")
///     .timeout(Duration::from_secs(2))
///     .connect()
///     .await?;
/// let layer = WellKnownLayer::builder()
///     .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
///     .with_session_store(store)
///     .build()?;
/// # let _ = layer; Ok(()) }
/// ```
///
/// # Requirements
///
/// Rust 1.88 (the `redis` crate's), a Tokio runtime with its timer (the
/// default of `#[tokio::main]`), and Redis 5 or later (the scripts use only
/// commands of Redis 4 and effects replication, the default since Redis 5;
/// the tests run on Redis 7), or a compatible server such as Valkey. Sessions are in Redis only: nothing is cached in
/// the process, so a logout or a revoke-all through one instance holds at
/// once on every other.
///
/// The connection is the `redis` crate's [`ConnectionManager`]: one
/// multiplexed connection that reconnects by itself after an outage, so a
/// store built once serves for the life of the process. With feature
/// `redis-cluster`, [`RedisStore::cluster_builder`] talks to a Redis Cluster
/// (its connection finds the slots and follows redirections by itself). With
/// feature `redis-tls`, `rediss://` URLs connect over TLS (rustls, the
/// platform's root certificates; when the process has no default rustls
/// crypto provider, the store installs `aws-lc-rs`'s, rustls' default).
///
/// # Timeouts and outages
///
/// Every call is bounded by the store's [timeout](RedisStoreBuilder::timeout)
/// (default [`RedisStore::DEFAULT_TIMEOUT`], 2 seconds; how it and the
/// layer's [`backend_timeout`](crate::WellKnownBuilder::backend_timeout)
/// work together is explained there), whatever Redis does: a stopped server, a network that drops packets, a connection being
/// re-established. A call that runs out of time fails with an error of kind
/// [`RedisStoreErrorKind::Timeout`], and the layer then answers as for any
/// store error: the session endpoint says "not authenticated", logout answers
/// `503`, sign-in fails with [`SignInError::Store`](crate::SignInError).
/// The connection manager keeps reconnecting in the background, and the
/// store answers again once Redis is back, without being rebuilt. A call
/// that times out after Redis carried it out (a create whose answer was
/// lost) leaves a session nobody has the cookie of; it expires on its own.
///
/// # Keys
///
/// For a session with id `id` of a user with id `user`, carrying the
/// [session tags](Session::with_tag) `label₁ … labelₙ`:
///
/// ```text
/// <prefix>{<tag>}:s:<digest>   a hash: v = the session (see below),
///                              x = its absolute deadline, i = its idle deadline,
///                              t = " <ldigest₁> … <ldigestₙ> " (only when n > 0)
/// <prefix>{<tag>}:u            a sorted set: the user's sessions (<digest>s),
///                              scored by deadline
/// <prefix>{<ldigest>}:t        a sorted set per session tag: the <tag>s of the
///                              users with sessions carrying it, each scored by
///                              the latest absolute deadline among them
/// tag     = base64url(SHA-256("rstream-well-known user\0" ‖ user)[..12])
/// digest  = base64url(SHA-256(id))
/// ldigest = base64url(SHA-256("rstream-well-known tag\0" ‖ label))
/// ```
///
/// Keys never contain a session id, a user id or a session tag: someone who
/// can list keys, or read Redis's slow log, learns no cookie. A session
/// tag's digest is all of SHA-256 (43 characters), since nothing checks the
/// tag's text behind it: two tags never share an index nor match each
/// other's sessions. The prefix defaults to
/// [`RedisStore::DEFAULT_KEY_PREFIX`]; give each application (or each
/// environment sharing a Redis) its own.
///
/// Every key has a Redis-side expiry (`PEXPIREAT`): a session's key expires
/// at its deadline, the user's index when the last of its sessions does,
/// and a session tag's index at the latest absolute deadline of the
/// sessions that carried it. Nothing needs a sweeper. Redis must not evict
/// these keys before their time, which would sign users out early and could
/// hide sessions from revoke-all and revoke-tagged: run it with
/// `maxmemory-policy noeviction` (or size it so it never evicts).
///
/// # Session ids
///
/// The store mints its own ids: 256 bits from the operating system's CSPRNG
/// in base64url (43 characters), a `.`, and the user's 16-character `tag`
/// above, 60 characters in all. An id of any other shape is unknown without
/// a call to Redis. A client that changes the tag of its cookie only names a
/// key that does not exist, since the key's digest covers the whole id.
///
/// # Revoke-all and Redis Cluster: one hash slot per user
///
/// A user's sessions and their index share the hash tag `{<tag>}`, so in a
/// Redis Cluster they live in one hash slot, on one node. Each operation that
/// touches both is one Lua script, which Redis runs atomically:
///
/// - create (`EXISTS`, `HSET`, `PEXPIREAT`, then `ZADD` to the index): never
///   overwrites an existing id;
/// - revoke (`DEL` and `ZREM`);
/// - revoke-all (`DEL` of every session in the index, then of the index): it
///   ends exactly the sessions that exist when it runs, even under Cluster;
/// - touch (below).
///
/// The alternative, a per-user generation counter read on every load, was
/// not chosen: it costs a second round trip (to another slot) on every
/// request, leaves revoked sessions in memory until they expire, and cannot
/// list a user's sessions. With one slot per user, a load is a single
/// `HMGET`, a revoked session is gone at once, and listing is cheap. The
/// price is that one user's sessions cannot spread over nodes, which no
/// realistic number of sessions per user needs.
///
/// The index stays correct with expiry: members are scored by their session's
/// deadline, each create first drops the members whose deadline has passed
/// by Redis's clock (the one its expiries use), and the index key expires
/// with its last member. An index member whose session is gone is harmless
/// (revoke-all deletes a key that is not there).
///
/// # Session tags and Redis Cluster
///
/// A tag can be carried by sessions of several users, which live in several
/// slots, so [`revoke_tagged`](RevokeAll::revoke_tagged) cannot be one
/// script the way revoke-all is. Instead:
///
/// - create first records, for each of the session's tags, the user's
///   `<tag>` in the tag's index (one script in the tag's slot, which also
///   drops the users whose time has passed), then creates the session as
///   above, its field `t` naming the tags' digests. A session whose create
///   has finished is thus always reachable from each of its tags' indexes;
/// - revoke-tagged reads the tag's index, then, for each user in it, runs
///   one script in that user's slot that deletes every session in the
///   user's index whose `t` names the tag (and its index member).
///
/// So, as with revoke-all, every session carrying the tag that exists when
/// the call starts ends, even under Cluster; each user's sessions end
/// atomically, and a tag carried by one user's sessions only (a provider
/// session, a provider's user) takes one script, atomic exactly as
/// revoke-all is. A call that fails part-way (a timeout) may have ended
/// some users' sessions and not others': it returns the error, and calling
/// it again ends the rest. The work grows with the number of users carrying
/// the tag and with their sessions. The index is not emptied by the call
/// (a session being created at the same time may be registered in it); it
/// expires on its own, and a user in it whose sessions are gone costs one
/// script that deletes nothing.
///
/// # Idle timeout
///
/// A session created with an idle deadline stores it in field `i`;
/// [`touch`](RedisStore::touch) moves it later, up to the absolute deadline
/// `x`, and moves the key's expiry and index score with it, in one script
/// that does nothing when the key is gone: a touch never revives an expired
/// or revoked session. A touch never moves the idle deadline earlier (two
/// instances touching at once keep the later deadline).
///
/// # The stored value
///
/// Field `v` holds the session in the crate's
/// [stored form](Session#stored-form) (JSON with a version field): the
/// user, the session's times (to the millisecond) and its tags; `x` and
/// `i` hold the absolute and idle deadlines to the nanosecond, which the
/// scripts compare. Instances of two crate versions can share a Redis
/// during a rolling upgrade as the stored form allows (a reader ignores the
/// fields it does not know). A value of another version of the form, or
/// one that is not of the form, is refused: the load fails with an error
/// of kind [`RedisStoreErrorKind::UnsupportedVersion`] or
/// [`RedisStoreErrorKind::Corrupt`] (logged by the layer, never a panic,
/// never another user), which the layer treats as "no live session";
/// logout still deletes such a session.
///
/// (Earlier, unreleased builds kept a binary encoding in `v`; their
/// sessions fail to load as [`Corrupt`](RedisStoreErrorKind::Corrupt) and
/// their users sign in again. The binary encoding decoded a typical
/// session 3 to 6 µs faster than the stored form does, on a loaded 2-core
/// machine where the session endpoint on Redis took about 200 µs: 1 to 3 %
/// of the request, within its run-to-run noise, and not worth a second
/// form.)
///
/// # Limits
///
/// A session already past its deadline (a zero ttl) is not stored: its id
/// never loads. Deadlines are kept exactly (to the nanosecond) in `x` and
/// `i`, and to the millisecond in the value; Redis's expiries are whole milliseconds, rounded up, and
/// [`Session`]'s clamp to the year 9999 keeps them in range. The store
/// checks the deadline against the application's clock on every load as
/// well, so a session never loads past its deadline even when Redis's clock
/// lags; Redis's clock decides when keys are dropped. A call that finds a
/// stored value it cannot read fails rather than guess (see above).
/// Revoke-all and listing run in one script each, whose work grows with the
/// number of sessions the user has. A create of a session with tags takes
/// one more script per tag (at most [`Session::MAX_TAGS`]).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    prefix: String,
    timeout: Duration,
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl fmt::Debug for RedisStore {
    // The URL may carry a password: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner.connection {
            Connection::Single(_) => "single",
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("connection", &kind)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

/// Where the store connects to.
#[derive(Clone)]
enum Target {
    Url(String),
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<String>),
}

/// Configures a [`RedisStore`]: from [`RedisStore::builder`] (or
/// [`RedisStore::cluster_builder`]), then [`connect`](Self::connect) or
/// [`build`](Self::build).
#[must_use]
#[derive(Clone)]
pub struct RedisStoreBuilder {
    target: Target,
    prefix: String,
    timeout: Duration,
}

impl fmt::Debug for RedisStoreBuilder {
    // The URL may carry a password: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// The key prefix unless [`key_prefix`](RedisStoreBuilder::key_prefix)
    /// sets another.
    pub const DEFAULT_KEY_PREFIX: &'static str = "rstream-session:";

    /// How long a call may take unless [`timeout`](RedisStoreBuilder::timeout)
    /// says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Starts configuring a store on the Redis server at `url`
    /// (`redis://[user:password@]host[:port][/db]`, or `rediss://` with
    /// feature `redis-tls`; `redis+unix:///path` for a Unix socket).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            target: Target::Url(url.into()),
            prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Starts configuring a store on the Redis Cluster that `nodes` (URLs of
    /// some of its nodes) belong to (feature `redis-cluster`).
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_builder<I>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        RedisStoreBuilder {
            target: Target::Cluster(nodes.into_iter().map(Into::into).collect()),
            prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// A store on the Redis server at `url` with the default settings,
    /// connected: `RedisStore::builder(url).connect()`.
    ///
    /// # Errors
    ///
    /// As [`RedisStoreBuilder::connect`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, RedisStoreError> {
        Self::builder(url).connect().await
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }
}

/// The longest key prefix accepted, in bytes.
const MAX_PREFIX_LEN: usize = 256;

impl RedisStoreBuilder {
    /// Puts every key of the store under `prefix` (default
    /// [`RedisStore::DEFAULT_KEY_PREFIX`]). Stores with different prefixes
    /// never see each other's sessions. At most 256 bytes, without `{` or
    /// `}` (the store's keys carry their own hash tag).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bounds every call to Redis, connecting again included (default
    /// [`RedisStore::DEFAULT_TIMEOUT`], 2 seconds). A zero duration counts
    /// as one millisecond.
    ///
    /// **Beside the layer's
    /// [`backend_timeout`](crate::WellKnownBuilder::backend_timeout).** The
    /// two bound different things, and both stay:
    ///
    /// - this one is the store's own, always on, and bounds each command
    ///   or script sent to Redis, wherever the store is used (the layer, a
    ///   [`SessionManager`](crate::SessionManager), your own code), and
    ///   also each connection attempt of the reconnecting connection, which
    ///   nothing outside the store can reach. A store method that sends
    ///   several (a create with tags: one script per tag, then the create;
    ///   a revoke-tagged: one per user) may take that many timeouts. It
    ///   fails with [`RedisStoreErrorKind::Timeout`], which the layer logs;
    /// - the layer's is optional, runtime-free (it takes a
    ///   [`Timer`](crate::Timer)), and bounds a whole request's backend
    ///   calls together, the token verifier's included.
    ///
    /// Use this one to bound Redis, and the layer's, if at all, as the
    /// request's budget: set it longer than this one (the store then fails
    /// first, with its own error in the log), or shorter to cap requests
    /// whose calls send several commands.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Builds the store without talking to Redis: the connection is made on
    /// the first call, so an application can start while Redis is down (its
    /// session calls fail, within the timeout, until Redis is up).
    ///
    /// Must be called within a Tokio runtime (the connection manager starts
    /// a task).
    ///
    /// # Errors
    ///
    /// [`RedisStoreErrorKind::Config`] when the URL does not parse, the
    /// prefix is refused, TLS is asked for without feature `redis-tls`, or
    /// there is no Tokio runtime. The text says what is wrong (for a URL:
    /// no scheme, an unknown scheme, no host, a port that is not a number,
    /// a path that is not a database number, a password that needs
    /// percent-encoding, …) and never quotes the URL, which may hold a
    /// password.
    pub fn build(self) -> Result<RedisStore, RedisStoreError> {
        check_prefix(&self.prefix)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisStoreError::config(
                "the Redis store must be built within a Tokio runtime",
            ));
        }
        let connection = match &self.target {
            Target::Url(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| {
                    RedisStoreError::new(RedisStoreErrorKind::Config(url_refusal(url)), Some(e))
                })?;
                check_tls(client.get_connection_info().addr())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    // Reconnect quickly and keep trying: each failed round
                    // of attempts starts another on the next call.
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                let manager =
                    ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
                        RedisStoreError::new(
                            RedisStoreErrorKind::Config(
                                "the Redis connection manager could not start",
                            ),
                            Some(e),
                        )
                    })?;
                Connection::Single(manager)
            }
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => {
                let mut infos = Vec::with_capacity(nodes.len());
                for node in nodes {
                    let info = redis::IntoConnectionInfo::into_connection_info(node.as_str())
                        .map_err(|e| {
                            RedisStoreError::new(
                                RedisStoreErrorKind::Config(url_refusal(node)),
                                Some(e),
                            )
                        })?;
                    check_tls(info.addr())?;
                    infos.push(info);
                }
                let client = redis::cluster::ClusterClientBuilder::new(infos)
                    .connection_timeout(self.timeout)
                    .response_timeout(self.timeout)
                    .retries(2)
                    .build()
                    .map_err(|e| {
                        RedisStoreError::new(
                            RedisStoreErrorKind::Config("the Redis Cluster client is refused"),
                            Some(e),
                        )
                    })?;
                Connection::Cluster(
                    client.get_pending_async_connection_with_config(
                        redis::cluster::ClusterConfig::new()
                            .set_connection_timeout(self.timeout)
                            .set_response_timeout(self.timeout),
                    ),
                )
            }
        };
        Ok(RedisStore {
            inner: Arc::new(Inner {
                connection,
                prefix: self.prefix,
                timeout: self.timeout,
            }),
        })
    }

    /// Builds the store and checks, within the timeout, that Redis answers
    /// (`PING`): for applications that would rather not start without their
    /// sessions.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), and the error of the `PING` when Redis
    /// does not answer it in time.
    pub async fn connect(self) -> Result<RedisStore, RedisStoreError> {
        let store = self.build()?;
        let _: String = store.query(redis::cmd("PING")).await?;
        Ok(store)
    }
}

/// Why the `redis` crate refused `url`, which it says only as "Redis URL
/// did not parse": the first thing wrong, as a text that never quotes the
/// URL (it may hold a password).
fn url_refusal(url: &str) -> &'static str {
    let url = url.trim();
    if url.is_empty() {
        return "the Redis URL is empty";
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return "the Redis URL has no scheme: write redis://host:port (or rediss://, \
                redis+unix:///path)";
    };
    let unix = match scheme.to_ascii_lowercase().as_str() {
        "redis" | "valkey" => false,
        "rediss" | "valkeys" if cfg!(not(feature = "redis-tls")) => {
            return "a TLS URL (rediss://) needs feature `redis-tls`";
        }
        "rediss" | "valkeys" => false,
        "redis+unix" | "valkey+unix" | "unix" => true,
        _ => {
            return "the Redis URL's scheme is not redis://, rediss:// or redis+unix://";
        }
    };
    let (authority, path_and_more) =
        rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if unix {
        return if authority.is_empty() && path_and_more.starts_with('/') {
            "the Redis URL's database or protocol parameter is refused: write \
             redis+unix:///path?db=N&protocol=resp3"
        } else {
            "a Unix socket URL names an absolute path and no host: redis+unix:///path/to/socket"
        };
    }
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, after)| after);
    if authority.contains('@') && host_and_port.is_empty() {
        return "the Redis URL has no host after its credentials";
    }
    if host_and_port.is_empty() {
        return "the Redis URL has no host: write redis://host:port";
    }
    // An IPv6 host is bracketed; the port follows the last colon after it.
    let after_host = host_and_port
        .rsplit_once(']')
        .map_or(host_and_port, |(_, after)| after);
    if let Some((_, port)) = after_host.rsplit_once(':') {
        let number = port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok();
        if !port.is_empty() && !number {
            return if authority.contains('@') || path_and_more.contains('@') {
                "the Redis URL's port is not a number from 0 to 65535 (a user name or password \
                 holding '/', '?', '#', '@' or ':' must be percent-encoded)"
            } else {
                "the Redis URL's port is not a number from 0 to 65535"
            };
        }
    }
    let host = after_host
        .rsplit_once(':')
        .map_or(after_host, |(host, _)| host);
    if matches!(host, "0.0.0.0" | "[::]") {
        return "the Redis URL names a wildcard address (0.0.0.0 or ::), not a server";
    }
    if path_and_more.contains('@') {
        return "the Redis URL has characters after its host that do not belong there (a user \
                name or password holding '/', '?' or '#' must be percent-encoded)";
    }
    let path = path_and_more
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_matches('/');
    if !path.is_empty() && path.parse::<i64>().is_err() {
        return "the Redis URL's path is not a database number: write redis://host:port/N";
    }
    if path_and_more.contains("protocol=") {
        return "the Redis URL's protocol parameter is neither resp2 nor resp3";
    }
    if path_and_more.contains('#') {
        return "the Redis URL's only fragment is #insecure, with rediss://";
    }
    "the Redis URL does not parse (a user name or password holding '/', '?', '#', '@' or ':' \
     must be percent-encoded, and a host is a name or an IP address)"
}

fn check_prefix(prefix: &str) -> Result<(), RedisStoreError> {
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(RedisStoreError::config(
            "the key prefix is longer than 256 bytes",
        ));
    }
    if prefix.contains(['{', '}']) {
        return Err(RedisStoreError::config(
            "the key prefix must not contain '{' or '}'",
        ));
    }
    Ok(())
}

#[cfg(feature = "redis-tls")]
fn check_tls(addr: &redis::ConnectionAddr) -> Result<(), RedisStoreError> {
    if matches!(addr, redis::ConnectionAddr::TcpTls { .. })
        && rustls::crypto::CryptoProvider::get_default().is_none()
    {
        // rustls' own default provider, the one with post-quantum key
        // exchange. Another thread may have installed one meanwhile: either
        // is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
    Ok(())
}

#[cfg(not(feature = "redis-tls"))]
fn check_tls(addr: &redis::ConnectionAddr) -> Result<(), RedisStoreError> {
    match addr {
        redis::ConnectionAddr::Tcp(..) | redis::ConnectionAddr::Unix(_) => Ok(()),
        _ => Err(RedisStoreError::config(
            "a TLS URL (rediss://) needs feature `redis-tls`",
        )),
    }
}

/// Why the Redis store could not answer.
///
/// Its `Display` text names what failed and, for a Redis error, Redis's own
/// message (which never contains a key's secret: keys hold digests). The
/// underlying client error, if any, is the [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct RedisStoreError {
    kind: RedisStoreErrorKind,
    source: Option<RedisError>,
}

/// What kind of failure a [`RedisStoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisStoreErrorKind {
    /// The call did not finish within the store's timeout.
    Timeout(Duration),
    /// Redis, or the connection to it, failed.
    Redis,
    /// A stored session is of a version of the
    /// [stored form](Session#stored-form) this crate version cannot read
    /// (the number is that version).
    UnsupportedVersion(u64),
    /// A stored session is not of the stored form, or its fields beside it
    /// are not what the store writes; the text says which.
    Corrupt(&'static str),
    /// The operating system's random source failed: no id could be minted.
    Random,
    /// Several freshly minted ids were all taken (which a working random
    /// source makes impossible).
    IdCollision,
    /// The configuration was refused; the text says why.
    Config(&'static str),
}

impl RedisStoreError {
    fn new(kind: RedisStoreErrorKind, source: Option<RedisError>) -> Self {
        Self { kind, source }
    }

    fn config(why: &'static str) -> Self {
        Self::new(RedisStoreErrorKind::Config(why), None)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> RedisStoreErrorKind {
        self.kind
    }

    /// Whether the call ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, RedisStoreErrorKind::Timeout(_))
    }
}

impl From<RedisError> for RedisStoreError {
    fn from(error: RedisError) -> Self {
        Self::new(RedisStoreErrorKind::Redis, Some(error))
    }
}

impl From<SessionDecodeError> for RedisStoreError {
    fn from(error: SessionDecodeError) -> Self {
        let kind = match error {
            SessionDecodeError::UnsupportedVersion(version) => {
                RedisStoreErrorKind::UnsupportedVersion(version)
            }
            SessionDecodeError::Corrupt => {
                RedisStoreErrorKind::Corrupt("the value is not of the stored form")
            }
        };
        Self::new(kind, None)
    }
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RedisStoreErrorKind::Timeout(after) => {
                write!(f, "Redis did not answer within {after:?}")
            }
            RedisStoreErrorKind::Redis => match &self.source {
                Some(source) => write!(f, "Redis failed: {source}"),
                None => f.write_str("Redis failed"),
            },
            RedisStoreErrorKind::UnsupportedVersion(version) => {
                SessionDecodeError::UnsupportedVersion(version).fmt(f)
            }
            RedisStoreErrorKind::Corrupt(why) => {
                write!(f, "a stored session cannot be read: {why}")
            }
            RedisStoreErrorKind::Random => {
                f.write_str("the operating system's random source failed")
            }
            RedisStoreErrorKind::IdCollision => {
                f.write_str("every freshly minted session id was already taken")
            }
            RedisStoreErrorKind::Config(why) => {
                write!(f, "invalid Redis store configuration: {why}")
            }
        }
    }
}

impl std::error::Error for RedisStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Creates a session unless its key exists.
///
/// KEYS: session, index. ARGV: value, absolute deadline (ns), idle deadline
/// (ns, or empty), key expiry (ms), index member, the tags' digests (each
/// between spaces, or empty).
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {'v', ARGV[1], 'x', ARGV[2]}
if ARGV[3] ~= '' then
  fields[#fields + 1] = 'i'
  fields[#fields + 1] = ARGV[3]
end
if ARGV[6] ~= '' then
  fields[#fields + 1] = 't'
  fields[#fields + 1] = ARGV[6]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000)))
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], top[2])
return 1
",
    )
});

/// Moves a live session's idle deadline later, up to its absolute deadline.
///
/// KEYS: session, index. ARGV: idle deadline (ns), index member. Times in
/// ns are decimal strings compared as (seconds, nanoseconds), which Lua's
/// doubles hold exactly.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local function split(ns)
  return tonumber(string.sub(ns, 1, -10)) or 0, tonumber(string.sub(ns, -9))
end
local function before(a, b)
  local as, an = split(a)
  local bs, bn = split(b)
  return as < bs or (as == bs and an < bn)
end
local f = redis.call('HMGET', KEYS[1], 'x', 'i')
if not f[1] or not f[2] then return 0 end
local target = ARGV[1]
if before(f[1], target) then target = f[1] end
if not before(f[2], target) then return 0 end
local s, n = split(target)
local ms = string.format('%d', s * 1000 + math.ceil(n / 1000000))
redis.call('HSET', KEYS[1], 'i', target)
redis.call('PEXPIREAT', KEYS[1], ms)
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then
  redis.call('ZADD', KEYS[2], ms, ARGV[2])
  local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], top[2])
end
return 1
",
    )
});

/// Ends one session. KEYS: session, index. ARGV: index member.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
",
    )
});

/// Ends every session of one user. KEYS: index. ARGV: the prefix of the
/// user's session keys.
static REVOKE_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, member in ipairs(members) do
  redis.call('DEL', ARGV[1] .. member)
end
redis.call('DEL', KEYS[1])
return #members
",
    )
});

/// Records that a user has sessions carrying a tag, until `expiry` at
/// least, and drops the users whose time has passed.
///
/// KEYS: the tag's index. ARGV: user tag, the latest absolute deadline of
/// the user's sessions carrying the tag (ms).
static TAG_USERS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000)))
local had = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not had or tonumber(had) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], top[2])
return 1
",
    )
});

/// Ends every session of one user that carries a tag. KEYS: the user's
/// index. ARGV: the prefix of the user's session keys, the tag's digest
/// between spaces.
static REVOKE_TAGGED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local ended = 0
for _, member in ipairs(members) do
  local key = ARGV[1] .. member
  local tags = redis.call('HGET', key, 't')
  if tags and string.find(tags, ARGV[2], 1, true) then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], member)
    ended = ended + 1
  end
end
return ended
",
    )
});

/// The stored fields of one user's live sessions, flattened (value, idle
/// deadline or empty). KEYS: index. ARGV: the prefix of the user's session
/// keys.
static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000))
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, member in ipairs(members) do
  local f = redis.call('HMGET', ARGV[1] .. member, 'v', 'i')
  if f[1] then
    out[#out + 1] = f[1]
    out[#out + 1] = f[2] or ''
  end
end
return out
",
    )
});

/// How many fresh ids a create tries before giving up.
const CREATE_ATTEMPTS: usize = 4;

/// The largest key expiry the store sets, in ms since the epoch (2^53 - 1,
/// about the year 287,000, which Lua's numbers hold exactly).
const MAX_EXPIRY_MS: u64 = (1 << 53) - 1;

/// The keys of one session.
struct Keys {
    session: String,
    index: String,
    member: String,
}

impl RedisStore {
    /// The keys of the session with `id`, or `None` when the id is not of
    /// this store's shape.
    fn keys(&self, id: &SessionId) -> Option<Keys> {
        let (random, tag) = id.expose().split_once('.')?;
        if random.len() != RANDOM_LEN
            || tag.len() != TAG_LEN
            || !is_base64url(random)
            || !is_base64url(tag)
        {
            return None;
        }
        let member = base64url(&Sha256::digest(id.expose().as_bytes()));
        let slot = format!("{}{{{tag}}}", self.inner.prefix);
        Some(Keys {
            session: format!("{slot}:s:{member}"),
            index: format!("{slot}:u"),
            member,
        })
    }

    /// `<prefix>{<tag>}` for a user.
    fn user_slot(&self, user_id: &str) -> String {
        format!("{}{{{}}}", self.inner.prefix, user_tag(user_id))
    }

    /// Runs `call` within the timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisStoreError> {
        match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(RedisStoreError::new(
                RedisStoreErrorKind::Timeout(self.inner.timeout),
                None,
            )),
        }
    }

    async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, RedisStoreError> {
        self.bounded(async {
            match self.inner.connection.clone() {
                Connection::Single(mut c) => cmd.query_async(&mut c).await,
                #[cfg(feature = "redis-cluster")]
                Connection::Cluster(mut c) => cmd.query_async(&mut c).await,
            }
        })
        .await
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, RedisStoreError> {
        self.bounded(async {
            match self.inner.connection.clone() {
                Connection::Single(mut c) => invocation.invoke_async(&mut c).await,
                #[cfg(feature = "redis-cluster")]
                Connection::Cluster(mut c) => invocation.invoke_async(&mut c).await,
            }
        })
        .await
    }

    /// Stores a session under a fresh id.
    async fn create_session(&self, session: Session) -> Result<SessionId, RedisStoreError> {
        let tag = user_tag(session.user().user_id());
        let deadline = session.deadline();
        if deadline <= SystemTime::now() {
            // Already over: nothing to store, an id that never loads.
            return new_id(&tag);
        }
        let value = session.encode();
        let expires = nanos_text(session.expires_at());
        let idle = session
            .idle_expires_at()
            .map(nanos_text)
            .unwrap_or_default();
        let expiry = expiry_ms(deadline).to_string();
        // The tags' index entries first: a revoke-tagged that starts once
        // this create has finished finds the user through them.
        let mut digests = String::new();
        if !session.shared_tags().is_empty() {
            let latest = expiry_ms(session.expires_at()).to_string();
            for session_tag in session.tags() {
                let digest = tag_digest(session_tag);
                let _: i64 = self
                    .invoke(TAG_USERS.key(self.tag_key(&digest)).arg(&tag).arg(&latest))
                    .await?;
                digests.push(' ');
                digests.push_str(&digest);
            }
            digests.push(' ');
        }
        for _ in 0..CREATE_ATTEMPTS {
            let id = new_id(&tag)?;
            let Some(keys) = self.keys(&id) else {
                // Minted ids always have the store's shape.
                return Err(RedisStoreError::new(RedisStoreErrorKind::Random, None));
            };
            let created: i64 = self
                .invoke(
                    CREATE
                        .key(&keys.session)
                        .key(&keys.index)
                        .arg(&value)
                        .arg(&expires)
                        .arg(&idle)
                        .arg(&expiry)
                        .arg(&keys.member)
                        .arg(&digests),
                )
                .await?;
            if created == 1 {
                return Ok(id);
            }
        }
        Err(RedisStoreError::new(RedisStoreErrorKind::IdCollision, None))
    }

    /// The live session with `id`.
    async fn load_session(&self, id: &SessionId) -> Result<Option<Session>, RedisStoreError> {
        let Some(keys) = self.keys(id) else {
            return Ok(None);
        };
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&keys.session).arg("v").arg("i");
        let (value, idle): (Option<Vec<u8>>, Option<String>) = self.query(cmd).await?;
        let Some(value) = value else {
            return Ok(None);
        };
        let session = session_of(&value, idle.as_deref())?;
        // The reading travels with the session: the layer checks the
        // deadline at it instead of reading the clock again.
        Ok(session.live_now())
    }

    /// Moves a live session's idle deadline to `idle_expires_at`.
    async fn touch_session(
        &self,
        id: &SessionId,
        idle_expires_at: SystemTime,
    ) -> Result<(), RedisStoreError> {
        let Some(keys) = self.keys(id) else {
            return Ok(());
        };
        let _: i64 = self
            .invoke(
                TOUCH
                    .key(&keys.session)
                    .key(&keys.index)
                    .arg(nanos_text(idle_expires_at))
                    .arg(&keys.member),
            )
            .await?;
        Ok(())
    }

    /// Ends the session with `id`.
    async fn revoke_session(&self, id: &SessionId) -> Result<(), RedisStoreError> {
        let Some(keys) = self.keys(id) else {
            return Ok(());
        };
        let _: i64 = self
            .invoke(REVOKE.key(&keys.session).key(&keys.index).arg(&keys.member))
            .await?;
        Ok(())
    }

    /// Ends every session of `user_id`.
    async fn revoke_all_sessions(&self, user_id: &str) -> Result<(), RedisStoreError> {
        let slot = self.user_slot(user_id);
        let _: i64 = self
            .invoke(
                REVOKE_ALL
                    .key(format!("{slot}:u"))
                    .arg(format!("{slot}:s:")),
            )
            .await?;
        Ok(())
    }

    /// Ends every session carrying `tag`: for each user the tag's index
    /// names, one script in that user's slot.
    async fn revoke_tagged_sessions(&self, tag: &str) -> Result<(), RedisStoreError> {
        let digest = tag_digest(tag);
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(self.tag_key(&digest)).arg(0).arg(-1);
        let users: Vec<String> = self.query(cmd).await?;
        let needle = format!(" {digest} ");
        for user in users {
            // The store writes user tags only; anything else names no
            // session (every session key's tag has this shape).
            if user.len() != TAG_LEN || !is_base64url(&user) {
                continue;
            }
            let slot = format!("{}{{{user}}}", self.inner.prefix);
            let _: i64 = self
                .invoke(
                    REVOKE_TAGGED
                        .key(format!("{slot}:u"))
                        .arg(format!("{slot}:s:"))
                        .arg(&needle),
                )
                .await?;
        }
        Ok(())
    }

    /// `<prefix>{<digest>}:t`: the index of a tag.
    fn tag_key(&self, digest: &str) -> String {
        format!("{}{{{digest}}}:t", self.inner.prefix)
    }

    /// The live sessions of `user_id`.
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, RedisStoreError> {
        let slot = self.user_slot(user_id);
        let fields: Vec<Vec<u8>> = self
            .invoke(LIST.key(format!("{slot}:u")).arg(format!("{slot}:s:")))
            .await?;
        let now = SystemTime::now();
        let mut sessions = Vec::with_capacity(fields.len() / 2);
        for pair in fields.chunks_exact(2) {
            let idle = std::str::from_utf8(&pair[1]).map_err(|_| corrupt_idle_deadline())?;
            let session = session_of(&pair[0], (!idle.is_empty()).then_some(idle))?;
            // A 96-bit tag shared by two users is beyond reach, but the
            // check is free.
            if session.user().user_id() == user_id && session.is_live_at(now) {
                sessions.push(session);
            }
        }
        sessions.sort_by_key(Session::created_at);
        Ok(sessions)
    }
}

/// A stored session from its fields.
fn session_of(value: &[u8], idle: Option<&str>) -> Result<Session, RedisStoreError> {
    let session = Session::decode(value)?;
    // `i` holds the idle deadline as touches moved it.
    Ok(match idle {
        Some(ns) => {
            session.with_idle_expires_at(time_of_nanos_text(ns).ok_or_else(corrupt_idle_deadline)?)
        }
        None => session,
    })
}

fn corrupt_idle_deadline() -> RedisStoreError {
    RedisStoreError::new(
        RedisStoreErrorKind::Corrupt("an idle deadline is not a number"),
        None,
    )
}

/// Random part of an id: 256 bits in base64url.
const RANDOM_LEN: usize = 43;
/// The user tag: 96 bits in base64url.
const TAG_LEN: usize = 16;

/// The hash tag of a user's keys (and of their sessions' ids).
fn user_tag(user_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"rstream-well-known user\0");
    hasher.update(user_id.as_bytes());
    base64url(&hasher.finalize()[..12])
}

/// The digest a session tag's index key and the sessions' `t` field name
/// it by: all of SHA-256, so that no two tags meet (unlike a user's
/// tag, which the check of the user id backs up, nothing checks a tag's
/// text after the digest).
fn tag_digest(tag: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"rstream-well-known tag\0");
    hasher.update(tag.as_bytes());
    base64url(&hasher.finalize())
}

/// A fresh id for a session of the user with `tag`.
fn new_id(tag: &str) -> Result<SessionId, RedisStoreError> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random)
        .map_err(|_| RedisStoreError::new(RedisStoreErrorKind::Random, None))?;
    let id = format!("{}.{tag}", base64url(&random));
    // base64url and `.` are cookie-safe, and 60 bytes are within bounds.
    SessionId::new(&id).ok_or(RedisStoreError::new(RedisStoreErrorKind::Random, None))
}

/// Nanoseconds since the epoch as decimal text (before the epoch counts as
/// the epoch; capped where Redis's expiry is).
fn nanos_text(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs().min(MAX_EXPIRY_MS / 1000);
    if secs == 0 {
        since.subsec_nanos().to_string()
    } else {
        format!("{secs}{:09}", since.subsec_nanos())
    }
}

fn time_of_nanos_text(text: &str) -> Option<SystemTime> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let split = text.len().saturating_sub(9);
    let secs: u64 = match &text[..split] {
        "" => 0,
        secs => secs.parse().ok()?,
    };
    let nanos: u32 = text[split..].parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Redis's expiry for a deadline: whole ms since the epoch, rounded up, at
/// least 1 and at most [`MAX_EXPIRY_MS`].
fn expiry_ms(deadline: SystemTime) -> u64 {
    let since = deadline.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ms = since
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(since.subsec_nanos().div_ceil(1_000_000)));
    ms.clamp(1, MAX_EXPIRY_MS)
}

/// Every call is bounded by the store's timeout; see [`RedisStore`] for
/// what each does in Redis.
impl SessionStore for RedisStore {
    type Error = RedisStoreError;

    /// Stores the session under a fresh id (one script: `EXISTS`, `HSET`,
    /// `PEXPIREAT`, `ZADD`), minting another id in the astronomically
    /// unlikely case the first is taken. A session already past its
    /// deadline is not stored: its id never loads.
    async fn create(&self, session: Session) -> Result<SessionId, Self::Error> {
        self.create_session(session).await
    }

    /// One `HMGET`. An id of another shape than the store's is unknown
    /// without a call. A session past its deadline by the application's
    /// clock does not load, even when Redis has not expired it yet.
    async fn load(&self, id: &SessionId) -> Result<Option<Session>, Self::Error> {
        self.load_session(id).await
    }

    /// An id of another shape than the store's is unknown at once; any
    /// other needs Redis (`None`: the layer awaits [`load`](Self::load)).
    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Session>, Self::Error>> {
        self.keys(id).is_none().then_some(Ok(None))
    }

    /// Moves the idle deadline later (never earlier), up to the absolute
    /// deadline, with the key's expiry; a gone session stays gone.
    async fn touch(&self, id: &SessionId, idle_expires_at: SystemTime) -> Result<(), Self::Error> {
        self.touch_session(id, idle_expires_at).await
    }

    /// Deletes the session and its index entry, in one script.
    async fn revoke(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.revoke_session(id).await
    }
}

/// Revoke-all is atomic under Redis Cluster too: the user's sessions and
/// index share a hash slot, and one script deletes them all. Revoke-tagged
/// runs one such script per user whose sessions carry the tag (see
/// [`RedisStore`], "Tags").
impl RevokeAll for RedisStore {
    async fn revoke_all(&self, user_id: &str) -> Result<(), Self::Error> {
        self.revoke_all_sessions(user_id).await
    }

    async fn revoke_tagged(&self, tag: &str) -> Result<(), Self::Error> {
        self.revoke_tagged_sessions(tag).await
    }
}

/// One script reads the user's index and the sessions in it; the list is
/// ordered by creation time.
impl ListSessions for RedisStore {
    async fn list(&self, user_id: &str) -> Result<Vec<Session>, Self::Error> {
        self.list_sessions(user_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_have_the_documented_shape() {
        let tag = user_tag("ada");
        assert_eq!(tag.len(), TAG_LEN);
        assert_eq!(tag, user_tag("ada"));
        assert_ne!(tag, user_tag("bob"));
        let id = new_id(&tag).unwrap();
        let (random, id_tag) = id.expose().split_once('.').unwrap();
        assert_eq!(random.len(), RANDOM_LEN);
        assert_eq!(id_tag, tag);
        assert_eq!(id.expose().len(), 60);
        assert_ne!(id, new_id(&tag).unwrap());
    }

    #[test]
    fn the_user_tag_is_stable_across_versions() {
        // Part of the stored layout: a change would hide existing sessions
        // from revoke-all.
        assert_eq!(user_tag("ada"), user_tag("ada"));
        let mut hasher = Sha256::new();
        hasher.update(b"rstream-well-known user\0ada");
        assert_eq!(user_tag("ada"), base64url(&hasher.finalize()[..12]));
    }

    #[test]
    fn nanosecond_texts_round_trip() {
        for time in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(0, 5),
            UNIX_EPOCH + Duration::new(1, 0),
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
        ] {
            assert_eq!(time_of_nanos_text(&nanos_text(time)), Some(time));
        }
        assert_eq!(nanos_text(UNIX_EPOCH - Duration::from_secs(1)), "0");
        for bad in ["", "-1", "1.5", "x"] {
            assert_eq!(time_of_nanos_text(bad), None);
        }
    }

    #[test]
    fn expiries_round_up_and_stay_in_range() {
        assert_eq!(expiry_ms(UNIX_EPOCH), 1);
        assert_eq!(expiry_ms(UNIX_EPOCH + Duration::new(1, 1)), 1001);
        assert_eq!(expiry_ms(UNIX_EPOCH + Duration::new(1, 0)), 1000);
        let far = UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 100_000);
        assert_eq!(expiry_ms(far), MAX_EXPIRY_MS);
    }

    #[test]
    fn prefixes_with_braces_or_too_long_are_refused() {
        assert!(check_prefix("app:{x}:").is_err());
        assert!(check_prefix(&"p".repeat(257)).is_err());
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("app:session:").is_ok());
    }
}
