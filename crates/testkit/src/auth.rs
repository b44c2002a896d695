//! Client authentication for a test server: user and password, token, NKey,
//! or operator mode with a credentials file (JWTs signed here with `nkeys`).

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde_json::{Value, json};

use crate::error::TestkitError;

/// How clients must authenticate to a test server; given to
/// [`NatsServerBuilder::auth`](crate::NatsServerBuilder::auth).
///
/// The NKey and credentials modes make fresh keys when constructed; read
/// them back with [`nkey_seed`](Self::nkey_seed) or
/// [`NatsServer::credentials_file`](crate::NatsServer::credentials_file).
/// `Debug` never prints a password, token, seed or JWT.
///
/// ```no_run
/// use messaging_testkit::{NatsAuth, NatsServer};
///
/// # fn main() -> Result<(), messaging_testkit::TestkitError> {
/// let server = NatsServer::builder()
///     .auth(NatsAuth::user_password("orders", "s3cret"))
///     .start()?;
/// let nkey = NatsAuth::nkey()?;
/// let seed = nkey.nkey_seed().map(str::to_owned); // give this to the client
/// let other = NatsServer::builder().auth(nkey).start()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NatsAuth {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    UserPassword { user: String, password: String },
    Token(String),
    NKey { seed: String, public_key: String },
    Operator(Box<Operator>),
}

/// Operator mode: an operator, a system account (JetStream needs one), one account with
/// JetStream, and one user.
#[derive(Clone)]
struct Operator {
    operator_jwt: String,
    system_account_public_key: String,
    system_account_jwt: String,
    account_public_key: String,
    account_jwt: String,
    user_jwt: String,
    user_seed: String,
}

impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
            Kind::Token(_) => f.debug_tuple("Token").field(&"<redacted>").finish(),
            Kind::NKey { public_key, .. } => f
                .debug_struct("NKey")
                .field("public_key", public_key)
                .finish_non_exhaustive(),
            Kind::Operator(op) => f
                .debug_struct("Operator")
                .field("account", &op.account_public_key)
                .finish_non_exhaustive(),
        }
    }
}

fn key_failure(e: &nkeys::error::Error) -> TestkitError {
    TestkitError::KeyGeneration {
        what: "NKeys",
        detail: e.to_string(),
    }
}

fn seed_of(kp: &KeyPair) -> Result<String, TestkitError> {
    kp.seed().map_err(|e| key_failure(&e))
}

