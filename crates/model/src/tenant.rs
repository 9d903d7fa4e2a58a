//! Tenant names (clause 4.14): the `NGSILD-Tenant` header value, or the default tenant.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// A validated tenant name. The default tenant has no name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct Tenant(Option<String>);

/// Longest tenant name accepted.
pub const MAX_TENANT_LEN: usize = 256;

impl Tenant {
    /// The default tenant, used when no tenant header is sent.
    pub fn default_tenant() -> Self {
        Self(None)
    }

    /// Validates a tenant name: 1..=256 characters of `[A-Za-z0-9_.:-]`, so that it is safe
    /// as a key component and in logs. An empty header means the default tenant.
    pub fn named(name: &str) -> Result<Self, ModelError> {
        if name.is_empty() {
            return Ok(Self(None));
        }
        if name.len() > MAX_TENANT_LEN {
            return Err(ModelError::bad_data(format!(
                "tenant name longer than {MAX_TENANT_LEN} characters"
            )));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')))
        {
            return Err(ModelError::bad_data(format!(
                "tenant name contains the character {c:?}, only letters, digits and _-.:/ are allowed"
            )));
        }
        Ok(Self(Some(name.to_owned())))
    }

    /// The name, `None` for the default tenant.
    pub fn name(&self) -> Option<&str> {
        self.0.as_deref()
    }

    pub fn is_default(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("(default)"))
    }
}
