//! [`Claims`]: a verified token's payload, and how it becomes a [`User`].

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::identity::User;

/// The claims of a token whose signature, algorithm, times, issuer and
/// audience were all checked: what a [`JwtVerifier`](super::JwtVerifier)'s
/// scope check sees.
///
/// A payload that names a claim twice is refused before it gets here, so
/// every claim has exactly one value.
#[derive(Clone, PartialEq)]
pub struct Claims {
    map: Map<String, Value>,
}

impl fmt::Debug for Claims {
    // Claims can hold personal data (an email address): list the names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl Claims {
    /// One claim, when present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// A claim that is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.map.get(name).and_then(Value::as_str)
    }

    /// Every claim.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The `sub` claim, when it is a string.
    pub fn subject(&self) -> Option<&str> {
        self.get_str("sub")
    }

    /// The `iss` claim, when it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.get_str("iss")
    }

    /// The scopes the token grants: the words of a space-separated `scope`
    /// claim (RFC 8693), else the strings of an `scp` array (as some
    /// providers send them).
    ///
    /// ```
    /// # use rstream_well_known::jwt::Claims;
    /// fn may_write(claims: &Claims) -> bool {
    ///     claims.scopes().any(|scope| scope == "orders:write")
    /// }
    /// ```
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        let words = self
            .get_str("scope")
            .into_iter()
            .flat_map(|scope| scope.split(' ').filter(|word| !word.is_empty()));
        let listed = match (self.map.get("scope"), self.map.get("scp")) {
            (None, Some(Value::Array(scopes))) => Some(scopes.iter().filter_map(Value::as_str)),
            _ => None,
        };
        words.chain(listed.into_iter().flatten())
    }

    pub(super) fn number(&self, name: &str) -> Option<Option<f64>> {
        match self.map.get(name) {
            None => Some(None),
            Some(value) => value.as_f64().filter(|n| n.is_finite()).map(Some),
        }
    }

    /// Whether the `aud` claim (a string or an array of strings) names one
    /// of `accepted`. `None` when `aud` is present but of another shape.
    pub(super) fn audience_matches(&self, accepted: &[Box<str>]) -> Option<bool> {
        let named = |aud: &str| accepted.iter().any(|a| &**a == aud);
        match self.map.get("aud") {
            None => Some(false),
            Some(Value::String(aud)) => Some(named(aud)),
            Some(Value::Array(auds)) => {
                let mut any = false;
                for aud in auds {
                    any |= named(aud.as_str()?);
                }
                Some(any)
            }
            Some(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Claims {
    /// A JSON object whose member names are all distinct.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Unique;

        impl<'de> Visitor<'de> for Unique {
            type Value = Map<String, Value>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with distinct member names")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&name) {
                        return Err(serde::de::Error::custom("a claim is named twice"));
                    }
                    map.insert(name, value);
                }
                Ok(map)
            }
        }

        Ok(Self {
            map: deserializer.deserialize_map(Unique)?,
        })
    }
}

/// Which claims fill the user's profile. The defaults are the OpenID Connect
/// names: `sub` → `userId`, `name`, `email`, `picture` → `image`.
#[derive(Clone, Debug)]
pub(super) struct ClaimNames {
    pub(super) user_id: Box<str>,
    pub(super) name: Box<str>,
    pub(super) email: Box<str>,
    pub(super) image: Box<str>,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            user_id: "sub".into(),
            name: "name".into(),
            email: "email".into(),
            image: "picture".into(),
        }
    }
}

impl ClaimNames {
    /// The user: `None` when the user id claim is missing, not a string, or
    /// empty. Profile claims that are not strings are left out; every other
    /// claim becomes an attribute.
    pub(super) fn user(&self, claims: Claims) -> Option<User> {
        let mut map = claims.map;
        let user_id = match map.remove(&*self.user_id) {
            Some(Value::String(id)) if !id.is_empty() => id,
            _ => return None,
        };
        let mut take = |name: &str| match map.remove(name) {
            Some(Value::String(value)) => Some(value),
            _ => None,
        };
        let (name, email, image) = (take(&self.name), take(&self.email), take(&self.image));
        let mut user = User::new(user_id);
        if let Some(name) = name {
            user = user.with_name(name);
        }
        if let Some(email) = email {
            user = user.with_email(email);
        }
        if let Some(image) = image {
            user = user.with_image(image);
        }
        if !map.is_empty() {
            user = user.with_attributes(map);
        }
        Some(user)
    }
}
