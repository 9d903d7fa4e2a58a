//! Authentication and per-tenant rights from the configuration (docs/security.md): the token
//! verifier the API's guard uses, and the gate that withholds notifications from
//! subscriptions whose creator may no longer read their tenant.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rigel_auth::{Grant, Grants, KeySource, Keys, Right, Verifier, VerifierConfig};
use rigel_egress::{Egress, EgressConfig};
use rigel_model::subscription::Subscription;
use rigel_model::Tenant;
use rigel_subscriptions::NotifyGate;

/// Options of authentication (off unless an issuer is given).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthOptions {
    /// Require a bearer token (JWT) from this issuer on every NGSI-LD call: its `iss`. Off
    /// (anonymous access) without it.
    #[arg(long, env = "RIGEL_AUTH_ISSUER")]
    pub auth_issuer: Option<String>,

    /// An accepted `aud` of tokens (repeat, or separate with spaces).
    #[arg(long, env = "RIGEL_AUTH_AUDIENCE", value_delimiter = ' ')]
    pub auth_audience: Vec<String>,

    /// The issuer's JSON Web Key Set URL (its `jwks_uri`).
    #[arg(long, env = "RIGEL_AUTH_JWKS_URL", conflicts_with = "auth_jwks_file")]
    pub auth_jwks_url: Option<String>,

    /// A file holding the issuer's JSON Web Key Set (read again as keys rotate).
    #[arg(long, env = "RIGEL_AUTH_JWKS_FILE")]
    pub auth_jwks_file: Option<PathBuf>,

    /// The claim holding the caller's roles: a name, or a dotted path
    /// (`realm_access.roles`); an array of strings or a space-separated string.
    #[arg(long, env = "RIGEL_AUTH_ROLES_CLAIM", default_value = "roles")]
    pub auth_roles_claim: String,

    /// Rights of a role over tenants, `ROLE=RIGHTS@TENANT` (repeat, or separate with
    /// spaces): RIGHTS is a comma list of read, write, subscribe, admin or `all`; TENANT a
    /// name, a prefix ending in `*`, `*` for all, or nothing for the default tenant.
    #[arg(long, env = "RIGEL_AUTH_GRANTS", value_delimiter = ' ')]
    pub auth_grant: Vec<String>,

    /// Clock skew allowed on a token's `exp` and `nbf`, in seconds.
    #[arg(long, env = "RIGEL_AUTH_LEEWAY_SECS", default_value_t = 30)]
    pub auth_leeway_secs: u64,

    /// A token naming a key the broker lacks makes it read the key set again at most this
    /// often, in seconds.
    #[arg(long, env = "RIGEL_AUTH_JWKS_REFRESH_SECS", default_value_t = rigel_auth::MIN_REFRESH.as_secs())]
    pub auth_jwks_refresh_secs: u64,
}

/// Why authentication cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("--auth-issuer needs --auth-jwks-url or --auth-jwks-file")]
    NoKeys,
    #[error("--auth-issuer needs at least one --auth-audience")]
    NoAudience,
    #[error(transparent)]
    Grant(#[from] rigel_auth::GrantError),
    #[error("cannot read the token signing keys: {0}")]
    Keys(#[from] rigel_auth::AuthError),
    #[error("cannot set up the client for the key set: {0}")]
    Client(#[from] rigel_egress::EgressError),
}

/// The verifier the options describe, its keys read once; `None` when authentication is off.
pub async fn verifier(options: &AuthOptions) -> Result<Option<Arc<Verifier>>, AuthSetupError> {
    let Some(issuer) = &options.auth_issuer else {
        return Ok(None);
    };
    let source = match (&options.auth_jwks_url, &options.auth_jwks_file) {
        (Some(url), _) => KeySource::Url {
            url: url.clone(),
            // The key set's URL is the operator's: trusted wherever it is.
            egress: Egress::new(EgressConfig::default())?,
        },
        (None, Some(path)) => KeySource::File(path.clone()),
        (None, None) => return Err(AuthSetupError::NoKeys),
    };
    let audiences: Vec<String> = options
        .auth_audience
        .iter()
        .filter(|a| !a.is_empty())
        .cloned()
        .collect();
    if audiences.is_empty() {
        return Err(AuthSetupError::NoAudience);
    }
    let grants = options
        .auth_grant
        .iter()
        .filter(|g| !g.is_empty())
        .map(|g| g.parse::<Grant>())
        .collect::<Result<Vec<_>, _>>()?;
    if grants.is_empty() {
        tracing::warn!("authentication is on but no --auth-grant is given: every call will be refused with 403");
    }
    let keys = Keys::new(source, Duration::from_secs(options.auth_jwks_refresh_secs));
    let loaded = keys.load().await?;
    tracing::info!(issuer = %issuer, keys = loaded, grants = grants.len(), "bearer tokens required");
    let config = VerifierConfig {
        issuer: issuer.clone(),
        audiences,
        leeway: Duration::from_secs(options.auth_leeway_secs),
    };
    let grants = Grants {
        claim: options.auth_roles_claim.clone(),
        grants,
    };
    Ok(Some(Arc::new(Verifier::new(config, keys, grants))))
}

/// Withholds a subscription's notifications once the roles its creator held no longer grant
/// read over its tenant (grants changed since). Subscriptions made without authentication
/// have no recorded creator and notify as before.
#[derive(Clone)]
pub struct OwnerGate(pub Arc<Verifier>);

impl std::fmt::Debug for OwnerGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnerGate")
    }
}

impl NotifyGate for OwnerGate {
    fn may_notify(&self, subscription: &Subscription, tenant: &Tenant) -> Result<(), String> {
        let Some(owner) = &subscription.owner else {
            return Ok(());
        };
        if self.0.rights(&owner.roles, tenant.name()).has(Right::Read) {
            Ok(())
        } else {
            Err(format!(
                "its creator {:?} may no longer read tenant {tenant}",
                owner.subject
            ))
        }
    }
}
