//! The native inventory, `meshroll.toml`.
//!
//! ```toml
//! # Layout settings for every node. All optional; the built-in defaults are in brackets.
//! [defaults]
//! skills_root = "/etc/openclaw/skills"       # bundles live at <skills_root>/<SKILLS_SHA>/
//! state_dir = "/var/lib/openclaw"            # skill-cache-ready, last-gateway-status.json, drain
//! run_as = "openclaw"                        # sudo -n -u <run_as>; "" = the ssh user
//! openclaw = "openclaw"                      # the CLI on the node
//! healthz_url = "http://127.0.0.1:8080/healthz"
//! gateway_ready_url = "http://127.0.0.1:18789/readyz"   # gateway readiness; "" = off
//! prewarm_cmd = "openclaw skills prewarm --manifest ..."   # [built from `openclaw`]
//! drain_cmd = "touch /var/lib/openclaw/drain"              # [create <state_dir>/drain]
//! undrain_cmd = "rm -f /var/lib/openclaw/drain"            # [remove <state_dir>/drain]
//! cache_max_age_min = 120                    # an integer
//!
//! # Per-class overrides, same keys. Every class named here must have a node.
//! [classes.worker]
//! skills_root = "/opt/openclaw/skills"
//!
//! # One table per node, in rollout order.
//! [[nodes]]
//! name = "mac-w01"          # required, unique, no spaces
//! host = "10.0.0.21"        # optional, defaults to name; anything ssh accepts (an alias,
//!                           #   a host name, an address, user@host)
//! port = 22                 # optional, 1 to 65535
//! user = "admin"            # optional; not together with user@ in host
//! class = "worker"          # required: gateway, worker or a class you name
//! labels = ["rack-a"]       # optional
//! run_as = ""               # any layout key: overrides the class and the defaults
//! ```
//!
//! Precedence: built-in defaults < `[defaults]` < `[classes.<class>]` < the node.
//! Unknown keys are errors, reported with their line.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Inventory, InventoryError, Layout, Node};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: LayoutPatch,
    #[serde(default)]
    classes: BTreeMap<Spanned<String>, LayoutPatch>,
    #[serde(default)]
    nodes: Vec<NodeEntry>,
}

/// Layout settings that are given; the rest stay as they are.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayoutPatch {
    skills_root: Option<String>,
    state_dir: Option<String>,
    run_as: Option<String>,
    openclaw: Option<String>,
    healthz_url: Option<String>,
    gateway_ready_url: Option<String>,
    prewarm_cmd: Option<String>,
    drain_cmd: Option<String>,
    undrain_cmd: Option<String>,
    cache_max_age_min: Option<u64>,
    rsync_path: Option<String>,
}

impl LayoutPatch {
    fn apply(&self, l: &mut Layout) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        set(&mut l.skills_root, &self.skills_root);
        set(&mut l.state_dir, &self.state_dir);
        set(&mut l.run_as, &self.run_as);
        set(&mut l.openclaw, &self.openclaw);
        set(&mut l.healthz_url, &self.healthz_url);
        set(&mut l.gateway_ready_url, &self.gateway_ready_url);
        set(&mut l.cache_max_age_min, &self.cache_max_age_min);
        set(&mut l.rsync_path, &self.rsync_path);
        if self.prewarm_cmd.is_some() {
            l.prewarm_cmd.clone_from(&self.prewarm_cmd);
        }
        if self.drain_cmd.is_some() {
            l.drain_cmd.clone_from(&self.drain_cmd);
        }
        if self.undrain_cmd.is_some() {
            l.undrain_cmd.clone_from(&self.undrain_cmd);
        }
    }
}

/// One `[[nodes]]` table. The layout keys are repeated here rather than flattened, because
/// `deny_unknown_fields` does not work through `#[serde(flatten)]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeEntry {
    name: Spanned<String>,
    host: Option<Spanned<String>>,
    /// Wider than `u16` so that an out-of-range port gets a clear message.
    port: Option<Spanned<i64>>,
    user: Option<Spanned<String>>,
    class: Spanned<String>,
    #[serde(default)]
    labels: Vec<String>,
    skills_root: Option<String>,
    state_dir: Option<String>,
    run_as: Option<String>,
    openclaw: Option<String>,
    healthz_url: Option<String>,
    gateway_ready_url: Option<String>,
    prewarm_cmd: Option<String>,
    drain_cmd: Option<String>,
    undrain_cmd: Option<String>,
    cache_max_age_min: Option<u64>,
    rsync_path: Option<String>,
}

