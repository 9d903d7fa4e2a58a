//! Moving data in and out of a Rigel store, whichever backend holds it: a tenant's
//! entities, their history, subscriptions and registrations written as NDJSON records
//! ([`export`]) and read back into any store ([`import`]); and an Orion-LD database
//! imported into any store ([`orion`]).

mod error;
pub mod export;
pub mod format;
pub mod import;
pub mod orion;

pub use error::TransferError;
pub use export::{export, ExportOptions, Exported};
pub use format::{Header, HistoryChunk, Record};
pub use import::{
    import, Existing, ImportOptions, ImportReport, Loader, Rejected, Tally, TenantReport,
};

#[cfg(test)]
mod tests;
