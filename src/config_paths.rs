//! Where meshroll's own files live on the operator's machine: the config folder
//! (`keys.toml`, `actions.toml`, `themes/`) and the state folder (logs). One place, so
//! the keymap, the themes, the user's actions and the log agree on it; nothing here
//! reads a file (that is [`crate::bounded_file`]).

use std::path::PathBuf;

/// `$XDG_CONFIG_HOME` if set and absolute, else `$HOME/.config`.
pub fn config_home() -> Option<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME") {
        let xdg = PathBuf::from(xdg);
        if xdg.is_absolute() {
            return Some(xdg);
        }
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".config"))
}

/// `<config home>/meshroll`.
pub fn config_dir() -> Option<PathBuf> {
    config_home().map(|c| c.join("meshroll"))
}

/// The key bindings: `<config>/meshroll/keys.toml`.
pub fn keys_file() -> Option<PathBuf> {
    config_dir().map(|c| c.join("keys.toml"))
}

/// The user's own actions: `<config>/meshroll/actions.toml`.
pub fn actions_file() -> Option<PathBuf> {
    config_dir().map(|c| c.join("actions.toml"))
}

/// The user's theme folder, looked up by name before the built-ins:
/// `<config>/meshroll/themes`. (The working folder is never searched: a theme there is
/// used only when given as a path, `--theme ./themes/mine.toml`.)
pub fn themes_dir() -> Option<PathBuf> {
    config_dir().map(|c| c.join("themes"))
}

/// The default log directory: `$XDG_STATE_HOME/meshroll` or `~/.local/state/meshroll`
/// (the temp folder's `meshroll` without a home).
pub fn state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(d).join("meshroll");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/state/meshroll"),
        None => std::env::temp_dir().join("meshroll"),
    }
}
