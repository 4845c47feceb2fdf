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
//! Every other request passes through untouched. Who is calling is resolved
//! through two traits you plug in: a [`TokenVerifier`] for bearer tokens
//! (the `Authorization: Bearer` header, else the `rstream.token` query
//! parameter) and a [`SessionStore`] for the browser session cookie; the
//! token is checked first.
//!
//! # Quick start with axum
//!
//! ```
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use axum::{Router, routing::get};
//! use http_body_util::BodyExt;
//! use rstream_well_known::{MemoryStore, StaticTokenVerifier, Tunnel, User, WellKnownLayer};
//! use tower::ServiceExt;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!     let layer = WellKnownLayer::builder()
//!         // The host the app is served on, and the ids the session endpoint
//!         // reports (`.development_tunnel(3000)` on your machine).
//!         .tunnel(Tunnel::new("app.example.com", "workspace-id", "project-id")?)
//!         // Bearer tokens (`token-auth`) ...
//!         .with_token_verifier(
//!             StaticTokenVerifier::new()
//!                 .with_token("s3cret", User::new("user-id").with_name("Ada Lovelace")),
//!         )
//!         // ... and browser sessions (`rstream-auth`).
//!         .with_session_store(MemoryStore::new())
//!         .build()?;
//!     let app = Router::new().route("/", get(|| async { "hello" })).layer(layer);
//!
//!     // In a server: `axum::serve(listener, app).await?`. Here, two requests.
//!     let request = Request::get("/.well-known/rstream/session")
//!         .header("host", "app.example.com")
//!         .header("authorization", "Bearer s3cret")
//!         .body(Body::empty())?;
//!     let response = app.clone().oneshot(request).await?;
//!     assert_eq!(response.status(), StatusCode::OK);
//!     let json: serde_json::Value =
//!         serde_json::from_slice(&response.into_body().collect().await?.to_bytes())?;
//!     assert_eq!(json["auth"]["method"], "token-auth");
//!     assert_eq!(json["user"]["name"], "Ada Lovelace");
//!
//!     // Everything else reaches the app.
//!     let request = Request::get("/").header("host", "app.example.com").body(Body::empty())?;
//!     let response = app.oneshot(request).await?;
//!     assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
//!     Ok(())
//! }
//! ```
//!
//! # Next
//!
//! The [`guide`] has a recipe for each backend and task, one complete
//! production setup, and the [rulings](guide::rulings) the layer follows
//! where rstream's documentation is silent. The crate's features are listed
//! on the [guide's first page](guide#features).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, missing_debug_implementations)]
#![warn(
    clippy::dbg_macro,
    clippy::todo,
    clippy::unimplemented,
    rust_2018_idioms
)]

/// The README's code blocks, built by rustdoc as a user's crate would build
/// them (each block is its own crate, with no hidden line).
#[cfg(all(doctest, feature = "oidc-hyper"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod guide {
    #![doc = include_str!("docs/guide.md")]

    pub mod memory {
        #![doc = include_str!("docs/memory.md")]
    }

    pub mod custom_backends {
        #![doc = include_str!("docs/custom_backends.md")]
    }

    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub mod redis {
        #![doc = include_str!("docs/redis.md")]
    }

    #[cfg(all(feature = "tower-sessions-core-0_14", feature = "tokio"))]
    #[cfg_attr(
        docsrs,
        doc(cfg(all(feature = "tower-sessions-core-0_14", feature = "tokio")))
    )]
    pub mod tower_sessions {
        #![doc = include_str!("docs/tower_sessions.md")]
    }

    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub mod jwt {
        #![doc = include_str!("docs/jwt.md")]
    }

    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub mod jwks {
        #![doc = include_str!("docs/jwks.md")]
    }

    #[cfg(feature = "oidc-hyper")]
    #[cfg_attr(docsrs, doc(cfg(feature = "oidc-hyper")))]
    pub mod oidc {
        #![doc = include_str!("docs/oidc.md")]
    }

    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub mod identity {
        #![doc = include_str!("docs/identity.md")]
    }

    pub mod enforcement {
        #![doc = include_str!("docs/enforcement.md")]
    }

    #[cfg(all(
        feature = "redis",
        feature = "jwks",
        feature = "oidc-hyper",
        feature = "axum"
    ))]
    #[cfg_attr(
        docsrs,
        doc(cfg(all(
            feature = "redis",
            feature = "jwks",
            feature = "oidc-hyper",
            feature = "axum"
        )))
    )]
    pub mod production {
        #![doc = include_str!("docs/production.md")]
    }

    pub mod rulings {
        #![doc = include_str!("docs/rulings.md")]
    }

    pub mod performance {
        #![doc = include_str!("docs/performance.md")]
    }
}