impl NodeEntry {
    fn layout(&self) -> LayoutPatch {
        LayoutPatch {
            skills_root: self.skills_root.clone(),
            state_dir: self.state_dir.clone(),
            run_as: self.run_as.clone(),
            openclaw: self.openclaw.clone(),
            healthz_url: self.healthz_url.clone(),
            gateway_ready_url: self.gateway_ready_url.clone(),
            prewarm_cmd: self.prewarm_cmd.clone(),
            drain_cmd: self.drain_cmd.clone(),
            undrain_cmd: self.undrain_cmd.clone(),
            cache_max_age_min: self.cache_max_age_min,
            rsync_path: self.rsync_path.clone(),
        }
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// No spaces or control characters, not empty.
fn is_word(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parse a `meshroll.toml`.
pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
    let err = |span: Option<std::ops::Range<usize>>, expected: String| {
        InventoryError::new(path, span.map(|s| line_of(text, s.start)), expected)
    };
    let file: File = toml::from_str(text).map_err(|e| {
        err(
            e.span(),
            format!("a valid meshroll.toml: {}", e.message().trim()),
        )
    })?;

    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut used_classes: Vec<&str> = Vec::new();
    let mut nodes = Vec::with_capacity(file.nodes.len());
    for entry in &file.nodes {
        let name = entry.name.get_ref();
        if !is_word(name) {
            return Err(err(
                Some(entry.name.span()),
                format!("a node name without spaces, got {name:?}"),
            ));
        }
        if let Some(first) = seen.insert(name, line_of(text, entry.name.span().start)) {
            return Err(err(
                Some(entry.name.span()),
                format!("node names to be unique, but {name:?} is already on line {first}"),
            ));
        }
        let class = entry.class.get_ref();
        if !is_word(class) {
            return Err(err(
                Some(entry.class.span()),
                format!("a class name without spaces for node {name}, got {class:?}"),
            ));
        }
        if !used_classes.contains(&class.as_str()) {
            used_classes.push(class);
        }

        let mut user = entry.user.as_ref().map(|u| u.get_ref().clone());
        if let Some(u) = &entry.user
            && (!is_word(u.get_ref()) || u.get_ref().contains('@'))
        {
            return Err(err(
                Some(u.span()),
                format!("a user name for node {name}, got {:?}", u.get_ref()),
            ));
        }
        if let Some(u) = &entry.user
            && let Err(why) = super::check_ssh_user(u.get_ref())
        {
            return Err(err(
                Some(u.span()),
                format!("{why} for node {}", super::shown(name)),
            ));
        }
        let host = match &entry.host {
            None => name.clone(),
            Some(h) => {
                let bad = || {
                    err(
                        Some(h.span()),
                        format!(
                            "an ssh destination (alias, host, address or user@host) for node {name}, got {:?}",
                            h.get_ref()
                        ),
                    )
                };
                let v = h.get_ref();
                if !is_word(v) {
                    return Err(bad());
                }
                match v.rsplit_once('@') {
                    None => v.clone(),
                    Some((u, hh)) => {
                        if u.is_empty() || hh.is_empty() {
                            return Err(bad());
                        }
                        if user.is_some() {
                            return Err(err(
                                Some(h.span()),
                                format!("either user = or user@ in host for node {name}, not both"),
                            ));
                        }
                        user = Some(u.to_string());
                        hh.to_string()
                    }
                }
            }
        };
        let host_span = entry.host.as_ref().map_or(entry.name.span(), |h| h.span());
        if let Err(why) = super::check_ssh_host(&host) {
            return Err(err(
                Some(host_span),
                format!("{why} for node {}", super::shown(name)),
            ));
        }
        if let Some(u) = &user
            && let Err(why) = super::check_ssh_user(u)
        {
            return Err(err(
                Some(host_span),
                format!("{why} for node {}", super::shown(name)),
            ));
        }
        let port = match &entry.port {
            None => None,
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(port) if port != 0 => Some(port),
                _ => {
                    return Err(err(
                        Some(p.span()),
                        format!(
                            "a port number from 1 to 65535 for node {name}, got {}",
                            p.get_ref()
                        ),
                    ));
                }
            },
        };
        if let Some(bad) = entry.labels.iter().find(|l| !is_word(l)) {
            return Err(err(
                Some(entry.name.span()),
                format!("labels without spaces for node {name}, got {bad:?}"),
            ));
        }

        let mut layout = Layout::default();
        file.defaults.apply(&mut layout);
        if let Some(patch) = file.classes.get(class.as_str()) {
            patch.apply(&mut layout);
        }
        entry.layout().apply(&mut layout);

        nodes.push(Node {
            name: name.clone(),
            host,
            port,
            user,
            class: class.clone(),
            labels: entry.labels.clone(),
            layout,
        });
    }
    if let Some(unused) = file
        .classes
        .keys()
        .find(|c| !used_classes.contains(&c.get_ref().as_str()))
    {
        return Err(err(
            Some(unused.span()),
            format!(
                "a class used by some node, but no node has class = {:?} (a typo in [classes.{}]?)",
                unused.get_ref(),
                unused.get_ref()
            ),
        ));
    }
    Inventory::from_nodes(path, nodes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(text: &str) -> Result<Inventory, InventoryError> {
        parse(Path::new("meshroll.toml"), text)
    }

    #[test]
    fn precedence_and_destination() {
        let inv = p(r#"
[defaults]
run_as = "defaults"
state_dir = "/d/state"
openclaw = "/d/openclaw"
cache_max_age_min = 60

[classes.worker]
run_as = "class"
state_dir = "/c/state"
drain_cmd = "class-drain"

[[nodes]]
name = "w1"
host = "admin@10.0.0.1"
port = 2222
class = "worker"
labels = ["rack-a", "canary"]
run_as = ""

[[nodes]]
name = "g1"
class = "gateway"
user = "ops"
prewarm_cmd = "true"
"#)
        .unwrap();
        assert_eq!(inv.classes, vec!["worker", "gateway"]);
        let w1 = &inv.nodes[0];
        assert_eq!(w1.destination(), "admin@10.0.0.1:2222");
        assert_eq!(w1.labels, vec!["rack-a", "canary"]);
        assert_eq!(w1.layout.run_as, "");
        assert_eq!(w1.layout.state_dir, "/c/state");
        assert_eq!(w1.layout.openclaw, "/d/openclaw");
        assert_eq!(w1.layout.drain_cmd.as_deref(), Some("class-drain"));
        assert_eq!(w1.layout.cache_max_age_min, 60);
        assert_eq!(w1.layout.skills_root, "/etc/openclaw/skills");
        let g1 = &inv.nodes[1];
        assert_eq!(g1.destination(), "ops@g1");
        assert_eq!(g1.layout.run_as, "defaults");
        assert_eq!(g1.layout.state_dir, "/d/state");
        assert_eq!(g1.layout.drain_cmd, None);
        assert_eq!(g1.layout.prewarm_cmd.as_deref(), Some("true"));
    }

    #[test]
    fn detected_without_extension() {
        use crate::inventory::{Format, detect_format};
        let path = Path::new("fleet");
        assert_eq!(detect_format(path, "[classes.worker]\n"), Format::Toml);
        assert_eq!(detect_format(path, "# x\n[[nodes]]\n"), Format::Toml);
        assert_eq!(detect_format(path, "[worker]\nmac-w01\n"), Format::Ini);
        let inv = crate::inventory::parse(
            path,
            "[classes.worker]\nrun_as = \"\"\n[[nodes]]\nname = \"w\"\nclass = \"worker\"\n",
        )
        .unwrap();
        assert_eq!(inv.nodes[0].layout.run_as, "");
    }

    #[test]
    fn empty_file() {
        assert_eq!(p("").unwrap(), Inventory::default());
    }

    #[test]
    fn line_of_offsets() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn errors_have_lines() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\nskils_root = \"/x\"\n",
                4,
                "unknown field `skils_root`",
            ),
            (
                "[defaults]\nrun_as = \"x\"\nbogus = 1\n",
                3,
                "unknown field `bogus`",
            ),
            ("[fleet]\n", 1, "unknown field `fleet`"),
            ("[[nodes]]\nname = \"a\"\n", 1, "missing field `class`"),
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\nport = 70000\n",
                4,
                "a port number from 1 to 65535 for node a, got 70000",
            ),
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\nport = \"ssh\"\n",
                4,
                "i64",
            ),
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\nport = 0\n",
                4,
                "a port number from 1 to 65535",
            ),
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\ncache_max_age_min = \"1h\"\n",
                4,
                "u64",
            ),
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\n[[nodes]]\nname = \"a\"\nclass = \"w\"\n",
                5,
                "already on line 2",
            ),
            (
                "[[nodes]]\nname = \"a b\"\nclass = \"w\"\n",
                2,
                "a node name without spaces",
            ),
            ("[[nodes]]\nname = \"a\"\nclass = \"\"\n", 3, "a class name"),
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\nhost = \"u@h\"\nuser = \"v\"\n",
                4,
                "not both",
            ),
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\nhost = \"@h\"\n",
                4,
                "an ssh destination",
            ),
            (
                "[classes.wroker]\nrun_as = \"x\"\n[[nodes]]\nname = \"a\"\nclass = \"worker\"\n",
                1,
                "[classes.wroker]",
            ),
            (
                "[[nodes]]\nname = \"a\"\nclass = \"w\"\nlabels = [\"x y\"]\n",
                2,
                "labels without spaces",
            ),
            ("[[nodes]\n", 1, "a valid meshroll.toml"),
        ];
        for (text, line, want) in cases {
            let e = p(text).unwrap_err();
            assert_eq!(e.line, Some(*line), "{text:?}: {}", e.expected);
            assert!(e.expected.contains(want), "{text:?}: {}", e.expected);
        }
    }
}
