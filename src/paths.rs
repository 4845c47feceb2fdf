//! [`Paths`]: the request paths an option of the layer applies to.

use std::fmt;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::namespace::{Prefix, is_plain};

/// The request paths an option applies to: every path with exemptions, or
/// only paths under given prefixes, by prefix or by predicate.
///
/// Used by [`WellKnownBuilder::identity`](crate::WellKnownBuilder::identity)
/// (where to resolve the caller for handlers) and
/// [`WellKnownBuilder::require_authentication`](crate::WellKnownBuilder::require_authentication)
/// (where to refuse unauthenticated requests).
///
/// ```
/// use rstream_well_known::Paths;
///
/// // Everything but the sign-in page, the health check and static files.
/// let private = Paths::all()
///     .except_prefix("/login")
///     .except_prefix("/healthz")
///     .except_prefix("/static");
///
/// // Only the admin area and the API.
/// let admin = Paths::prefix("/admin").or_prefix("/api/v1");
///
/// // By predicate, on paths that have one reading (see below).
/// let images = Paths::matching(|path| path.ends_with(".png"));
/// # let _ = (private, admin, images);
/// ```
///
/// # How paths are matched
///
/// Servers and routers disagree on how to read a path (`%2F`, `..`, `;`,
/// `\`, letter case, Unicode look-alikes, …; see [the
/// ruling](crate::guide::rulings#paths)).
/// `Paths` reads request paths with the very model that keeps every
/// spelling of `/.well-known/rstream` away from the application, and errs
/// on the side of applying the option:
///
/// - **A prefix** (`/admin`) covers the path itself, and every path under
///   it segment by segment (`/admin/`, `/admin/users`, not
///   `/administrator`). A path is *in* a prefix when *any* reading of it
///   is, names compared ASCII-case-insensitively: `/ADMIN`, `/%61dmin`,
///   `/x/../admin`, `/x/..;/admin`, `/x%2F..%2Fadmin`, `/admin;a=b/x`,
///   `//host/admin` and `/ａｄｍｉｎ` are all in `/admin`.
/// - **An exemption by prefix** (`except_prefix("/static")`) takes a path
///   out only when *every* reading of it stays under the prefix: the path
///   is the prefix or under it as sent, in its exact letter case, and no
///   segment of it is `..` however spelled (`%2e%2e`, `..;`, `%2F..%2F`,
///   `\..\`, `．．`, …). `/static/my%20file.png` is exempt;
///   `/static/..%2Fadmin` and `/Static/app.css` are not.
/// - **A predicate** is asked about the path as sent, and only when the
///   path has exactly one reading: it starts with `/`, has no empty
///   segment, no segment starting or ending with a dot, and only RFC 3986
///   `unreserved` and `sub-delims` bytes (no `%` escape, no `\`, no `;`,
///   no `:`, no byte from 0x80 up). Any other path is taken as matching an
///   inclusion (`matching`, `or_matching`) and not matching an exemption
///   (`except_matching`). Use prefixes to match encoded paths precisely. A
///   predicate sees letters in the case they were sent: compare
///   case-insensitively if a route of yours is.
///
/// Prefix segments are 1 to 32 bytes of letters, digits and
/// `-._~!$&'()*+,=@`, not ending with a dot, at most 8 of them; `/` alone
/// is every path; a trailing slash is ignored. A prefix that breaks these
/// rules makes [`WellKnownBuilder::build`](crate::WellKnownBuilder::build)
/// fail with [`ConfigError::InvalidPathPrefix`].
#[derive(Clone)]
pub struct Paths {
    /// `None`: every path; else the paths matching one of these.
    only: Option<Vec<Rule>>,
    except: Vec<Rule>,
    error: Option<ConfigError>,
}

/// A predicate on plain paths.
type Predicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

#[derive(Clone)]
enum Rule {
    Prefix(Prefix),
    Matching(Predicate),
}

impl Rule {
    /// Whether some reading of `path` matches (an inclusion).
    fn may_match(&self, path: &str) -> bool {
        match self {
            Rule::Prefix(prefix) => prefix.may_contain(path),
            Rule::Matching(predicate) => !is_plain(path) || predicate(path),
        }
    }

    /// Whether every reading of `path` matches (an exemption).
    fn surely_matches(&self, path: &str) -> bool {
        match self {
            Rule::Prefix(prefix) => prefix.surely_contains(path),
            Rule::Matching(predicate) => is_plain(path) && predicate(path),
        }
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Prefix(prefix) => f.write_str(prefix.as_str()),
            Rule::Matching(_) => f.write_str("<predicate>"),
        }
    }
}

