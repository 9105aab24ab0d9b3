//! Golden configurations: every example validates; every invalid file fails with exactly the
//! errors its `# expect:` lines announce (each expected text must appear in one reported error).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_example_validates() {
    let examples = yaml_files(&repo_root().join("examples"));
    assert!(examples.len() >= 2, "examples missing");
    for file in examples {
        if let Err(errors) = portcullis_config::load(&file) {
            panic!("{} does not validate: {errors:#?}", file.display());
        }
    }
}

#[test]
fn every_invalid_config_fails_with_its_expected_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config/invalid");
    let files = yaml_files(&dir);
    assert!(files.len() >= 5);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no expectations",
            file.display()
        );
        let errors = match portcullis_config::load(&file) {
            Ok(_) => panic!("{} validated but must not", file.display()),
            Err(errors) => errors,
        };
        let printed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for want in &expected {
            assert!(
                printed.iter().any(|e| e.contains(want)),
                "{}: no error contains {want:?}; got {printed:#?}",
                file.display()
            );
        }
        assert_eq!(
            printed.len(),
            expected.len(),
            "{}: unexpected extra errors: {printed:#?}",
            file.display()
        );
    }
}
