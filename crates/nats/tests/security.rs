//! TLS, authentication and set-up errors against a real nats-server: each way of
//! connecting securely, each way it fails (typed, naming the URL, with no secret in any
//! message or log), and the errors `start()` gives for a server it cannot use.

mod security {
    pub(crate) mod auth;
    pub(crate) mod permissions;
    pub(crate) mod secrets;
    pub(crate) mod setup_errors;
    pub(crate) mod support;
    pub(crate) mod tls;
}
