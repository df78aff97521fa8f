//! Reads the `crate::` and `super::` paths of a crate's source files, so that
//! the layout tests can draw the import graph: which file uses which.
//!
//! A file's module path comes from its place under the source folder
//! (`api/store.rs` is `api::store`, `ops/mod.rs` is `ops`). A path names the
//! longest module it starts with; a name the crate root re-exports
//! (`crate::Error`) names the module it comes from. Doc comments, comments
//! and the unit tests at the end of a file are not dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path: `["api", "store"]`; the crate root is empty.
pub type Module = Vec<String>;

/// The files of one crate and the modules each imports.
pub struct Graph {
    /// Module path → file, relative to the source folder.
    pub files: BTreeMap<Module, PathBuf>,
    /// Module path → the modules it imports (never itself).
    pub edges: BTreeMap<Module, BTreeSet<Module>>,
}

impl Graph {
    /// Reads every `.rs` file under `src`.
    pub fn read(src: &Path) -> std::io::Result<Graph> {
        let mut files = BTreeMap::new();
        collect(src, src, &mut files)?;
        let root_file = ["lib.rs", "main.rs"]
            .iter()
            .map(|name| src.join(name))
            .find(|path| path.exists());
        let reexports = match root_file {
            Some(path) => root_reexports(&std::fs::read_to_string(path)?),
            None => BTreeMap::new(),
        };
        let mut edges = BTreeMap::new();
        for (module, file) in &files {
            let text = code_only(&std::fs::read_to_string(src.join(file))?);
            let is_mod_file = file.file_name().is_some_and(|name| name == "mod.rs");
            let mut targets = BTreeSet::new();
            for path in paths_after(&text, "crate::") {
                let path = match path.as_slice() {
                    [name] => reexports.get(name).cloned().unwrap_or(path),
                    _ => path,
                };
                if let Some(target) = resolve(&files, &path) {
                    targets.insert(target);
                }
            }
            // `super::` from `a/b.rs` (module a::b) names a; from `a/mod.rs`
            // (module a) it names a's parent.
            let parent: Module = if is_mod_file || module.is_empty() {
                module[..module.len().saturating_sub(1)].to_vec()
            } else {
                module[..module.len() - 1].to_vec()
            };
            for path in paths_after(&text, "super::") {
                let full: Module = parent.iter().cloned().chain(path).collect();
                if let Some(target) = resolve(&files, &full) {
                    targets.insert(target);
                }
            }
            targets.remove(module);
            edges.insert(module.clone(), targets);
        }
        Ok(Graph { files, edges })
    }

    /// Every set of two or more files that import each other, in a circle
    /// (strongly connected components, Tarjan's algorithm).
    pub fn circles(&self) -> Vec<Vec<PathBuf>> {
        let mut state = Tarjan::default();
        for module in self.edges.keys() {
            if !state.index.contains_key(module) {
                state.visit(module, &self.edges);
            }
        }
        state
            .components
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| component.iter().map(|m| self.files[m].clone()).collect())
            .collect()
    }
}

fn collect(src: &Path, dir: &Path, files: &mut BTreeMap<Module, PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(src, &path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(src).unwrap_or(&path).to_path_buf();
            let mut module: Module = relative
                .with_extension("")
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module
                .last()
                .is_some_and(|last| ["mod", "lib", "main"].contains(&last.as_str()))
            {
                module.pop();
            }
            files.insert(module, relative);
        }
    }
    Ok(())
}

/// The names `pub use a::b::{X, Y}` / `pub use a::b::X` re-export at the root,
/// with the module path each comes from.
fn root_reexports(text: &str) -> BTreeMap<String, Module> {
    let mut names = BTreeMap::new();
    let text = code_only(text);
    let mut rest = text.as_str();
    while let Some(at) = rest.find("pub use ") {
        rest = &rest[at + "pub use ".len()..];
        let statement = &rest[..rest.find(';').unwrap_or(rest.len())];
        let statement = statement.strip_prefix("crate::").unwrap_or(statement);
        for path in use_tree(statement) {
            if let Some((name, module)) = path.split_last() {
                names.insert(name.clone(), module.to_vec());
            }
        }
    }
    names
}

/// The longest module `path` starts with, if any.
fn resolve(files: &BTreeMap<Module, PathBuf>, path: &[String]) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| files.contains_key(prefix))
}

/// The source without comments and without the unit-test module at its end.
fn code_only(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `prefix` in `text`, with use-tree groups expanded
/// (`crate::a::{b, c::D}` gives `a::b` and `a::c::D`).
fn paths_after(text: &str, prefix: &str) -> Vec<Module> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        // `$crate::` and `foo_crate::` are other crates' paths.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let end = tree_end(rest);
        paths.extend(use_tree(&rest[..end]));
        rest = &rest[end..];
    }
    paths
}

/// Where the path or use tree at the start of `text` ends.
fn tree_end(text: &str) -> usize {
    let mut depth = 0usize;
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return at,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return at + 1;
                }
            }
            c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':') => return at,
            _ => {}
        }
    }
    text.len()
}

/// The paths of one use tree: `a::{b, c::{D, e as f}, self}`.
fn use_tree(tree: &str) -> Vec<Module> {
    let tree = tree.trim();
    let (head, group) = match tree.find('{') {
        Some(open) => (
            &tree[..open],
            Some(&tree[open + 1..tree.rfind('}').unwrap_or(tree.len())]),
        ),
        None => (tree, None),
    };
    let base: Module = head
        .split("::")
        .map(|part| part.split(" as ").next().unwrap_or("").trim().to_owned())
        .filter(|part| !part.is_empty() && part != "self")
        .collect();
    let Some(group) = group else {
        return vec![base];
    };
    split_top_level(group)
        .into_iter()
        .flat_map(|item| {
            use_tree(item)
                .into_iter()
                .map(|tail| base.iter().cloned().chain(tail).collect::<Module>())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `a, b::{c, d}, e` split at the commas outside braces.
fn split_top_level(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&group[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .collect()
}

#[derive(Default)]
struct Tarjan {
    next: usize,
    index: BTreeMap<Module, usize>,
    low: BTreeMap<Module, usize>,
    stack: Vec<Module>,
    on_stack: BTreeSet<Module>,
    components: Vec<Vec<Module>>,
}

impl Tarjan {
    fn visit(&mut self, module: &Module, edges: &BTreeMap<Module, BTreeSet<Module>>) {
        self.index.insert(module.clone(), self.next);
        self.low.insert(module.clone(), self.next);
        self.next += 1;
        self.stack.push(module.clone());
        self.on_stack.insert(module.clone());
        for target in edges.get(module).into_iter().flatten() {
            if !self.index.contains_key(target) {
                self.visit(target, edges);
                let low = self.low[module].min(self.low[target]);
                self.low.insert(module.clone(), low);
            } else if self.on_stack.contains(target) {
                let low = self.low[module].min(self.index[target]);
                self.low.insert(module.clone(), low);
            }
        }
        if self.low[module] == self.index[module] {
            let mut component = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack.remove(&member);
                let done = &member == module;
                component.push(member);
                if done {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}
