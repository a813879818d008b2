//! The one sanitiser and the one redactor for text that came from a node or a file.
//!
//! Every string a node printed (or a file held) reaches the screen, JSON, the journal or
//! the log only through [`clean`] (or [`clean_capped`]): first the redactor removes every
//! registered secret (after any JSON decoding, so `\u0053...` escapes cannot hide one),
//! then the sanitiser shows control and bidi characters escaped and caps the length.
//!
//! Secrets are registered once at start ([`register_secret`]); the redactor is global on
//! purpose, so no output path can forget to carry it.

use std::borrow::Cow;
use std::sync::RwLock;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// The default cap, in characters, for one field of node text.
pub const DEFAULT_CAP: usize = 512;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Register a secret; from now on [`redact`] removes it everywhere. Empty strings are
/// ignored.
pub fn register_secret(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut s = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !s.iter().any(|x| x == secret) {
        s.push(secret.to_string());
    }
}

/// Remove every registered secret from `s`.
pub fn redact(s: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if secrets.iter().all(|x| !s.contains(x.as_str())) {
        return Cow::Borrowed(s);
    }
    let mut out = s.to_string();
    for x in secrets.iter() {
        out = out.replace(x.as_str(), REDACTED);
    }
    Cow::Owned(out)
}

/// True for characters that must never reach a terminal as themselves: C0/C1 controls
/// (tab and newline included: callers that keep lines split first) and the Unicode
/// bidi and invisible formatting controls.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width, LRM/RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{2028}' | '\u{2029}' // line/paragraph separators
            | '\u{FEFF}'              // BOM / zero-width no-break space
        )
}

/// Show unsafe characters escaped and cap the length at `max_chars` characters (an
/// ellipsis marks the cut). Safe text comes back borrowed.
pub fn sanitize(s: &str, max_chars: usize) -> Cow<'_, str> {
    let needs = s.chars().any(is_unsafe_char) || s.chars().nth(max_chars).is_some();
    if !needs {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max_chars * 2) + 4);
    let mut n = 0usize;
    for c in s.chars() {
        let piece: Cow<'_, str> = if is_unsafe_char(c) {
            Cow::Owned(escape_char(c))
        } else {
            Cow::Owned(c.to_string())
        };
        let len = piece.chars().count();
        if n + len > max_chars {
            out.push('…');
            return Cow::Owned(out);
        }
        n += len;
        out.push_str(&piece);
    }
    Cow::Owned(out)
}

fn escape_char(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\x1b' => "\\e".into(),
        c if (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:04x}}}", c as u32),
    }
}

/// Text that went through the one redactor-then-sanitiser: the only kind of node (or
/// file) text the screen, `--json`, the journal, the log and headless lines take.
///
/// Only this module makes one, and always in the same order: the **whole** raw string
/// is redacted first, then cut (a cap in characters, or an excerpt's byte budget), then
/// its unsafe characters are shown escaped. A token can therefore never be cut in two
/// before the redactor sees it (issue 19: half a token on screen). The field is
/// private, there is no `From<String>`, and deserialising one cleans it again.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shown(String);

/// How [`Shown::make`] cuts, after redacting and before escaping.
enum Cut {
    /// At most this many characters once escaped, an ellipsis marking the cut.
    Chars(usize),
    /// At most this many bytes of the redacted text (on a character boundary), an
    /// ellipsis marking the cut; controls become spaces, the ends are trimmed and the
    /// result is quoted, `"(empty)"` when nothing is left (an excerpt in a message).
    Excerpt(usize),
}

impl Shown {
    /// Redact, then sanitise with [`DEFAULT_CAP`]: the one call for node or file text.
    pub fn new(raw: &str) -> Shown {
        Shown::make(raw, Cut::Chars(DEFAULT_CAP))
    }

    /// Redact, then sanitise with a cap of `max_chars`.
    pub fn capped(raw: &str, max_chars: usize) -> Shown {
        Shown::make(raw, Cut::Chars(max_chars))
    }

    /// [`Shown::capped`] of an owned string: text the redactor and the sanitiser leave
    /// as it is (nearly all of it) is kept, not copied (a row is rebuilt per poll).
    pub fn owned(raw: String, max_chars: usize) -> Shown {
        let out = match redact(&raw) {
            Cow::Borrowed(_) => match sanitize(&raw, max_chars) {
                Cow::Borrowed(_) => None,
                Cow::Owned(o) => Some(o),
            },
            Cow::Owned(r) => Some(sanitize(&r, max_chars).into_owned()),
        };
        Shown(out.unwrap_or(raw))
    }

    /// A short, quoted excerpt of untrusted bytes for an error message: the whole text
    /// redacted, then cut to `max_bytes`, then escaped.
    pub fn excerpt(raw: &[u8], max_bytes: usize) -> Shown {
        Shown::make(&String::from_utf8_lossy(raw), Cut::Excerpt(max_bytes))
    }

