//! The ingestion rules made through the API, kept in `<data-dir>/ingestion-rules.json` so
//! that they run again after a restart. Written whole on every change, to a temporary file
//! that is synced and renamed over the old one (readable by the owner only: rules hold
//! broker passwords).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rigel_ingest::RuleSpec;

/// The file's name in the data directory.
pub const FILE_NAME: &str = "ingestion-rules.json";

/// The saved rules, by id.
pub struct SavedRules {
    path: PathBuf,
    pub rules: BTreeMap<String, RuleSpec>,
}

impl SavedRules {
    /// Reads the file in `data_dir` (none yet: no rules).
    pub fn load(data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join(FILE_NAME);
        let rules = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let specs: Vec<RuleSpec> =
                    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                specs.into_iter().map(|s| (s.id.clone(), s)).collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(Self { path, rules })
    }

    /// Writes the rules durably.
    pub fn save(&self) -> Result<(), String> {
        let specs: Vec<&RuleSpec> = self.rules.values().collect();
        let text = serde_json::to_vec_pretty(&specs).map_err(|e| e.to_string())?;
        let temporary = self.path.with_extension("json.new");
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("cannot save the ingestion rules: {e}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn saved_rules_read_back_after_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut saved = SavedRules::load(dir.path()).unwrap();
        assert!(saved.rules.is_empty());
        let spec: RuleSpec = serde_json::from_value(serde_json::json!({
            "id": "r", "broker": "mqtt://u:pw@h", "topic": "t/#", "payload": "ngsi-ld"
        }))
        .unwrap();
        saved.rules.insert("r".into(), spec.clone());
        saved.save().unwrap();
        let again = SavedRules::load(dir.path()).unwrap();
        assert_eq!(again.rules.get("r"), Some(&spec));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
