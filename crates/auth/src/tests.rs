//! Token checks and grants, with keys and tokens made by the tests.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};

use crate::testing::{epoch_in, TestIssuer};
use crate::*;

const ISSUER: &str = "https://idp.example.org/realms/city";

fn grants(list: &[&str]) -> Grants {
    Grants {
        claim: "realm_access.roles".into(),
        grants: list.iter().map(|g| g.parse().unwrap()).collect(),
    }
}

fn claims(roles: &[&str]) -> Value {
    json!({
        "iss": ISSUER, "aud": "rigel", "sub": "alice",
        "exp": epoch_in(300), "nbf": epoch_in(-5),
        "realm_access": { "roles": roles },
    })
}

/// A verifier reading `issuer`'s keys from a file; the file's path.
fn verifier(issuer: &TestIssuer, name: &str) -> (Verifier, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("rigel-auth-{}-{name}.json", std::process::id()));
    std::fs::write(&path, issuer.jwks().to_string()).unwrap();
    let keys = Keys::new(KeySource::File(path.clone()), Duration::ZERO);
    let config = VerifierConfig {
        issuer: ISSUER.into(),
        audiences: vec!["rigel".into()],
        leeway: Duration::from_secs(30),
    };
    (
        Verifier::new(config, keys, grants(&["operator=read,write@city"])),
        path,
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_token_signed_by_a_published_key_names_its_caller_and_roles() {
    let mut issuer = TestIssuer::new();
    issuer.add_ed25519("ed").add_es256("ec");
    let (v, _) = verifier(&issuer, "valid");
    for kid in ["ed", "ec"] {
        let token = issuer.token(kid, &claims(&["operator", "viewer"]));
        let caller = v.authenticate(Some(&bearer(&token))).await.unwrap();
        assert_eq!(caller.subject, "alice");
        assert_eq!(caller.roles, ["operator", "viewer"]);
        assert!(v.require(&caller, Right::Write, Some("city")).is_ok());
        assert_eq!(
            v.require(&caller, Right::Admin, Some("city")),
            Err(AuthError::Forbidden {
                right: "admin",
                tenant: "city".into()
            })
        );
        assert!(v.require(&caller, Right::Read, None).is_err());
    }
}

#[tokio::test]
async fn expired_early_foreign_and_unsigned_tokens_are_refused() {
    let mut issuer = TestIssuer::new();
    issuer.add_ed25519("ed");
    let (v, _) = verifier(&issuer, "refused");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims(&["operator"]);
        change(&mut c);
        issuer.token("ed", &c)
    };
    let cases = [
        (
            "expired beyond the skew",
            with(&|c| c["exp"] = json!(epoch_in(-60))),
        ),
        ("not yet valid", with(&|c| c["nbf"] = json!(epoch_in(120)))),
        (
            "another issuer",
            with(&|c| c["iss"] = json!("https://evil.example")),
        ),
        ("another audience", with(&|c| c["aud"] = json!("other-api"))),
        (
            "no expiry",
            with(&|c| {
                c.as_object_mut()
                    .unwrap()
                    .remove("exp")
                    .map(drop)
                    .unwrap_or(())
            }),
        ),
    ];
    for (what, token) in cases {
        let got = v.authenticate(Some(&bearer(&token))).await;
        assert!(matches!(got, Err(AuthError::Invalid(_))), "{what}: {got:?}");
    }
    // Within the skew, an expired token still passes.
    let late = with(&|c| c["exp"] = json!(epoch_in(-10)));
    assert!(v.authenticate(Some(&bearer(&late))).await.is_ok());
    // A token whose signature was tampered with.
    let good = issuer.token("ed", &claims(&["operator"]));
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &sig[1..]);
    assert!(v.authenticate(Some(&bearer(&tampered))).await.is_err());
    // An HMAC token "signed" with no key the issuer publishes; and no alg at all.
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(&["operator"]),
        &jsonwebtoken::EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    assert!(v.authenticate(Some(&bearer(&hs))).await.is_err());
    assert_eq!(v.authenticate(None).await, Err(AuthError::Missing));
    for header in ["Basic dXNlcjpwdw==", "Bearer", "Bearer not.a.jwt"] {
        assert!(
            matches!(
                v.authenticate(Some(header)).await,
                Err(AuthError::Invalid(_))
            ),
            "{header}"
        );
    }
}

#[tokio::test]
async fn a_rotated_key_is_read_from_the_key_set_when_a_token_names_it() {
    let mut issuer = TestIssuer::new();
    issuer.add_ed25519("old");
    let (v, path) = verifier(&issuer, "rotated");
    v.keys().load().await.unwrap();
    issuer.add_es256("new").withdraw("old");
    std::fs::write(&path, issuer.jwks().to_string()).unwrap();
    let token = issuer.token("new", &claims(&["operator"]));
    assert!(v.authenticate(Some(&bearer(&token))).await.is_ok());
}

