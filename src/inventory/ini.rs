//! Ansible INI inventories.
//!
//! ```ini
//! # hosts before any section are in the group `ungrouped`
//! bastion-mac ansible_host=10.0.0.2
//!
//! [gateway]                     ; hosts of a group: their class is the group name
//! mac-g01 ansible_host=10.0.0.11 ansible_user=admin
//! mac-g02:2222                  # host:port sets ansible_port
//!
//! [worker]
//! mac-w[01:20]                  # ranges: [01:20] keeps the padding, [a:f], [1:10:2]
//! mac-w21 meshroll_prewarm_cmd="openclaw skills prewarm --concurrency 1"
//!
//! [macs:children]               # hosts of worker and gateway belong to macs as well
//! gateway
//! worker
//!
//! [macs:vars]                   # key=value, one per line; quotes are optional
//! ansible_user=admin
//!
//! [worker:vars]
//! meshroll_skills_root=/opt/openclaw/skills
//!
//! [all:vars]
//! meshroll_cache_max_age_min=90
//! ```
//!
//! Details of the format:
//! - Comments: lines starting with `#` or `;`; on a host line, a `#` that starts a word
//!   begins a comment; in a `[group:vars]` line, a `#` after a space ends an unquoted value.
//!   A section header may be followed by a comment.
//! - Host lines are split into words like a shell does: `"..."` (with `\"` and `\\`) and
//!   `'...'` quote, `\` escapes. Every word after the host pattern is `key=value`.
//! - `host:port` (the part after the last `]` has exactly one `:` followed by digits) sets
//!   `ansible_port`; a variable on the same line wins over it. Names with two or more
//!   colons (IPv6 addresses) are taken whole.
//! - `[group:vars]` lines are `key=value`; spaces around `=` are allowed; an unquoted value
//!   runs to the end of the line; a quoted one is unquoted.
//! - `[group:children]` lines each name one child group.
//! - Groups, variables, precedence, classes and ranges follow the shared rules in
//!   [`super::ansible`].
use std::path::Path;

use super::ansible::{Builder, expand_hosts, parse_port};
use super::{Inventory, InventoryError};

/// Parse an Ansible INI inventory.
pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
    let mut b = Builder::new(path);
    feed(&mut b, text)?;
    b.finish()
}

enum Section {
    Hosts(String),
    Vars(String),
    Children(String),
}

