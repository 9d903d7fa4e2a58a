//! A token issuer for tests: fresh key pairs (Ed25519, ECDSA P-256), the JSON Web Key Set
//! that publishes them, and tokens signed with any of them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair};
use serde_json::{json, Value};

/// One signing key.
struct SigningKey {
    kid: String,
    alg: Algorithm,
    pkcs8: Vec<u8>,
    jwk: Value,
}

/// Key pairs made for a test.
#[derive(Default)]
pub struct TestIssuer {
    keys: Vec<SigningKey>,
}

impl TestIssuer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an Ed25519 key (EdDSA) named `kid`.
    #[allow(clippy::expect_used)]
    pub fn add_ed25519(&mut self, kid: &str) -> &mut Self {
        let rng = SystemRandom::new();
        let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("key generation");
        let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("own key");
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        });
        self.keys.push(SigningKey {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            pkcs8: pkcs8.as_ref().to_vec(),
            jwk,
        });
        self
    }

    /// Adds an ECDSA P-256 key (ES256) named `kid`.
    #[allow(clippy::expect_used)]
    pub fn add_es256(&mut self, kid: &str) -> &mut Self {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("key generation");
        let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("own key");
        // An uncompressed point: 0x04, then x and y.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        self.keys.push(SigningKey {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            pkcs8: pkcs8.as_ref().to_vec(),
            jwk,
        });
        self
    }

    /// Drops a key from the published set (it can still sign).
    pub fn withdraw(&mut self, kid: &str) -> &mut Self {
        for key in &mut self.keys {
            if key.kid == kid {
                key.jwk = Value::Null;
            }
        }
        self
    }

    /// The JSON Web Key Set publishing every key not withdrawn.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&Value> = self
            .keys
            .iter()
            .map(|k| &k.jwk)
            .filter(|j| !j.is_null())
            .collect();
        json!({ "keys": keys })
    }

    /// A token with `claims`, signed with the key `kid` (whose `kid` the header names).
    #[allow(clippy::expect_used)]
    pub fn token(&self, kid: &str, claims: &Value) -> String {
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .expect("a key the test made");
        let encoding = match key.alg {
            Algorithm::EdDSA => EncodingKey::from_ed_der(&key.pkcs8),
            _ => EncodingKey::from_ec_der(&key.pkcs8),
        };
        let mut header = Header::new(key.alg);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &encoding).expect("signing")
    }
}

/// Seconds since the epoch, `offset` from now.
pub fn epoch_in(offset: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now + offset
}
