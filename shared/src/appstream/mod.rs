//! The appstream RPC door (WUYING appstream-center `2021-09-01`), framework-free: request
//! signature verification ([`sign`]), parameter parsing and dispatch ([`params`]) and the JSON
//! envelopes ([`envelope`]). The component wires these to Spin and to the storage port.

pub mod capture;
pub mod envelope;
pub mod params;
pub mod service;
pub mod sign;

pub use service::{RpcSettings, handle};

/// The only API version this door speaks.
pub const API_VERSION: &str = "2021-09-01";

/// An error as the RPC door shows it: HTTP status, `Code` and `Message` of the error body.
/// Every error of every layer (auth, dispatch, parameters, the actions' own rules) ends here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl RpcError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A 400 with the given code: most business errors of the door are 400s.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// The catch-all for an unexpected failure (a bug, bad settings). HTTP 400, as in the
    /// vendor's error table (`400 InternalError`). A store that is down or busy is not this:
    /// it answers `503 ServiceUnavailable` with `Retry-After`, which the SDK may retry.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(400, "InternalError", message)
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for RpcError {}