    /// The one path: redact the whole string, then cut, then escape.
    fn make(raw: &str, cut: Cut) -> Shown {
        let whole = redact(raw);
        match cut {
            Cut::Chars(max) => Shown(sanitize(&whole, max).into_owned()),
            Cut::Excerpt(max) => {
                let mut end = whole.len().min(max);
                while !whole.is_char_boundary(end) {
                    end -= 1;
                }
                // A cut inside a redaction mark moves past it: `[redacted]` reads whole.
                if let Some((at, _)) = whole
                    .match_indices(REDACTED)
                    .find(|(at, _)| *at < end && end < at + REDACTED.len())
                {
                    end = at + REDACTED.len();
                }
                let head: String = whole[..end]
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                let mut out = head.trim().to_string();
                if end < whole.len() {
                    out.push('…');
                }
                if out.is_empty() {
                    Shown("(empty)".into())
                } else {
                    // Debug quoting escapes what `is_control` left (bidi, invisibles);
                    // the sanitiser then catches anything it kept.
                    let quoted = format!("{out:?}");
                    let room = quoted.len() * 10 + 8;
                    Shown(sanitize(&quoted, room).into_owned())
                }
            }
        }
    }

    /// A JSON document of node text, one line: every string in it (keys included)
    /// through [`clean_json`] with a cap of `max_chars`, then written out (the journal's
    /// lines).
    pub fn json(mut v: serde_json::Value, max_chars: usize) -> Shown {
        clean_json(&mut v, max_chars);
        Shown(v.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The clean text as a plain `String` (for code that only passes it on).
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for Shown {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Shown {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Shown {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl From<Shown> for String {
    fn from(s: Shown) -> String {
        s.0
    }
}

/// For the screen: ratatui's spans and lines take it as they take a `String`.
impl<'a> From<Shown> for Cow<'a, str> {
    fn from(s: Shown) -> Cow<'a, str> {
        Cow::Owned(s.0)
    }
}

impl PartialEq<str> for Shown {
    fn eq(&self, o: &str) -> bool {
        self.0 == o
    }
}

impl PartialEq<&str> for Shown {
    fn eq(&self, o: &&str) -> bool {
        self.0 == *o
    }
}

impl PartialEq<String> for Shown {
    fn eq(&self, o: &String) -> bool {
        &self.0 == o
    }
}

impl PartialEq<Shown> for String {
    fn eq(&self, o: &Shown) -> bool {
        *self == o.0
    }
}

impl PartialEq<Shown> for &str {
    fn eq(&self, o: &Shown) -> bool {
        *self == o.0
    }
}

/// A plain JSON string, so `--json` and the journal read as before.
impl serde::Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Read back (a journal, a file): cleaned again, so a hand-edited file cannot bring
/// raw text in.
impl<'de> serde::Deserialize<'de> for Shown {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Shown, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Shown::new(&raw))
    }
}

/// [`Shown::new`] as a plain `String`, for output paths not yet typed [`Shown`]: the
/// same one path (redact the whole string, then cap, then escape).
pub fn clean(s: &str) -> String {
    Shown::new(s).into_string()
}

/// [`Shown::capped`] as a plain `String`.
pub fn clean_capped(s: &str, max_chars: usize) -> String {
    Shown::capped(s, max_chars).into_string()
}

/// Like [`clean_capped`] but keeps line breaks: each line (as [`str::lines`] splits
/// them: `\n` or `\r\n`) is redacted and sanitised on its own, capped at
/// `max_chars_per_line`; at most `max_lines` lines are kept, an ellipsis line marks the
/// cut.
pub fn clean_lines(s: &str, max_chars_per_line: usize, max_lines: usize) -> Vec<String> {
    let r = redact(s);
    let mut out: Vec<String> = r
        .lines()
        .take(max_lines)
        .map(|l| sanitize(l, max_chars_per_line).into_owned())
        .collect();
    if r.lines().nth(max_lines).is_some() {
        out.push("…".into());
    }
    out
}

/// [`clean_lines`] without a limit on lines, joined back into one block of text for a
/// log or a terminal (a final line break is kept).
pub fn clean_keep_newlines(s: &str, max_chars_per_line: usize) -> String {
    let mut out = clean_lines(s, max_chars_per_line, usize::MAX).join("\n");
    if s.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Clean every string inside a JSON value in place (keys included): the journal and any
/// other JSON written from node text passes through here.
pub fn clean_json(v: &mut serde_json::Value, max_chars: usize) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let c = clean_capped(s, max_chars);
            if c != *s {
                *s = c;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| clean_json(x, max_chars)),
        Value::Object(m) => {
            let dirty: Vec<String> = m
                .keys()
                .filter(|k| clean_capped(k, max_chars) != **k)
                .cloned()
                .collect();
            for k in dirty {
                if let Some(x) = m.remove(&k) {
                    m.insert(clean_capped(&k, max_chars), x);
                }
            }
            m.values_mut().for_each(|x| clean_json(x, max_chars));
        }
        _ => {}
    }
}

/// An [`std::io::Write`] for records (log events): each `write` is one record, cleaned
/// with [`clean_capped`] as one line (a newline inside it is shown escaped, so node text
/// cannot forge a log line) and ended with the newline it came with. Put it under a
/// logger so nothing written can carry a registered secret or a terminal control
/// (tracing's formatter, and tracing-appender's worker, write one event at a time).
pub struct CleanWriter<W> {
    inner: W,
    max_chars_per_line: usize,
}

impl<W> CleanWriter<W> {
    pub fn new(inner: W, max_chars_per_line: usize) -> Self {
        CleanWriter {
            inner,
            max_chars_per_line,
        }
    }
}

impl<W: std::io::Write> std::io::Write for CleanWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (&*text, ""),
        };
        let mut clean = clean_capped(body, self.max_chars_per_line);
        clean.push_str(end);
        self.inner.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi() {
        let s = "ok\x1b]0;pwned\x07\x1b[31mred\u{202E}evil";
        let c = sanitize(s, 100);
        assert!(!c.chars().any(is_unsafe_char), "{c}");
        assert_eq!(c, "ok\\e]0;pwned\\x07\\e[31mred\\u{202e}evil");
    }

