//! The library's top-level modules import one another in one direction only (`cli` → `pipeline` →
//! stages → shared pieces): no module imports one that imports it back, directly or round a circle.
//! Read from the source, since Rust itself allows such circles inside a crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its files name as `crate::X`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        if name == "lib" || name == "main" {
            continue;
        }
        let files: Vec<_> = if path.is_dir() {
            walkdir(&path)
        } else {
            vec![path.clone()]
        };
        let mut uses = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let mut rest = text.as_str();
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + 7..];
                let to: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let group = rest.starts_with('{');
                if group {
                    // `crate::{a, b::c}`: each first segment.
                    let end = rest.find('}').unwrap();
                    for part in rest[1..end].split(',') {
                        let seg: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !seg.is_empty() && seg != name {
                            uses.insert(seg);
                        }
                    }
                } else if !to.is_empty() && to != name {
                    uses.insert(to);
                }
            }
        }
        graph.insert(name, uses);
    }
    graph
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn top_level_modules_import_one_way() {
    let graph = imports();
    assert!(graph.len() >= 10, "modules found: {graph:?}");
    // Only modules of the crate count (a `crate::` in a string or comment could name anything).
    let known: BTreeSet<String> = graph.keys().cloned().collect();
    // Depth-first search for a circle, reporting the first one found.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        known: &BTreeSet<String>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut circle = path[at..].to_vec();
            circle.push(m.to_string());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for to in graph[m].iter().filter(|t| known.contains(*t)) {
            if let Some(c) = visit(to, graph, known, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(circle) = visit(m, &graph, &known, &mut Vec::new(), &mut done) {
            panic!("modules import each other: {}", circle.join(" → "));
        }
    }
    // The shared pieces import no stage, and no stage imports the pipeline or the command line.
    let stages = ["extract", "embed", "detect", "export", "report"];
    for shared in [
        "dataset", "error", "coco", "rows", "state", "progress", "runtime", "models",
    ] {
        if let Some(uses) = graph.get(shared) {
            let up: Vec<_> = uses
                .iter()
                .filter(|u| stages.contains(&u.as_str()) || *u == "pipeline" || *u == "cli")
                .collect();
            assert!(up.is_empty(), "{shared} imports {up:?}");
        }
    }
    for stage in stages {
        let up: Vec<_> = graph[stage]
            .iter()
            .filter(|u| *u == "pipeline" || *u == "cli")
            .collect();
        assert!(up.is_empty(), "{stage} imports {up:?}");
    }
}
