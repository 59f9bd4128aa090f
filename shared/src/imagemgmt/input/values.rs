//! The checked scalar values of request bodies: image and marker names, descriptions, ids
//! and version numbers. Each parses once and cannot hold an invalid value.

use std::fmt;
use std::str::FromStr;

/// Largest accepted description.
pub const MAX_DESCRIPTION: usize = 1024;
/// Largest accepted id (ours are 24 characters; admin ids are free-form but short).
pub const MAX_ID: usize = 128;

/// 1–64 characters of letters, digits, `_` and `-` (image and marker names).
fn check_name(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n == 0 || n > 64 {
        return Err(format!("must be 1 to 64 characters, got {n}"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("may only contain letters, digits, '_' and '-'".into());
    }
    Ok(())
}

macro_rules! newtype {
    ($(#[$m:meta])* $name:ident, $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses, refusing values outside the rule.
            pub fn parse(s: &str) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(s).map(|()| $name(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

newtype!(
    /// An image name: 1–64 letters, digits, `_`, `-`.
    ImageName,
    check_name
);
newtype!(
    /// A marker name: 1–64 letters, digits, `_`, `-`.
    MarkerName,
    check_name
);
newtype!(
    /// A description: at most 1024 characters.
    Description,
    |s| {
        let n = s.chars().count();
        if n > MAX_DESCRIPTION {
            Err(format!("must be at most {MAX_DESCRIPTION} characters, got {n}"))
        } else {
            Ok(())
        }
    }
);
newtype!(
    /// An id (ours or the admin API's): 1–128 characters of letters, digits, `_ - . :`.
    Id,
    |s| {
        let n = s.len();
        if n == 0 || n > MAX_ID {
            return Err(format!("must be 1 to {MAX_ID} characters"));
        }
        if !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':'))
        {
            return Err("may only contain letters, digits, '_', '-', '.' and ':'".into());
        }
        Ok(())
    }
);

/// A version number `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionNumber {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl FromStr for VersionNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('.').collect();
        let num = |p: &str| -> Result<u64, String> {
            if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("{s:?} is not major.minor.patch"));
            }
            p.parse().map_err(|_| format!("{s:?} is out of range"))
        };
        match parts.as_slice() {
            [a, b, c] => Ok(VersionNumber {
                major: num(a)?,
                minor: num(b)?,
                patch: num(c)?,
            }),
            _ => Err(format!("{s:?} is not major.minor.patch")),
        }
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}
