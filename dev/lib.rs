//! Not a library: the package of rstream-well-known's integration tests,
//! benches and heavy examples (see `Cargo.toml`). The README's code blocks
//! are doctests of the root package, which is what a user's crate depends on.
