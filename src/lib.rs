//! Edge-style session endpoints for any tower HTTP service.
//!
//! [`WellKnownLayer`] sits in front of an axum, hyper or tonic service and
//! answers rstream's well-known endpoints itself, so browser code that works
//! behind rstream's edge works the same in local development and on your own
//! servers:
//!
//! - `GET`/`HEAD /.well-known/rstream/session`: who is calling, as JSON;
//! - `POST /.well-known/rstream/logout`: ends the browser session.
//!
//! Well-known requests on an active tunnel host are never forwarded to the
//! wrapped service; every other request passes through untouched at the cost
//! of one scan of the path. Who is calling is resolved through two pluggable
//! traits: a [`TokenVerifier`] for bearer tokens (the `Authorization: Bearer`
//! header, else the `rstream.token` query parameter) and a [`SessionStore`]
//! for the browser session cookie; the token is checked first.
//!
//! # Quick start
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let layer = WellKnownLayer::builder()
//!     .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
//!     .with_token_verifier(
//!         StaticTokenVerifier::new().with_token("s3cret", User::new("user-id").with_name("Ada Lovelace")),
//!     )
//!     .with_session_store(MemoryStore::new())
//!     .build()?;
//!
//! // Any service: here one that greets.
//! let app = ServiceBuilder::new().layer(layer).service(service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//! }));
//!
//! let request = Request::get("/.well-known/rstream/session")
//!     .header("host", "app.example.com")
//!     .header("authorization", "Bearer s3cret")
//!     .body(Full::default())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let json: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
//! assert_eq!(json["auth"]["method"], "token-auth");
//! assert_eq!(json["user"]["name"], "Ada Lovelace");
//! assert_eq!(json["user"]["email"], serde_json::Value::Null);
//!
//! // Everything else reaches the service.
//! let request = Request::get("/").header("host", "app.example.com").body(Full::default())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
//! # Ok(())
//! # }
//! ```
//!
//! # The rulings
//!
//! The behaviour follows rstream's documentation of its edge. Where that
//! documentation is silent, the layer does the following.
//!
//! **Which requests are answered.** Only requests for an active tunnel: the
//! request's host compared case-insensitively, and without the trailing dot
//! of a fully qualified name, with each configured [`Tunnel`] (then the
//! [`TunnelResolver`], if any), a missing port meaning the default port of
//! the tunnel origin's scheme. Requests for other hosts are forwarded
//! untouched, well-known paths included.
//!
//! **Paths.** On a tunnel, `/.well-known/rstream/session` and
//! `/.well-known/rstream/logout` are served at those exact paths only. Every
//! other path that some server, router, proxy or file system could read as
//! `/.well-known/rstream` or a path under it is answered `404`: no spelling
//! of a well-known path reaches the inner service. Servers disagree on how
//! to read a path, and because of `..` a reading that normalises more is no
//! safer than one that normalises less, so the layer answers a path when
//! *any* reading of it is in the namespace. A reading decodes `%HH` and
//! `%uHHHH` escapes until none is left. It reads the bytes as lenient UTF-8:
//! overlong forms such as `%C0%AE` count, and so do surrogate pairs. Every
//! character whose NFKC form is ASCII (`．`, `／`, `＼`, fullwidth letters,
//! `ﬆ`, …) is replaced by that text, and the ideographic full stops by `.`.
//! Segments are separated by `/` and `\`. A segment's name stops at its
//! first `;` or `:` and loses its trailing spaces and, unless it is `..`,
//! its trailing dots. Names are compared ASCII-case-insensitively. Each
//! segment may be read by its name or as it is; it may also be dropped when
//! it follows a separator other than a `/` as sent, or when it is the host
//! of a path that starts with two separators (`//host/…`). A `.` or `..` as
//! sent, between `/`s or at an end of the path, is always a dot segment. The
//! path is in the namespace when some reading starts with `.well-known` then
//! `rstream`. The same holds when the path is cut before a decoded `?`, `#`
//! or NUL, and when it starts with `/.well-known/rstream` as sent, in any
//! letter case. So `/.WELL-KNOWN/rstream/session`,
//! `/.well-known;x/rstream/session`, `/x/..;/.well-known/rstream/session`,
//! `/.well-known\rstream\session`, `/%252Ewell-known/rstream/session`,
//! `/%C0%AEwell-known/rstream/session`, `/．well-known/rstream/session`,
//! `/.well-known./rstream/logout` and `//host/.well-known/rstream/session`
//! all get `404`. `/x/.well-known/rstream/session`, `/.well-known/rstreamer`
//! and `/.well-known/openid-configuration` are forwarded. A trailing slash
//! makes another path (`404`). The walk that decides this keeps a fixed
//! state and errs on the side of `404`: a run of more than 32 `%` waiting
//! for what follows them, or more than 63 segments between `.well-known`
//! and `rstream`, is taken as in the namespace. Ordinary paths cost one scan
//! eight bytes at a time and no allocation; only paths with a `%`, a `\`, a
//! byte from 0x80 up or a `/.` are walked.
//!
//! **Hosts of well-known requests.** The host is read from the request URI's
//! authority (HTTP/2's `:authority`, an absolute-form target) and from the
//! `Host` field, and the inner service would read its own idea of the tunnel
//! from `Host`. So a well-known request whose host is ambiguous is answered
//! `400` and never forwarded, tunnel or not: a repeated `Host` field (even
//! twice the same value; RFC 9112, section 3.2), or an authority that names
//! another host or port than `Host` (RFC 9113, section 8.3.1) gets reason
//! `ambiguous_host`; a host with userinfo, an unparsable one, a name with an
//! empty label (`app.example.com..`, `.app.example.com`), or no host at all
//! in HTTP/1.1 and later gets `invalid_host`. An HTTP/1.0 request without a
//! host names no tunnel and is forwarded. Other paths are never the layer's
//! business, whatever their host.
//!
//! **Session** (`GET`, `HEAD`): `200` with `Cache-Control: no-store`,
//! `Content-Type: application/json` and `X-Content-Type-Options: nosniff`;
//! the document is exactly the spec's (field order, `null`s present, no
//! extra keys). `policies` lists the enabled mechanisms (`token-auth`, then
//! `rstream-auth`) followed by the application's own
//! ([`WellKnownBuilder::policy`]). Other methods: `405` with
//! `Allow: GET, HEAD`. `HEAD` gets the status and headers of `GET`,
//! `Content-Length` included, and no body, for every well-known answer.
//!
//! **Logout** (`POST`; others get `405` with `Allow: POST`). In this order:
//!
//! 1. Cross-origin check (`403`). Fetch metadata first, as Go's
//!    `CrossOriginProtection` does: a `Sec-Fetch-Site` other than
//!    `same-origin` or `none` (the user typed the address), or a repeated
//!    one, is refused with reason `cross_origin_request`. Then `Origin` and
//!    `Referer`, when present, must both name the tunnel origin (scheme, host
//!    and port; `Origin: null`, userinfo, a repeated field or an unparsable
//!    value never match; a `Referer` is compared by its origin), else reason
//!    `origin_mismatch`. Requests without any of these headers (scripts,
//!    servers) pass.
//! 2. Body, decided from the headers alone so that the layer never waits
//!    for a body: one declared as JSON (exactly one `Content-Type` of media
//!    type `application/json`, any case, any parameters) is accepted and
//!    never read; any other body must be known to be empty (`Content-Length:
//!    0`, or no body at all). A non-JSON body of declared length gets `415`,
//!    one of undeclared length (chunked, or HTTP/2 without `content-length`)
//!    gets `411` (reason `length_required`), even if it would have turned out
//!    empty. A client that opens a body and never sends a byte therefore gets
//!    its answer at once; the browser's `fetch` always declares its body.
//!    Over HTTP/2, the server resets a stream whose body is still arriving
//!    after the answer (RFC 9113, section 8.1 allows it); the `h2` crate
//!    closes a connection that has seen 1,024 such resets, which only a
//!    client sending many logouts with bodies on one connection reaches.
//! 3. A token-authenticated request gets a bare `204`, whatever cookie comes
//!    with it (a valid token plus a valid cookie clears nothing).
//! 4. Otherwise every distinct value of the session cookie is looked at, up
//!    to 16 of them. When one names a live session (or the store cannot tell),
//!    the request is authenticated through rstream Auth: *every* value is
//!    revoked in the store, and the `204` clears the cookie with the very
//!    attributes it was issued with, `Max-Age=0` and an `Expires` in the past.
//!    Revoking every value, not only the one that looks like the user's, is
//!    what defeats cookie tossing: a sibling host that plants cookies of the
//!    same name (for the parent domain, or with a longer `Path` so that they
//!    come first) cannot make logout revoke the wrong session and report
//!    success while the user's own cookie would work again. More than 16
//!    distinct values are refused with `400` and reason
//!    `too_many_session_cookies`, revoking nothing: revoking only some could
//!    leave the real one working. With no value of a live session, the
//!    request is unauthenticated and gets a bare `204`.
//!
//! Nothing is revoked or cleared by a refused request, and
//! `Clear-Site-Data` is never sent.
//!
//! **Cross-site logout.** `SameSite=Lax` keeps the cookie off requests from
//! other *sites*, but another origin of the same site (another port, a
//! sibling subdomain) gets it attached to a plain form post or a `no-cors`
//! `fetch`. Such requests carry `Sec-Fetch-Site: same-site` and that
//! origin's `Origin`, and are refused with `403` by the check above, even
//! with an empty body. The layer speaks no
//! CORS: a preflight `OPTIONS` is just another method (`405`), so a browser
//! never sends a cross-origin JSON logout at all. The crate's `tests/browser`
//! shows each of the three in headless Chromium.
//!
//! **Failing backends.** A verifier error counts as "no valid token" and a
//! store error as "no live session": the session endpoint then says
//! `{"auth":{"authenticated":false}}`, never `500`. A backend that panics
//! (while making its future or while the future is polled) is treated
//! exactly like one that returned an error (the panic is caught around each
//! call and the call's future dropped; with `panic = "abort"` there is
//! nothing to catch). Logout is stricter, because
//! a user must never be told they are signed out while their cookie would
//! work again once the store recovers: when the store cannot load a session,
//! logout revokes every value of the session cookie anyway, and if any
//! revocation fails it answers `503` with reason `session_store_unavailable`
//! and leaves the cookie in place. Errors and panics are logged (feature
//! `tracing`) by component and `Display` text only.
//!
//! **Backends that answer at once.** A verifier or store that has its
//! answer without waiting (a table in memory) says so through
//! [`TokenVerifier::verify_now`] and [`SessionStore::load_now`]; when every
//! backend a session-endpoint request needs answers that way, the layer runs
//! its one resolution to completion at once and boxes no future. When one
//! of them cannot (a store on the network, or a sliding touch that is due),
//! the request starts over with the backends' futures, so a verifier may be
//! asked about one token twice. Errors and panics there get the same
//! answers as in the futures.
//!
//! **Backends that do not answer.** The layer depends on no runtime, so it
//! bounds backend calls only when given a timer:
//! [`WellKnownBuilder::backend_timeout`] with a [`Timer`] ([`TokioTimer`],
//! feature `tokio`, or your runtime's sleep). The timeout is one deadline
//! per request for all its backend calls together, started by the first
//! call that does not answer at once; a call still waiting when it passes is
//! dropped and counts as failed, and so does any later call of the request
//! that does not answer at once (one that does still counts). The failure
//! answers above apply: the session endpoint answers not authenticated (a
//! hanging verifier falls back to the cookie), logout answers `503`
//! `session_store_unavailable` unless every revocation completed, a sliding
//! touch is skipped, and [`SessionManager`] calls fail with `TimedOut`. So a
//! request never waits for backends much longer than the timeout. Without a
//! timer, a backend that never answers holds the request until a timeout in
//! front of the layer ends it, such as tower-http's `TimeoutLayer` (see
//! `examples/tower_http.rs`).
//!
//! **Tokens.** `Authorization` with the `Bearer` scheme (any case) is used
//! when present, even if malformed, and the query parameter is then ignored;
//! other schemes (`Basic`, …) are the application's and are not tokens. One
//! `b64token` after one or more spaces is well-formed; empty, repeated
//! `Bearer` fields, or other bytes are a malformed token (like a refused one:
//! the session cookie is tried next). The `rstream.token` parameter is
//! form-decoded; a repeated parameter, a bad `%` escape or non-UTF-8 bytes
//! make it malformed.
//!
//! **Several verifiers.** `Arc<V>` is a verifier when `V` is, and
//! [`BoxTokenVerifier`] holds any verifier behind one type, for a choice made
//! at run time. [`TokenVerifierChain`] asks its verifiers in order: the first
//! that accepts decides; a refusal or a failure (an error or a panic) passes
//! the token to the next; when none accepts, the chain refuses if all
//! refused and fails (naming every failure) if any failed, so the layer then
//! falls back exactly as for one failing verifier. A failure never turns
//! into an accept. JWT verification (feature `jwt`) follows the rules in
//! the `jwt` module's docs: every invalid token is a refusal; only keys
//! that cannot be had (a JWKS URL never fetched) are errors.
//!
//! **Cookies.** Every `Cookie` field is read (HTTP/2 sends one per cookie).
//! When the session cookie's name appears more than once (a sibling host can
//! plant one, see [`SessionCookie`]), each distinct value is looked up: the
//! request is authenticated only if exactly one names a live session. Two
//! live sessions authenticate nobody, and more than four distinct values are
//! not looked up at all. The default name is `__Host-rstream_session` (no
//! sibling can plant a `__Host-` cookie), or `rstream_session` when the
//! cookie is not `Secure`; the cookie's path must cover
//! `/.well-known/rstream/`, or the endpoints would never see it.
//!
//! **Error answers** (`400`, `403`, `404`, `405`, `411`, `415`, `503`)
//! carry `{"error":"<reason>"}` with a stable reason (`invalid_host`,
//! `ambiguous_host`, `too_many_session_cookies`, `cross_origin_request`,
//! `origin_mismatch`, `not_found`, `method_not_allowed`, `length_required`,
//! `unsupported_media_type`, `session_store_unavailable`),
//! `Cache-Control: no-store`, and never echo the request's credentials.
//! `204` answers have no body and no `Content-Length`.
//!
//! **`HEAD` and compression.** A `HEAD` answer keeps the `Content-Length` of
//! the `GET` it mirrors, and its (empty) body reports a size hint of "at
//! most that length" rather than an exact zero, so middleware that sizes
//! answers decides the same way for both: behind tower-http's
//! `CompressionLayer`, `HEAD` gets the same `Content-Encoding` and `Vary` as
//! `GET` (and, like `GET`, loses `Content-Length`); in-process it then
//! carries the compressor's empty-stream bytes, which servers do not send
//! for `HEAD`.
//!
//! **Session store bound (`MemoryStore`).** The in-memory store holds at
//! most [`MemoryStore::max_sessions`] sessions
//! ([`MemoryStore::DEFAULT_MAX_SESSIONS`], 100,000, unless set with
//! [`MemoryStore::with_max_sessions`]; `0` counts as `1`). A sign-in on a
//! full store succeeds: once no expired session is left, the store evicts the
//! live session that expires soonest, the oldest among equals, so with one
//! session lifetime for all it is first in, first out, and the evicted user
//! is simply signed out. The store never refuses a sign-in, because a full
//! store would then lock everyone out of signing in for up to a session
//! lifetime, whoever filled it; eviction costs the evicted user the least
//! remaining time, and signing everybody out takes as many sign-ins as the
//! store holds. There is no background task and no scan of the whole store:
//! each create drops up to 8 expired sessions, soonest expired first, a
//! lookup that finds an expired session drops it, and
//! [`MemoryStore::purge_expired`] releases the lock after every 1,024. A
//! session dead on arrival (a zero ttl) is not stored; one whose deadline is
//! clamped to the year 9999 (see "Sessions") is evicted only after every
//! session that ends sooner. No duration given to the store panics.
//!
//! **Origins** come from configuration only ([`Tunnel::with_origin`]); never
//! from `X-Forwarded-*`, `Forwarded` or any other request header.
//!
//! **Identity for handlers** ([`WellKnownBuilder::identity`], off by
//! default). On the chosen [`Paths`], the layer resolves the caller of a
//! forwarded request with the session endpoint's own code and puts a
//! [`Caller`] in its extensions, before calling the inner service. A
//! `Caller` is always there on those paths: the user, the method and the
//! tunnel when authenticated, else an explicit "not authenticated" with the
//! reason ([`Unauthenticated`]), so that a handler tells "nobody is signed
//! in" from "the layer is not installed" (no `Caller` at all). A request
//! whose host is no tunnel, or is missing, repeated or malformed, is not
//! authenticated (nothing can be checked for it). A request that presents
//! no credential is decided without a backend and without boxing; one that
//! does awaits the backends in a boxed future that then calls the inner
//! service (which is why the layer needs the inner service to be `Clone`,
//! `Send` and `'static`, as tower-http's async authorisation does). The
//! same resolution is public as [`WellKnownLayer::resolve`], for handlers
//! mounted elsewhere and WebSocket handshakes. Paths outside the option
//! cost one check of the path, and nothing when it is off.
//!
//! **Verdicts.** A verifier says [`TokenVerdict::Refused`] for an invalid
//! token and [`TokenVerdict::OutOfScope`] for a valid one whose scope does
//! not cover the request. Either way the session cookie is tried next (a
//! browser session is not locked out by a stale token in a link); a
//! handler or a guarded path then sees `InvalidToken` (`401`,
//! `error="invalid_token"`) or `InsufficientScope` (`403`,
//! `error="insufficient_scope"`). A backend that fails, when nothing else
//! authenticated the request, is `Unavailable` (`503`): the request might
//! have been authenticated, so it is neither let through nor told its
//! credential is bad. A malformed token counts as an invalid one.
//!
//! **Enforcement** ([`WellKnownBuilder::require_authentication`], off by
//! default). A forwarded request on the chosen [`Paths`] that is not
//! authenticated is answered by the layer and never forwarded, with
//! `Cache-Control: no-store` and `{"error":"<reason>"}` like every error
//! answer of the layer (`HEAD` gets the headers of `GET`):
//!
//! - `401` with `WWW-Authenticate: Bearer` (`unauthenticated`), or
//!   `Bearer error="invalid_token"` (`invalid_token`) when a token was
//!   presented and was malformed or refused;
//! - `403` with `Bearer error="insufficient_scope"` (`insufficient_scope`)
//!   for a valid token out of scope (no cookie authenticated it either);
//! - `503` (`authentication_unavailable`) when a backend failed and nothing
//!   else authenticated the request;
//! - `401` (`unknown_host`) when the host is no tunnel, `400`
//!   (`invalid_host`, `ambiguous_host`) when it is missing, repeated or
//!   ambiguous, as for well-known requests: a guarded path is guarded on
//!   every host (an exemption is exempt on every host, so a health check
//!   by address can be exempted);
//! - `303 See Other` to the [sign-in URL](WellKnownBuilder::sign_in_url)
//!   for a browser navigation (`GET` or `HEAD`, `text/html` accepted by
//!   name with a non-zero quality, no `Upgrade` field and no `upgrade` in
//!   `Connection`) that is `unauthenticated` or `invalid_token`, when
//!   rstream Auth is on and a sign-in URL is set. The `Location` adds the
//!   original path and query (the `rstream.token` parameter removed, at
//!   most 2,048 bytes, and only when it is a safe return URL) as the return
//!   parameter (`return_to` by default), percent-encoded. Other methods,
//!   upgrades (WebSocket handshakes), API clients, out-of-scope tokens and
//!   failing backends never get a redirect.
//!
//! Which paths are guarded is decided on the path model above: a path is
//! guarded when *any* reading of it is under a guarded prefix (letter case
//! aside), and exempt only when *every* reading of it stays under an exempt
//! prefix (exact case, no `..` however spelled); a predicate is asked only
//! about paths with one reading, and any other path is guarded (see
//! [`Paths`]). The sign-in URL is a path on the tunnel origin and must not
//! be guarded itself (`build` refuses the loop). Well-known endpoints are
//! the layer's and are not guarded.
//! [`SessionManager::safe_return_url`] checks a return URL before a sign-in
//! handler redirects to it.
//!
//! **WebSockets.** Upgrades pass through like any request (the layer keeps
//! the request's extensions, where servers put the upgrade); a browser's
//! `WebSocket` cannot set headers, so the `rstream.token` query parameter
//! authenticates a handshake. A browser lets any page open a WebSocket to
//! any host, and attaches the session cookie to the handshake of a page of
//! another origin of the same site (a sibling subdomain, another port:
//! `SameSite` is about sites). So on the paths where identity or
//! enforcement is on, an upgrade that the session cookie authenticates is
//! refused unless its `Origin` is the tunnel origin or one allowed with
//! [`WellKnownBuilder::websocket_origin`] (none by default):
//!
//! - An upgrade is a request with an `Upgrade` field (any protocol) or
//!   `upgrade` in a `Connection` field (either is enough, for servers that
//!   upgrade on one of them), or with the method `CONNECT`: HTTP/2 and
//!   HTTP/3 carry a WebSocket in an extended `CONNECT` (RFC 8441, RFC 9220)
//!   whose `:protocol` only the server's own types show, so every `CONNECT`
//!   counts. A browser sends these only to open a WebSocket.
//! - `Origin` is compared as logout compares it (scheme, host and port, a
//!   missing port meaning the scheme's default). `Origin: null` (sandboxed
//!   frames, `file:` pages), a repeated field or a value that does not
//!   parse never matches. A handshake without `Origin` passes: browsers
//!   always send it with one, and a client that is no browser holds its
//!   cookie itself, where no page can borrow it. `Referer` and fetch
//!   metadata are not read: browsers send no `Referer` with a handshake,
//!   and the pages of an allowed origin of the same site are
//!   `Sec-Fetch-Site: same-site`.
//! - A handshake that a token authenticates is not checked: a token is no
//!   ambient credential, a page presents only one it holds (the token
//!   decides even beside a valid cookie). Nor is one nobody is
//!   authenticated for (no credential, a session that ended, a failing
//!   store, a refused token and no live session): the handler gets an
//!   anonymous [`Caller`], as any page could; on a guarded path
//!   enforcement refuses it first (`401`, `503`, never a redirect).
//! - The refusal is `403` with `{"error":"origin_mismatch"}`,
//!   `Cache-Control: no-store` and no `WWW-Authenticate` (signing in again
//!   would not help), and the request never reaches the inner service.
//!
//! Paths where neither identity nor enforcement is on are not checked (and
//! cost nothing more). [`WellKnownLayer::resolve`] resolves a handshake's
//! caller without this check: where the layer is not in front of the
//! handshake, refuse a cookie-authenticated one that
//! [`SessionManager::check_origin`] refuses.
//!
//! **Sign-in handlers** share the layer's rules through the
//! [`SessionManager`]: [`SessionManager::check_origin`] refuses a sign-in
//! request that may come from another site with logout's rule (fetch
//! metadata, then `Origin` and `Referer` against the origin of the tunnel
//! the request is for; a host that is no tunnel is refused), so no other
//! site can sign a visitor into an account of its choosing; and
//! [`SessionManager::safe_return_url`] keeps the return URL on the origin.
//!
//! **Development.** [`WellKnownBuilder::development_tunnel`] adds
//! `localhost`, `127.0.0.1` and `[::1]` on a port, over plain `http`, and
//! makes the default session cookie one that plain HTTP keeps (not
//! `Secure`, so named `rstream_session`); beside an `https` tunnel it is
//! refused unless the cookie is set explicitly. A well-known request for a
//! host that is no tunnel is the application's (forwarded untouched): the
//! layer then logs a `WARN` naming the host, once per process, and `DEBUG`
//! after (feature `tracing`), so that a missing tunnel shows as more than
//! the application's `404`.
//!
//! **CORS.** The layer speaks no CORS. tower-http's `CorsLayer` outside the
//! layer answers preflights before the layer sees them and adds its headers
//! to the layer's answers (allowed origins can read the session endpoint and
//! the `401`s of guarded paths; logout still refuses them); inside, the
//! layer's answers carry no CORS headers and preflights to guarded or
//! well-known paths are refused (`401`, `405`). See `tests/cors.rs`.
//!
//! **Stripping edge credentials.** Whenever identity or enforcement is on
//! (and whenever [`WellKnownBuilder::strip_token_parameter`] says so), the
//! `rstream.token` query parameter is removed from every forwarded
//! request's URI, after it was read: every parameter of that name (however
//! its name is encoded), with one `&` each; every other byte of the query
//! stays as it was, and a query left empty goes with its `?`. Optionally,
//! `Authorization` fields with the `Bearer` scheme
//! ([`WellKnownBuilder::strip_authorization`]) and the session cookie
//! ([`WellKnownBuilder::strip_session_cookie`]: only the pairs of its name,
//! every other cookie byte for byte, a `Cookie` field left empty removed)
//! go too. Stripping applies to every forwarded request once on, resolved
//! or not, so that no handler and no log behind the layer sees those
//! credentials.
//! # Sessions
//!
//! A [`Session`] is a user and wall-clock deadlines, so that instances
//! sharing a store agree: the **absolute lifetime** (the cookie's
//! [`SessionCookie::max_age`], 24 hours by default), which nothing extends,
//! and an optional **idle timeout** ([`WellKnownBuilder::idle_timeout`]),
//! which activity slides. [`SessionManager::sign_in`] computes both from the
//! wall clock; a session loads strictly before the earlier of the two
//! ([`Session::deadline`]).
//!
//! **Which answers refresh a session.** Only a session endpoint answer that
//! authenticates the request by the cookie (`rstream-auth`). A token answer,
//! an unauthenticated one (two live sessions, a failed lookup) and logout
//! touch nothing. Refreshing is throttled: the layer calls
//! [`SessionStore::touch`] only once a quarter of the idle timeout has
//! passed since the idle deadline was last moved (that is, when at most
//! three quarters of the idle window are left), and only when the new
//! deadline (now plus the idle timeout, never past the absolute end) is
//! later. A session used every few seconds with a 30-minute idle timeout
//! costs one store write per 7.5 minutes, not one per request. The touch
//! runs after the answer is decided and cannot change it: a failing or
//! panicking touch is logged and the answer stands (the session then ends
//! at its old idle deadline unless a later use touches it); a hanging one
//! holds the answer until the backend timeout, if one is set, then is
//! dropped, and the answer stands. The touch is awaited (the layer has no
//! runtime to run it in the background), so it costs the answer one store
//! round trip, once per quarter of the idle timeout per session. Sessions
//! without an idle deadline cost nothing more than the deadline check.
//!
//! **The cookie's own expiry.** The cookie is issued with `Max-Age` equal to
//! the absolute lifetime, which no sliding ever passes, so the cookie never
//! expires before its session and the session endpoint never re-issues it
//! (its answers carry no `Set-Cookie`). When the idle timeout ends the
//! session first, the browser still sends the cookie, which then
//! authenticates nobody, like any revoked session's.
//!
//! **Deadlines are the layer's too.** A session past its deadline never
//! authenticates, even if a store returns it: the layer checks
//! [`Session::is_live_at`] itself, on the session endpoint and for logout,
//! at a reading of the clock taken for the request. With the crate's own
//! stores ([`MemoryStore`], and `RedisStore` and `TowerSessionsStore` behind
//! their features) that reading is the one the store took for the lookup
//! (it found the session live then), so a signed-in request reads the clock
//! once; with any other store the layer reads it itself.
//!
//! **Edge values.**
//!
//! - A lifetime under one second (zero included) is a
//!   [`ConfigError::InvalidSessionCookie`]; an idle timeout of zero is a
//!   [`ConfigError::InvalidIdleTimeout`] (every session would end at once).
//!   An idle timeout at least as long as the lifetime has no effect.
//! - A lifetime or idle timeout too large for the clock (such as
//!   `Duration::MAX`) saturates: every time in a [`Session`] is clamped to
//!   9999-12-31T23:59:59Z, so such a session does not end by time in
//!   practice (the cookie's `Max-Age` saturates likewise).
//! - A session created with a deadline already past (by a store's own
//!   caller: the manager never makes one) gets an id that never loads.
//! - An empty user id is refused at sign-in with
//!   [`SignInError::EmptyUserId`], before the store is called: the session
//!   endpoint's `userId` is never empty.
//! - A profile whose JSON (as [`User`] serialises, attributes included) is
//!   larger than [`MAX_PROFILE_BYTES`] (16 KiB) is refused at sign-in with
//!   [`SignInError::ProfileTooLarge`]; exactly that size is accepted.
//!
//! **Sign out everywhere.** [`SessionManager::revoke_all`] ends every session
//! of a user; it exists only when the store implements [`RevokeAll`]
//! ([`MemoryStore`] does), so a store that cannot do it fails to compile
//! rather than at run time. The same stores end every session carrying a
//! tag ([`SessionManager::revoke_tagged`], [`Session::with_tag`]): the
//! OpenID Connect sign-in tags its sessions with the provider session and
//! user they came from, for the provider's back-channel logout.
//! [`SessionManager::sessions_of`] lists a user's live sessions where the
//! store implements [`ListSessions`].
//!
//! **Stores chosen at run time.** `Arc<S>` is a store when `S` is;
//! [`BoxSessionStore`] and [`BoxRevokeAllStore`] make any store one type
//! (the latter keeping revoke-all), with errors boxed in [`BoxError`].
//!
//! # Types
//!
//! The layer is generic over the request and response body types: its
//! answers and the inner service's responses travel in one [`ResponseBody`]
//! (data [`bytes::Bytes`], the inner body's error). The request body must be
//! `Send + 'static` (logout may need to check it is empty). The layer and its
//! services are `Clone`, and `Send + Sync` whenever the inner service is.
//!
//! # Features
//!
//! - `tracing` (default): log backend failures with `tracing`.
//! - `axum`: extractors for the [`Caller`] ([`axum::Authenticated`],
//!   `Option<axum::Authenticated>`, `Caller`), and `IntoResponse` for
//!   [`Unauthenticated`].
//! - `tokio`: [`TokioTimer`], tokio's timer for
//!   [`WellKnownBuilder::backend_timeout`].
//! - `test-util`: the shared session store suite, [`test_util`], for the
//!   tests of store authors.
//! - `jwt`: `jwt::JwtVerifier`, signed JWTs (HS256, ES256, ES384, ES512,
//!   RS256, RS384, RS512, PS256, PS384, PS512, EdDSA) from raw keys or a JWK
//!   set, in pure Rust (RustCrypto). Needs Rust 1.87.
//! - `jwks` (enables `jwt`): `jwt::JwksSource`, keys fetched from a JWKS
//!   URL over HTTPS (hyper, rustls), cached and refreshed in the background
//!   on tokio. Needs Rust 1.87.
//! - `oidc`: `oidc::OidcLayer`, interactive sign-in against any OpenID
//!   Connect provider, in-process, ending in an rstream Auth session; the
//!   security rulings are in the `oidc` module documentation. Needs Rust
//!   1.88 (`openidconnect`).
//! - `oidc-hyper` (enables `oidc`): `oidc::HyperClient`, a ready HTTP
//!   client for it on hyper and rustls (tokio).
//! - `redis`: `RedisStore`, sessions in Redis shared by every instance of
//!   an application (needs Rust 1.88 and a Tokio runtime). Its documentation
//!   gives the key layout, the stored encoding and its versioning, the choice
//!   of one hash slot per user for revoke-all, and the behaviour during an
//!   outage.
//! - `redis-cluster`: `RedisStore::cluster_builder`, for a Redis Cluster.
//! - `redis-tls`: `rediss://` URLs (TLS with rustls).
//! - `tower-sessions-core-0_14`: [`TowerSessionsStore`], any tower-sessions
//!   store (tower-sessions-core 0.14: its SQL, Redis and moka stores) as the
//!   session store, beside tower-sessions' own layer on the same store. Its
//!   documentation gives the record layout, how ids map, what it cannot do
//!   (sign out everywhere, listing) and how the two cookies coexist.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, missing_debug_implementations)]
#![warn(
    clippy::dbg_macro,
    clippy::todo,
    clippy::unimplemented,
    rust_2018_idioms
)]

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "axum")]
pub mod axum;
mod backend;
mod body;
mod caller;
mod config;
mod cookie;
mod credentials;
mod endpoint;
mod error;
mod forward;
mod future;
mod identity;
mod layer;
mod manager;
#[cfg(feature = "oidc")]
#[cfg_attr(docsrs, doc(cfg(feature = "oidc")))]
pub mod oidc;
mod origin;
mod path;
mod paths;
// The one fetch-and-refresh mechanism: the sign-in's discovery and key set,
// and JwksSource's key set.
#[cfg(any(feature = "oidc", feature = "jwks"))]
mod refresh;
pub mod reply;
mod resolver;
mod return_url;
mod service;
mod store;
mod strip;
mod syntax;
#[cfg(feature = "test-util")]
pub mod test_util;
mod timer;
mod token;
mod tunnel;