/// Read an Ansible INI inventory into `b` (the file is [`Builder::file`]).
pub(super) fn feed(b: &mut Builder, text: &str) -> Result<(), InventoryError> {
    let path = b.file().to_path_buf();
    let path = path.as_path();
    let mut section = Section::Hosts("ungrouped".to_string());
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let n = Some(i + 1);
        let err = |expected: String| InventoryError::new(path, n, expected);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = parse_header(line).map_err(err)?;
            let (Section::Hosts(g) | Section::Vars(g) | Section::Children(g)) = &section;
            b.group(g, n)?;
            continue;
        }
        match &section {
            Section::Hosts(group) => {
                let words = split_words(line).map_err(err)?;
                let Some((first, rest)) = words.split_first() else {
                    continue;
                };
                if first.contains('=') {
                    return Err(err(format!(
                        "a host pattern or [section], got {first:?} (variables go after a host name, or in [{group}:vars])"
                    )));
                }
                let (pattern, port) = split_port(first).map_err(err)?;
                let names = expand_hosts(pattern).map_err(err)?;
                let mut vars = Vec::new();
                for word in rest {
                    match word.split_once('=') {
                        Some((k, v)) if !k.is_empty() => vars.push((k, v)),
                        _ => {
                            return Err(err(format!(
                                "key=value after the host pattern {first}, got {word:?}"
                            )));
                        }
                    }
                }
                for name in &names {
                    b.add_host(group, name, n)?;
                    if let Some(port) = port {
                        b.host_var(name, "ansible_port", Some(port), n)?;
                    }
                    for (k, v) in &vars {
                        b.host_var(name, k, Some(v), n)?;
                    }
                }
            }
            Section::Vars(group) => {
                let (k, v) = parse_var_line(line).map_err(err)?;
                b.group_var(group, &k, Some(&v), n)?;
            }
            Section::Children(group) => {
                let words = split_words(line).map_err(err)?;
                match words.as_slice() {
                    [] => {}
                    [child] => b.add_child(group, child, n)?,
                    _ => {
                        return Err(err(format!(
                            "one child group name per line in [{group}:children], got {line:?}"
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `[group]`, `[group:vars]` or `[group:children]`, maybe followed by a comment.
fn parse_header(line: &str) -> Result<Section, String> {
    let Some(close) = line.find(']') else {
        return Err(format!("a closing ] in the section header {line:?}"));
    };
    let after = line[close + 1..].trim();
    if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
        return Err(format!(
            "nothing but a comment after the section header, got {after:?}"
        ));
    }
    let inner = line[1..close].trim();
    let (name, kind) = match inner.split_once(':') {
        Some((name, kind)) => (name.trim(), Some(kind.trim())),
        None => (inner, None),
    };
    super::ansible::check_group_name(name)?;
    match kind {
        None => Ok(Section::Hosts(name.to_string())),
        Some("vars") => Ok(Section::Vars(name.to_string())),
        Some("children") => Ok(Section::Children(name.to_string())),
        Some(other) => Err(format!(
            "[{name}], [{name}:vars] or [{name}:children], got :{other}"
        )),
    }
}

/// Split `name:port` when the part after the last `]` has exactly one colon.
fn split_port(pattern: &str) -> Result<(&str, Option<&str>), String> {
    let tail_start = pattern.rfind(']').map_or(0, |i| i + 1);
    let tail = &pattern[tail_start..];
    if tail.matches(':').count() != 1 {
        return Ok((pattern, None));
    }
    let Some(colon) = tail.find(':').map(|i| tail_start + i) else {
        return Ok((pattern, None));
    };
    let (name, port) = (&pattern[..colon], &pattern[colon + 1..]);
    if name.is_empty() || parse_port(port).is_none() {
        return Err(format!(
            "a port number (1 to 65535) after the : in {pattern}"
        ));
    }
    Ok((name, Some(port)))
}

/// `key=value` in a `[group:vars]` section.
fn parse_var_line(line: &str) -> Result<(String, String), String> {
    let bad = || format!("key=value, got {line:?}");
    let (k, v) = line.split_once('=').ok_or_else(bad)?;
    let k = k.trim();
    if k.is_empty() || k.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let v = v.trim();
    let value = if v.starts_with('"') || v.starts_with('\'') {
        let mut chars = v.chars();
        let value = read_quoted(&mut chars)?;
        let rest = chars.as_str().trim();
        if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
            return Err(format!(
                "nothing but a comment after the quoted value of {k}, got {rest:?}"
            ));
        }
        value
    } else {
        let end = v
            .char_indices()
            .find(|&(i, c)| c == '#' && v[..i].ends_with(char::is_whitespace))
            .map_or(v.len(), |(i, _)| i);
        v[..end].trim().to_string()
    };
    Ok((k.to_string(), value))
}

/// Read a quoted string; `chars` starts at the opening quote and ends after the closing one.
fn read_quoted(chars: &mut std::str::Chars<'_>) -> Result<String, String> {
    let Some(quote) = chars.next() else {
        return Ok(String::new());
    };
    let mut out = String::new();
    loop {
        match chars.next() {
            None => return Err(format!("a closing {quote} quote")),
            Some(c) if c == quote => return Ok(out),
            Some('\\') if quote == '"' => match chars.next() {
                Some(c @ ('"' | '\\')) => out.push(c),
                Some(c) => {
                    out.push('\\');
                    out.push(c);
                }
                None => return Err(format!("a closing {quote} quote")),
            },
            Some(c) => out.push(c),
        }
    }
}

/// Split a line into words as a shell does; a `#` starting a word begins a comment.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('#') {
            return Ok(words);
        }
        let mut word = String::new();
        let mut chars = rest.chars();
        loop {
            let before = chars.as_str();
            match chars.next() {
                None => {
                    rest = "";
                    break;
                }
                Some(c) if c.is_whitespace() => {
                    rest = before;
                    break;
                }
                Some('"' | '\'') => {
                    let mut q = before.chars();
                    word.push_str(&read_quoted(&mut q)?);
                    chars = q;
                }
                Some('\\') => {
                    if let Some(c) = chars.next() {
                        word.push(c);
                    }
                }
                Some(c) => word.push(c),
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inventory::Layout;
    use crate::inventory::NodeId;
    use crate::inventory::test_support::{assert_groups_example, assert_refused, labels};

    fn p(text: &str) -> Result<Inventory, InventoryError> {
        parse(Path::new("hosts.ini"), text)
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"h a=1 b="x y" c='p q' d=\"e # comment"#).unwrap(),
            vec!["h", "a=1", "b=x y", "c=p q", "d=\"e"]
        );
        assert_eq!(
            split_words(r#"h k="a\"b\\c""#).unwrap(),
            vec![r#"h"#, r#"k=a"b\c"#]
        );
        assert_eq!(
            split_words("h url=http://x/#frag").unwrap(),
            vec!["h", "url=http://x/#frag"]
        );
        assert!(
            split_words(r#"h k="open"#)
                .unwrap_err()
                .contains("closing \" quote")
        );
    }

    #[test]
    fn var_lines() {
        assert_eq!(parse_var_line("a=b").unwrap(), ("a".into(), "b".into()));
        assert_eq!(
            parse_var_line("a = b c  # no").unwrap(),
            ("a".into(), "b c".into())
        );
        assert_eq!(
            parse_var_line("a=\"b # c\" # d").unwrap(),
            ("a".into(), "b # c".into())
        );
        assert_eq!(parse_var_line("a=").unwrap(), ("a".into(), "".into()));
        assert!(parse_var_line("a").unwrap_err().contains("key=value"));
        assert!(parse_var_line("=a").unwrap_err().contains("key=value"));
        assert!(parse_var_line("a b=c").unwrap_err().contains("key=value"));
        assert!(
            parse_var_line("a='b' c")
                .unwrap_err()
                .contains("after the quoted value")
        );
    }

    #[test]
    fn ports_in_patterns() {
        assert_eq!(split_port("h:22").unwrap(), ("h", Some("22")));
        assert_eq!(split_port("h[1:3]:22").unwrap(), ("h[1:3]", Some("22")));
        assert_eq!(split_port("h[1:3]").unwrap(), ("h[1:3]", None));
        assert_eq!(split_port("fe80::1").unwrap(), ("fe80::1", None));
        assert!(split_port("h:ssh").is_err());
        assert!(split_port("h:0").is_err());
    }

    #[test]
    fn groups_children_vars() {
        let inv = p("
solo
[gateway]  # gateways
g1 ansible_host=10.0.0.1 ansible_user=admin
[worker]
w[1:2]:2200
w3 meshroll_run_as='' ansible_port=2300
[macs:children]
gateway
worker
[macs:vars]
meshroll_state_dir = /srv/state
[worker:vars]
meshroll_skills_root=/opt/skills
[all:vars]
meshroll_skills_root=/all/skills
meshroll_cache_max_age_min=90
")
        .unwrap();
        assert_groups_example(&inv);
        assert_eq!(inv.classes, vec!["ungrouped", "gateway", "worker"]);
        let solo = &inv.nodes[NodeId::new(0)].layout;
        assert_eq!(solo.skills_root, "/all/skills");
        assert_eq!(solo.state_dir, Layout::default().state_dir);
        assert_eq!(solo.cache_max_age_min, 90);
        let g1 = &inv.nodes[NodeId::new(1)].layout;
        assert_eq!(g1.skills_root, "/all/skills");
        assert_eq!(g1.state_dir, "/srv/state");
    }

    #[test]
    fn host_in_two_groups() {
        let inv = p("[worker]\nw1\n[canary]\nw1\nw2\n[ungrouped]\nw2\nw3\n").unwrap();
        assert_eq!(
            labels(&inv),
            vec![
                ("w1", "worker", vec!["canary".to_string()]),
                ("w2", "canary", vec![]),
                ("w3", "ungrouped", vec![]),
            ]
        );
    }

    #[test]
    fn ungrouped_vars_skip_grouped_hosts() {
        let inv =
            p("a\n[ungrouped:vars]\nmeshroll_run_as=u\n[worker]\na\n[ungrouped]\nb\n").unwrap();
        assert_eq!(inv.nodes[NodeId::new(0)].class, "worker");
        assert_eq!(inv.nodes[NodeId::new(0)].layout.run_as, "openclaw");
        assert_eq!(inv.nodes[NodeId::new(1)].layout.run_as, "u");
    }

    #[test]
    fn errors_have_lines() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "[worker]\nansible_user=x\n",
                2,
                "a host pattern or [section]",
            ),
            ("[worker]\nw1 ansible_user\n", 2, "key=value"),
            ("[worker]\nw1 =x\n", 2, "key=value"),
            ("[worker:vars]\nansible_user\n", 2, "key=value"),
            (
                "[worker]\n\nw1 ansible_port=ssh\n",
                3,
                "a port number for ansible_port",
            ),
            ("[worker]\nmac-w[01:]\n", 2, "mac-w[01:]"),
            ("[worker]\nmac-w[01:]\n", 2, "has no end"),
            ("[worker\nw1\n", 1, "a closing ]"),
            ("[worker:hosts]\n", 1, "[worker:children]"),
            ("[worker] x\n", 1, "nothing but a comment"),
            ("[bad name]\n", 1, "a group name"),
            ("[a:children]\nb c\n", 2, "one child group name per line"),
            ("[a:children]\nb\n[b:children]\na\n", 4, "without a cycle"),
            ("[w]\nh meshroll_skils_root=/x\n", 2, "meshroll_skills_root"),
            (
                "[w]\nh meshroll_cache_max_age_min=1h\n",
                2,
                "whole number of minutes",
            ),
            (
                "[w:vars]\nmeshroll_cache_max_age_min=-1\n",
                2,
                "in the vars of group w",
            ),
            ("[w]\nh k=\"open\n", 2, "closing \" quote"),
            ("[w]\nh:99999\n", 2, "a port number"),
        ];
        assert_refused(cases, p);
    }

    #[test]
    fn empty_inventory() {
        let inv = p("# nothing\n; here\n").unwrap();
        assert!(inv.nodes.is_empty());
    }
}
