//! The integration tests that start outside programs (redis-server, the
//! OpenID providers on Node, Chromium and chromedriver, the demo binary):
//! one binary, each file a module. Each starts what it needs when it is on
//! PATH, and skips loudly without it (fails under `CI=true`).

mod common;
mod demo_process;
mod mock_provider;
mod oidc_provider;
mod redis_server;

#[path = "browser/main.rs"]
mod browser;
mod instances;
#[cfg(feature = "oidc-hyper")]
mod oidc_algorithms;
mod redis_store;
