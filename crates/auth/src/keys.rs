//! The issuer's signing keys: a JSON Web Key Set read from a file or a URL, cached, and read
//! again when a token names a key the cache lacks (a rotated key) or the copy grows old.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use rigel_egress::{Call, Egress, Method};

use crate::token::AuthError;

/// By default, a key set read within this long is not read again for an unknown key id, so
/// tokens with made-up ids cannot make the broker hammer the issuer.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// A key set older than this is read again (a withdrawn key stops being accepted).
const MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// Largest key set accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Where the key set comes from.
#[derive(Clone)]
pub enum KeySource {
    File(PathBuf),
    /// An operator-configured URL (an issuer's `jwks_uri`), fetched through this client.
    Url {
        url: String,
        egress: Egress,
    },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "file {}", path.display()),
            KeySource::Url { url, .. } => write!(f, "{url}"),
        }
    }
}

/// One usable key: what verifies, and the algorithms its type allows.
#[derive(Clone)]
pub(crate) struct Key {
    pub decoding: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct Cached {
    by_id: HashMap<Option<String>, Vec<Key>>,
    read_at: Option<Instant>,
    /// Bumped at every read of the key set.
    generation: u64,
}

/// The cached key set.
#[derive(Clone)]
pub struct Keys {
    source: KeySource,
    min_refresh: Duration,
    cached: Arc<RwLock<Cached>>,
    /// One refresh at a time.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl Keys {
    /// Keys from `source`, read again for an unknown key id at most every `min_refresh`.
    pub fn new(source: KeySource, min_refresh: Duration) -> Self {
        Self {
            source,
            min_refresh,
            cached: Arc::default(),
            refreshing: Arc::default(),
        }
    }

    /// Reads the key set now (at start, so a wrong file or URL shows at once).
    pub async fn load(&self) -> Result<usize, AuthError> {
        let _one = self.refreshing.lock().await;
        self.refresh().await
    }

    /// The keys a token's `kid` names (all keys without an id when it names none); the set
    /// is read again when it lacks the id and was not read lately, or when it is old.
    pub(crate) async fn find(&self, kid: Option<&str>) -> Result<Vec<Key>, AuthError> {
        let (found, age) = self.lookup(kid);
        let stale = age.is_none_or(|a| a > MAX_AGE);
        let may_refresh = age.is_none_or(|a| a >= self.min_refresh);
        if found.is_empty() && may_refresh || stale {
            let _one = self.refreshing.lock().await;
            // Another caller may have refreshed while this one waited.
            let (_, age) = self.lookup(kid);
            if age.is_none_or(|a| a >= self.min_refresh) {
                if let Err(e) = self.refresh().await {
                    if age.is_none() {
                        return Err(e);
                    }
                    tracing::warn!(source = ?self.source, error = %e, "cannot read the token signing keys again; keeping the ones read before");
                }
            }
            return Ok(self.lookup(kid).0);
        }
        Ok(found)
    }

    /// Which read of the key set is in use: tokens verified with an earlier one are checked
    /// again (a withdrawn key stops counting at once).
    pub(crate) fn generation(&self) -> u64 {
        self.cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .generation
    }

    fn lookup(&self, kid: Option<&str>) -> (Vec<Key>, Option<Duration>) {
        let cached = self.cached.read().unwrap_or_else(|p| p.into_inner());
        let keys = cached
            .by_id
            .get(&kid.map(str::to_owned))
            .cloned()
            .unwrap_or_default();
        (keys, cached.read_at.map(|at| at.elapsed()))
    }

    async fn refresh(&self) -> Result<usize, AuthError> {
        let text = match &self.source {
            KeySource::File(path) => tokio::fs::read(path).await.map_err(|e| {
                AuthError::KeysUnavailable(format!("cannot read {}: {e}", path.display()))
            })?,
            KeySource::Url { url, egress } => {
                let answer = egress
                    .fetch(
                        Call {
                            method: Method::GET,
                            url: url.clone(),
                            headers: vec![("Accept".into(), "application/json".into())],
                            body: None,
                            timeout: None,
                        },
                        MAX_JWKS_BYTES,
                    )
                    .await
                    .map_err(|e| AuthError::KeysUnavailable(format!("{url}: {e}")))?;
                if answer.status != 200 {
                    return Err(AuthError::KeysUnavailable(format!(
                        "{url} answered {}",
                        answer.status
                    )));
                }
                answer.body.to_vec()
            }
        };
        let set: JwkSet = serde_json::from_slice(&text).map_err(|e| {
            AuthError::KeysUnavailable(format!("{:?} is not a JSON Web Key Set: {e}", self.source))
        })?;
        let mut by_id: HashMap<Option<String>, Vec<Key>> = HashMap::new();
        for jwk in &set.keys {
            let Some(algorithms) = algorithms_of(&jwk.algorithm) else {
                continue;
            };
            let algorithms = match jwk.common.key_algorithm {
                // A key that names its algorithm is used with that one only.
                Some(named) => match named.to_string().parse::<Algorithm>() {
                    Ok(alg) if algorithms.contains(&alg) => vec![alg],
                    _ => continue,
                },
                None => algorithms,
            };
            let Ok(decoding) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            by_id
                .entry(jwk.common.key_id.clone())
                .or_default()
                .push(Key {
                    decoding,
                    algorithms,
                });
        }
        let count = by_id.values().map(Vec::len).sum();
        if count == 0 {
            return Err(AuthError::KeysUnavailable(format!(
                "{:?} holds no usable public key (RSA, EC P-256/P-384 or Ed25519)",
                self.source
            )));
        }
        let mut cached = self.cached.write().unwrap_or_else(|p| p.into_inner());
        cached.by_id = by_id;
        cached.read_at = Some(Instant::now());
        cached.generation += 1;
        Ok(count)
    }
}

/// The asymmetric algorithms a key type verifies; symmetric keys (`oct`) are never used, so
/// a token cannot be signed with a public key taken as an HMAC secret.
fn algorithms_of(params: &AlgorithmParameters) -> Option<Vec<Algorithm>> {
    use jsonwebtoken::jwk::EllipticCurve;
    match params {
        AlgorithmParameters::RSA(_) => Some(vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ]),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(vec![Algorithm::ES256]),
            EllipticCurve::P384 => Some(vec![Algorithm::ES384]),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => {
            (okp.curve == EllipticCurve::Ed25519).then(|| vec![Algorithm::EdDSA])
        }
        AlgorithmParameters::OctetKey(_) => None,
    }
}
