//! Colour themes: semantic roles (ok, warn, error, ...) over a small named
//! palette, read from TOML files in the style of k9s skins.
//!
//! ```toml
//! name = "colorblind"
//! base = "default"          # optional: a built-in theme; roles not given here come from it
//! [palette]
//! green = "#009E73"
//! [roles]
//! ok = { fg = "green", bold = true }
//! ```
//!
//! A theme is found by name in `$XDG_CONFIG_HOME/meshroll/themes/` (or
//! `~/.config/meshroll/themes/`), then among the built-ins compiled into the binary, so
//! `meshroll demo` works from any folder; never in the working folder (a file there is
//! used only when given as a path, `--theme ./themes/mine.toml`). A theme may extend a
//! built-in theme only, so what a file means never depends on another file. See
//! `themes/README.md` for the file format.
//!
//! The roles are listed once, in [`roles!`]: the [`Role`] enum, the [`Theme`]
//! fields, the role names of the file format and the role order all come from it.

use crate::suggest::{closest, did_you_mean};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

/// The one list of roles: `field / Variant: "doc"`. Generates [`Role`], the
/// [`Theme`] struct with one `Style` field per role, and their lookups.
macro_rules! roles {
    ($($field:ident / $variant:ident : $doc:literal),+ $(,)?) => {
        /// A semantic role the UI draws with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Role {
            $(#[doc = $doc] $variant,)+
        }

        impl Role {
            /// Every role, in file-format order.
            pub const ALL: &'static [Role] = &[$(Role::$variant),+];

            /// The role's name in theme files.
            pub fn name(self) -> &'static str {
                match self {
                    $(Role::$variant => stringify!($field),)+
                }
            }

            /// The role named `name` in a theme file.
            pub fn from_name(name: &str) -> Option<Role> {
                match name {
                    $(stringify!($field) => Some(Role::$variant),)+
                    _ => None,
                }
            }
        }

        /// The styles the UI draws with, one per [`Role`].
        #[derive(Debug, Clone, PartialEq)]
        pub struct Theme {
            pub name: String,
            $(#[doc = $doc] pub $field: Style,)+
        }

        impl Theme {
            /// The style of `role`.
            pub fn style(&self, role: Role) -> Style {
                match role {
                    $(Role::$variant => self.$field,)+
                }
            }

            fn style_mut(&mut self, role: Role) -> &mut Style {
                match role {
                    $(Role::$variant => &mut self.$field,)+
                }
            }

            /// A theme with every role unstyled.
            fn blank(name: String) -> Theme {
                Theme { name, $($field: Style::new(),)+ }
            }
        }
    };
}

roles! {
    ok / Ok: "Healthy verdicts, in_sync.",
    warn / Warn: "Draining, skew, stale cache.",
    error / Error: "Dead, mismatch, errors.",
    pending / Pending: "Not yet known / in progress.",
    stale / Stale: "A signal that is old (shown dim/italic).",
    highlight / Highlight: "The selected row.",
    header / Header: "Table header.",
    title / Title: "Block titles.",
    border / Border: "Block borders.",
    dim / Dim: "Secondary text.",
    key / Key: "Key names in help and footer.",
}

/// Where in a theme file something went wrong: `origin[:line[:column]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file path, or a label for text that did not come from a file.
    pub origin: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// Why a theme could not be loaded. Every message names the file (and the
