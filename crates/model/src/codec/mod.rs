//! JSON codecs for entities: parsing client input, rendering responses.

pub mod linked;
pub mod parse;
pub mod render;
pub mod temporal;
mod values;
pub mod write;

#[cfg(test)]
mod tests;
