//! The dashboard's key bindings, listed once: the key handler, the footer and the
//! `?` help are all made from [`ACTIONS`]. Users rebind keys in
//! `~/.config/meshroll/keys.toml` (or `$XDG_CONFIG_HOME/meshroll/keys.toml`):
//!
//! ```toml
//! [keys]
//! quit = ["q", "Ctrl-q"]     # replaces the default keys of that action
//! skip = ["X"]
//! ```
//!
//! A file only lists what it changes. Mistakes (an unknown action, a key that is not a
//! key, one key bound to two actions that are live at the same time) stop the dashboard
//! with the file, the line and what was expected.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use toml::Spanned;

use crate::config_file::{self, ConfigFileError};

/// One thing a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    Back,
    Open,
    NextNode,
    PrevNode,
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    Filter,
    Sort,
    SkewView,
    NextTab,
    PrevTab,
    Refresh,
    RefreshAll,
    Doctor,
    PlanView,
    StepPhase,
    StepWave,
    Run,
    PauseResume,
    RetryNow,
    Skip,
    Abort,
    RollbackNode,
    RollbackClass,
    Drain,
    Undrain,
    Restart,
    Logs,
    FollowLogs,
    Shell,
    Mark,
    MarkVisible,
    ClearMarks,
    StageSkewed,
}

/// The one table of actions: name in keys.toml and default keys.
pub struct ActionSpec {
    pub action: Action,
    pub name: &'static str,
    pub keys: &'static [&'static str],
}

const fn spec(action: Action, name: &'static str, keys: &'static [&'static str]) -> ActionSpec {
    ActionSpec { action, name, keys }
}

use Action as A;

/// Every action with its default keys. The class-tab digits `0`-`9` are fixed.
pub const ACTIONS: &[ActionSpec] = &[
    spec(A::Help, "help", &["?"]),
    spec(A::Quit, "quit", &["q", "Ctrl-c"]),
    spec(A::Up, "up", &["k", "Up"]),
    spec(A::Down, "down", &["j", "Down"]),
    spec(A::PageUp, "page_up", &["PageUp"]),
    spec(A::PageDown, "page_down", &["PageDown"]),
    spec(A::First, "first", &["g", "Home"]),
    spec(A::Last, "last", &["G", "End"]),
    spec(A::Open, "open", &["Enter", "l", "Right"]),
    spec(A::NextNode, "next_node", &["]"]),
    spec(A::PrevNode, "prev_node", &["["]),
    spec(A::Back, "back", &["Esc", "h", "Left", "Backspace"]),
    spec(A::NextTab, "next_tab", &["Tab"]),
    spec(A::PrevTab, "prev_tab", &["BackTab"]),
    spec(A::Filter, "filter", &["/"]),
    spec(A::Sort, "sort", &["s"]),
    spec(A::SkewView, "skew_view", &["S", "K"]),
    spec(A::Refresh, "refresh", &["r"]),
    spec(A::RefreshAll, "refresh_all", &["R"]),
    spec(A::Doctor, "doctor", &["d"]),
    spec(A::PlanView, "plan_view", &["p"]),
    spec(A::StepPhase, "step_phase", &["n"]),
    spec(A::StepWave, "step_wave", &["w"]),
    spec(A::Run, "run", &["c"]),
    spec(A::PauseResume, "pause_resume", &["Space"]),
    spec(A::RetryNow, "retry_now", &["t"]),
    spec(A::Skip, "skip", &["x"]),
    spec(A::RollbackNode, "rollback_node", &["b"]),
    spec(A::RollbackClass, "rollback_class", &["B"]),
    spec(A::Abort, "abort", &["A"]),
    // Node actions (crate::actions). k9s's `s` shell and `l` logs are sort and open
    // here: `e` (exec) opens a shell, `L` the log, `f` follows it (`F` is the skew
    // view's stage key: one key, one action in every view).
    spec(A::Drain, "drain", &["D"]),
    spec(A::Undrain, "undrain", &["U"]),
    spec(A::Restart, "restart", &["Ctrl-r"]),
    spec(A::Logs, "logs", &["L"]),
    spec(A::FollowLogs, "follow_logs", &["f"]),
    spec(A::Shell, "shell", &["e"]),
    spec(A::Mark, "mark", &["m"]),
    spec(A::MarkVisible, "mark_shown", &["*"]),
    spec(A::ClearMarks, "clear_marks", &["M"]),
    spec(A::StageSkewed, "stage_skewed", &["F"]),
];

/// The rows of `?` help: the actions of a row and what they do. Every action is in
/// exactly one row (tested).
pub const HELP_ROWS: &[(&[Action], &str)] = &[
    (&[A::Up, A::Down], "move up / down"),
    (&[A::PageUp, A::PageDown], "ten rows up / down"),
    (&[A::First, A::Last], "first / last row"),
    (&[A::Open], "open the node view"),
    (
        &[A::PrevNode, A::NextNode],
        "node view: previous / next node",
    ),
    (&[A::Back], "back / clear the filter"),
    (
        &[A::NextTab, A::PrevTab],
        "class tabs (0-9: a tab, 0 = all)",
    ),
    (&[A::Filter], "filter (name, class, verdict, sha, 'skew')"),
    (&[A::Sort], "sort: inventory, verdict, name, cache age"),
    (&[A::SkewView], "skew view"),
    (
        &[A::Refresh, A::RefreshAll],
        "poll the node / every node now",
    ),
    (&[A::Doctor], "run doctor --lint on the node now"),
    (&[A::PlanView], "rollout plan: lanes, gauges, progress"),
    (
        &[A::StepPhase, A::StepWave],
        "rollout: step one phase / one wave",
    ),
    (
        &[A::Run, A::PauseResume],
        "rollout: run by itself / pause-resume",
    ),
    (
        &[A::RetryNow, A::Skip],
        "rollout: retry the node now / skip it",
    ),
    (
        &[A::RollbackNode, A::RollbackClass],
        "rollout: roll the node / its class back",
    ),
    (&[A::Abort], "rollout: abort (confirms first)"),
    (
        &[A::Drain, A::Undrain],
        "drain / undrain the node(s) (asks first)",
    ),
    (
        &[A::Restart],
        "restart the gateway, poll at once (asks first)",
    ),
    (
        &[A::Logs, A::FollowLogs],
        "gateway log: last lines / follow in a pane",
    ),
    (&[A::Shell], "a shell on the node (exit comes back)"),
    (
        &[A::Mark, A::MarkVisible, A::ClearMarks],
        "mark the node / every node shown (the filter's) / clear",
    ),
    (
        &[A::StageSkewed],
        "skew view: stage for marked (or skewed) nodes only",
    ),
    (&[A::Help], "this help"),
    (&[A::Quit], "quit"),
];

impl Action {
    pub fn spec(self) -> &'static ActionSpec {
        // Every action has exactly one row (tested); fall back to the first row rather
        // than panic.
        ACTIONS
            .iter()
            .find(|s| s.action == self)
            .unwrap_or(&ACTIONS[0])
    }
}

