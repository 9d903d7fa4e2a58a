//! JSON codecs for entities: parsing client input, rendering responses.

pub mod linked;
pub mod parse;
pub mod render;
mod values;

#[cfg(test)]
mod tests;