/// line, for problems inside it) and says what was expected instead.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// The theme name is not a file in any theme folder nor a built-in.
    #[error("unknown theme {name:?}: not found as {} and not a built-in theme (built-ins: {})",
        or_list(.searched), Theme::builtin_names().join(", "))]
    NotFound {
        name: String,
        /// The files that were looked for, in order.
        searched: Vec<String>,
    },
    /// `base = ...` names something that is not a built-in theme.
    #[error("{at}: base {base:?} is not a built-in theme{}: a theme may extend a built-in theme only ({})",
        did_you_mean(closest(.base, BUILTIN_NAMES.iter().copied())), BUILTIN_NAMES.join(", "))]
    BadBase { at: Location, base: String },
    /// A theme file given by path (or found by name) could not be read.
    #[error("cannot read theme file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or does not have the theme's shape
    /// (unknown key, wrong type, unknown modifier, ...).
    #[error("{at}: {message}")]
    Syntax { at: Location, message: String },
    /// A key under `[roles]` that is not a role.
    #[error("{at}: unknown role {role:?}{}; the roles are: {}",
        did_you_mean(closest(.role, Role::ALL.iter().map(|r| r.name()))), role_list())]
    UnknownRole { at: Location, role: String },
    /// A colour that is neither a palette name nor a colour spec.
    #[error("{at}: unknown colour {colour:?}{}; use a palette name ({}), a named colour ({}), \"#rrggbb\" or an ANSI index 0-255",
        did_you_mean(closest_colour(.colour, .palette)), palette_list(.palette), NAMED_COLOURS.join(", "))]
    UnknownColour {
        at: Location,
        colour: String,
        /// The palette names visible where the colour was used.
        palette: Vec<String>,
    },
    /// A colour starting with `#` that is not `#rrggbb`.
    #[error("{at}: bad hex colour {value:?}: expected \"#rrggbb\" (a '#' and six hex digits)")]
    BadHex { at: Location, value: String },
    /// A numeric colour outside 0-255.
    #[error("{at}: bad ANSI colour index {value:?}: expected a number from 0 to 255")]
    BadIndex { at: Location, value: String },
    /// A palette name that would be mistaken for a colour spec.
    #[error(
        "{at}: bad palette name {name:?}: expected a word (not empty, not starting with '#', not a number)"
    )]
    BadPaletteName { at: Location, name: String },
    /// A theme without `base` must define every role.
    #[error("{origin}: missing role(s) {}: a theme without `base` must define every role, or set base = \"default\" to take the others from it",
        missing.join(", "))]
    MissingRoles {
        origin: String,
        missing: Vec<&'static str>,
    },
}

impl ThemeError {
    /// The line (1-based) inside a theme file the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            ThemeError::Syntax { at, .. }
            | ThemeError::BadBase { at, .. }
            | ThemeError::UnknownRole { at, .. }
            | ThemeError::UnknownColour { at, .. }
            | ThemeError::BadHex { at, .. }
            | ThemeError::BadIndex { at, .. }
            | ThemeError::BadPaletteName { at, .. } => at.line,
            ThemeError::NotFound { .. }
            | ThemeError::Io { .. }
            | ThemeError::MissingRoles { .. } => None,
        }
    }
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => "a file".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn palette_list(names: &[String]) -> String {
    if names.is_empty() {
        "this theme has none".to_string()
    } else {
        names.join(", ")
    }
}

fn role_list() -> String {
    Role::ALL
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The colour names ratatui understands (it also accepts spellings such as
/// "light-red", "bright red" or "grey"); listed for error messages and typo
/// suggestions only: parsing is ratatui's.
const NAMED_COLOURS: [&str; 17] = [
    "reset",
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "gray",
    "darkgray",
    "lightred",
    "lightgreen",
    "lightyellow",
    "lightblue",
    "lightmagenta",
    "lightcyan",
    "white",
];

/// The built-in themes, compiled in so they work from any folder.
const BUILTINS: [(&str, &str); 4] = [
    ("default", include_str!("../../themes/default.toml")),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
    (
        "solarized-dark",
        include_str!("../../themes/solarized-dark.toml"),
    ),
];
const BUILTIN_NAMES: [&str; 4] = [BUILTINS[0].0, BUILTINS[1].0, BUILTINS[2].0, BUILTINS[3].0];

impl Theme {
    /// Names of the themes compiled into the binary.
    pub fn builtin_names() -> &'static [&'static str] {
        &BUILTIN_NAMES
    }

    /// Load a theme by name or path.
    ///
    /// A path (contains a path separator or ends with `.toml`) is read from
    /// disk. A name is looked up as
    /// `$XDG_CONFIG_HOME/meshroll/themes/<name>.toml` (or
    /// `~/.config/meshroll/themes/<name>.toml`), then among the built-ins.
    pub fn load(name_or_path: &str) -> Result<Theme, ThemeError> {
        Lookup::from_env().load(name_or_path)
    }

    /// Parse theme text. `origin` names it in error messages (and in the
    /// theme name, when the text has no `name`).
    pub fn parse(text: &str, origin: &str) -> Result<Theme, ThemeError> {
        parse_theme(text, origin, 0)
    }

    /// For NO_COLOR: drop every foreground and background colour but keep
    /// the modifiers (bold, dim, italic, underlined, reversed, ...), and make
    /// sure the selected row stays visible by reversing it.
    pub fn no_color(mut self) -> Theme {
        for role in Role::ALL {
            let style = self.style_mut(*role);
            *style = Style::new()
                .add_modifier(style.add_modifier)
                .remove_modifier(style.sub_modifier);
        }
        self.highlight = self.highlight.add_modifier(Modifier::REVERSED);
        self
    }

    /// [`Theme::load`], then [`Theme::no_color`] if the environment variable
    /// `NO_COLOR` is set and not empty (<https://no-color.org>). Read once, at
    /// start: nothing reads the environment per frame.
    pub fn from_env(name_or_path: &str) -> Result<Theme, ThemeError> {
        let theme = Self::load(name_or_path)?;
        if no_color_requested(std::env::var_os("NO_COLOR").as_deref()) {
            Ok(theme.no_color())
        } else {
            Ok(theme)
        }
    }
}

fn no_color_requested(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------
// File format

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    base: Option<Spanned<String>>,
    #[serde(default)]
    palette: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    roles: BTreeMap<Spanned<String>, RoleSpec>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a role table such as { fg = \"green\", bold = true }"
)]
struct RoleSpec {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default, alias = "underline")]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
    #[serde(default)]
    crossed_out: bool,
    #[serde(default)]
    modifiers: Vec<ModifierName>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ModifierName {
    Bold,
    Dim,
    Italic,
    #[serde(alias = "underline")]
    Underlined,
    Reversed,
    CrossedOut,
}

