//! The shape of the source tree (see `docs/design.md`, "Layers"): no file
//! imports a file that imports it back, and each folder of `src/` imports
//! only the folders below it, so that a reader can tell from a file's folder
//! what it may use.

mod imports;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use imports::{Graph, Module};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The layers of `src/`, top first: a file may import its own folder and
/// the folders after its own. `lib.rs` and the integrations at the root may
/// import everything.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "api",
        &[
            "api", "ops", "engine", "record", "kv", "model", "crypto", "error",
        ],
    ),
    (
        "ops",
        &["ops", "engine", "record", "kv", "model", "crypto", "error"],
    ),
    (
        "engine",
        &["engine", "record", "kv", "model", "crypto", "error"],
    ),
    ("record", &["record", "kv", "model", "crypto", "error"]),
    ("kv", &["kv", "model", "crypto", "error"]),
    // `model/operator.rs` names a table in its reports: the leaf `kv/table.rs`.
    ("model", &["model", "crypto", "error", "kv::table"]),
    ("crypto", &["crypto", "error"]),
    // The error names three leaves, which import nothing of the crate.
    (
        "error",
        &["kv::table", "crypto::kinds", "model::grant_type"],
    ),
];

/// The files that must import nothing of the crate, so that the error type
/// may name them without closing a circle.
const LEAVES: &[&str] = &["kv::table", "crypto::kinds", "model::grant_type"];

fn allowed(from: &Module, to: &Module) -> bool {
    let Some(first) = from.first() else {
        return true; // lib.rs
    };
    let Some((_, may)) = LAYERS.iter().find(|(layer, _)| layer == first) else {
        return true; // an integration at the root (oxide.rs)
    };
    let to = to.join("::");
    may.iter()
        .any(|allowed| to == *allowed || to.starts_with(&format!("{allowed}::")))
}

fn describe(circles: &[Vec<PathBuf>]) -> String {
    circles
        .iter()
        .map(|circle| {
            let names: BTreeSet<_> = circle.iter().map(|p| p.display().to_string()).collect();
            names.into_iter().collect::<Vec<_>>().join(" ↔ ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn the_library_has_no_import_circles() -> TestResult {
    let graph = Graph::read(&crate_dir().join("src"))?;
    let circles = graph.circles();
    assert!(
        circles.is_empty(),
        "import circles in src/: {}",
        describe(&circles)
    );
    Ok(())
}

#[test]
fn the_cli_has_no_import_circles() -> TestResult {
    let graph = Graph::read(&crate_dir().join("cli/src"))?;
    let circles = graph.circles();
    assert!(
        circles.is_empty(),
        "import circles in cli/src/: {}",
        describe(&circles)
    );
    Ok(())
}

#[test]
fn each_layer_imports_only_the_layers_below_it() -> TestResult {
    let graph = Graph::read(&crate_dir().join("src"))?;
    let mut wrong = Vec::new();
    for (from, targets) in &graph.edges {
        for to in targets {
            if !allowed(from, to) {
                wrong.push(format!(
                    "{} uses {}",
                    graph.files[from].display(),
                    graph.files[to].display()
                ));
            }
        }
    }
    for leaf in LEAVES {
        let module: Module = leaf.split("::").map(str::to_owned).collect();
        let imported = graph
            .edges
            .get(&module)
            .ok_or(format!("no file for {leaf}"))?;
        for to in imported {
            wrong.push(format!(
                "the leaf {leaf} uses {}",
                graph.files[to].display()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
    Ok(())
}

#[test]
fn at_most_five_files_sit_at_the_root_of_src() -> TestResult {
    let root_files: Vec<_> = std::fs::read_dir(crate_dir().join("src"))?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        root_files.len() <= 5,
        "files at the root of src/: {root_files:?}"
    );
    Ok(())
}

/// The checker itself: a planted circle and a planted climb are found.
#[test]
fn a_planted_circle_and_a_planted_climb_are_found() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path();
    std::fs::create_dir_all(src.join("model"))?;
    std::fs::create_dir_all(src.join("api"))?;
    std::fs::write(
        src.join("lib.rs"),
        "mod api;\nmod model;\npub use api::store::Store;\n",
    )?;
    std::fs::write(src.join("model/mod.rs"), "pub(crate) mod ids;\n")?;
    std::fs::write(src.join("api/mod.rs"), "pub(crate) mod store;\n")?;
    // model/ids.rs climbs to the facade through the root re-export, and the
    // facade imports it back: one circle, one import against the layers.
    std::fs::write(
        src.join("model/ids.rs"),
        "// crate::api::store in a comment is no import\nuse crate::{Store};\n",
    )?;
    std::fs::write(
        src.join("api/store.rs"),
        "use crate::model::{ids::{self}};\npub struct Store;\n",
    )?;
    let graph = Graph::read(src)?;
    let circles = graph.circles();
    assert_eq!(circles.len(), 1, "{}", describe(&circles));
    let ids: Module = vec!["model".into(), "ids".into()];
    let store: Module = vec!["api".into(), "store".into()];
    assert!(graph.edges[&ids].contains(&store));
    assert!(!allowed(&ids, &store));
    assert!(allowed(&store, &ids));
    // Without the climb, no circle.
    std::fs::write(src.join("model/ids.rs"), "// crate::api::store\n")?;
    assert!(Graph::read(src)?.circles().is_empty());
    Ok(())
}
