//! Where things live on a node: the [`Layout`] and its one table of keys, [`KEYS`].
//!
//! Every layout key is one line of the `layout_keys!` invocation below. From that line
//! come the [`Layout`] field, its built-in default, setting it by name (the
//! `meshroll_<key>` variables of Ansible inventories, [`Layout::set`]), putting it back to
//! its default (a null in YAML), the list of known keys in error messages, and the keys
//! a `meshroll.toml` accepts ([`super::toml_inv`]).

use serde::Serialize;

/// The gateway's readiness endpoint on its default port.
pub const DEFAULT_GATEWAY_READY_URL: &str = "http://127.0.0.1:18789/readyz";

/// The type of a layout key's value in a `meshroll.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TomlKind {
    /// A TOML string.
    Text,
    /// A TOML integer, 0 or more.
    Count,
}

/// One layout key: its name, its TOML type and how to set, read and reset it.
#[derive(Debug, Clone, Copy)]
pub struct KeyDef {
    /// The short name: the TOML key, and `meshroll_<name>` in Ansible inventories.
    pub name: &'static str,
    /// What the key means (its `Layout` field's documentation).
    pub doc: &'static str,
    pub toml: TomlKind,
    /// Set from text; `Err(expected)` says what the value should have been.
    pub set: fn(&mut Layout, &str) -> Result<(), String>,
    /// Put back to the built-in default.
    pub reset: fn(&mut Layout),
    /// The value as text; `None` when unset (an optional command left to its default).
    pub get: fn(&Layout) -> Option<String>,
}

impl KeyDef {
    /// The key of this name, if there is one.
    pub fn find(name: &str) -> Option<&'static KeyDef> {
        KEYS.iter().find(|k| k.name == name)
    }
}

/// How a layout value is read from text and shown as text.
trait LayoutValue: Sized {
    const TOML: TomlKind;
    fn parse(key: &str, text: &str) -> Result<Self, String>;
    fn show(&self) -> Option<String>;
}

