//! The crate's modules import downwards only: no module reaches, through
//! the modules it names (`crate::name::…`), back to itself. The request path
//! (layer → service → endpoint → resolver) depends on the shared
//! configuration in `config`, which depends on none of them.

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
    for needed in ["layer", "service", "endpoint", "resolver", "config"] {
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
