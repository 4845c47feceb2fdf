//! Who is calling: the user profile known to the edge and how it was established.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::HeaderMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::tunnel::Tunnel;

/// The profile of a user, as a [`TokenVerifier`](crate::TokenVerifier) or a
/// [`SessionStore`](crate::SessionStore) knows it.
///
/// It becomes the `user` object of the session endpoint's answer: `userId` is
/// always present, `name`, `email` and `image` are `null` when unknown.
///
/// ```
/// use rstream_well_known::User;
///
/// let ada = User::new("user-id")
///     .with_name("Ada Lovelace")
///     .with_email("ada@example.com");
/// assert_eq!(ada.user_id(), "user-id");
/// assert_eq!(ada.image(), None);
/// ```
///
/// Cloning is cheap (the profile is shared behind an `Arc`), and the
/// profile's JSON is computed once per `User` value and reused by every
/// answer that reports it.
#[derive(Clone)]
pub struct User {
    inner: Arc<Profile>,
}

#[derive(Clone)]
struct Profile {
    user_id: String,
    name: Option<String>,
    email: Option<String>,
    image: Option<String>,
    /// The application's own attributes (roles, tenant, custom claims).
    /// Never part of the session endpoint's answer.
    attributes: Map<String, Value>,
    /// The session endpoint's `user` object, filled on first use.
    json: OnceLock<Box<str>>,
    /// The session endpoint's whole signed-in document for this user, kept
    /// for the first tunnel, method and policies it was rendered for.
    document: OnceLock<Document>,
}

/// A rendered signed-in document and what it was rendered for. The tunnel
/// and the policies are held (not only their addresses), so a key can never
/// match a different tunnel that happens to reuse an address.
#[derive(Clone)]
struct Document {
    tunnel: Tunnel,
    method: AuthMethod,
    policies: Arc<str>,
    bytes: Bytes,
    /// The answer's header fields for these bytes (their length included).
    headers: HeaderMap,
}

impl Profile {
    /// What identifies a profile: everything but the cached rendering.
    fn key(&self) -> (&str, Option<&str>, Option<&str>, Option<&str>) {
        (
            &self.user_id,
            self.name.as_deref(),
            self.email.as_deref(),
            self.image.as_deref(),
        )
    }
}

impl PartialEq for User {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (self.inner.key() == other.inner.key()
                && self.inner.attributes == other.inner.attributes)
    }
}

impl Eq for User {}

impl Hash for User {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The attributes are left out (JSON values do not hash); equal users
        // still hash equally.
        self.inner.key().hash(state);
    }
}

impl User {
    /// A user known only by their id; name, email and image are unknown.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Profile {
                user_id: user_id.into(),
                name: None,
                email: None,
                image: None,
                attributes: Map::new(),
                json: OnceLock::new(),
                document: OnceLock::new(),
            }),
        }
    }

    /// The profile, to change: a fresh copy when it is shared, and never
    /// with a stale JSON rendering.
    fn profile_mut(&mut self) -> &mut Profile {
        let profile = Arc::make_mut(&mut self.inner);
        profile.json = OnceLock::new();
        profile.document = OnceLock::new();
        profile
    }

    /// Sets the display name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.profile_mut().name = Some(name.into());
        self
    }

    /// Sets the email address.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.profile_mut().email = Some(email.into());
        self
    }

    /// Sets the URL of the user's picture.
    #[must_use]
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.profile_mut().image = Some(image.into());
        self
    }

    /// Sets one application attribute (a role list, a tenant, a custom
    /// claim), replacing an earlier value of the same name.
    ///
    /// Attributes travel with the user through stores and reach the app's
    /// handlers, but never appear in the session endpoint's JSON, which stays
    /// exactly the spec's.
    ///
    /// ```
    /// use rstream_well_known::User;
    ///
    /// let ada = User::new("ada").with_attribute("roles", ["admin"]);
    /// assert_eq!(ada.attribute("roles"), Some(&serde_json::json!(["admin"])));
    /// ```
    #[must_use]
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.profile_mut()
            .attributes
            .insert(name.into(), value.into());
        self
    }

    /// Replaces all application attributes.
    #[must_use]
    pub fn with_attributes(mut self, attributes: Map<String, Value>) -> Self {
        self.profile_mut().attributes = attributes;
        self
    }

    /// One application attribute, when set.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.inner.attributes.get(name)
    }

    /// All application attributes (empty when none are set).
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.inner.attributes
    }

    /// The stable user id (`userId`).
    pub fn user_id(&self) -> &str {
        &self.inner.user_id
    }

    /// The display name, when known.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The email address, when known.
    pub fn email(&self) -> Option<&str> {
        self.inner.email.as_deref()
    }

    /// The picture URL, when known.
    pub fn image(&self) -> Option<&str> {
        self.inner.image.as_deref()
    }

    /// The session endpoint's `user` object:
    /// `{"userId":…,"name":…,"email":…,"image":…}`, `null` for what is
    /// unknown. Rendered once per `User` value.
    pub(crate) fn json(&self) -> &str {
        self.inner.json.get_or_init(|| {
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct UserJson<'a> {
                user_id: &'a str,
                name: Option<&'a str>,
                email: Option<&'a str>,
                image: Option<&'a str>,
            }
            let profile = &*self.inner;
            let json = UserJson {
                user_id: &profile.user_id,
                name: profile.name.as_deref(),
                email: profile.email.as_deref(),
                image: profile.image.as_deref(),
            };
            // Serialising strings cannot fail.
            serde_json::to_string(&json)
                .unwrap_or_default()
                .into_boxed_str()
        })
    }

    /// The session endpoint's signed-in document for this user, `method`,
    /// `tunnel` and `policies`, and the header fields of the answer that
    /// carries it, made by `render`. The first pair made for a user value is
    /// kept with it (a few hundred bytes) and shared by later answers with
    /// the same tunnel, method and policies: a store or verifier that hands
    /// out the same `User` value (as `MemoryStore` and `StaticTokenVerifier`
    /// do) gets its answers without rendering or allocating anything but
    /// the header map's copy.
    pub(crate) fn document(
        &self,
        method: AuthMethod,
        tunnel: &Tunnel,
        policies: &Arc<str>,
        render: impl FnOnce() -> (Bytes, HeaderMap),
    ) -> (Bytes, HeaderMap) {
        let Some(kept) = self.inner.document.get() else {
            let (bytes, headers) = render();
            // A racing answer may have kept its own: the same bytes.
            let _ = self.inner.document.set(Document {
                tunnel: tunnel.clone(),
                method,
                policies: Arc::clone(policies),
                // Shared from the start, so that taking it counts a reference.
                bytes: bytes.clone(),
                headers: headers.clone(),
            });
            return (bytes, headers);
        };
        if kept.method == method
            && kept.tunnel.same(tunnel)
            && Arc::ptr_eq(&kept.policies, policies)
        {
            (kept.bytes.clone(), kept.headers.clone())
        } else {
            render()
        }
    }
}

