//! "Did you mean ...?": the one suggestion rule for a mistyped name, used by themes,
//! key bindings and inventory variables alike.

/// The candidate closest to `word` (Levenshtein, case-insensitive), if it is a
/// plausible typo of it.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let word = word.to_lowercase();
    let limit = match word.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    candidates
        .map(|c| (strsim::levenshtein(&word, &c.to_lowercase()), c))
        .filter(|(d, _)| (1..=limit).contains(d))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// The suggestion as it is appended to an error: ` (did you mean \"x\"?)`, or nothing.
pub fn did_you_mean(suggestion: Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s:?}?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_is_suggested_a_stranger_is_not() {
        let words = ["green", "red", "yellow"];
        assert_eq!(
            closest("gren", words.iter().copied()).as_deref(),
            Some("green")
        );
        assert_eq!(
            closest("GREN", words.iter().copied()).as_deref(),
            Some("green")
        );
        assert_eq!(closest("purple", words.iter().copied()), None);
        assert_eq!(closest("green", words.iter().copied()), None, "not a typo");
        assert_eq!(did_you_mean(Some("x".into())), " (did you mean \"x\"?)");
        assert_eq!(did_you_mean(None), "");
    }
}
