//! JSON codecs for entities: parsing client input, rendering responses.

pub mod parse;
pub mod render;

#[cfg(test)]
mod tests;
