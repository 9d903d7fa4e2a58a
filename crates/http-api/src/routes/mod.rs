//! Route handlers, one module per API area.

pub mod attributes;
pub mod entities;
pub mod unsupported;
mod write;
