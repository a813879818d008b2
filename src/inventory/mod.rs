//! The fleet: who the nodes are, how to reach them and where things live on them.
//!
//! Three formats load into the same [`Inventory`]: a native `meshroll.toml`
//! ([`toml_inv`]), an Ansible INI inventory ([`ini`]) and an Ansible YAML inventory
//! ([`yaml`]). Ansible groups become classes; `meshroll_*` variables set the
//! [`Layout`]; `ansible_host`, `ansible_port` and `ansible_user` set the destination.
//! [`load`] also reads Ansible inventory directories and the `group_vars/` and
//! `host_vars/` folders beside an inventory ([`sources`]).

mod ansible;
pub mod ini;
pub mod layout;
mod node_id;
pub mod sources;
#[cfg(test)]
mod test_support;
pub mod toml_inv;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use layout::{DEFAULT_GATEWAY_READY_URL, KeyDef, Layout};
pub use node_id::{Fleet, NodeId, PerNode};

/// One MeshMac node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The inventory name, unique in the fleet.
    pub name: String,
    /// What `ssh` connects to: an alias from the ssh config, a host name or an address.
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// `gateway`, `worker`, or a class the user names.
    pub class: String,
    pub labels: Vec<String>,
    pub layout: Layout,
}

impl Node {
    /// A node reached at its own name, of `class`, with the default layout and no port,
    /// user or labels: what tests, the simulated mesh and name-only lists start from.
    pub fn new(name: impl Into<String>, class: impl Into<String>) -> Node {
        let name = name.into();
        Node {
            host: name.clone(),
            name,
            port: None,
            user: None,
            class: class.into(),
            labels: Vec::new(),
            layout: Layout::default(),
        }
    }

    /// A short form for screens and messages: `user@host:port`.
    pub fn destination(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }
}

/// The whole fleet, nodes in inventory order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// The one node list, shared by everything that reads the fleet.
    pub nodes: Fleet,
    /// Classes in the order they first appear (the default rollout order).
    pub classes: Vec<String>,
}

/// A value from a file, quoted and made safe to show (controls and bidi escaped, capped).
pub(crate) fn shown(v: &str) -> String {
    format!("\"{}\"", crate::safe_text::clean_capped(v, 200))
}

/// The longest node name, in characters: the cap screens and reports cut names at
/// (`report::SHORT_CAP`), so a longer name would be shown, journaled and resumed as
/// something else.
pub const MAX_NAME_CHARS: usize = 128;

/// Why `name` cannot be a node name, if it cannot: the one check every inventory format
/// runs on every name. A name is refused when the sanitiser would change it (a control,
/// bidi or zero-width character, or more than [`MAX_NAME_CHARS`] characters): two names
/// that clean to the same text would be one node on screen and in the journal.
pub fn check_node_name(name: &str) -> Result<(), String> {
    if let Some(c) = name.chars().find(|&c| crate::safe_text::is_unsafe_char(c)) {
        return Err(format!(
            "a node name without control, bidi or zero-width characters, got {} (it holds U+{:04X})",
            shown(name),
            c as u32
        ));
    }
    let n = name.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(format!(
            "a node name of at most {MAX_NAME_CHARS} characters, got one of {n} characters: {}",
            shown(name)
        ));
    }
    debug_assert_eq!(crate::safe_text::sanitize(name, MAX_NAME_CHARS), name);
    Ok(())
}

/// Characters that never belong in an ssh host or user: whitespace, controls, bidi.
fn bad_destination_char(c: char) -> bool {
    c.is_whitespace() || crate::safe_text::is_unsafe_char(c)
}

/// Why `host` cannot be handed to ssh as a destination, if it cannot: empty, beginning
/// with `-` (ssh would read `-oProxyCommand=...` as an option), or holding whitespace or
/// control characters. `Err` is what was expected.
pub fn check_ssh_host(host: &str) -> Result<(), String> {
    if host.is_empty() || host.chars().any(bad_destination_char) {
        Err(format!(
            "a host name or address without spaces or control characters, got {}",
            shown(host)
        ))
    } else if host.starts_with('-') {
        Err(format!(
            "a host name or address that does not begin with - (ssh would take it for an option), got {}",
            shown(host)
        ))
    } else {
        Ok(())
    }
}