/// A key as bindings see it: a code and the Ctrl/Alt modifiers (Shift is in the
/// character itself: `G`, not `Shift-g`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    code: KeyCodeOrd,
    ctrl: bool,
    alt: bool,
}

/// `KeyCode` subset with an order, for sorted maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyCodeOrd {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
}

const NAMED: &[(&str, KeyCodeOrd, &str)] = &[
    ("Enter", KeyCodeOrd::Enter, "⏎"),
    ("Esc", KeyCodeOrd::Esc, "Esc"),
    ("Tab", KeyCodeOrd::Tab, "Tab"),
    ("BackTab", KeyCodeOrd::BackTab, "S-Tab"),
    ("Backspace", KeyCodeOrd::Backspace, "⌫"),
    ("Up", KeyCodeOrd::Up, "↑"),
    ("Down", KeyCodeOrd::Down, "↓"),
    ("Left", KeyCodeOrd::Left, "←"),
    ("Right", KeyCodeOrd::Right, "→"),
    ("PageUp", KeyCodeOrd::PageUp, "PgUp"),
    ("PageDown", KeyCodeOrd::PageDown, "PgDn"),
    ("Home", KeyCodeOrd::Home, "Home"),
    ("End", KeyCodeOrd::End, "End"),
    ("Space", KeyCodeOrd::Char(' '), "␣"),
];

