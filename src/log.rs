//! Logging of backend failures. Only the failing component and the error's
//! `Display` text are logged: never a token, a cookie or a session id.

/// Reports that a verifier or store could not answer.
pub(crate) fn backend_failure(component: &'static str, error: &dyn std::fmt::Display) {
    #[cfg(feature = "tracing")]
    tracing::warn!(component, error = %error, "rstream-well-known: backend failed; treating the request as not authenticated by it");
    #[cfg(not(feature = "tracing"))]
    let _ = (component, error);
}