/// Why `user` cannot be an ssh user name, if it cannot (same rules as [`check_ssh_host`]).
pub fn check_ssh_user(user: &str) -> Result<(), String> {
    if user.is_empty() || user.chars().any(bad_destination_char) {
        Err(format!(
            "a user name without spaces or control characters, got {}",
            shown(user)
        ))
    } else if user.starts_with('-') {
        Err(format!(
            "a user name that does not begin with - (ssh would take it for an option), got {}",
            shown(user)
        ))
    } else {
        Ok(())
    }
}

impl Inventory {
    /// Build from nodes, deriving the class order. Rejects duplicate node names, and
    /// hosts or users that ssh would misread (every format goes through here).
    pub fn from_nodes(file: &Path, nodes: Vec<Node>) -> Result<Self, InventoryError> {
        let mut seen = BTreeMap::new();
        let mut classes: Vec<String> = Vec::new();
        for n in &nodes {
            let bad = |why: String| {
                InventoryError::new(file, None, format!("{why} (node {})", shown(&n.name)))
            };
            check_ssh_host(&n.host).map_err(bad)?;
            if let Some(u) = &n.user {
                check_ssh_user(u).map_err(bad)?;
            }
            if n.port == Some(0) {
                return Err(bad("a port number from 1 to 65535, got 0".into()));
            }
            if seen.insert(n.name.clone(), ()).is_some() {
                return Err(InventoryError::new(
                    file,
                    None,
                    format!("node names to be unique, but {:?} appears twice", n.name),
                ));
            }
            if !classes.contains(&n.class) {
                classes.push(n.class.clone());
            }
        }
        Ok(Inventory {
            nodes: nodes.into(),
            classes,
        })
    }
}

/// A malformed inventory: which file, which line (when known) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "inventory {}{}: expected {expected}",
    .file.display(),
    .line.map(|l| format!(":{l}")).unwrap_or_default()
)]
pub struct InventoryError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub expected: String,
}

impl InventoryError {
    pub fn new(file: &Path, line: Option<usize>, expected: impl Into<String>) -> Self {
        InventoryError {
            file: file.to_path_buf(),
            line,
            expected: expected.into(),
        }
    }
}

/// Which format a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Ini,
    Yaml,
}

/// Guess the format from the extension, then from the content.
pub fn detect_format(path: &Path, text: &str) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => return Format::Toml,
        Some("yml") | Some("yaml") => return Format::Yaml,
        Some("ini") | Some("cfg") => return Format::Ini,
        _ => {}
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .unwrap_or("");
    let yaml_key = |l: &str| {
        l.split_once(": ").is_some_and(|(k, _)| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    };
    if first == "---" || first.ends_with(':') || yaml_key(first) {
        Format::Yaml
    } else if first.starts_with("[[")
        || first.contains(" = ")
        || first.starts_with("[defaults")
        || first.starts_with("[classes.")
    {
        Format::Toml
    } else {
        Format::Ini
    }
}

/// Load an inventory: a file in any of the three formats, or an Ansible inventory
/// directory. Ansible inventories read the `group_vars/` and `host_vars/` folders beside
/// them (see [`sources`]).
pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| InventoryError::new(path, None, format!("a readable file ({e})")))?;
    if meta.is_dir() {
        return sources::load_dir(path);
    }
    let text = sources::read_text(path)?;
    match detect_format(path, &text) {
        Format::Toml => toml_inv::parse(path, &text),
        format => sources::load_file(path, format, &text),
    }
}

/// Parse inventory text; `path` is used for the format guess and for messages.
pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
    match detect_format(path, text) {
        Format::Toml => toml_inv::parse(path, text),
        Format::Ini => ini::parse(path, text),
        Format::Yaml => yaml::parse(path, text),
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    /// The words of an inventory error, with and without a line (derived by thiserror,
    /// the same as the hand-written Display it replaced).
    #[test]
    fn an_inventory_error_names_the_file_and_the_line_when_known() {
        let at = InventoryError::new(Path::new("hosts.ini"), Some(7), "a host name");
        assert_eq!(
            at.to_string(),
            "inventory hosts.ini:7: expected a host name"
        );
        let anywhere = InventoryError::new(Path::new("hosts.ini"), None, "a host name");
        assert_eq!(
            anywhere.to_string(),
            "inventory hosts.ini: expected a host name"
        );
    }
}