impl From<ModifierName> for Modifier {
    fn from(m: ModifierName) -> Modifier {
        match m {
            ModifierName::Bold => Modifier::BOLD,
            ModifierName::Dim => Modifier::DIM,
            ModifierName::Italic => Modifier::ITALIC,
            ModifierName::Underlined => Modifier::UNDERLINED,
            ModifierName::Reversed => Modifier::REVERSED,
            ModifierName::CrossedOut => Modifier::CROSSED_OUT,
        }
    }
}

impl RoleSpec {
    fn modifiers(&self) -> Modifier {
        let flags = [
            (self.bold, Modifier::BOLD),
            (self.dim, Modifier::DIM),
            (self.italic, Modifier::ITALIC),
            (self.underlined, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
            (self.crossed_out, Modifier::CROSSED_OUT),
        ];
        let mut out = Modifier::empty();
        for (on, m) in flags {
            if on {
                out |= m;
            }
        }
        for m in &self.modifiers {
            out |= Modifier::from(*m);
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Resolution

/// A colour used by a role: a palette name (resolved at the end, so a theme
/// that overrides a palette entry recolours the base's roles using it) or a
/// fixed colour.
#[derive(Debug, Clone)]
enum Paint {
    Palette(String),
    Direct(Color),
}

#[derive(Debug, Clone)]
struct RoleDef {
    fg: Option<Paint>,
    bg: Option<Paint>,
    modifiers: Modifier,
}

/// A theme file merged over its base, before palette names become colours.
#[derive(Debug, Clone, Default)]
struct Layer {
    palette: BTreeMap<String, Color>,
    roles: BTreeMap<&'static str, RoleDef>,
}

impl Layer {
    fn missing_roles(&self) -> Vec<&'static str> {
        Role::ALL
            .iter()
            .map(|r| r.name())
            .filter(|n| !self.roles.contains_key(n))
            .collect()
    }

    fn into_theme(self, name: String, origin: &str) -> Result<Theme, ThemeError> {
        let missing = self.missing_roles();
        if !missing.is_empty() {
            return Err(ThemeError::MissingRoles {
                origin: origin.to_string(),
                missing,
            });
        }
        let mut theme = Theme::blank(name);
        for role in Role::ALL {
            let Some(def) = self.roles.get(role.name()) else {
                continue;
            };
            let mut s = Style::new().add_modifier(def.modifiers);
            s.fg = self.paint(def.fg.as_ref(), origin)?;
            s.bg = self.paint(def.bg.as_ref(), origin)?;
            *theme.style_mut(*role) = s;
        }
        Ok(theme)
    }

    fn paint(&self, paint: Option<&Paint>, origin: &str) -> Result<Option<Color>, ThemeError> {
        match paint {
            None => Ok(None),
            Some(Paint::Direct(c)) => Ok(Some(*c)),
            // Palettes only grow over the base, so a name that was visible
            // when the role was parsed is still there.
            Some(Paint::Palette(name)) => match self.palette.get(name) {
                Some(c) => Ok(Some(*c)),
                None => Err(ThemeError::UnknownColour {
                    at: Location {
                        origin: origin.to_string(),
                        line: None,
                        column: None,
                    },
                    colour: name.clone(),
                    palette: self.palette.keys().cloned().collect(),
                }),
            },
        }
    }
}

/// Where names are looked up: theme folders in order, then the built-ins.
struct Lookup {
    dirs: Vec<PathBuf>,
}

impl Lookup {
    /// The user's theme folder only: the working folder is never searched by name, so
    /// a `./themes/default.toml` cannot replace a built-in (give it as a path instead).
    fn from_env() -> Lookup {
        Lookup {
            dirs: crate::config_paths::themes_dir().into_iter().collect(),
        }
    }

    fn load(&self, name_or_path: &str) -> Result<Theme, ThemeError> {
        if is_path(name_or_path) {
            return load_file(Path::new(name_or_path));
        }
        let mut searched = Vec::new();
        if !name_or_path.is_empty() {
            for dir in &self.dirs {
                let path = dir.join(format!("{name_or_path}.toml"));
                searched.push(path.display().to_string());
                if path.exists() {
                    return load_file(&path);
                }
            }
            if let Some((name, text)) = BUILTINS.iter().find(|(n, _)| *n == name_or_path) {
                return parse_theme(text, &builtin_origin(name), 0);
            }
        }
        Err(ThemeError::NotFound {
            name: name_or_path.to_string(),
            searched,
        })
    }
}

fn builtin_origin(name: &str) -> String {
    format!("built-in theme {name}.toml")
}

fn load_file(path: &Path) -> Result<Theme, ThemeError> {
    let text = crate::bounded_file::read_to_string(path, crate::bounded_file::Kind::Theme)
        .map_err(|source| ThemeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    parse_theme(&text, &path.display().to_string(), 0)
}

fn parse_theme(text: &str, origin: &str, depth: usize) -> Result<Theme, ThemeError> {
    let (layer, name) = parse_layer(text, origin, depth)?;
    layer.into_theme(name, origin)
}

/// Parse one theme text and merge it over its base, which must be a built-in
/// theme (`depth` guards the built-ins' own bases against a cycle).
fn parse_layer(text: &str, origin: &str, depth: usize) -> Result<(Layer, String), ThemeError> {
    let file: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Syntax {
        at: match e.span() {
            Some(span) => locate(text, origin, span),
            None => Location {
                origin: origin.to_string(),
                line: None,
                column: None,
            },
        },
        // serde's words are about Rust structs; say them in TOML terms.
        message: e
            .message()
            .trim_end()
            .replacen("unknown field", "unknown key", 1)
            .replacen("unknown variant", "unknown modifier", 1),
    })?;
    let at = |span: Range<usize>| locate(text, origin, span);

    let mut layer = match &file.base {
        Some(base) => {
            let builtin = BUILTINS.iter().find(|(n, _)| n == base.get_ref());
            match builtin {
                Some((name, base_text)) if depth < BUILTINS.len() => {
                    parse_layer(base_text, &builtin_origin(name), depth + 1)?.0
                }
                _ => {
                    return Err(ThemeError::BadBase {
                        at: at(base.span()),
                        base: base.get_ref().clone(),
                    });
                }
            }
        }
        None => Layer::default(),
    };

    // Errors in file order, not in key order.
    let mut palette: Vec<_> = file.palette.into_iter().collect();
    palette.sort_by_key(|(k, _)| k.span().start);
    for (key, value) in palette {
        let name = key.get_ref();
        if name.is_empty() || name.starts_with('#') || name.chars().all(|c| c.is_ascii_digit()) {
            return Err(ThemeError::BadPaletteName {
                at: at(key.span()),
                name: name.clone(),
            });
        }
        let colour = parse_colour(value.get_ref())
            .map_err(|p| p.into_error(at(value.span()), value.get_ref(), &[]))?;
        layer.palette.insert(name.clone(), colour);
    }

    let mut roles: Vec<_> = file.roles.into_iter().collect();
    roles.sort_by_key(|(k, _)| k.span().start);
    for (key, spec) in roles {
        let Some(role) = Role::from_name(key.get_ref()) else {
            return Err(ThemeError::UnknownRole {
                at: at(key.span()),
                role: key.get_ref().clone(),
            });
        };
        let paint = |value: &Option<Spanned<String>>| -> Result<Option<Paint>, ThemeError> {
            let Some(value) = value else { return Ok(None) };
            let v = value.get_ref();
            if layer.palette.contains_key(v) {
                return Ok(Some(Paint::Palette(v.clone())));
            }
            let names: Vec<String> = layer.palette.keys().cloned().collect();
            parse_colour(v)
                .map(|c| Some(Paint::Direct(c)))
                .map_err(|p| p.into_error(at(value.span()), v, &names))
        };
        let def = RoleDef {
            fg: paint(&spec.fg)?,
            bg: paint(&spec.bg)?,
            modifiers: spec.modifiers(),
        };
        layer.roles.insert(role.name(), def);
    }

    if file.base.is_none() {
        let missing = layer.missing_roles();
        if !missing.is_empty() {
            return Err(ThemeError::MissingRoles {
                origin: origin.to_string(),
                missing,
            });
        }
    }

    let name = file.name.unwrap_or_else(|| default_name(origin));
    Ok((layer, name))
}

/// A path rather than a name: has a path separator or ends with `.toml`.
fn is_path(s: &str) -> bool {
    s.contains(std::path::is_separator) || s.ends_with(".toml")
}

/// The theme name when the file does not give one: the file stem.
fn default_name(origin: &str) -> String {
    let stem = Path::new(origin)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned());
    match stem {
        Some(s) if !s.is_empty() => s,
        _ => origin.to_string(),
    }
}

/// Line and column (1-based) of a byte offset.
fn locate(text: &str, origin: &str, span: Range<usize>) -> Location {
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    Location {
        origin: origin.to_string(),
        line: Some(line),
        column: Some(column),
    }
}

enum ColourProblem {
    Unknown,
    BadHex,
    BadIndex,
}

impl ColourProblem {
    fn into_error(self, at: Location, value: &str, palette: &[String]) -> ThemeError {
        match self {
            ColourProblem::BadHex => ThemeError::BadHex {
                at,
                value: value.to_string(),
            },
            ColourProblem::BadIndex => ThemeError::BadIndex {
                at,
                value: value.to_string(),
            },
            ColourProblem::Unknown => ThemeError::UnknownColour {
                at,
                colour: value.to_string(),
                palette: palette.to_vec(),
            },
        }
    }
}

/// A direct colour spec, parsed by ratatui ("#rrggbb", an ANSI index
/// "0".."255", a colour name such as "green" or "light-red"), with the two
/// mistakes people make (a short hex, an index over 255) told apart.
fn parse_colour(s: &str) -> Result<Color, ColourProblem> {
    if s.trim().is_empty() {
        return Err(ColourProblem::Unknown);
    }
    if let Some(hex) = s.strip_prefix('#') {
        // ratatui also takes "#rgb"-less forms loosely; the format promises exactly six.
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ColourProblem::BadHex);
        }
    } else if s.chars().all(|c| c.is_ascii_digit()) && s.parse::<u8>().is_err() {
        return Err(ColourProblem::BadIndex);
    }
    Color::from_str(s).map_err(|_| ColourProblem::Unknown)
}