#[cfg(feature = "axum")]
pub mod axum;
mod backend;
mod body;
mod caller;
mod config;
mod credentials;
mod encoding;
mod endpoint;
mod error;
mod forward;
mod future;
#[cfg(any(feature = "oidc", feature = "hyper-client"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "oidc", feature = "hyper-client"))))]
pub mod http_client;
mod identity;
mod layer;
mod manager;
mod namespace;
#[cfg(feature = "oidc")]
#[cfg_attr(docsrs, doc(cfg(feature = "oidc")))]
pub mod oidc;
mod origin;
mod paths;
mod session_cookie;
// The one fetch-and-refresh mechanism: the sign-in's discovery and key set,
// and JwksSource's key set.
mod caller_resolution;
#[cfg(any(feature = "oidc", feature = "jwks"))]
mod refresh;
pub mod reply;
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
pub use crate::credentials::CookiePairs;
pub use crate::error::ConfigError;
pub use crate::forward::is_navigation;
pub use crate::future::ResponseFuture;
pub use crate::identity::{AuthMethod, Identity, User};
pub use crate::layer::{NoStore, StoreSlot, WellKnownBuilder, WellKnownLayer};
pub use crate::manager::{
    CrossOriginRequest, MAX_PROFILE_BYTES, SessionManager, SignInError, SignedIn, StoreCallError,
};
pub use crate::paths::Paths;
pub use crate::service::WellKnownService;
pub use crate::session_cookie::{SameSite, SessionCookie};
pub use crate::store::{
    BoxError, BoxRevokeAllStore, BoxSessionStore, ListSessions, MemoryStore, MemoryStoreError,
    RevokeAll, Session, SessionDecodeError, SessionId, SessionStore,
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

#[cfg(test)]
mod readme_tests {
    /// The fenced code blocks of a Markdown text: each block's info string
    /// and its lines.
    fn blocks(text: &str) -> Vec<(&str, Vec<&str>)> {
        let mut blocks = Vec::new();
        let mut open: Option<(&str, Vec<&str>)> = None;
        for line in text.lines() {
            let fence = line.trim_start().strip_prefix("```");
            match (&mut open, fence) {
                (None, Some(info)) => open = Some((info.trim(), Vec::new())),
                (Some(_), Some(_)) => blocks.extend(open.take()),
                (Some((_, lines)), None) => lines.push(line),
                (None, None) => {}
            }
        }
        blocks.extend(open);
        blocks
    }

    /// What keeps the Rust blocks of `text` from compiling, as printed, in
    /// a user's crate: each problem names the block by its first line.
    fn problems(text: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for (info, lines) in blocks(text) {
            let first = lines.first().copied().unwrap_or_default();
            let mut attributes = info.split(',').map(str::trim);
            // rustdoc builds a block without a language as Rust.
            match attributes.next() {
                Some("") => {
                    problems.push(format!("no language (rustdoc takes it as Rust): {first}"))
                }
                Some("rust") => {}
                Some(_) => continue,
                None => unreachable!("split yields at least one item"),
            }
            if attributes.any(|attribute| attribute == "ignore") {
                problems.push(format!("`ignore`, so never built: {first}"));
            }
            for line in &lines {
                let trimmed = line.trim_start();
                if trimmed == "#" || trimmed.starts_with("# ") {
                    problems.push(format!("a hidden line, `{trimmed}`, in: {first}"));
                }
                if line.contains("cfg(feature") || line.contains("cfg(not(feature") {
                    problems.push(format!("a cfg wrapper, `{trimmed}`, in: {first}"));
                }
            }
            if !lines.iter().any(|line| line.contains("fn main(")) {
                problems.push(format!("not a whole program (no `fn main`): {first}"));
            }
        }
        problems
    }

    #[test]
    fn the_readme_rust_blocks_are_whole_programs_as_printed() {
        assert_eq!(problems(include_str!("../README.md")), Vec::<String>::new());
    }

    #[test]
    fn hidden_lines_cfg_wrappers_and_fragments_are_caught() {
        let readme = "\
```rust
# #[cfg(feature = \"jwt\")] {
use rstream_well_known::jwt::JwtVerifier;
# }
```

```
let fragment = 1;
```

```rust,ignore
fn main() {}
```

```rust,no_run
#[tokio::main]
async fn main() {}
```

```sh
# a shell comment is no hidden line
```
";
        assert_eq!(
            problems(readme),
            [
                "a hidden line, `# #[cfg(feature = \"jwt\")] {`, in: # #[cfg(feature = \"jwt\")] {",
                "a cfg wrapper, `# #[cfg(feature = \"jwt\")] {`, in: # #[cfg(feature = \"jwt\")] {",
                "a hidden line, `# }`, in: # #[cfg(feature = \"jwt\")] {",
                "not a whole program (no `fn main`): # #[cfg(feature = \"jwt\")] {",
                "no language (rustdoc takes it as Rust): let fragment = 1;",
                "not a whole program (no `fn main`): let fragment = 1;",
                "`ignore`, so never built: fn main() {}",
            ]
        );
    }
}
