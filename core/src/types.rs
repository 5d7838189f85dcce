//! Domain newtypes: parsed once at the edge, trusted afterwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A syntactically valid e-mail address, stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Error::bad_request("email: must not be empty"));
        }
        if s.len() > 254 {
            return Err(Error::bad_request("email: longer than 254 characters"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(Error::bad_request(format!("email: '{s}' has no '@'")));
        };
        let ok_domain = !domain.is_empty()
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !domain.contains("..");
        if local.is_empty() || !ok_domain || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::bad_request(format!("email: '{s}' is not a valid address")));
        }
        Ok(Email(s.to_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password. Length rules follow NIST SP 800-63B: at least 8 characters, at most 256.
pub struct Password(String);

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Self> {
        let n = raw.chars().count();
        if n < Self::MIN_LEN {
            return Err(Error::bad_request(format!(
                "password: must be at least {} characters",
                Self::MIN_LEN
            )));
        }
        if n > Self::MAX_LEN {
            return Err(Error::bad_request(format!(
                "password: must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        Ok(Password(raw.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A project's URL name: 2–48 characters of `a-z`, `0-9` and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim();
        let valid = (2..=48).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(Error::bad_request(format!(
                "slug: '{s}' must be 2-48 characters of a-z, 0-9 and '-', starting with a letter"
            )));
        }
        Ok(Slug(s.to_string()))
    }

    /// Derives a slug from a display name ("Churn Model (v2)" → "churn-model-v2").
    pub fn from_name(name: &str) -> Result<Self> {
        let mut out = String::new();
        for c in name.trim().chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        let mut out = out.trim_end_matches('-').to_string();
        out.truncate(48);
        let out = out.trim_end_matches('-').to_string();
        if out.starts_with(|c: char| c.is_ascii_digit()) {
            return Slug::parse(&format!("p-{out}"));
        }
        Slug::parse(&out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A required, trimmed, single-line name of bounded length.
pub fn parse_name(field: &str, raw: &str, max: usize) -> Result<String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Error::bad_request(format!("{field}: must not be empty")));
    }
    if s.chars().count() > max {
        return Err(Error::bad_request(format!("{field}: longer than {max} characters")));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(Error::bad_request(format!("{field}: must not contain control characters")));
    }
    Ok(s.to_string())
}

/// Free text of bounded length (descriptions, comments).
pub fn parse_text(field: &str, raw: &str, max: usize) -> Result<String> {
    if raw.chars().count() > max {
        return Err(Error::bad_request(format!("{field}: longer than {max} characters")));
    }
    Ok(raw.trim().to_string())
}

/// A member's role in a project. Ordered: viewer < editor < admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(Error::bad_request(format!(
                "role: '{other}' is not one of admin, editor, viewer"
            ))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Ada@Example.org ").unwrap().as_str(), "ada@example.org");
        for bad in ["", "ada", "@example.org", "ada@", "ada@.org", "a b@example.org", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(Slug::from_name("Churn Model (v2)").unwrap().as_str(), "churn-model-v2");
        assert_eq!(Slug::from_name("2024 forecasts").unwrap().as_str(), "p-2024-forecasts");
        assert!(Slug::parse("Has Caps").is_err());
        assert!(Slug::parse("a").is_err());
        assert!(Slug::parse("ok-slug").is_ok());
        assert!(Slug::parse("trailing-").is_err());
        assert!(Slug::from_name("!!!").is_err());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        assert_eq!("editor".parse::<Role>().unwrap(), Role::Editor);
        assert!("owner".parse::<Role>().is_err());
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough").is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
    }
}
