//! Replays the corpus of every fuzz target (`fuzz/corpus/<target>/`), so inputs that once
//! crashed a target, and the coverage the fuzzer found, are checked on every CI run.

use std::path::PathBuf;

use crate::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_fuzz_target_runs_its_whole_corpus_without_a_panic() {
    for (name, run) in TARGETS {
        let dir = corpus_dir(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the corpus of {name} at {}: {e}", dir.display()));
        let mut replayed = 0;
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            run(&input);
            replayed += 1;
        }
        assert!(replayed > 0, "the corpus of {name} is empty");
    }
}

/// Writes the seeds of the `record` target: the records of the sample entity and of the
/// `entity` target's seeds. Run by hand (`cargo test -p rigel-fuzz -- --ignored`) when the
/// record format changes.
#[test]
#[ignore = "writes seed files; run by hand"]
fn write_record_seeds() {
    use chrono::Utc;
    use rigel_model::codec::parse::parse_entity;
    use rigel_model::IdentityTerms;
    let mut entities = vec![crate::sample().clone()];
    for entry in std::fs::read_dir(corpus_dir("entity")).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let body: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap_or_default()).unwrap_or_default();
        if let Some(map) = body.as_object() {
            if let Ok(entity) = parse_entity(map, &IdentityTerms, Utc::now()) {
                entities.push(entity);
            }
        }
    }
    for (i, entity) in entities.iter().enumerate() {
        let record = rigel_storage_embedded::fuzzing::record_of(entity);
        let path = corpus_dir("record").join(format!("seed-{i:02}"));
        std::fs::write(&path, record).unwrap_or_else(|e| panic!("{e}"));
    }
}