#[tokio::test]
async fn an_unknown_key_id_does_not_reread_the_keys_within_the_floor() {
    let mut issuer = TestIssuer::new();
    issuer.add_ed25519("old");
    let path = std::env::temp_dir().join(format!("rigel-auth-{}-floor.json", std::process::id()));
    std::fs::write(&path, issuer.jwks().to_string()).unwrap();
    let keys = Keys::new(KeySource::File(path.clone()), Duration::from_secs(3600));
    assert_eq!(keys.load().await.unwrap(), 1);
    issuer.add_ed25519("new");
    std::fs::write(&path, issuer.jwks().to_string()).unwrap();
    assert!(keys.find(Some("new")).await.unwrap().is_empty());
    assert_eq!(keys.find(Some("old")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_key_set_without_a_usable_public_key_is_refused() {
    let path = std::env::temp_dir().join(format!("rigel-auth-{}-oct.json", std::process::id()));
    std::fs::write(
        &path,
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}"#,
    )
    .unwrap();
    let keys = Keys::new(KeySource::File(path), Duration::ZERO);
    assert!(matches!(
        keys.load().await,
        Err(AuthError::KeysUnavailable(_))
    ));
}

#[test]
fn grants_read_role_rights_and_tenants() {
    let g: Grant = "city-ops=read,subscribe@city-*".parse().unwrap();
    assert_eq!(g.tenants, TenantPattern::Prefix("city-".into()));
    assert!(g.rights.has(Right::Subscribe) && !g.rights.has(Right::Write));
    let all: Grant = "admin=all@*".parse().unwrap();
    assert_eq!(all.rights, Rights::ALL);
    let default: Grant = "reader=read@".parse().unwrap();
    assert!(default.tenants.covers(None) && !default.tenants.covers(Some("x")));
    for bad in [
        "reader",
        "reader=read",
        "=read@x",
        "r=fly@x",
        "r=read@a*b",
        "r=read@*a",
    ] {
        assert!(bad.parse::<Grant>().is_err(), "{bad}");
    }
    let set = grants(&["a=read@city", "b=write@city", "c=admin@*"]);
    let roles = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let r = set.rights(&roles(&["a", "b"]), Some("city"));
    assert!(r.has(Right::Read) && r.has(Right::Write) && !r.has(Right::Admin));
    assert_eq!(set.rights(&roles(&["a"]), Some("town")), Rights::NONE);
    assert!(set.rights(&roles(&["c"]), None).has(Right::Admin));
}

#[test]
fn roles_come_from_a_claim_path_a_namespaced_claim_or_a_scope_string() {
    let at = |claim: &str| Grants {
        claim: claim.into(),
        grants: Vec::new(),
    };
    let claims = json!({
        "realm_access": {"roles": ["a", "b"]},
        "https://example.org/roles": ["c"],
        "scope": "openid ngsi:read",
        "groups": 7,
    });
    assert_eq!(at("realm_access.roles").roles(&claims), ["a", "b"]);
    assert_eq!(at("https://example.org/roles").roles(&claims), ["c"]);
    assert_eq!(at("scope").roles(&claims), ["openid", "ngsi:read"]);
    assert!(at("groups").roles(&claims).is_empty());
    assert!(at("missing.path").roles(&claims).is_empty());
}

#[tokio::test]
async fn a_verified_token_is_trusted_again_only_until_the_keys_are_read_again() {
    let mut issuer = TestIssuer::new();
    issuer.add_ed25519("old");
    let (v, path) = verifier(&issuer, "remembered");
    let old = bearer(&issuer.token("old", &claims(&["operator"])));
    assert!(v.authenticate(Some(&old)).await.is_ok());
    // Remembered: the same token passes without its key being looked up.
    std::fs::write(&path, r#"{"keys":[]}"#).unwrap();
    assert!(v.authenticate(Some(&old)).await.is_ok());
    // The issuer withdraws the key; a token naming a new one makes the broker read the set
    // again, after which the remembered token is checked again, and refused.
    issuer.add_es256("new").withdraw("old");
    std::fs::write(&path, issuer.jwks().to_string()).unwrap();
    let new = bearer(&issuer.token("new", &claims(&["operator"])));
    assert!(v.authenticate(Some(&new)).await.is_ok());
    assert!(matches!(
        v.authenticate(Some(&old)).await,
        Err(AuthError::Invalid(_))
    ));
}
