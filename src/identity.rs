//! Who is calling: the user profile known to the edge and how it was established.

use std::fmt;

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
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct User {
    user_id: String,
    name: Option<String>,
    email: Option<String>,
    image: Option<String>,
}

impl User {
    /// A user known only by their id; name, email and image are unknown.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            name: None,
            email: None,
            image: None,
        }
    }

    /// Sets the display name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the email address.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the URL of the user's picture.
    #[must_use]
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// The stable user id (`userId`).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The display name, when known.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The email address, when known.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The picture URL, when known.
    pub fn image(&self) -> Option<&str> {
        self.image.as_deref()
    }
}

impl fmt::Debug for User {
    // Profile data is not secret, but an email address is personal data: keep
    // it out of debug output that may end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("user_id", &self.user_id)
            .field("name", &self.name.as_ref().map(|_| ".."))
            .field("email", &self.email.as_ref().map(|_| ".."))
            .field("image", &self.image.as_ref().map(|_| ".."))
            .finish()
    }
}

/// How a request was authenticated. The names are the spec's, and the same
/// names appear in the session endpoint's `policies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
