//! No module of the simulator, nor of the protocol crate, imports one that imports it back.
//!
//! Builds the crate's import graph at file granularity from `src/` (every `use` of a `crate::`,
//! `super::` or `self::` path, a child module's path in a `mod.rs`, and inline `crate::` paths;
//! comments and inline `mod tests` left out), resolves each path to the file of its longest
//! module prefix, and fails on any cycle; then the same over the crate's top modules (each with
//! all its submodules), so two parts of a crate never depend on each other both ways (the old
//! `ledger` <-> `backfill` pair of the protocol is caught there). `IMPORTS_SRC=<dir>` checks
//! another tree.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

type Module = Vec<String>;

/// Every `.rs` file under `dir`, by module path (`a/b/mod.rs` and `a/b.rs` are `a::b`).
fn modules(root: &Path, dir: &Path, out: &mut BTreeMap<Module, (String, bool)>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            modules(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).expect("under src");
            let mut module: Module = relative
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            let is_mod = matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            );
            if is_mod {
                module.pop();
            }
            let source = std::fs::read_to_string(&path).expect("read source");
            out.insert(module, (source, is_mod));
        }
    }
}

/// `source` without comments and without an inline `#[cfg(test)] mod tests { .. }` (which uses
/// its own file through `super`).
fn code(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &source[..i],
        None => source,
    };
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths of a `use` tree such as `a::{b, c::{d, e as f}}`.
fn expand(prefix: &[String], tree: &str, out: &mut Vec<Module>) {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(prefix, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(prefix, &inner[start..], out);
    } else if let Some(i) = tree.find("::{") {
        let mut path = prefix.to_vec();
        path.extend(tree[..i].split("::").map(|s| s.trim().to_string()));
        expand(&path, &tree[i + 2..], out);
    } else if !tree.is_empty() {
        let mut path = prefix.to_vec();
        let name = tree.split(" as ").next().unwrap_or(tree);
        path.extend(name.split("::").map(|s| s.trim().to_string()));
        out.push(path);
    }
}

/// Every module path `code` (of module `me`) refers to, made absolute.
fn references(me: &Module, is_mod: bool, children: &BTreeSet<String>, code: &str) -> Vec<Module> {
    let mut paths = Vec::new();
    for statement in code.split(';') {
        let Some(i) = statement.find("use ") else {
            continue;
        };
        // Only a `use` that starts its line (`pub use`, `pub(crate) use` too).
        let line = statement[..i].rsplit('\n').next().unwrap_or("").trim();
        if !(line.is_empty() || line == "pub" || line.starts_with("pub(")) {
            continue;
        }
        let tree: String = statement[i + 4..]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let first = tree.split("::").next().unwrap_or("");
        if matches!(first, "crate" | "super" | "self") || (is_mod && children.contains(first)) {
            expand(&[], &tree, &mut paths);
        }
    }
    // Inline `crate::a::b` paths.
    for (i, _) in code.match_indices("crate::") {
        let path: String = code[i..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        // `crate::a::{..}` opens a `use` group, expanded above: not a path of its own.
        if code[i + path.len()..].starts_with('{') {
            continue;
        }
        let path: Module = path
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if path.len() > 1 {
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let mut segments = path.into_iter().peekable();
            let mut absolute: Module = match segments.peek().map(String::as_str) {
                Some("crate") => {
                    segments.next();
                    Vec::new()
                }
                _ => me.clone(),
            };
            // `super` of `a::b` (`a/b.rs` or `a/b/mod.rs`) is `a`.
            while let Some(segment) = segments.peek() {
                match segment.as_str() {
                    "self" => {
                        segments.next();
                    }
                    "super" => {
                        segments.next();
                        absolute.pop();
                    }
                    _ => break,
                }
            }
            absolute.extend(segments);
            absolute
        })
        .collect()
}

/// The tree to check: `IMPORTS_SRC` if set (e.g. an old checkout, to see the test fail), else
/// `default` (relative to this crate).
fn root(default: &str) -> std::path::PathBuf {
    std::env::var_os("IMPORTS_SRC")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(default))
}

#[test]
fn no_module_of_the_simulator_imports_one_that_imports_it_back() {
    assert_acyclic(&root("src"));
}

#[test]
fn no_module_of_the_protocol_imports_one_that_imports_it_back() {
    assert_acyclic(&root("../protocol/src"));
}

/// Panics with the cycle if a module of the crate at `root` reaches itself.
fn assert_acyclic(root: &Path) {
    let mut files = BTreeMap::new();
    modules(root, root, &mut files);
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (me, (source, is_mod)) in &files {
        let children: BTreeSet<String> = files
            .keys()
            .filter(|k| k.len() == me.len() + 1 && k.starts_with(me))
            .map(|k| k[me.len()].clone())
            .collect();
        let edges = graph.entry(me.clone()).or_default();
        for path in references(me, *is_mod, &children, &code(source)) {
            // The file of the longest module prefix.
            let target = (0..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|k| files.contains_key(k));
            if let Some(target) = target
                && target != *me
            {
                edges.insert(target);
            }
        }
    }
    find_cycle(&graph);
    // The same at the level of the crate's top modules (a module with all its submodules): two
    // parts of the crate never depend on each other both ways.
    let mut top: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, to) in &graph {
        let Some(a) = from.first() else { continue };
        for b in to.iter().filter_map(|t| t.first()) {
            if a != b {
                top.entry(vec![a.clone()])
                    .or_default()
                    .insert(vec![b.clone()]);
            }
        }
    }
    find_cycle(&top);
    // The graph is not trivially empty.
    assert!(graph.values().map(BTreeSet::len).sum::<usize>() > files.len());
}

/// Panics with the first cycle of `graph` found.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) {
    // A module that reaches itself is on a cycle: report the cycle itself.
    for start in graph.keys() {
        let mut parent: BTreeMap<Module, Module> = BTreeMap::new();
        let mut queue: std::collections::VecDeque<Module> = graph[start].iter().cloned().collect();
        for next in &graph[start] {
            parent.insert(next.clone(), start.clone());
        }
        while let Some(next) = queue.pop_front() {
            if next == *start {
                let mut cycle = vec![start.join("::")];
                let mut at = parent[start].clone();
                while at != *start {
                    cycle.push(at.join("::"));
                    at = parent[&at].clone();
                }
                cycle.push(start.join("::"));
                cycle.reverse();
                panic!("import cycle: {}", cycle.join(" -> "));
            }
            for after in graph.get(&next).into_iter().flatten() {
                if !parent.contains_key(after) {
                    parent.insert(after.clone(), next.clone());
                    queue.push_back(after.clone());
                }
            }
        }
    }
}