impl Key {
    /// Parse `q`, `G`, `?`, `Enter`, `Space`, `Ctrl-c`, `Alt-x`, `PageDown`, ...
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut rest = s;
        let (mut ctrl, mut alt) = (false, false);
        loop {
            if let Some(r) = strip_prefix_ci(rest, "ctrl-").or_else(|| strip_prefix_ci(rest, "c-"))
            {
                ctrl = true;
                rest = r;
            } else if let Some(r) =
                strip_prefix_ci(rest, "alt-").or_else(|| strip_prefix_ci(rest, "m-"))
            {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => KeyCodeOrd::Char(c),
            _ => NAMED
                .iter()
                .find(|(n, _, _)| n.eq_ignore_ascii_case(rest))
                .map(|(_, k, _)| *k)
                .ok_or_else(|| {
                    format!(
                        "{s:?} is not a key: use one character (`q`, `G`, `?`), a name ({}), optionally after `Ctrl-` or `Alt-`",
                        NAMED.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
                    )
                })?,
        };
        let code = match code {
            // Ctrl-letters arrive lower-case.
            KeyCodeOrd::Char(c) if ctrl => KeyCodeOrd::Char(c.to_ascii_lowercase()),
            c => c,
        };
        Ok(Key { code, ctrl, alt })
    }

    /// The key of a terminal event; `None` for keys no binding can name.
    pub fn from_event(k: &KeyEvent) -> Option<Key> {
        let code = match k.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            _ => return None,
        };
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let code = match code {
            KeyCodeOrd::Char(c) if ctrl => KeyCodeOrd::Char(c.to_ascii_lowercase()),
            c => c,
        };
        Some(Key {
            code,
            ctrl,
            alt: k.modifiers.contains(KeyModifiers::ALT),
        })
    }
}

impl Key {
    /// A digit without modifiers: the class tabs take those.
    pub fn is_digit(&self) -> bool {
        matches!(self.code, KeyCodeOrd::Char('0'..='9')) && !self.ctrl && !self.alt
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    // A lone "c" or "m" is a key, not a prefix.
    if head.eq_ignore_ascii_case(prefix) && s.len() > prefix.len() {
        s.get(prefix.len()..)
    } else {
        None
    }
}

impl fmt::Display for Key {
    /// As shown in the footer and help: `q`, `⏎`, `↑`, `C-c`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("C-")?;
        }
        if self.alt {
            f.write_str("M-")?;
        }
        if let Some((_, _, shown)) = NAMED.iter().find(|(_, k, _)| *k == self.code) {
            return f.write_str(shown);
        }
        match self.code {
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            _ => Ok(()),
        }
    }
}

/// Why keys.toml could not be used.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    keys: BTreeMap<Spanned<String>, Spanned<KeyList>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyList {
    One(String),
    Many(Vec<String>),
}

/// The bindings in force: which action a key does, and which keys an action has.
#[derive(Debug, Clone)]
pub struct KeyMap {
    by_key: BTreeMap<Key, Action>,
    by_action: BTreeMap<Action, Vec<Key>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let mut by_action = BTreeMap::new();
        for s in ACTIONS {
            // The defaults are parsed in a test; a bad one is skipped, never a panic.
            let keys: Vec<Key> = s.keys.iter().filter_map(|k| Key::parse(k).ok()).collect();
            by_action.insert(s.action, keys);
        }
        let mut m = KeyMap {
            by_key: BTreeMap::new(),
            by_action,
        };
        m.index();
        m
    }
}

impl KeyMap {
    fn index(&mut self) {
        self.by_key.clear();
        for (a, keys) in &self.by_action {
            for k in keys {
                self.by_key.insert(*k, *a);
            }
        }
    }

    /// The default location: `$XDG_CONFIG_HOME/meshroll/keys.toml` or
    /// `~/.config/meshroll/keys.toml`.
    pub fn default_path() -> Option<PathBuf> {
        crate::config_paths::keys_file()
    }

    /// The defaults patched by `path` when it exists.
    pub fn load(path: &Path) -> Result<KeyMap, ConfigFileError> {
        match config_file::read(path, crate::bounded_file::Kind::Keys, "key bindings")? {
            Some(text) => Self::parse(&text, &path.display().to_string()),
            None => Ok(KeyMap::default()),
        }
    }