    #[test]
    fn caps_with_an_ellipsis() {
        let long = "v".repeat(100_000);
        let c = sanitize(&long, 10);
        assert_eq!(c.chars().count(), 11);
        assert!(c.ends_with('…'));
        assert_eq!(sanitize("short", 10), "short");
    }

    #[test]
    fn redacts_registered_secrets() {
        register_secret("s3cr3t-token-for-safe-text-test");
        let c = clean("token=s3cr3t-token-for-safe-text-test!");
        assert_eq!(c, format!("token={REDACTED}!"));
        // Every copy, and text around them kept.
        let c = clean("a s3cr3t-token-for-safe-text-test; again s3cr3t-token-for-safe-text-test!");
        assert_eq!(c, format!("a {REDACTED}; again {REDACTED}!"));
    }

    #[test]
    fn clean_lines_keeps_lines_and_caps_them() {
        let v = clean_lines("a\nb\x1b\nc", 10, 2);
        assert_eq!(v, vec!["a".to_string(), "b\\e".into(), "…".into()]);
    }

    #[test]
    fn clean_keep_newlines_cleans_each_line_and_keeps_the_breaks() {
        register_secret("block-secret-for-safe-text-test");
        let block = "plan\n  key block-secret-for-safe-text-test\x1b[2J\r\n\nlast\rline\n";
        assert_eq!(
            clean_keep_newlines(block, 100),
            format!("plan\n  key {REDACTED}\\e[2J\n\nlast\\rline\n")
        );
        assert_eq!(clean_keep_newlines("no break at the end", 7), "no brea…");
        assert_eq!(clean_keep_newlines("", 7), "");
        assert_eq!(clean_keep_newlines("\n\n", 7), "\n\n");
    }

    #[test]
    fn clean_json_reaches_nested_strings_and_keys() {
        register_secret("json-secret-for-safe-text-test");
        let mut v = serde_json::json!({
            "a": ["x\u{1b}[31m", {"b": "json-secret-for-safe-text-test"}],
            "k\u{202e}": 1,
            "n": 5,
        });
        clean_json(&mut v, 100);
        let text = v.to_string();
        assert!(!text.contains("json-secret-for-safe-text-test"), "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
        assert_eq!(v["a"][0], "x\\e[31m");
        assert_eq!(v["k\\u{202e}"], 1);
        assert_eq!(v["n"], 5);
    }

    #[test]
    fn clean_writer_redacts_escapes_and_keeps_one_line_per_record() {
        use std::io::Write;
        register_secret("writer-secret-for-safe-text-test");
        let mut w = CleanWriter::new(Vec::new(), 60);
        w.write_all(b"one writer-secret-for-safe-text-test\nFAKE INFO \x1b]0;t\x07\n")
            .expect("write to a Vec");
        let out = String::from_utf8(w.inner).expect("utf-8");
        assert_eq!(out, "one [redacted]\\nFAKE INFO \\e]0;t\\x07\n");
        let mut w = CleanWriter::new(Vec::new(), 5);
        w.write_all(b"abcdefghij\n").expect("write to a Vec");
        assert_eq!(String::from_utf8(w.inner).expect("utf-8"), "abcde…\n");
    }
}

#[cfg(test)]
#[path = "safe_text_cuts.rs"]
mod cuts;