impl fmt::Debug for User {
    // Profile data is not secret, but an email address is personal data: keep
    // it out of debug output that may end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("user_id", &self.inner.user_id)
            .field("name", &self.inner.name.as_ref().map(|_| ".."))
            .field("email", &self.inner.email.as_ref().map(|_| ".."))
            .field("image", &self.inner.image.as_ref().map(|_| ".."))
            .field("attributes", &self.inner.attributes.len())
            .finish()
    }
}

/// The serde form of a [`User`], for stores: `userId`, `name`, `email` and
/// `image` (`null` when unknown) and, when there are any, `attributes`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserForm<'a> {
    #[serde(borrow)]
    user_id: std::borrow::Cow<'a, str>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    attributes: Map<String, Value>,
}

/// A user serialises as `{"userId":…,"name":…,"email":…,"image":…}` plus
/// `"attributes":{…}` when it has any: the session endpoint's `user` object,
/// extended. Stores use it to keep users.
impl Serialize for User {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Borrowed<'a> {
            user_id: &'a str,
            name: Option<&'a str>,
            email: Option<&'a str>,
            image: Option<&'a str>,
            #[serde(skip_serializing_if = "Map::is_empty")]
            attributes: &'a Map<String, Value>,
        }
        let profile = &*self.inner;
        Borrowed {
            user_id: &profile.user_id,
            name: profile.name.as_deref(),
            email: profile.email.as_deref(),
            image: profile.image.as_deref(),
            attributes: &profile.attributes,
        }
        .serialize(serializer)
    }
}

/// Reads what [`Serialize`] wrote; `name`, `email`, `image` and `attributes`
/// may be missing.
impl<'de> Deserialize<'de> for User {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let form = UserForm::deserialize(deserializer)?;
        Ok(Self {
            inner: Arc::new(Profile {
                user_id: form.user_id.into_owned(),
                name: form.name,
                email: form.email,
                image: form.image,
                attributes: form.attributes,
                json: OnceLock::new(),
                document: OnceLock::new(),
            }),
        })
    }
}

/// How a request was authenticated. The names are the spec's, and the same
/// names appear in the session endpoint's `policies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// A bearer token (`Authorization: Bearer …` or the `rstream.token` query
    /// parameter), accepted by the [`TokenVerifier`](crate::TokenVerifier).
    Token,
    /// The browser session cookie, found live in the
    /// [`SessionStore`](crate::SessionStore).
    Session,
}

impl AuthMethod {
    /// The wire name: `token-auth` or `rstream-auth`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Token => "token-auth",
            AuthMethod::Session => "rstream-auth",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller: the user and the method that proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    user: User,
    method: AuthMethod,
}

impl Identity {
    /// Pairs a user with the method that authenticated them.
    pub fn new(user: User, method: AuthMethod) -> Self {
        Self { user, method }
    }

    /// The user's profile.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The method that authenticated the request.
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// Takes the user out of the identity.
    pub fn into_user(self) -> User {
        self.user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_round_trips_through_serde_with_its_attributes() {
        let ada = User::new("ada")
            .with_name("Ada Lovelace")
            .with_email("ada@example.com")
            .with_attribute("roles", ["admin", "ops"])
            .with_attribute("tenant", "t-1");
        let text = serde_json::to_string(&ada).unwrap();
        let back: User = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ada);
        assert_eq!(back.attribute("tenant"), Some(&Value::from("t-1")));
        // A user without attributes has the endpoint's shape exactly.
        let plain = User::new("bob");
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#"{"userId":"bob","name":null,"email":null,"image":null}"#
        );
        let minimal: User = serde_json::from_str(r#"{"userId":"bob"}"#).unwrap();
        assert_eq!(minimal, plain);
    }

    #[test]
    fn attributes_never_reach_the_endpoint_json() {
        let ada = User::new("ada").with_attribute("roles", ["admin"]);
        assert_eq!(
            ada.json(),
            r#"{"userId":"ada","name":null,"email":null,"image":null}"#
        );
        // Changing a rendered user renders it anew.
        let named = ada.clone().with_name("Ada");
        assert!(named.json().contains(r#""name":"Ada""#));
        assert_ne!(named, ada);
    }
}
