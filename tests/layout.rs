//! The crate's modules import downwards only: no module reaches, through
//! the modules it names (`crate::name::…`), back to itself. The request path
//! (layer → service → endpoint → resolver) depends on the shared
//! configuration in `config`, which depends on none of them. The optional
//! sign-in (`src/oidc`) uses only the public API, as an outside crate would.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Every top-level module of `src/` (a file, with its folder of submodules
/// if it has one) and the other top-level modules it names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    // The tests are targets of the workspace member `dev/`.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let mut graph = BTreeMap::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".rs"))
        else {
            continue;
        };
        if name == "lib" {
            continue;
        }
        let mut text = fs::read_to_string(&path).unwrap();
        let folder = src.join(name);
        if folder.is_dir() {
            read_all(&folder, &mut text);
        }
        let mut names = BTreeSet::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(rest.len());
            // `crate::name::…` or `crate::{…}` in a `use`; a bare
            // `crate::Item` is a re-export of the root, not a module.
            if end > 0 && rest[end..].starts_with("::") && &rest[..end] != name {
                names.insert(rest[..end].to_owned());
            }
        }
        graph.insert(name.to_owned(), names);
    }
    graph
}

fn read_all(folder: &Path, text: &mut String) {
    for entry in fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_all(&path, text);
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&fs::read_to_string(&path).unwrap());
        }
    }
}

