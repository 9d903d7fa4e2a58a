//! Durable storage of the @contexts this broker serves (Hosted, ImplicitlyCreated): one
//! JSON file per entry in a directory, written to a temporary file, flushed to disk and
//! renamed, so that a crash leaves either the old state or the new one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::JsonLdError;
use crate::local_id::token;
use crate::stored::ContextKind;

const EXTENSION: &str = "json";
const TEMPORARY: &str = "tmp";

/// One stored entry as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredContext {
    pub(crate) local_id: String,
    pub(crate) kind: ContextKind,
    pub(crate) created_at: DateTime<Utc>,
    /// `{"@context": ...}`.
    pub(crate) document: Value,
}

/// The directory of served @contexts.
#[derive(Debug)]
pub(crate) struct ContextDir {
    dir: PathBuf,
}

impl ContextDir {
    /// Opens (creating it if needed) the directory and reads every entry in it. Temporary
    /// files of writes a crash interrupted are removed: their rename never happened, so
    /// the write was never acknowledged. An unreadable entry is an error rather than a
    /// silently lost @context.
    pub(crate) fn open(dir: &Path) -> Result<(Self, Vec<StoredContext>), JsonLdError> {
        let failed = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
            JsonLdError::Storage(format!("cannot {what} {}: {e}", path.display()))
        };
        fs::create_dir_all(dir).map_err(|e| failed("create", dir, &e))?;
        let mut stored = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| failed("read", dir, &e))? {
            let path = entry.map_err(|e| failed("read", dir, &e))?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some(TEMPORARY) => {
                    fs::remove_file(&path).map_err(|e| failed("remove", &path, &e))?;
                }
                Some(EXTENSION) => {
                    let text = fs::read(&path).map_err(|e| failed("read", &path, &e))?;
                    let context: StoredContext =
                        serde_json::from_slice(&text).map_err(|e| failed("parse", &path, &e))?;
                    if !context.kind.is_served() || token(&context.local_id).is_none() {
                        let e = "not a Hosted or ImplicitlyCreated @context";
                        return Err(failed("load", &path, &e));
                    }
                    stored.push(context);
                }
                _ => {}
            }
        }
        Ok((
            Self {
                dir: dir.to_path_buf(),
            },
            stored,
        ))
    }

    /// Writes an entry durably (blocking: call it off the async runtime).
    pub(crate) fn write(&self, context: &StoredContext) -> Result<(), JsonLdError> {
        let path = self.path_of(&context.local_id)?;
        let temporary = path.with_extension(TEMPORARY);
        let failed = |what: &str, e: std::io::Error| {
            JsonLdError::Storage(format!("cannot {what} {}: {e}", temporary.display()))
        };
        let text = serde_json::to_vec(context)
            .map_err(|e| JsonLdError::Storage(format!("cannot encode a stored @context: {e}")))?;
        let mut file = File::create(&temporary).map_err(|e| failed("create", e))?;
        file.write_all(&text).map_err(|e| failed("write", e))?;
        file.sync_all().map_err(|e| failed("flush", e))?;
        drop(file);
        fs::rename(&temporary, &path).map_err(|e| failed("rename", e))?;
        self.sync_dir()
    }

    /// Removes an entry durably (blocking); removing a missing entry succeeds.
    pub(crate) fn remove(&self, local_id: &str) -> Result<(), JsonLdError> {
        let path = self.path_of(local_id)?;
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(JsonLdError::Storage(format!(
                "cannot remove {}: {e}",
                path.display()
            ))),
        }
    }

    fn path_of(&self, local_id: &str) -> Result<PathBuf, JsonLdError> {
        let token = token(local_id).ok_or_else(|| {
            JsonLdError::Internal(format!("{local_id} is not a generated local id"))
        })?;
        Ok(self.dir.join(format!("{token}.{EXTENSION}")))
    }

    /// Makes a rename or removal in the directory durable.
    fn sync_dir(&self) -> Result<(), JsonLdError> {
        if cfg!(unix) {
            File::open(&self.dir)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| {
                    JsonLdError::Storage(format!("cannot flush {}: {e}", self.dir.display()))
                })?;
        }
        Ok(())
    }
}
