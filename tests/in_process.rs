//! The integration tests that run in this process (no outside program):
//! one binary for all of them, each file a module. `tests/programs.rs` has
//! the ones that start outside programs; `tests/oidc.rs` and
//! `tests/no_alloc.rs` are binaries of their own (each installs something
//! process-wide: a global tracing subscriber, a counting allocator).

mod common;
mod jwt_mint;

mod axum_extractors;
mod bad_input;
mod compose;
mod cors;
mod demo;
mod development;
mod enforcement;
mod examples;
mod faults;
mod identity;
mod jwks;
mod jwt;
mod jwt_example;
#[cfg(feature = "oidc")]
mod jwt_id_token;
mod layout;
mod lifetimes;
mod logging;
mod logout;
#[cfg(feature = "test-util")]
mod memory_store;
mod precedence;
mod properties;
mod return_urls;
mod session;
#[cfg(all(
    feature = "test-util",
    feature = "tower-sessions-core-0_14",
    feature = "tokio"
))]
mod tower_sessions_store;
mod verifiers;
mod websocket;
mod wire;
