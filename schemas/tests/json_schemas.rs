//! The checked-in JSON Schemas must equal what the types generate.
//! Regenerate with `KUBESAGE_BLESS=1 cargo test -p kubesage-schemas --test json_schemas`.

use std::path::PathBuf;

#[test]
fn json_schema_files_are_fresh() {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from).join("json");
    let bless = std::env::var_os("KUBESAGE_BLESS").is_some();
    let mut stale = Vec::new();
    let all = kubesage_schemas::schema::all();
    for (name, schema) in &all {
        let path = dir.join(format!("{name}.json"));
        let want = kubesage_schemas::schema::render(schema);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            if bless {
                std::fs::write(&path, want).expect("write schema");
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    // No orphan files either.
    for entry in std::fs::read_dir(&dir).expect("schemas/json") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        let stem = name.trim_end_matches(".json");
        if !all.iter().any(|(n, _)| *n == stem) {
            stale.push(format!("orphan {name}"));
        }
    }
    assert!(stale.is_empty(), "stale JSON Schemas (run with KUBESAGE_BLESS=1): {stale:?}");
}
