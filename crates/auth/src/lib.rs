//! Who calls the broker and what they may do: OAuth 2 / OpenID Connect bearer tokens (JWT,
//! asymmetric signatures only) checked against the issuer's JSON Web Key Set, and the rights
//! per tenant (read, write, subscribe, admin) that the roles in their claims are granted.
//! Knows nothing of HTTP routes: the API layer says which right a call needs.

mod grants;
mod keys;
mod token;

pub use grants::{Grant, GrantError, Grants, Right, Rights, TenantPattern};
pub use keys::{KeySource, Keys, MIN_REFRESH};
pub use token::{AuthError, Caller, Verifier, VerifierConfig};

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(test)]
mod tests;
