//! Which file system events concern the configuration. The watcher listens to whole directories
//! (editors and Kubernetes replace files by renaming), so it also hears about every other file
//! there and about the gateway's own reads of the configuration: reacting to those made each
//! reload trigger the next one. Only content changes, creations, removals and renames of the
//! configured files count.

use std::path::{Path, PathBuf};

use notify::EventKind;
use notify::event::ModifyKind;

/// The configured files: the main file and the file provider's file or directory.
#[derive(Debug, Clone)]
pub struct ConfigFiles {
    files: Vec<PathBuf>,
    directory: Option<PathBuf>,
}

impl ConfigFiles {
    /// `files` are watched one by one; every `.yaml`/`.yml` file of `directory` counts too.
    pub fn new(files: Vec<PathBuf>, directory: Option<PathBuf>) -> Self {
        Self {
            files: files.iter().map(|f| absolute(f)).collect(),
            directory: directory.as_deref().map(absolute),
        }
    }

    /// The directories to watch, without duplicates.
    pub fn directories(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.files.iter().map(|f| directory_of(f)).collect();
        dirs.extend(self.directory.clone());
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Whether an event of `kind` on `paths` may have changed the configuration.
    pub fn concerns(&self, kind: &EventKind, paths: &[PathBuf]) -> bool {
        let changes_content = match kind {
            EventKind::Create(_) | EventKind::Remove(_) => true,
            // Metadata (a `touch`, a chmod) leaves the text as it was.
            EventKind::Modify(ModifyKind::Metadata(_)) => false,
            EventKind::Modify(_) => true,
            // Opening and closing after reading: the gateway's own reads among them.
            EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
        };
        changes_content && paths.iter().any(|p| self.is_configuration(p))
    }

    fn is_configuration(&self, path: &Path) -> bool {
        let path = absolute(path);
        if self.files.contains(&path) {
            return true;
        }
        let Some(parent) = path.parent() else {
            return false;
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // A Kubernetes ConfigMap or Secret volume swaps all its files at once by renaming its
        // `..data` link; the configured names are links through it and never change themselves.
        if name.starts_with("..") && self.directories().iter().any(|d| d == parent) {
            return true;
        }
        self.directory.as_deref() == Some(parent)
            && matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, RenameMode};

    use super::*;

    fn files() -> ConfigFiles {
        ConfigFiles::new(
            vec![
                PathBuf::from("/etc/portcullis/portcullis.yaml"),
                PathBuf::from("/etc/portcullis/dynamic.yaml"),
            ],
            None,
        )
    }

    #[test]
    fn reads_of_the_configuration_are_ignored() {
        let path = vec![PathBuf::from("/etc/portcullis/dynamic.yaml")];
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let close = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!files().concerns(&open, &path));
        assert!(!files().concerns(&close, &path));
        let touch = EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any));
        assert!(!files().concerns(&touch, &path));
    }

    #[test]
    fn writes_and_renames_of_the_configured_files_count() {
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let path = vec![PathBuf::from("/etc/portcullis/dynamic.yaml")];
        assert!(files().concerns(&write, &path));
        // sed -i and most editors: a temporary file renamed over the original.
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        let both = vec![
            PathBuf::from("/etc/portcullis/sedAb12Cd"),
            PathBuf::from("/etc/portcullis/dynamic.yaml"),
        ];
        assert!(files().concerns(&rename, &both));
    }

    #[test]
    fn other_files_in_the_directory_are_ignored() {
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let create = EventKind::Create(CreateKind::File);
        for other in [
            "/etc/portcullis/notes.txt",
            "/etc/portcullis/portcullis.log",
        ] {
            assert!(!files().concerns(&write, &[PathBuf::from(other)]));
            assert!(!files().concerns(&create, &[PathBuf::from(other)]));
        }
    }

    #[test]
    fn yaml_files_of_a_provider_directory_count() {
        let files = ConfigFiles::new(
            vec![PathBuf::from("/etc/portcullis/portcullis.yaml")],
            Some(PathBuf::from("/etc/portcullis/dynamic")),
        );
        let create = EventKind::Create(CreateKind::File);
        assert!(files.concerns(&create, &[PathBuf::from("/etc/portcullis/dynamic/new.yml")]));
        assert!(!files.concerns(&create, &[PathBuf::from("/etc/portcullis/dynamic/README")]));
        assert_eq!(
            files.directories(),
            [
                PathBuf::from("/etc/portcullis"),
                PathBuf::from("/etc/portcullis/dynamic")
            ]
        );
    }

    #[test]
    fn a_kubernetes_volume_swap_counts() {
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        let paths = vec![
            PathBuf::from("/etc/portcullis/..data_tmp"),
            PathBuf::from("/etc/portcullis/..data"),
        ];
        assert!(files().concerns(&rename, &paths));
    }
}