/// A cycle through `start`, if there is one.
fn cycle_through(
    graph: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    node: &str,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    for next in graph.get(node).into_iter().flatten() {
        if next == start {
            let mut cycle = path.clone();
            cycle.push(start.to_owned());
            return Some(cycle);
        }
        if graph.contains_key(next) && seen.insert(next.clone()) {
            path.push(next.clone());
            if let Some(cycle) = cycle_through(graph, start, next, path, seen) {
                return Some(cycle);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn no_module_imports_itself_back() {
    let graph = module_graph();
    for needed in [
        "layer",
        "service",
        "endpoint",
        "caller_resolution",
        "config",
    ] {
        assert!(graph.contains_key(needed), "src/{needed}.rs is gone");
    }
    for start in graph.keys() {
        let mut path = vec![start.clone()];
        let cycle = cycle_through(&graph, start, start, &mut path, &mut BTreeSet::new());
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap().join(" → ")
        );
    }
}

#[test]
fn the_configuration_depends_on_no_part_of_the_request_path() {
    let graph = module_graph();
    for part in ["layer", "service", "endpoint", "resolver", "forward"] {
        assert!(
            !graph["config"].contains(part),
            "config names {part}: {:?}",
            graph["config"]
        );
    }
}

/// The items of the crate's root that are public (re-exported or public
/// modules in `src/lib.rs`, which the test checks) and that the sign-in may
/// use.
const PUBLIC_ROOT: &[&str] = &[
    "ConfigError",
    "CookiePairs",
    "CrossOriginRequest",
    "MemoryStore",
    "ResponseBody",
    "ResponseFuture",
    "RevokeAll",
    "Session",
    "SessionManager",
    "SessionStore",
    "SignInError",
    "StaticTokenVerifier",
    "TokenVerifier",
    "User",
    "WellKnownBuilder",
    "WellKnownLayer",
    "WellKnownService",
    "is_navigation",
];

/// Public modules, and the lowercase items (functions) public in them;
/// their types and constants (capitalised) are public whatever their name.
const PUBLIC_MODULES: &[(&str, &[&str])] = &[
    ("reply", &["error", "method_not_allowed", "for_method"]),
    ("jwt", &[]),
    ("oidc", &[]),
    ("http_client", &[]),
];

/// Crate-private internals the sign-in shares with the rest of the crate,
/// and only these: the one fetch-and-refresh mechanism (`refresh`, also
/// behind `JwksSource`: one fetch in flight, a cached result, a cooldown, and
/// its bounded GET, `http_client::get`), the error-chain formatter
/// (`error::chain`) and the one hex/base64 module (`encoding`). They are
/// utilities, not hooks into the layer: an outside sign-in crate would bring
/// its own, and making them public would add surface no user needs.
const SHARED_INTERNALS: &[&str] = &["refresh", "http_client::get", "error::chain", "encoding"];

/// Every path the text names through `crate::`, `use` groups expanded
/// (`crate::{a, b::C}` gives `a` and `b::C`).
fn crate_paths(text: &str) -> Vec<String> {
    fn ident(text: &[u8], at: &mut usize) -> String {
        let start = *at;
        while *at < text.len() && (text[*at].is_ascii_alphanumeric() || text[*at] == b'_') {
            *at += 1;
        }
        String::from_utf8_lossy(&text[start..*at]).into_owned()
    }
    fn skip_space(text: &[u8], at: &mut usize) {
        while *at < text.len() && text[*at].is_ascii_whitespace() {
            *at += 1;
        }
    }
    /// The paths of one tree at `at` (`a::b`, `a::{…}`, `{…}`), each
    /// prefixed with `prefix`.
    fn tree(text: &[u8], at: &mut usize, prefix: &str, out: &mut Vec<String>) {
        let mut path = prefix.to_owned();
        loop {
            skip_space(text, at);
            if text.get(*at) == Some(&b'{') {
                *at += 1;
                loop {
                    skip_space(text, at);
                    match text.get(*at) {
                        None => return,
                        Some(b'}') => {
                            *at += 1;
                            return;
                        }
                        Some(b',') => *at += 1,
                        Some(_) => {
                            let before = *at;
                            tree(text, at, &path, out);
                            if *at == before {
                                *at += 1;
                            }
                        }
                    }
                }
            }
            let name = ident(text, at);
            if name.is_empty() {
                return;
            }
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(&name);
            if text[*at..].starts_with(b"::") {
                *at += 2;
            } else {
                out.push(path);
                return;
            }
        }
    }
    let bytes = text.as_bytes();
    let mut paths = Vec::new();
    for (at, _) in text.match_indices("crate::") {
        // `$crate::` in a macro is the same; any other identifier before
        // it makes another path.
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let mut at = at + "crate::".len();
        tree(bytes, &mut at, "", &mut paths);
    }
    paths
}

/// Whether `path` (after `crate::`) names an item of the public API.
fn is_public(path: &str) -> bool {
    let mut segments = path.split("::");
    let first = segments.next().unwrap_or_default();
    if PUBLIC_ROOT.contains(&first) {
        return true;
    }
    let Some((_, functions)) = PUBLIC_MODULES.iter().find(|(module, _)| *module == first) else {
        return false;
    };
    match segments.next() {
        // The module itself.
        None | Some("self") => true,
        Some(item) => {
            item.starts_with(|c: char| c.is_ascii_uppercase()) || functions.contains(&item)
        }
    }
}

#[test]
fn the_sign_in_uses_only_the_public_api() {
    // Optional modules use the public API as an outside crate would: a hook
    // they need becomes public for everyone.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lib = fs::read_to_string(root.join("src/lib.rs")).unwrap();
    // The last name of every path `src/lib.rs` re-exports with `pub use`.
    let exported: BTreeSet<String> = lib
        .match_indices("pub use ")
        .flat_map(|(at, _)| {
            let statement = &lib[at..];
            crate_paths(&statement[..statement.find(';').unwrap()])
        })
        .map(|path| path.rsplit("::").next().unwrap().to_owned())
        .collect();
    for item in PUBLIC_ROOT {
        assert!(
            exported.contains(*item),
            "{item} is listed as public but src/lib.rs does not re-export it"
        );
    }
    for (module, _) in PUBLIC_MODULES {
        assert!(
            lib.contains(&format!("pub mod {module};")) || exported.contains(*module),
            "{module} is listed as a public module but src/lib.rs does not make it one"
        );
    }
    let mut text = String::new();
    let folder = root.join("src/oidc");
    let mut offenders = Vec::new();
    for entry in fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        text.clear();
        read_all_file(&path, &mut text);
        for used in crate_paths(&text) {
            let shared = SHARED_INTERNALS
                .iter()
                .any(|internal| used == *internal || used.starts_with(&format!("{internal}::")));
            if !is_public(&used) && !shared {
                offenders.push(format!(
                    "{}: crate::{used}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "src/oidc reaches crate-private items (make the hook public for everyone, \
         or add a public item to the list above): {offenders:#?}"
    );
}

fn read_all_file(path: &Path, text: &mut String) {
    if path.is_dir() {
        read_all(path, text);
    } else if path.extension().is_some_and(|e| e == "rs") {
        text.push_str(&fs::read_to_string(path).unwrap());
    }
}

#[test]
fn crate_paths_are_read_as_written() {
    let text = "use crate::{Caller, reply::{self, error}, jwt::JwkSet};\n\
                let x = crate::SignInError::EmptyUserId { .. };\n\
                /// [`x`](crate::forward::is_navigation) $crate::Ok\n";
    assert_eq!(
        crate_paths(text),
        [
            "Caller",
            "reply::self",
            "reply::error",
            "jwt::JwkSet",
            "SignInError::EmptyUserId",
            "forward::is_navigation",
            "Ok",
        ]
    );
    assert!(is_public("reply::error") && is_public("jwt::JwkSet") && is_public("reply::self"));
    assert!(!is_public("reply::base") && !is_public("forward::is_navigation"));
    assert!(!is_public("jwt::jwk::JwkSet") && !is_public("credentials::CookiePairs"));
}
