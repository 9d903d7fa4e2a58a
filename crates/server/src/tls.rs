//! HTTPS on the API and admin ports (rustls): the certificate chain and private key come
//! from PEM files and are read again on SIGHUP, so a renewed certificate takes effect
//! without a restart; connections already open keep the one they negotiated.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Options of TLS on the broker's ports.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsOptions {
    /// Serve the API over HTTPS with this certificate chain (PEM, the server's certificate
    /// first); needs --tls-key. Read again on SIGHUP.
    #[arg(long, env = "RIGEL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "RIGEL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve the admin port (probes, metrics) over HTTPS too, with the same certificate.
    #[arg(long, env = "RIGEL_ADMIN_TLS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub admin_tls: bool,

    /// More certificate authorities (PEM) the broker trusts when it calls out over HTTPS or
    /// MQTTS, besides the system's and the bundled Mozilla roots.
    #[arg(long, env = "RIGEL_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
}

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0} holds no certificate")]
    NoCertificate(String),
    #[error("the key in {path} is not usable: {reason}")]
    Key { path: String, reason: String },
    #[error("{0}")]
    Config(String),
}

/// The server's certificate, swapped whole when the files are read again.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    /// Reads the certificate chain and key.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let current = RwLock::new(read(cert, key)?);
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current,
        }))
    }

    /// Reads the files again; on failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = read(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// A rustls server configuration presenting this certificate (HTTP/1.1).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn read(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let file_error = |path: &Path, e: &dyn std::fmt::Display| TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, &e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.display().to_string()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, &e))?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&private).map_err(|e| TlsError::Key {
            path: key.display().to_string(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: format!("it does not match the certificate: {e}"),
    })?;
    Ok(Arc::new(certified))
}

/// The certificate authorities of `--tls-ca-file`, as DER.
pub fn extra_roots(options: &TlsOptions) -> Result<Vec<Vec<u8>>, TlsError> {
    let Some(path) = &options.tls_ca_file else {
        return Ok(Vec::new());
    };
    let file_error = |e: &dyn std::fmt::Display| TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let roots = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(&e))?
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&e))?;
    if roots.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(roots)
}

/// Reads the certificate again on every SIGHUP, until the process ends. Without TLS the
/// signal is only logged: a reload (`systemctl reload`) must never stop the broker.
pub async fn reload_on_sighup(certificate: Option<Arc<Certificate>>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP: the TLS certificate will not be reloaded");
        return;
    };
    while hangups.recv().await.is_some() {
        let Some(certificate) = &certificate else {
            tracing::info!("SIGHUP: nothing to reload (no TLS certificate)");
            continue;
        };
        match certificate.reload() {
            Ok(()) => {
                tracing::info!(cert = %certificate.cert.display(), "TLS certificate reloaded")
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reload the TLS certificate; keeping the one in use")
            }
        }
    }
}