fn closest_colour(colour: &str, palette: &[String]) -> Option<String> {
    let candidates = palette
        .iter()
        .map(String::as_str)
        .chain(NAMED_COLOURS.iter().copied());
    closest(colour, candidates)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Look up built-ins only, so a developer's own theme folders do not
    /// change the results.
    fn builtins_only() -> Lookup {
        Lookup { dirs: Vec::new() }
    }

    fn builtin(name: &str) -> Theme {
        match builtins_only().load(name) {
            Ok(t) => t,
            Err(e) => panic!("built-in {name}: {e}"),
        }
    }

    fn parse(text: &str) -> Result<Theme, ThemeError> {
        Theme::parse(text, "test.toml")
    }

    fn parse_err(text: &str) -> ThemeError {
        match parse(text) {
            Ok(t) => panic!("expected an error, got {t:?}"),
            Err(e) => e,
        }
    }

    fn all_styles(t: &Theme) -> Vec<Style> {
        Role::ALL.iter().map(|r| t.style(*r)).collect()
    }

    #[test]
    fn roles_come_from_one_list() {
        assert_eq!(Role::ALL.len(), 11);
        for role in Role::ALL {
            assert_eq!(Role::from_name(role.name()), Some(*role));
        }
        let t = builtin("default");
        assert_eq!(t.style(Role::Error), t.error);
        assert_eq!(t.style(Role::Key), t.key);
        assert_eq!(Role::from_name("nope"), None);
    }

    #[test]
    fn builtin_list_matches_embedded_and_shipped_files() {
        let embedded: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
        assert_eq!(embedded, Theme::builtin_names());
        for required in ["default", "colorblind", "mono"] {
            assert!(Theme::builtin_names().contains(&required));
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
        let mut shipped: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        shipped.sort();
        let mut names: Vec<String> = embedded.iter().map(|s| s.to_string()).collect();
        names.sort();
        assert_eq!(shipped, names, "every themes/*.toml must be a built-in");
    }

    #[test]
    fn every_builtin_parses_and_tells_verdicts_apart() {
        for name in Theme::builtin_names() {
            let t = builtin(name);
            assert_eq!(t.name, *name);
            assert_ne!(t.ok, t.warn, "{name}: ok vs warn");
            assert_ne!(t.ok, t.error, "{name}: ok vs error");
            assert_ne!(t.warn, t.error, "{name}: warn vs error");
            if *name == "mono" {
                for s in all_styles(&t) {
                    assert_eq!((s.fg, s.bg), (None, None), "mono has a colour: {s:?}");
                }
                assert_ne!(t.ok.add_modifier, t.warn.add_modifier);
                assert_ne!(t.ok.add_modifier, t.error.add_modifier);
                assert_ne!(t.warn.add_modifier, t.error.add_modifier);
            } else {
                assert!(t.ok.fg.is_some() && t.warn.fg.is_some() && t.error.fg.is_some());
                assert_ne!(t.ok.fg, t.warn.fg, "{name}");
                assert_ne!(t.ok.fg, t.error.fg, "{name}");
                assert_ne!(t.warn.fg, t.error.fg, "{name}");
            }
            // The selected row is visible without relying on colour alone.
            assert_ne!(t.highlight, Style::new(), "{name}: highlight");
        }
    }

    #[test]
    fn default_is_terminal_colours() {
        let t = builtin("default");
        assert_eq!(t.ok.fg, Some(Color::Green));
        assert_eq!(t.warn.fg, Some(Color::Yellow));
        assert_eq!(t.error, Style::new().fg(Color::Red).bold());
        assert_eq!(t.pending.fg, Some(Color::Cyan));
        assert_eq!(t.stale, Style::new().dim().italic());
        for s in all_styles(&t) {
            assert_ne!(
                s.bg,
                Some(Color::Black),
                "default keeps the terminal background"
            );
        }
    }

    #[test]
    fn colorblind_uses_okabe_ito_over_default() {
        let t = builtin("colorblind");
        let d = builtin("default");
        assert_eq!(t.ok.fg, Some(Color::Rgb(0x00, 0x9E, 0x73)));
        assert_eq!(t.warn.fg, Some(Color::Rgb(0xE6, 0x9F, 0x00)));
        assert_eq!(
            t.error,
            Style::new().fg(Color::Rgb(0xD5, 0x5E, 0x00)).bold()
        );
        assert_eq!(t.pending.fg, Some(Color::Rgb(0x56, 0xB4, 0xE9)));
        // Not given in colorblind.toml: inherited.
        assert_eq!(t.stale, d.stale);
        assert_eq!(t.highlight, d.highlight);
        assert_eq!(t.header, d.header);
    }

    #[test]
    fn partial_theme_patches_its_base() {
        let d = builtin("default");
        let t = parse(
            r##"
name = "mine"
base = "default"
[palette]
slate = "blue"          # recolours the base roles that use "slate"
pink = "#ff69b4"
[roles]
ok = { fg = "pink", modifiers = ["bold", "underlined"] }
warn = { fg = "green" }  # a base palette name
"##,
        )
        .unwrap();
        assert_eq!(t.name, "mine");
        assert_eq!(
            t.ok,
            Style::new()
                .fg(Color::Rgb(0xff, 0x69, 0xb4))
                .bold()
                .underlined()
        );
        assert_eq!(t.warn, Style::new().fg(Color::Green));
        assert_eq!(t.border.fg, Some(Color::Blue));
        assert_eq!(t.highlight, Style::new().bg(Color::Blue).bold());
        assert_eq!(t.error, d.error);
        assert_eq!(t.pending, d.pending);
        assert_eq!(t.title, d.title);
        assert_eq!(t.key, d.key);
    }

    #[test]
    fn name_defaults_to_file_stem() {
        let t = Theme::parse("base = \"mono\"\n", "some/dir/quiet.toml").unwrap();
        assert_eq!(t.name, "quiet");
        assert_eq!(
            Theme {
                name: "mono".into(),
                ..t
            },
            builtin("mono")
        );
    }

    #[test]
    fn colour_specs() {
        let t = parse(
            r##"
base = "mono"
[roles]
ok = { fg = "42", bg = "#0A0b0C" }
warn = { fg = "lightred", bg = "reset" }
error = { fg = "Dark Gray", crossed_out = true, underline = true }
"##,
        )
        .unwrap();
        assert_eq!(t.ok.fg, Some(Color::Indexed(42)));
        assert_eq!(t.ok.bg, Some(Color::Rgb(10, 11, 12)));
        assert_eq!(t.warn.fg, Some(Color::LightRed));
        assert_eq!(t.warn.bg, Some(Color::Reset));
        assert_eq!(
            t.error,
            Style::new().fg(Color::DarkGray).crossed_out().underlined()
        );
    }

    #[test]
    fn no_color_strips_colours_keeps_modifiers_and_highlight() {
        for name in Theme::builtin_names() {
            let t = builtin(name);
            let n = t.clone().no_color();
            assert_eq!(n.name, t.name);
            for (before, after) in all_styles(&t).into_iter().zip(all_styles(&n)) {
                assert_eq!(after.fg, None, "{name}");
                assert_eq!(after.bg, None, "{name}");
                assert_eq!(after.underline_color, None, "{name}");
                assert!(after.add_modifier.contains(before.add_modifier), "{name}");
            }
            assert!(
                n.highlight.add_modifier.contains(Modifier::REVERSED),
                "{name}"
            );
            assert_eq!(n.error.add_modifier, t.error.add_modifier, "{name}");
            assert_eq!(n.stale.add_modifier, t.stale.add_modifier, "{name}");
        }
        // Modifiers that only some roles have survive.
        let n = builtin("default").no_color();
        assert!(n.error.add_modifier.contains(Modifier::BOLD));
        assert!(n.stale.add_modifier.contains(Modifier::ITALIC));
        // Idempotent.
        assert_eq!(n.clone().no_color(), n);
    }

    #[test]
    fn no_color_env_convention() {
        assert!(!no_color_requested(None));
        assert!(!no_color_requested(Some(OsStr::new(""))));
        assert!(no_color_requested(Some(OsStr::new("1"))));
        assert!(no_color_requested(Some(OsStr::new("0"))));
    }

    #[test]
    fn unknown_role_names_line_and_roles() {
        let e = parse_err("base = \"default\"\n[roles]\nok = {}\nokk = { fg = \"red\" }\n");
        assert!(
            matches!(&e, ThemeError::UnknownRole { role, .. } if role == "okk"),
            "{e:?}"
        );
        assert_eq!(e.line(), Some(4));
        let msg = e.to_string();
        assert!(
            msg.starts_with("test.toml:4:1: unknown role \"okk\""),
            "{msg}"
        );
        assert!(msg.contains("did you mean \"ok\""), "{msg}");
        assert!(msg.contains("ok, warn, error, pending"), "{msg}");
    }

    #[test]
    fn unknown_colour_names_line_and_palette() {
        let e = parse_err(
            "base = \"default\"\n[palette]\nteal = \"#008080\"\n[roles]\n\nok = { fg = \"gren\" }\n",
        );
        assert!(matches!(&e, ThemeError::UnknownColour { colour, .. } if colour == "gren"));
        assert_eq!(e.line(), Some(6));
        let msg = e.to_string();
        assert!(
            msg.starts_with("test.toml:6:13: unknown colour \"gren\""),
            "{msg}"
        );
        assert!(msg.contains("did you mean \"green\""), "{msg}");
        assert!(msg.contains("teal"), "palette names listed: {msg}");
        assert!(msg.contains("slate"), "base palette names listed: {msg}");
        assert!(msg.contains("lightred"), "named colours listed: {msg}");

        // In the palette itself.
        let e = parse_err("base = \"default\"\n[palette]\nteal = \"tael\"\n");
        assert!(matches!(e, ThemeError::UnknownColour { .. }));
        assert_eq!(e.line(), Some(3));
    }

    #[test]
    fn bad_hex_and_index() {
        for bad in ["#12345", "#1234567", "#12345g", "#", "#abc"] {
            let text = format!("base = \"default\"\n[roles]\nwarn = {{ bg = \"{bad}\" }}\n");
            let e = parse_err(&text);
            assert!(
                matches!(&e, ThemeError::BadHex { value, .. } if value == bad),
                "{e:?}"
            );
            assert_eq!(e.line(), Some(3));
            assert!(e.to_string().contains("#rrggbb"), "{e}");
        }
        let e = parse_err("[palette]\nx = \"256\"\n");
        assert!(matches!(e, ThemeError::BadIndex { .. }), "{e:?}");
        assert_eq!(e.line(), Some(2));
        assert!(e.to_string().contains("0 to 255"), "{e}");
    }

    #[test]
    fn unknown_keys_and_shapes_are_errors_with_lines() {
        let e = parse_err("name = \"x\"\nbase = \"default\"\ncolours = 3\n");
        assert!(matches!(e, ThemeError::Syntax { .. }), "{e:?}");
        assert_eq!(e.line(), Some(3));
        let msg = e.to_string();
        assert!(
            msg.contains("unknown key `colours`") && msg.contains("palette"),
            "{msg}"
        );

        let e = parse_err("base = \"default\"\n[roles]\nok = { fgg = \"red\" }\n");
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().contains("fgg"), "{e}");

        let e = parse_err("base = \"default\"\n[roles]\nok = { modifiers = [\"blink\"] }\n");
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().contains("unknown modifier `blink`"), "{e}");
        assert!(e.to_string().contains("crossed_out"), "{e}");

        let e = parse_err("base = \"default\"\n[roles]\nok = \"green\"\n");
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().contains("role table"), "{e}");

        let e = parse_err("base = \"default\"\n[roles\nok = {}\n");
        assert!(matches!(e, ThemeError::Syntax { .. }), "{e:?}");
        assert_eq!(e.line(), Some(2));

        let e = parse_err("[palette]\n\"#fff\" = \"white\"\n");
        assert!(matches!(e, ThemeError::BadPaletteName { .. }), "{e:?}");
        assert_eq!(e.line(), Some(2));
    }

    #[test]
    fn theme_without_base_needs_every_role() {
        let e = parse_err("[roles]\nok = {}\nwarn = {}\n");
        let ThemeError::MissingRoles { missing, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(missing.len(), Role::ALL.len() - 2);
        assert!(e.to_string().contains("base = \"default\""), "{e}");
    }

    #[test]
    fn unknown_base_points_at_the_base_line() {
        let e = parse_err("name = \"x\"\nbase = \"nope\"\n");
        assert!(matches!(e, ThemeError::BadBase { .. }), "{e:?}");
        assert_eq!(e.line(), Some(2));
        let msg = e.to_string();
        assert!(
            msg.contains("\"nope\"") && msg.contains("colorblind"),
            "{msg}"
        );
    }

    #[test]
    fn load_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let child = dir.path().join("child.toml");
        std::fs::write(
            &child,
            "base = \"default\"\n[palette]\nbrand = \"#112233\"\n[roles]\nok = { fg = \"brand\", bold = true }\n",
        )
        .unwrap();
        let t = Theme::load(child.to_str().unwrap()).unwrap();
        assert_eq!(t.name, "child");
        assert_eq!(t.ok, Style::new().fg(Color::Rgb(0x11, 0x22, 0x33)).bold());
        assert_eq!(t.error, builtin("default").error);

        let e = Theme::load(dir.path().join("missing.toml").to_str().unwrap()).unwrap_err();
        assert!(matches!(e, ThemeError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("missing.toml"), "{e}");
    }

    #[test]
    fn load_by_name_searches_folders_then_builtins() {
        let dir = tempfile::tempdir().unwrap();
        let lookup = Lookup {
            dirs: vec![dir.path().to_path_buf()],
        };
        // A folder theme named like a built-in patches the built-in.
        std::fs::write(
            dir.path().join("default.toml"),
            "base = \"default\"\n[roles]\nok = { fg = \"magenta\" }\nheader = { fg = \"magenta\" }\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("night.toml"), "base = \"mono\"\n").unwrap();
        let t = lookup.load("default").unwrap();
        assert_eq!(t.ok.fg, Some(Color::Magenta));
        assert_eq!(t.warn, builtin("default").warn);
        let t = lookup.load("night").unwrap();
        assert_eq!(t.name, "night");
        assert_eq!(t.error, builtin("mono").error);
        // A built-in's base is always the built-in, whatever the folders hold.
        assert_eq!(
            lookup.load("colorblind").unwrap().header,
            builtin("default").header
        );
        assert_ne!(builtin("default").header.fg, Some(Color::Magenta));

        let e = lookup.load("nosuch").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("nosuch.toml") && msg.contains("solarized-dark"),
            "{msg}"
        );
    }

    #[test]
    fn base_must_be_a_builtin_theme() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "base = \"default\"\n").unwrap();
        // Another file, by path or by name, is refused: one level, built-ins only.
        for base in ["a.toml", "./a.toml", "a", "loop"] {
            let e = parse_err(&format!("\n\nbase = \"{base}\"\n"));
            assert!(
                matches!(&e, ThemeError::BadBase { base: b, .. } if b == base),
                "{e:?}"
            );
            assert_eq!(e.line(), Some(3));
            let msg = e.to_string();
            assert!(
                msg.contains("built-in theme only") && msg.contains("solarized-dark"),
                "{msg}"
            );
        }
        let e = parse_err("base = \"defualt\"\n");
        assert!(e.to_string().contains("did you mean \"default\""), "{e}");
    }

    #[test]
    fn closest_suggestions() {
        assert_eq!(
            closest("gren", NAMED_COLOURS.iter().copied()).as_deref(),
            Some("green")
        );
        assert_eq!(closest("purple", NAMED_COLOURS.iter().copied()), None);
    }
}