impl NatsAuth {
    /// One user with this name and password (`authorization { user, password }`).
    pub fn user_password(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            kind: Kind::UserPassword {
                user: user.into(),
                password: password.into(),
            },
        }
    }

    /// A token (`authorization { token }`).
    pub fn token(token: impl Into<String>) -> Self {
        Self {
            kind: Kind::Token(token.into()),
        }
    }

    /// One NKey user with a key pair made now (`authorization { users: [{ nkey }] }`).
    ///
    /// # Errors
    ///
    /// [`TestkitError::KeyGeneration`] if the seed cannot be encoded.
    pub fn nkey() -> Result<Self, TestkitError> {
        let user = KeyPair::new_user();
        Ok(Self {
            kind: Kind::NKey {
                seed: seed_of(&user)?,
                public_key: user.public_key(),
            },
        })
    }

    /// Operator mode (decentralised JWT auth): an operator, a system account,
    /// an account with unlimited JetStream and a user, each with a key pair made now; the
    /// server trusts the operator and preloads the account (`resolver:
    /// MEMORY`), and the user's JWT and seed are written to a `.creds` file
    /// when the server starts ([`NatsServer::credentials_file`](crate::NatsServer::credentials_file)).
    ///
    /// # Errors
    ///
    /// [`TestkitError::KeyGeneration`] if a key or JWT cannot be made.
    pub fn credentials() -> Result<Self, TestkitError> {
        let operator = KeyPair::new_operator();
        let system = KeyPair::new_account();
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();
        let operator_jwt = encode_jwt(
            &operator,
            &operator.public_key(),
            "testkit-operator",
            &json!({ "type": "operator", "version": 2 }),
        )?;
        let system_account_jwt = encode_jwt(
            &operator,
            &system.public_key(),
            "SYS",
            &json!({ "type": "account", "version": 2 }),
        )?;
        let account_jwt = encode_jwt(
            &operator,
            &account.public_key(),
            "testkit-account",
            &json!({
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1
                },
                "default_permissions": { "pub": {}, "sub": {} },
                "type": "account",
                "version": 2
            }),
        )?;
        let user_jwt = encode_jwt(
            &account,
            &user.public_key(),
            "testkit-user",
            &json!({
                "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2
            }),
        )?;
        Ok(Self {
            kind: Kind::Operator(Box::new(Operator {
                operator_jwt,
                system_account_public_key: system.public_key(),
                system_account_jwt,
                account_public_key: account.public_key(),
                account_jwt,
                user_jwt,
                user_seed: seed_of(&user)?,
            })),
        })
    }

    /// A fresh user NKey seed that no server knows, for wrong-credential tests.
    ///
    /// # Errors
    ///
    /// [`TestkitError::KeyGeneration`] if the seed cannot be encoded.
    pub fn unknown_nkey_seed() -> Result<String, TestkitError> {
        seed_of(&KeyPair::new_user())
    }

    /// The user name, in user/password mode.
    pub fn user(&self) -> Option<&str> {
        match &self.kind {
            Kind::UserPassword { user, .. } => Some(user),
            _ => None,
        }
    }

    /// The password, in user/password mode.
    pub fn password(&self) -> Option<&str> {
        match &self.kind {
            Kind::UserPassword { password, .. } => Some(password),
            _ => None,
        }
    }

    /// The token, in token mode.
    pub fn token_value(&self) -> Option<&str> {
        match &self.kind {
            Kind::Token(token) => Some(token),
            _ => None,
        }
    }

    /// The user's NKey seed (`SU…`): in NKey mode, and in credentials mode
    /// (the seed inside the `.creds` file).
    pub fn nkey_seed(&self) -> Option<&str> {
        match &self.kind {
            Kind::NKey { seed, .. } => Some(seed),
            Kind::Operator(op) => Some(&op.user_seed),
            _ => None,
        }
    }

    /// The user's public NKey (`U…`), in NKey mode.
    pub fn nkey_public_key(&self) -> Option<&str> {
        match &self.kind {
            Kind::NKey { public_key, .. } => Some(public_key),
            _ => None,
        }
    }

    /// The user's JWT, in credentials mode.
    pub fn user_jwt(&self) -> Option<&str> {
        match &self.kind {
            Kind::Operator(op) => Some(&op.user_jwt),
            _ => None,
        }
    }

    /// The text of the `.creds` file, in credentials mode.
    pub fn credentials_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Operator(op) => Some(creds_file(&op.user_jwt, &op.user_seed)),
            _ => None,
        }
    }

    /// The server configuration for this mode.
    pub(crate) fn render(&self) -> String {
        let q = |s: &str| Value::from(s).to_string();
        let mut out = String::new();
        // `write!` into a String cannot fail.
        match &self.kind {
            Kind::UserPassword { user, password } => {
                let _ = writeln!(
                    out,
                    "authorization {{\n  user: {}\n  password: {}\n}}",
                    q(user),
                    q(password)
                );
            }
            Kind::Token(token) => {
                let _ = writeln!(out, "authorization {{\n  token: {}\n}}", q(token));
            }
            Kind::NKey { public_key, .. } => {
                let _ = writeln!(
                    out,
                    "authorization {{\n  users: [ {{ nkey: {} }} ]\n}}",
                    q(public_key)
                );
            }
            Kind::Operator(op) => {
                let _ = writeln!(
                    out,
                    "operator: {}\nsystem_account: {}\nresolver: MEMORY\n\
                     resolver_preload: {{\n  {}: {}\n  {}: {}\n}}",
                    q(&op.operator_jwt),
                    q(&op.system_account_public_key),
                    q(&op.system_account_public_key),
                    q(&op.system_account_jwt),
                    q(&op.account_public_key),
                    q(&op.account_jwt)
                );
            }
        }
        out
    }
}

/// A `.creds` file: the user JWT, then the seed, each between marker lines.
fn creds_file(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// A NATS JWT: base64url(header) `.` base64url(claims) `.` base64url(ed25519
/// signature of the first two parts by `issuer`).
fn encode_jwt(
    issuer: &KeyPair,
    subject: &str,
    name: &str,
    nats: &Value,
) -> Result<String, TestkitError> {
    let issued_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // The server does not check `jti`; any unique id will do.
    let jti = format!("{subject}-{issued_at}");
    let claims = json!({
        "jti": jti,
        "iat": issued_at,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let signature = issuer
        .sign(signing_input.as_bytes())
        .map_err(|e| key_failure(&e))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_every_secret() -> Result<(), TestkitError> {
        let modes = [
            NatsAuth::user_password("u", "pw-123456"),
            NatsAuth::token("tok-123456"),
            NatsAuth::nkey()?,
            NatsAuth::credentials()?,
        ];
        for auth in &modes {
            let debug = format!("{auth:?}");
            for secret in [
                auth.password(),
                auth.token_value(),
                auth.nkey_seed(),
                auth.user_jwt(),
            ]
            .into_iter()
            .flatten()
            {
                assert!(!debug.contains(secret), "{debug}");
            }
        }
        Ok(())
    }

    #[test]
    fn jwt_signature_verifies_with_the_issuer_key() -> Result<(), Box<dyn std::error::Error>> {
        let account = KeyPair::new_account();
        let jwt = encode_jwt(
            &account,
            "UXYZ",
            "n",
            &json!({"type": "user", "version": 2}),
        )?;
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let signature = URL_SAFE_NO_PAD.decode(parts[2])?;
        let input = format!("{}.{}", parts[0], parts[1]);
        account.verify(input.as_bytes(), &signature)?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1])?)?;
        assert_eq!(claims["iss"], Value::from(account.public_key()));
        assert_eq!(claims["sub"], "UXYZ");
        Ok(())
    }
}
