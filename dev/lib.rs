//! Not a library: the package of rstream-well-known's integration tests,
//! benches and heavy examples (see `Cargo.toml`). Its only item runs the
//! README's code blocks as doctests, with this package's dev-dependencies.

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