    /// The defaults patched by keys.toml text.
    pub fn parse(text: &str, origin: &str) -> Result<KeyMap, ConfigFileError> {
        let src = config_file::Source { text, origin };
        let bad = |span: Range<usize>, message: String| src.bad(span, message);
        let file: KeysFile = src.parse()?;
        let mut map = KeyMap::default();
        let mut entries: Vec<_> = file.keys.into_iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (name, list) in &entries {
            let Some(spec) = ACTIONS.iter().find(|s| s.name == name.get_ref()) else {
                let hint = crate::suggest::did_you_mean(crate::suggest::closest(
                    name.get_ref(),
                    ACTIONS.iter().map(|s| s.name),
                ));
                return Err(bad(
                    name.span(),
                    format!(
                        "unknown action {:?}{hint}; the actions are: {}",
                        name.get_ref(),
                        ACTIONS
                            .iter()
                            .map(|s| s.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let raw = match list.get_ref() {
                KeyList::One(k) => vec![k.clone()],
                KeyList::Many(v) => v.clone(),
            };
            let mut keys = Vec::new();
            for k in &raw {
                let key = Key::parse(k).map_err(|m| bad(list.span(), m))?;
                if matches!(key.code, KeyCodeOrd::Char('0'..='9')) && !key.ctrl && !key.alt {
                    return Err(bad(
                        list.span(),
                        format!("{k:?} is taken: the digits 0-9 pick class tabs"),
                    ));
                }
                keys.push(key);
            }
            map.by_action.insert(spec.action, keys);
        }
        // One key, one action.
        let mut seen: BTreeMap<Key, Action> = BTreeMap::new();
        for (a, keys) in &map.by_action {
            for k in keys {
                if let Some(other) = seen.insert(*k, *a) {
                    let at = entries
                        .iter()
                        .find(|(n, _)| {
                            n.get_ref() == a.spec().name || n.get_ref() == other.spec().name
                        })
                        .map_or(0..0, |(n, _)| n.span());
                    return Err(bad(
                        at,
                        format!(
                            "key {k} is bound to both {:?} and {:?}: give one of them another key",
                            other.spec().name,
                            a.spec().name
                        ),
                    ));
                }
            }
        }
        map.index();
        Ok(map)
    }

    /// The action bound to `key`, if any.
    pub fn bound(&self, key: &Key) -> Option<Action> {
        self.by_key.get(key).copied()
    }

    /// The action of a key event, if any.
    pub fn action(&self, k: &KeyEvent) -> Option<Action> {
        self.by_key.get(&Key::from_event(k)?).copied()
    }

    /// The keys of an action as shown: `j ↓`.
    pub fn keys_of(&self, a: Action) -> String {
        self.by_action
            .get(&a)
            .map(|v| {
                v.iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }

    /// `(keys, what)` for each row of `?` help: the keys of the row's actions, `/`
    /// between actions (`k ↑ / j ↓`).
    pub fn help(&self) -> Vec<(String, &'static str)> {
        HELP_ROWS
            .iter()
            .map(|(actions, what)| {
                let keys: Vec<String> = actions.iter().map(|a| self.keys_of(*a)).collect();
                (keys.join(" / "), *what)
            })
            .collect()
    }

    /// `(keys, label)` for a footer listing `items`: the first key of each action of an
    /// item, joined by `/` (`j/k move`); an item whose actions have no keys is left out.
    pub fn footer(&self, items: &[(&[Action], &'static str)]) -> Vec<(String, &'static str)> {
        items
            .iter()
            .filter_map(|(actions, label)| {
                let keys: Vec<String> = actions
                    .iter()
                    .filter_map(|a| self.by_action.get(a)?.first().map(|k| k.to_string()))
                    .collect();
                (!keys.is_empty()).then(|| (keys.join("/"), *label))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crossterm::event::{KeyEventKind, KeyEventState};

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    #[test]
    fn every_action_has_one_row_and_parsable_default_keys() {
        let mut names = std::collections::BTreeSet::new();
        for s in ACTIONS {
            assert!(names.insert(s.name), "duplicate name {}", s.name);
            assert_eq!(s.action.spec().name, s.name);
            for k in s.keys {
                Key::parse(k).unwrap();
            }
        }
        // Every action is in exactly one help row.
        for s in ACTIONS {
            let rows = HELP_ROWS
                .iter()
                .filter(|(a, _)| a.contains(&s.action))
                .count();
            assert_eq!(rows, 1, "{} in {rows} help rows", s.name);
        }
        // The defaults do not clash.
        KeyMap::parse("", "defaults").unwrap();
    }

    /// Keys are resolved once for every view (`KeyMap::action`), so two actions with one
    /// default key would shadow each other in every view (as `F`, follow the log, and
    /// `F`, stage the skewed nodes, once did).
    #[test]
    fn no_two_actions_share_a_default_key() {
        let mut seen: BTreeMap<Key, &str> = BTreeMap::new();
        for s in ACTIONS {
            for k in s.keys {
                let key = Key::parse(k).unwrap();
                if let Some(other) = seen.insert(key, s.name) {
                    panic!("key {k} is bound to both {other} and {}", s.name);
                }
            }
        }
        // And every action's keys reach it.
        let m = KeyMap::default();
        for s in ACTIONS {
            for k in s.keys {
                assert_eq!(m.bound(&Key::parse(k).unwrap()), Some(s.action), "{k}");
            }
        }
    }

    #[test]
    fn default_bindings() {
        let m = KeyMap::default();
        let none = KeyModifiers::NONE;
        assert_eq!(m.action(&ev(KeyCode::Char('j'), none)), Some(Action::Down));
        assert_eq!(m.action(&ev(KeyCode::Down, none)), Some(Action::Down));
        assert_eq!(
            m.action(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Last)
        );
        assert_eq!(
            m.action(&ev(KeyCode::Char(' '), none)),
            Some(Action::PauseResume)
        );
        assert_eq!(
            m.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(m.action(&ev(KeyCode::Char('c'), none)), Some(Action::Run));
        assert_eq!(m.action(&ev(KeyCode::F(5), none)), None);
        assert_eq!(m.keys_of(Action::Down), "j ↓");
    }

    #[test]
    fn a_file_rebinds_only_what_it_names() {
        let m = KeyMap::parse(
            "[keys]\nquit = [\"Q\", \"Ctrl-q\"]\nskip = \"X\"\n",
            "k.toml",
        )
        .unwrap();
        let none = KeyModifiers::NONE;
        assert_eq!(
            m.action(&ev(KeyCode::Char('Q'), KeyModifiers::SHIFT)),
            Some(Action::Quit)
        );
        assert_eq!(
            m.action(&ev(KeyCode::Char('q'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            m.action(&ev(KeyCode::Char('q'), none)),
            None,
            "old key freed"
        );
        assert_eq!(m.action(&ev(KeyCode::Char('X'), none)), Some(Action::Skip));
        assert_eq!(m.action(&ev(KeyCode::Char('j'), none)), Some(Action::Down));
        // Help and footer follow the file.
        assert!(m.help().contains(&("Q C-q".to_string(), "quit")));
        assert!(
            m.help()
                .contains(&("k ↑ / j ↓".to_string(), "move up / down"))
        );
        let items: [(&[Action], &str); 3] = [
            (&[Action::Quit], "quit"),
            (&[Action::Skip], "skip"),
            (&[Action::Down, Action::Up], "move"),
        ];
        assert_eq!(
            m.footer(&items),
            vec![
                ("Q".to_string(), "quit"),
                ("X".to_string(), "skip"),
                ("j/k".to_string(), "move")
            ]
        );
    }

    #[test]
    fn mistakes_name_the_line() {
        let e = KeyMap::parse("[keys]\n\nquitt = \"z\"\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("k.toml:3:") && e.contains("did you mean \"quit\""),
            "{e}"
        );
        let e = KeyMap::parse("[keys]\nquit = \"Ctrl-\"\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("k.toml:2:") && e.contains("is not a key"),
            "{e}"
        );
        let e = KeyMap::parse("[keys]\nquit = \"F13\"\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a key"), "{e}");
        let e = KeyMap::parse("[keys]\nquit = \"j\"\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bound to both") && e.contains("down"), "{e}");
        let e = KeyMap::parse("[keys]\nskip = \"3\"\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("class tabs"), "{e}");
        let e = KeyMap::parse("[bindings]\n", "k.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key"), "{e}");
    }

    #[test]
    fn missing_file_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let m = KeyMap::load(&dir.path().join("keys.toml")).unwrap();
        assert_eq!(m.keys_of(Action::Quit), "q C-c");
    }
}