impl fmt::Debug for Paths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Paths");
        match &self.only {
            None => debug.field("only", &"all"),
            Some(rules) => debug.field("only", rules),
        };
        debug.field("except", &self.except).finish()
    }
}

impl Paths {
    /// Every path.
    pub fn all() -> Self {
        Self {
            only: None,
            except: Vec::new(),
            error: None,
        }
    }

    /// Only the paths under `prefix` (see [how paths are matched](Paths#how-paths-are-matched)).
    pub fn prefix(prefix: &str) -> Self {
        Self {
            only: Some(Vec::new()),
            except: Vec::new(),
            error: None,
        }
        .or_prefix(prefix)
    }

    /// Only the paths `predicate` accepts (see [how paths are matched](Paths#how-paths-are-matched)).
    pub fn matching(predicate: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            only: Some(Vec::new()),
            except: Vec::new(),
            error: None,
        }
        .or_matching(predicate)
    }

    /// Adds the paths under `prefix` (nothing to add to [`Paths::all`]).
    pub fn or_prefix(mut self, prefix: &str) -> Self {
        let rule = self.rule(prefix);
        if let (Some(only), Some(rule)) = (&mut self.only, rule) {
            only.push(rule);
        }
        self
    }

    /// Adds the paths `predicate` accepts (nothing to add to [`Paths::all`]).
    pub fn or_matching(mut self, predicate: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        if let Some(only) = &mut self.only {
            only.push(Rule::Matching(Arc::new(predicate)));
        }
        self
    }

    /// Takes out the paths that are surely under `prefix`.
    pub fn except_prefix(mut self, prefix: &str) -> Self {
        if let Some(rule) = self.rule(prefix) {
            self.except.push(rule);
        }
        self
    }

    /// Takes out the plain paths `predicate` accepts.
    pub fn except_matching(
        mut self,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.except.push(Rule::Matching(Arc::new(predicate)));
        self
    }

    fn rule(&mut self, prefix: &str) -> Option<Rule> {
        match Prefix::parse(prefix) {
            Some(prefix) => Some(Rule::Prefix(prefix)),
            None => {
                self.error
                    .get_or_insert(ConfigError::InvalidPathPrefix(prefix.to_owned()));
                None
            }
        }
    }

    /// The first invalid prefix, for `build` to report.
    pub(crate) fn error(&self) -> Option<&ConfigError> {
        self.error.as_ref()
    }

    /// Whether the option applies to `path`: some reading of it is
    /// included, and not every reading is exempt.
    pub(crate) fn applies_to(&self, path: &str) -> bool {
        let included = match &self.only {
            None => true,
            Some(rules) => rules.iter().any(|rule| rule.may_match(path)),
        };
        included && !self.except.iter().any(|rule| rule.surely_matches(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusions_and_exemptions() {
        let private = Paths::all()
            .except_prefix("/public")
            .except_matching(|p| p == "/healthz");
        assert!(private.applies_to("/"));
        assert!(private.applies_to("/admin"));
        assert!(!private.applies_to("/public/app.css"));
        assert!(!private.applies_to("/healthz"));
        assert!(private.applies_to("/healthz/"));
        assert!(private.applies_to("/%68ealthz"));
        assert!(private.applies_to("/public/..%2Fadmin"));

        let admin = Paths::prefix("/admin")
            .or_matching(|p| p.starts_with("/ops/"))
            .except_prefix("/admin/login");
        assert!(admin.applies_to("/admin"));
        assert!(admin.applies_to("/%61dmin/x"));
        assert!(!admin.applies_to("/admin/login"));
        assert!(admin.applies_to("/admin/login/../users"));
        assert!(admin.applies_to("/ops/x"));
        // Not plain: the predicate cannot be asked, so it counts as matching.
        assert!(admin.applies_to("/files/a%20b"));
        assert!(!admin.applies_to("/files/a"));

        assert!(Paths::prefix("/").applies_to("/anything"));
        assert!(!Paths::matching(|_| false).applies_to("/plain"));
    }

    #[test]
    fn invalid_prefixes_are_reported() {
        let paths = Paths::all().except_prefix("/a%2Fb").except_prefix("nope");
        assert_eq!(
            paths.error(),
            Some(&ConfigError::InvalidPathPrefix("/a%2Fb".to_owned()))
        );
        assert!(Paths::prefix("/ok").error().is_none());
    }
}
