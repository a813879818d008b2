//! The operator's own actions, like k9s plugins: `~/.config/meshroll/actions.toml`
//! (or `$XDG_CONFIG_HOME/meshroll/actions.toml`) and `meshroll-actions.toml` beside the
//! inventory (a team's file; an action of the same name there replaces the user's):
//!
//! ```toml
//! [actions.skills-check]
//! key = "K"                       # a key no built-in binding uses
//! description = "skills check on the node"
//! command = ["openclaw", "skills", "check", "--root", "{skills_root}"]
//! runs = "node"                   # on the node over its master (default), or "local"
//! confirm = false                 # ask first (default true)
//! pane = true                     # output in a pane of the node view (default true)
//! ```
//!
//! Placeholders `{node}`, `{host}`, `{class}`, `{skills_root}`, `{state_dir}` are
//! replaced inside a word; each word is quoted as a whole for the node's shell, never
//! spliced (a local command runs without a shell). A mistake stops with the file and
//! the line.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{NodeAction, PLACEHOLDERS, Runs};
use crate::config_file::{self, ConfigFileError};
use crate::keymap::{Key, KeyMap};

/// An action from a file, with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAction {
    pub action: NodeAction,
    pub key: Key,
    /// `file:line` of its table, for messages.
    pub origin: String,
}

/// Why an actions file could not be used.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    actions: BTreeMap<Spanned<String>, Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key: Spanned<String>,
    #[serde(default)]
    description: String,
    command: Spanned<Vec<String>>,
    #[serde(default)]
    runs: Option<Spanned<String>>,
    #[serde(default = "yes")]
    confirm: bool,
    #[serde(default = "yes")]
    pane: bool,
}

fn yes() -> bool {
    true
}

/// The user's file: `$XDG_CONFIG_HOME/meshroll/actions.toml` or
/// `~/.config/meshroll/actions.toml`.
pub fn default_path() -> Option<PathBuf> {
    crate::config_paths::actions_file()
}

/// The team's file beside the inventory (a directory inventory: beside the directory).
pub fn beside_inventory(inventory: &Path) -> PathBuf {
    inventory
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        .join("meshroll-actions.toml")
}

/// The user's file then the team's file beside `inventory`, merged (the team's action
/// replaces the user's of the same name); keys checked against `keymap` and each other.
pub fn load_all(inventory: &Path, keymap: &KeyMap) -> Result<Vec<UserAction>, ConfigFileError> {
    let mut all: Vec<UserAction> = Vec::new();
    let files = default_path()
        .into_iter()
        .chain(std::iter::once(beside_inventory(inventory)));
    for path in files {
        let Some(text) = config_file::read(&path, crate::bounded_file::Kind::Actions, "actions")?
        else {
            continue;
        };
        for a in parse(&text, &path.display().to_string(), keymap)? {
            all.retain(|o| o.action.name != a.action.name);
            all.push(a);
        }
    }
    check_keys(&all)?;
    Ok(all)
}

/// Two actions on one key (across files).
fn check_keys(all: &[UserAction]) -> Result<(), ConfigFileError> {
    for (i, a) in all.iter().enumerate() {
        if let Some(b) = all[..i].iter().find(|b| b.key == a.key) {
            let (origin, line) = a.origin.rsplit_once(':').unwrap_or((&a.origin, "0"));
            return Err(ConfigFileError::Bad {
                origin: origin.to_string(),
                line: line.parse().unwrap_or(0),
                message: format!(
                    "key {} is taken by the action {:?} ({}): give one of them another key",
                    a.key, b.action.name, b.origin
                ),
            });
        }
    }
    Ok(())
}

