//! Image names across the doors. The RPC door takes any `ImageName` of up to 128 characters
//! (the vendor sets no character rule); the REST door's names are 1–64 letters, digits, `_`
//! and `-` (docs/contract/imagemgmt-api.md "Names"). A REST name is always a valid RPC name, so the RPC
//! door shows REST names unchanged. The REST door shows an RPC name its rules refuse in a
//! mapped form that passes them: every other character becomes `-`, the result is cut to 64
//! characters. The record keeps the name as given (the RPC door shows and filters on it);
//! the REST door sorts and searches on what it shows. A REST `PATCH` of `name` replaces it.

use std::borrow::Cow;

/// The REST door's longest name.
const REST_MAX: usize = 64;

fn rest_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `name` as the REST door shows it: unchanged when its rules accept it, else mapped.
pub fn rest_name(name: &str) -> Cow<'_, str> {
    let n = name.chars().count();
    if (1..=REST_MAX).contains(&n) && name.chars().all(rest_char) {
        return Cow::Borrowed(name);
    }
    let mapped: String = name
        .chars()
        .take(REST_MAX)
        .map(|c| if rest_char(c) { c } else { '-' })
        .collect();
    if mapped.is_empty() {
        Cow::Borrowed("image")
    } else {
        Cow::Owned(mapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imagemgmt::input::ImageName;
    use proptest::prelude::*;

    #[test]
    fn rest_names_are_unchanged_and_others_are_mapped() {
        assert_eq!(rest_name("win11_golden-2"), "win11_golden-2");
        assert!(matches!(rest_name("win11"), Cow::Borrowed(_)));
        assert_eq!(rest_name("my image (v1)"), "my-image--v1-");
        assert_eq!(rest_name("镜像 1"), "---1");
        assert_eq!(rest_name(&"a".repeat(128)), "a".repeat(64));
        assert_eq!(rest_name(""), "image");
    }

    proptest! {
        #[test]
        fn every_name_maps_to_a_valid_rest_name(name in "\\PC{0,130}") {
            let shown = rest_name(&name);
            prop_assert!(ImageName::parse(&shown).is_ok(), "{name:?} -> {shown:?}");
            if ImageName::parse(&name).is_ok() {
                prop_assert_eq!(shown.as_ref(), name.as_str());
            }
        }
    }
}
