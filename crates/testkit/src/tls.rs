//! TLS for a test server: a private CA, a server certificate and a client
//! certificate, made with `rcgen` when the server starts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::TestkitError;

/// How a server uses TLS; chosen with [`NatsServerBuilder::tls`](crate::NatsServerBuilder::tls)
/// or [`NatsServerBuilder::mutual_tls`](crate::NatsServerBuilder::mutual_tls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TlsMode {
    /// `verify: true`: clients must present a certificate signed by the CA.
    pub(crate) verify: bool,
}

/// The PEM files of a TLS server, in its temporary directory.
///
/// Made fresh for each server: a CA (`ca.pem`), a server certificate for
/// `localhost` and `127.0.0.1` signed by it (`server-cert.pem`,
/// `server-key.pem`), a client certificate signed by it for mutual TLS
/// (`client-cert.pem`, `client-key.pem`), and a second CA that signed
/// nothing (`untrusted-ca.pem`), for tests of a client that trusts the wrong
/// CA. All keys are ECDSA P-256.
///
/// ```no_run
/// use messaging_testkit::NatsServer;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = NatsServer::builder().mutual_tls().start()?;
/// let tls = server.tls().ok_or("no TLS")?;
/// // Trust tls.ca_cert(); present tls.client_cert() and tls.client_key().
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    ca_cert: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    untrusted_ca_cert: PathBuf,
}

impl TlsFiles {
    /// The CA certificate that signed the server and client certificates.
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// The server's certificate (SANs `localhost` and `127.0.0.1`).
    pub fn server_cert(&self) -> &Path {
        &self.server_cert
    }

    /// The server's private key.
    pub fn server_key(&self) -> &Path {
        &self.server_key
    }

    /// A client certificate signed by the CA, for mutual TLS.
    pub fn client_cert(&self) -> &Path {
        &self.client_cert
    }

    /// The client certificate's private key.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// A CA that signed nothing this server uses: a client trusting only
    /// this one rejects the server's certificate.
    pub fn untrusted_ca_cert(&self) -> &Path {
        &self.untrusted_ca_cert
    }

    /// The server's `tls { .. }` configuration block.
    pub(crate) fn render(&self, mode: TlsMode) -> String {
        let quoted = |p: &Path| serde_json::Value::from(p.to_string_lossy()).to_string();
        let mut out = String::from("tls {\n");
        // `write!` into a String cannot fail.
        let _ = writeln!(out, "  cert_file: {}", quoted(&self.server_cert));
        let _ = writeln!(out, "  key_file: {}", quoted(&self.server_key));
        let _ = writeln!(out, "  ca_file: {}", quoted(&self.ca_cert));
        let _ = writeln!(out, "  verify: {}", mode.verify);
        out.push_str("  timeout: 5\n}\n");
        out
    }
}

fn failed(e: &rcgen::Error) -> TestkitError {
    TestkitError::KeyGeneration {
        what: "TLS certificates",
        detail: e.to_string(),
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn leaf_params(
    name: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Result<CertificateParams, TestkitError> {
    let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans).map_err(|e| failed(&e))?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn write(path: &Path, pem: &str) -> Result<(), TestkitError> {
    std::fs::write(path, pem)
        .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))
}

/// Makes the CA, server and client certificates and writes them into `dir`.
pub(crate) fn generate(dir: &Path) -> Result<TlsFiles, TestkitError> {
    let files = TlsFiles {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server-cert.pem"),
        server_key: dir.join("server-key.pem"),
        client_cert: dir.join("client-cert.pem"),
        client_key: dir.join("client-key.pem"),
        untrusted_ca_cert: dir.join("untrusted-ca.pem"),
    };
    let ca_key = KeyPair::generate().map_err(|e| failed(&e))?;
    let ca = ca_params("messaging-testkit CA");
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| failed(&e))?;
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().map_err(|e| failed(&e))?;
    let server_cert = leaf_params(
        "messaging-testkit server",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    )?
    .signed_by(&server_key, &issuer)
    .map_err(|e| failed(&e))?;

    let client_key = KeyPair::generate().map_err(|e| failed(&e))?;
    let client_cert = leaf_params(
        "messaging-testkit client",
        &["messaging-testkit-client"],
        ExtendedKeyUsagePurpose::ClientAuth,
    )?
    .signed_by(&client_key, &issuer)
    .map_err(|e| failed(&e))?;

    let other_key = KeyPair::generate().map_err(|e| failed(&e))?;
    let other_ca = ca_params("messaging-testkit untrusted CA")
        .self_signed(&other_key)
        .map_err(|e| failed(&e))?;

    write(&files.ca_cert, &ca_cert.pem())?;
    write(&files.server_cert, &server_cert.pem())?;
    write(&files.server_key, &server_key.serialize_pem())?;
    write(&files.client_cert, &client_cert.pem())?;
    write(&files.client_key, &client_key.serialize_pem())?;
    write(&files.untrusted_ca_cert, &other_ca.pem())?;
    Ok(files)
}
