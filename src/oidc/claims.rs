//! [`OidcClaims`]: what the provider says about the user, and the default
//! mapping to the [`User`] signed in.

use serde_json::{Map, Value};

use crate::User;

/// The provider's claims about the user: the verified ID token's and, when
/// fetched, userinfo's.
#[derive(Debug, Clone)]
pub struct OidcClaims {
    pub(super) issuer: String,
    pub(super) subject: String,
    pub(super) id_token: Map<String, Value>,
    pub(super) userinfo: Option<Map<String, Value>>,
}

impl OidcClaims {
    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject (`sub`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// A claim: the ID token's, else userinfo's.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.id_token
            .get(name)
            .or_else(|| self.userinfo.as_ref().and_then(|u| u.get(name)))
    }

    /// The ID token's claims.
    pub fn id_token_claims(&self) -> &Map<String, Value> {
        &self.id_token
    }

    /// Userinfo's claims, when fetched.
    pub fn userinfo_claims(&self) -> Option<&Map<String, Value>> {
        self.userinfo.as_ref()
    }

    /// The email, only when the provider says it is verified
    /// (`email_verified` is `true`).
    pub fn verified_email(&self) -> Option<&str> {
        let verified = self.claim("email_verified").and_then(Value::as_bool) == Some(true);
        verified
            .then(|| self.claim("email").and_then(Value::as_str))
            .flatten()
    }

    fn string(&self, name: &str) -> Option<&str> {
        self.claim(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The default mapping: see the module documentation.
    pub(super) fn user(&self, namespace: bool) -> User {
        let id = if namespace {
            format!("{}#{}", self.issuer, self.subject)
        } else {
            self.subject.clone()
        };
        let mut user = User::new(id);
        if let Some(name) = self
            .string("name")
            .or_else(|| self.string("preferred_username"))
        {
            user = user.with_name(name);
        }
        if let Some(email) = self.verified_email() {
            user = user.with_email(email);
        }
        if let Some(picture) = self.string("picture") {
            user = user.with_image(picture);
        }
        user
    }
}
