//! Checking a bearer token: an `Authorization: Bearer` JWT whose signature verifies with one
//! of the issuer's keys and whose `iss`, `aud`, `exp` and `nbf` hold, within a small skew.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, decode_header, Validation};
use serde_json::Value;

use crate::grants::{Grants, Right, Rights};
use crate::keys::Keys;

/// Why a call is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no bearer token")]
    Missing,
    #[error("the bearer token is not valid: {0}")]
    Invalid(String),
    #[error("the token signing keys cannot be read: {0}")]
    KeysUnavailable(String),
    #[error("the caller may not {right} tenant {tenant}")]
    Forbidden { right: &'static str, tenant: String },
}

/// What a token must say.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The expected `iss`.
    pub issuer: String,
    /// Accepted `aud` values; the token must name one of them.
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub` (empty when it has none).
    pub subject: String,
    /// The values of the roles claim.
    pub roles: Vec<String>,
}

/// A verified token is trusted again without checking its signature for this long (and
/// never past its `exp`): a signature check costs more than the rest of a small request.
const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// Verified tokens remembered at most; the memory is forgotten whole when it is full.
const MAX_VERIFIED: usize = 10_000;

/// A token already verified: its caller, until when (epoch seconds, `exp` plus the skew),
/// and when it was verified.
struct Verified {
    caller: Caller,
    until: u64,
    at: Instant,
    /// The read of the key set it was verified with.
    keys: u64,
}

/// Checks tokens and says what their holders may do.
#[derive(Clone)]
pub struct Verifier {
    config: VerifierConfig,
    keys: Keys,
    grants: Grants,
    verified: Arc<RwLock<HashMap<String, Verified>>>,
}

impl Verifier {
    pub fn new(config: VerifierConfig, keys: Keys, grants: Grants) -> Self {
        Self {
            config,
            keys,
            grants,
            verified: Arc::default(),
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The caller an `Authorization` header's bearer token stands for.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let token = bearer(authorization.ok_or(AuthError::Missing)?)?;
        if let Some(caller) = self.remembered(token) {
            return Ok(caller);
        }
        let caller = self.verify(token).await?;
        Ok(caller)
    }

    /// The caller of a token verified lately and not expired since.
    fn remembered(&self, token: &str) -> Option<Caller> {
        let verified = self.verified.read().unwrap_or_else(|p| p.into_inner());
        let entry = verified.get(token)?;
        let fresh = entry.at.elapsed() < VERIFIED_FOR && entry.keys == self.keys.generation();
        (fresh && epoch_now() <= entry.until).then(|| entry.caller.clone())
    }

    fn remember(&self, token: &str, caller: &Caller, claims: &Value, generation: u64) {
        let Some(exp) = claims.get("exp").and_then(Value::as_u64) else {
            return;
        };
        let mut verified = self.verified.write().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(
            token.to_owned(),
            Verified {
                caller: caller.clone(),
                until: exp.saturating_add(self.config.leeway.as_secs()),
                at: Instant::now(),
                keys: generation,
            },
        );
    }

    /// Checks the token's signature and claims.
    async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        // Taken before the keys are looked up: if they are read again meanwhile, the token
        // counts as verified with the older read and is checked again next time.
        let generation = self.keys.generation();
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let keys = self.keys.find(header.kid.as_deref()).await?;
        let usable: Vec<_> = keys
            .iter()
            .filter(|k| k.algorithms.contains(&header.alg))
            .collect();
        if usable.is_empty() {
            return Err(AuthError::Invalid(match header.kid {
                Some(kid) => format!(
                    "no key {kid:?} for {:?} among the issuer's keys",
                    header.alg
                ),
                None => format!("no key for {:?} among the issuer's keys", header.alg),
            }));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&self.config.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let mut last = None;
        for key in usable {
            match decode::<Value>(token, &key.decoding, &validation) {
                Ok(data) => {
                    let claims = data.claims;
                    let caller = Caller {
                        subject: claims
                            .get("sub")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        roles: self.grants.roles(&claims),
                    };
                    self.remember(token, &caller, &claims, generation);
                    return Ok(caller);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(AuthError::Invalid(last.map_or_else(
            || "no key verifies it".to_owned(),
            |e| e.to_string(),
        )))
    }

    /// The rights roles hold over a tenant (`None`: the default tenant).
    pub fn rights(&self, roles: &[String], tenant: Option<&str>) -> Rights {
        self.grants.rights(roles, tenant)
    }

    /// Whether the caller holds a right over a tenant; a `Forbidden` naming both if not.
    pub fn require(
        &self,
        caller: &Caller,
        right: Right,
        tenant: Option<&str>,
    ) -> Result<(), AuthError> {
        if self.rights(&caller.roles, tenant).has(right) {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
                right: right.name(),
                tenant: tenant.map_or_else(|| "(default)".to_owned(), str::to_owned),
            })
        }
    }
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The token of a `Bearer` credential (the scheme is case-insensitive).
fn bearer(authorization: &str) -> Result<&str, AuthError> {
    let (scheme, token) = authorization.trim().split_once(' ').ok_or_else(|| {
        AuthError::Invalid("the Authorization header is not `Bearer <token>`".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Invalid(format!(
            "the Authorization scheme is {scheme:?}, not Bearer"
        )));
    }
    Ok(token.trim())
}