/// The actions of one file's text.
pub fn parse(
    text: &str,
    origin: &str,
    keymap: &KeyMap,
) -> Result<Vec<UserAction>, ConfigFileError> {
    let src = config_file::Source { text, origin };
    let bad = |span: Range<usize>, message: String| src.bad(span, message);
    let file: File = src.parse()?;
    let mut entries: Vec<_> = file.actions.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let builtins = ["drain", "undrain", "restart", "logs", "follow", "shell"];
    let mut out = Vec::new();
    for (name, entry) in entries {
        let (name_span, name) = (name.span(), name.into_inner());
        let entry_span = entry.span();
        let e = entry.into_inner();
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                name_span,
                format!("action name {name:?}: one word, no spaces"),
            ));
        }
        if builtins.contains(&name.as_str()) {
            return Err(bad(
                name_span,
                format!("{name:?} is a built-in action: give yours another name"),
            ));
        }
        let key = Key::parse(e.key.get_ref()).map_err(|m| bad(e.key.span(), m))?;
        if key.is_digit() {
            return Err(bad(
                e.key.span(),
                format!(
                    "{:?} is taken: the digits 0-9 pick class tabs",
                    e.key.get_ref()
                ),
            ));
        }
        if let Some(a) = keymap.bound(&key) {
            return Err(bad(
                e.key.span(),
                format!(
                    "key {key} is bound to {:?} (keys.toml can move it): give the action {name:?} another key",
                    a.spec().name
                ),
            ));
        }
        let argv = e.command.get_ref().clone();
        if argv.is_empty() || argv[0].is_empty() {
            return Err(bad(
                e.command.span(),
                "command is empty: give the program and its arguments, one word each".into(),
            ));
        }
        for w in &argv {
            super::expand_word(w, |n| PLACEHOLDERS.contains(&n).then(String::new))
                .map_err(|m| bad(e.command.span(), m.to_string()))?;
        }
        let runs = match e.runs.as_ref().map(|r| r.get_ref().as_str()) {
            None | Some("node") => Runs::Remote(argv),
            Some("local") => Runs::Local(argv),
            Some(other) => {
                return Err(bad(
                    e.runs.as_ref().map_or(entry_span.clone(), |r| r.span()),
                    format!("runs = {other:?}: use \"node\" (over its ssh master) or \"local\""),
                ));
            }
        };
        let description = if e.description.trim().is_empty() {
            name.clone()
        } else {
            e.description.trim().to_string()
        };
        out.push(UserAction {
            action: NodeAction {
                name,
                description,
                runs,
                confirm: e.confirm,
                pane: e.pane,
            },
            key,
            origin: format!("{origin}:{}", src.line_of(name_span)),
        });
    }
    check_keys(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = r#"
[actions.skills-check]
key = "K"
description = "skills check"
command = ["openclaw", "skills", "check", "--root", "{skills_root}"]
confirm = false

[actions.ping]
key = "Ctrl-p"
command = ["ping", "-c", "1", "{host}"]
runs = "local"
pane = false
"#;

    #[test]
    fn a_file_gives_actions_with_keys() {
        let km = KeyMap::parse("[keys]\nskew_view = [\"S\"]\n", "k").unwrap();
        let a = parse(GOOD, "a.toml", &km).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].action.name, "skills-check");
        assert_eq!(a[0].key.to_string(), "K");
        assert!(!a[0].action.confirm && a[0].action.pane);
        assert!(matches!(a[0].action.runs, Runs::Remote(_)));
        assert_eq!(a[0].origin, "a.toml:2");
        assert!(matches!(a[1].action.runs, Runs::Local(_)));
        assert!(a[1].action.confirm && !a[1].action.pane);
        assert_eq!(a[1].action.description, "ping");
    }

    #[test]
    fn mistakes_name_the_line() {
        let km = KeyMap::default();
        let err = |t: &str| parse(t, "a.toml", &km).unwrap_err().to_string();
        // `K` is the skew view by default.
        let e = err("[actions.x]\nkey = \"K\"\ncommand = [\"true\"]\n");
        assert!(
            e.starts_with("a.toml:2:") && e.contains("bound to \"skew_view\""),
            "{e}"
        );
        let e = err("[actions.x]\nkey = \"Z\"\n\ncommand = [\"echo\", \"{nodes}\"]\n");
        assert!(
            e.starts_with("a.toml:4:") && e.contains("unknown placeholder {nodes}"),
            "{e}"
        );
        let e = err("[actions.x]\nkey = \"Z\"\ncommand = []\n");
        assert!(
            e.starts_with("a.toml:3:") && e.contains("command is empty"),
            "{e}"
        );
        let e = err("[actions.x]\nkey = \"Z\"\ncommand = [\"a\"]\nruns = \"remote\"\n");
        assert!(
            e.starts_with("a.toml:4:") && e.contains("runs = \"remote\""),
            "{e}"
        );
        let e = err("[actions.x]\nkey = \"Z\"\ncommand = [\"a\"]\nconfrim = true\n");
        assert!(
            e.starts_with("a.toml:4:") && e.contains("unknown key"),
            "{e}"
        );
        let e = err("[actions.drain]\nkey = \"Z\"\ncommand = [\"a\"]\n");
        assert!(e.starts_with("a.toml:1:") && e.contains("built-in"), "{e}");
        let e = err(
            "[actions.x]\nkey = \"Z\"\ncommand = [\"a\"]\n[actions.y]\nkey = \"Z\"\ncommand = [\"b\"]\n",
        );
        assert!(
            e.starts_with("a.toml:4:") && e.contains("taken by the action \"x\""),
            "{e}"
        );
        let e = err("[actions.x]\nkey = \"3\"\ncommand = [\"a\"]\n");
        assert!(e.contains("class tabs"), "{e}");
    }
}