impl LayoutValue for String {
    const TOML: TomlKind = TomlKind::Text;
    fn parse(_: &str, text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
    fn show(&self) -> Option<String> {
        Some(self.clone())
    }
}

/// An optional command: `None` means the built-in behaviour.
impl LayoutValue for Option<String> {
    const TOML: TomlKind = TomlKind::Text;
    fn parse(_: &str, text: &str) -> Result<Self, String> {
        Ok(Some(text.to_string()))
    }
    fn show(&self) -> Option<String> {
        self.clone()
    }
}

/// A count: minutes (`cache_max_age_min`) or MiB (`prewarm_mem_mb`).
impl LayoutValue for u64 {
    const TOML: TomlKind = TomlKind::Count;
    fn parse(key: &str, text: &str) -> Result<Self, String> {
        text.trim().parse().map_err(|_| {
            let unit = if key.ends_with("_mb") {
                "MiB"
            } else {
                "minutes"
            };
            format!("a whole number of {unit} for {key}, got {text:?}")
        })
    }
    fn show(&self) -> Option<String> {
        Some(self.to_string())
    }
}

/// Defines [`Layout`], its `Default` and [`KEYS`] from one line per key:
/// `/// doc` then `name: type = default,` (type `String`, `Option<String>` or `u64`).
macro_rules! layout_keys {
    ($( $(#[doc = $doc:literal])+ $name:ident : $ty:ty = $default:expr, )+) => {
        /// Where things live on a node and which commands run there (SPEC section 1).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct Layout {
            $( $(#[doc = $doc])+ pub $name: $ty, )+
        }

        impl Default for Layout {
            fn default() -> Self {
                Layout { $( $name: $default, )+ }
            }
        }

        /// Every layout key, in [`Layout`] field order.
        pub const KEYS: &[KeyDef] = &[
            $( KeyDef {
                name: stringify!($name),
                doc: concat!($($doc),+),
                toml: <$ty as LayoutValue>::TOML,
                set: |l, text| {
                    l.$name = <$ty as LayoutValue>::parse(stringify!($name), text)?;
                    Ok(())
                },
                reset: |l| l.$name = $default,
                get: |l| LayoutValue::show(&l.$name),
            }, )+
        ];
    };
}

layout_keys! {
    /// A bundle lives at `<skills_root>/<SKILLS_SHA>/`, the active one at `<skills_root>/current`.
    skills_root: String = "/etc/openclaw/skills".into(),
    /// Holds `skill-cache-ready`, `last-gateway-status.json` and `drain`.
    state_dir: String = "/var/lib/openclaw".into(),
    /// Remote commands run through `sudo -n -u <run_as>`; empty means the ssh user.
    run_as: String = "openclaw".into(),
    /// The OpenClaw CLI on the node.
    openclaw: String = "openclaw".into(),
    /// Liveness: answers 2xx when the node is live.
    healthz_url: String = "http://127.0.0.1:8080/healthz".into(),
    /// Gateway readiness (`GET /readyz` on the gateway's port), checked in every cheap
    /// poll; empty disables it.
    gateway_ready_url: String = DEFAULT_GATEWAY_READY_URL.into(),
    /// Prewarm command; `None` means the default built from `openclaw`.
    prewarm_cmd: Option<String> = None,
    /// Drain command; `None` means "create `<state_dir>/drain`".
    drain_cmd: Option<String> = None,
    /// Undrain command; `None` means "remove `<state_dir>/drain`".
    undrain_cmd: Option<String> = None,
    /// Cache marker older than this is stale.
    cache_max_age_min: u64 = 120,
    /// Memory cap of prewarm, MiB: the resident memory of its process group (killed
    /// past it), or `ulimit -v` where only that works; 0 = no cap.
    prewarm_mem_mb: u64 = 4096,
    /// rsync on the node (macOS ships an old one; Homebrew's is often preferred).
    rsync_path: String = "rsync".into(),
}

/// The names of [`KEYS`], in the same order.
pub static KEY_NAMES: [&str; KEYS.len()] = {
    let mut names = [""; KEYS.len()];
    let mut i = 0;
    while i < KEYS.len() {
        names[i] = KEYS[i].name;
        i += 1;
    }
    names
};

impl Layout {
    /// Apply one `meshroll_*` setting by its short name (`skills_root`, `state_dir`, ...).
    /// Returns `Err(expected)` with what the value should have been, or `Ok(false)` when
    /// the key is not a layout setting.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match KeyDef::find(key) {
            Some(k) => (k.set)(self, value).map(|()| true),
            None => Ok(false),
        }
    }
}

/// Test support: a node's layout on this machine for the node-side script tests: its
/// bundles under `skills`, its state under `state`, its CLI `openclaw`, its gateway's
/// health on a port nothing listens on, commands run as the test's own user.
#[cfg(test)]
impl Layout {
    pub(crate) fn local(
        skills: &std::path::Path,
        state: &std::path::Path,
        openclaw: &str,
    ) -> Layout {
        Layout {
            skills_root: skills.display().to_string(),
            state_dir: state.display().to_string(),
            openclaw: openclaw.into(),
            healthz_url: "http://127.0.0.1:9/healthz".into(),
            run_as: String::new(),
            ..Layout::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        for (i, k) in KEYS.iter().enumerate() {
            assert_eq!(KEY_NAMES[i], k.name);
            assert!(!k.doc.trim().is_empty(), "{} has no doc", k.name);
            assert_eq!(KeyDef::find(k.name).map(|f| f.name), Some(k.name));
            assert!(
                KEYS[i + 1..].iter().all(|o| o.name != k.name),
                "{} twice",
                k.name
            );
        }
        assert_eq!(KeyDef::find("skils_root").map(|k| k.name), None);
    }

    #[test]
    fn set_get_reset_by_name() {
        for k in KEYS {
            let text = match k.toml {
                TomlKind::Text => format!("/x/{}", k.name),
                TomlKind::Count => "7".to_string(),
            };
            let mut l = Layout::default();
            assert_eq!(l.set(k.name, &text), Ok(true));
            assert_eq!((k.get)(&l), Some(text.clone()), "{}", k.name);
            assert_ne!(l, Layout::default(), "{}", k.name);
            (k.reset)(&mut l);
            assert_eq!(l, Layout::default(), "{}", k.name);
        }
        let mut l = Layout::default();
        assert_eq!(l.set("bogus", "x"), Ok(false));
        assert_eq!(
            l.set("cache_max_age_min", "soon"),
            Err("a whole number of minutes for cache_max_age_min, got \"soon\"".to_string())
        );
        assert_eq!(l, Layout::default());
    }
}
