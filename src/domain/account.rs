//! Accounts: roles, API tokens and who is asking.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every token, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "tgis_";

/// Random bytes in a token: 256 bits of entropy.
pub const TOKEN_BYTES: usize = 32;

/// What an account may do (see [`crate::service::policy`] for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The Department: everything, including restoring deleted assets.
    Admin,
    /// A carrier: writes only its own operator's assets.
    Carrier,
    /// Reads everything (exact fibre routes included), writes nothing.
    Analyst,
}

impl Role {
    /// The role's name in tokens, the CLI and the audit history.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Carrier => "carrier",
            Role::Analyst => "analyst",
        }
    }

    /// Parses `admin`, `carrier` or `analyst`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "carrier" => Some(Role::Carrier),
            "analyst" => Some(Role::Analyst),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated account (one API token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Token id (`token list`), recorded in the audit history.
    pub token_id: Option<i64>,
    /// Token name, e.g. "Viettel GIS team".
    pub name: String,
    /// Role.
    pub role: Role,
    /// The operator a carrier acts for; `None` for other roles.
    pub operator: Option<String>,
}

impl Account {
    /// The account of the command line tools (imports, sample loading): an
    /// administrator named after the OS user.
    pub fn command_line() -> Account {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Account {
            token_id: None,
            name: format!("cli:{user}"),
            role: Role::Admin,
            operator: None,
        }
    }
}

/// Who is asking: an account, or nobody in particular.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// No credentials: the public.
    Anonymous,
    /// A valid, unrevoked token.
    Account(Account),
}

impl Actor {
    /// The role, when authenticated.
    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::Anonymous => None,
            Actor::Account(a) => Some(a.role),
        }
    }

    /// The operator a carrier acts for.
    pub fn carrier_operator(&self) -> Option<&str> {
        match self {
            Actor::Account(a) if a.role == Role::Carrier => a.operator.as_deref(),
            _ => None,
        }
    }

    /// Name for the audit history: the token name, or `anonymous`.
    pub fn name(&self) -> &str {
        match self {
            Actor::Anonymous => "anonymous",
            Actor::Account(a) => &a.name,
        }
    }
}

/// A new token: the secret (shown once) and the hash that is stored.
#[derive(Debug)]
pub struct NewSecret {
    /// `tgis_` + 43 URL-safe base64 characters (256 random bits).
    pub token: String,
    /// SHA-256 of `token`.
    pub hash: [u8; 32],
}

impl NewSecret {
    /// A fresh token from the operating system's random generator.
    pub fn generate() -> NewSecret {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let hash = hash_token(&token);
        NewSecret { token, hash }
    }

    /// The first characters, shown by `token list` to tell tokens apart.
    pub fn display_prefix(&self) -> String {
        self.token.chars().take(TOKEN_PREFIX.len() + 6).collect()
    }
}

/// SHA-256 of a presented token. Tokens carry 256 random bits, so a fast
/// hash is enough (no password stretching needed).
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_carry_256_random_bits_and_differ() {
        let a = NewSecret::generate();
        let b = NewSecret::generate();
        assert_ne!(a.token, b.token);
        assert!(a.token.starts_with(TOKEN_PREFIX));
        let body = &a.token[TOKEN_PREFIX.len()..];
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_eq!(a.hash, hash_token(&a.token));
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in [Role::Admin, Role::Carrier, Role::Analyst] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