pub use crate::body::ResponseBody;
pub use crate::caller::{Caller, Unauthenticated};
pub use crate::cookie::{SameSite, SessionCookie};
pub use crate::credentials::CookiePairs;
pub use crate::error::ConfigError;
pub use crate::forward::is_navigation;
pub use crate::future::ResponseFuture;
pub use crate::identity::{AuthMethod, Identity, User};
pub use crate::layer::{WellKnownBuilder, WellKnownLayer};
pub use crate::manager::{
    CrossOriginRequest, MAX_PROFILE_BYTES, SessionManager, SignInError, SignedIn, StoreCallError,
};
pub use crate::paths::Paths;
pub use crate::service::WellKnownService;
pub use crate::store::{
    BoxError, BoxRevokeAllStore, BoxSessionStore, ListSessions, MemoryStore, MemoryStoreError,
    RevokeAll, Session, SessionId, SessionStore,
};
#[cfg(feature = "redis")]
pub use crate::store::{RedisStore, RedisStoreBuilder, RedisStoreError, RedisStoreErrorKind};
#[cfg(feature = "tower-sessions-core-0_14")]
pub use crate::store::{TowerSessionsStore, TowerSessionsStoreError, TowerSessionsStoreErrorKind};
pub use crate::timer::Timer;
#[cfg(feature = "tokio")]
pub use crate::timer::TokioTimer;
pub use crate::token::{
    BoxTokenVerifier, StaticTokenVerifier, TokenContext, TokenSource, TokenVerdict, TokenVerifier,
    TokenVerifierChain, TokenVerifierChainError,
};

#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use crate::token::jwt;
pub use crate::tunnel::{Tunnel, TunnelResolver};
