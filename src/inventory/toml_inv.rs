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
use std::ops::Range;
use std::path::Path;

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::layout::{KEY_NAMES, KEYS, KeyDef, TomlKind};
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

/// Layout settings that are given, in the order given; the rest stay as they are.
#[derive(Debug, Default)]
struct LayoutPatch(Vec<(&'static KeyDef, String)>);

impl LayoutPatch {
    fn apply(&self, l: &mut Layout) -> Result<(), String> {
        self.0.iter().try_for_each(|(key, text)| (key.set)(l, text))
    }
}

/// One `[[nodes]]` table: the node's own fields and any layout key.
#[derive(Debug)]
struct NodeEntry {
    name: Spanned<String>,
    host: Option<Spanned<String>>,
    /// Wider than `u16` so that an out-of-range port gets a clear message.
    port: Option<Spanned<i64>>,
    user: Option<Spanned<String>>,
    class: Spanned<String>,
    labels: Vec<String>,
    layout: LayoutPatch,
}

/// The fields of a `[[nodes]]` table that are not layout keys.
const NODE_OWN_FIELDS: [&str; 6] = ["name", "host", "port", "user", "class", "labels"];

/// The node's own fields, in [`NODE_OWN_FIELDS`] order.
#[derive(Clone, Copy)]
enum Own {
    Name,
    Host,
    Port,
    User,
    Class,
    Labels,
}

impl Own {
    const ALL: [Own; NODE_OWN_FIELDS.len()] = [
        Own::Name,
        Own::Host,
        Own::Port,
        Own::User,
        Own::Class,
        Own::Labels,
    ];
}

/// Every key a `[[nodes]]` table accepts: its own fields, then the layout keys.
static NODE_FIELDS: [&str; NODE_OWN_FIELDS.len() + KEYS.len()] = {
    let mut names = [""; NODE_OWN_FIELDS.len() + KEYS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = if i < NODE_OWN_FIELDS.len() {
            NODE_OWN_FIELDS[i]
        } else {
            KEYS[i - NODE_OWN_FIELDS.len()].name
        };
        i += 1;
    }
    names
};

/// A key of a table: one of the node's own fields or
/// a layout key. Read as a serde identifier, so that an unknown key is reported at its
/// own line, as `#[serde(deny_unknown_fields)]` would.
enum Field {
    Own(Own),
    Layout(&'static KeyDef),
}

/// Reads one [`Field`]; `own` says whether the node's own fields are accepted.
#[derive(Clone, Copy)]
struct FieldSeed {
    own: bool,
}

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldSeed {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        let own = NODE_OWN_FIELDS.iter().position(|f| *f == v);
        match (own, KeyDef::find(v)) {
            (Some(i), _) if self.own => Ok(Field::Own(Own::ALL[i])),
            (_, Some(key)) => Ok(Field::Layout(key)),
            _ if self.own => Err(E::unknown_field(v, &NODE_FIELDS)),
            _ => Err(E::unknown_field(v, &KEY_NAMES)),
        }
    }
}

/// A layout key's value, read as the key's TOML type and kept as text for [`KeyDef::set`].
fn layout_value<'de, A: MapAccess<'de>>(map: &mut A, key: &KeyDef) -> Result<String, A::Error> {
    Ok(match key.toml {
        TomlKind::Text => map.next_value::<String>()?,
        TomlKind::Count => map.next_value::<u64>()?.to_string(),
    })
}

impl<'de> Deserialize<'de> for LayoutPatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LayoutPatch;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct LayoutPatch")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LayoutPatch, A::Error> {
                let mut patch = LayoutPatch::default();
                while let Some(field) = map.next_key_seed(FieldSeed { own: false })? {
                    if let Field::Layout(key) = field {
                        let text = layout_value(&mut map, key)?;
                        patch.0.push((key, text));
                    }
                }
                Ok(patch)
            }
        }
        d.deserialize_struct("LayoutPatch", &KEY_NAMES, V)
    }
}

impl<'de> Deserialize<'de> for NodeEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NodeEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct NodeEntry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeEntry, A::Error> {
                let (mut name, mut host, mut port, mut user, mut class) =
                    (None, None, None, None, None);
                let mut labels = Vec::new();
                let mut layout = LayoutPatch::default();
                while let Some(field) = map.next_key_seed(FieldSeed { own: true })? {
                    match field {
                        Field::Own(Own::Name) => name = Some(map.next_value()?),
                        Field::Own(Own::Host) => host = Some(map.next_value()?),
                        Field::Own(Own::Port) => port = Some(map.next_value()?),
                        Field::Own(Own::User) => user = Some(map.next_value()?),
                        Field::Own(Own::Class) => class = Some(map.next_value()?),
                        Field::Own(Own::Labels) => labels = map.next_value()?,
                        Field::Layout(key) => {
                            let text = layout_value(&mut map, key)?;
                            layout.0.push((key, text));
                        }
                    }
                }
                Ok(NodeEntry {
                    name: name.ok_or_else(|| de::Error::missing_field("name"))?,
                    host,
                    port,
                    user,
                    class: class.ok_or_else(|| de::Error::missing_field("class"))?,
                    labels,
                    layout,
                })
            }
        }
        d.deserialize_struct("NodeEntry", &NODE_FIELDS, V)
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

/// Where an error points: the file's path, and its text to turn a byte span into a line.
#[derive(Clone, Copy)]
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// An error at the line of `span` (if any): `expected` is what the file should say.
    fn err(self, span: Option<Range<usize>>, expected: String) -> InventoryError {
        InventoryError::new(
            self.path,
            span.map(|s| line_of(self.text, s.start)),
            expected,
        )
    }
}

/// Parse a `meshroll.toml`.
pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
    let src = Source { path, text };
    let file = read_tables(src)?;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut used_classes: Vec<&str> = Vec::new();
    let mut nodes = Vec::with_capacity(file.nodes.len());
    for entry in &file.nodes {
        nodes.push(node(src, &file, entry, &mut seen, &mut used_classes)?);
    }
    check_classes_used(src, &file, &used_classes)?;
    Inventory::from_nodes(path, nodes)
}

/// The top-level tables (`[defaults]`, `[classes.*]`, `[[nodes]]`), with every key
/// known and of its type; a TOML syntax error or an unknown key is reported at its line.
fn read_tables(src: Source<'_>) -> Result<File, InventoryError> {
    toml::from_str(src.text).map_err(|e| {
        src.err(
            e.span(),
            format!("a valid meshroll.toml: {}", e.message().trim()),
        )
    })
}

/// One `[[nodes]]` entry checked and made a [`Node`]: name, class, ssh destination,
/// port, labels, then its layout. `seen` (name to line) and `used_classes` collect
/// across entries, for the uniqueness check and [`check_classes_used`].
fn node<'f>(
    src: Source<'_>,
    file: &'f File,
    entry: &'f NodeEntry,
    seen: &mut HashMap<&'f str, usize>,
    used_classes: &mut Vec<&'f str>,
) -> Result<Node, InventoryError> {
    let name = entry.name.get_ref();
    check_name(src, entry, seen)?;
    let class = entry.class.get_ref();
    if !is_word(class) {
        return Err(src.err(
            Some(entry.class.span()),
            format!("a class name without spaces for node {name}, got {class:?}"),
        ));
    }
    if !used_classes.contains(&class.as_str()) {
        used_classes.push(class);
    }
    let user = own_user(src, entry)?;
    let (host, user) = destination(src, entry, user)?;
    let port = port(src, entry)?;
    if let Some(bad) = entry.labels.iter().find(|l| !is_word(l)) {
        return Err(src.err(
            Some(entry.name.span()),
            format!("labels without spaces for node {name}, got {bad:?}"),
        ));
    }
    Ok(Node {
        name: name.clone(),
        host,
        port,
        user,
        class: class.clone(),
        labels: entry.labels.clone(),
        layout: layout(src, file, entry)?,
    })
}

/// The node's name: a word, and not the name of an earlier node (`seen`: name to line).
fn check_name<'f>(
    src: Source<'_>,
    entry: &'f NodeEntry,
    seen: &mut HashMap<&'f str, usize>,
) -> Result<(), InventoryError> {
    let name = entry.name.get_ref();
    if !is_word(name) {
        return Err(src.err(
            Some(entry.name.span()),
            format!("a node name without spaces, got {name:?}"),
        ));
    }
    super::check_node_name(name).map_err(|why| src.err(Some(entry.name.span()), why))?;
    if let Some(first) = seen.insert(name, line_of(src.text, entry.name.span().start)) {
        return Err(src.err(
            Some(entry.name.span()),
            format!("node names to be unique, but {name:?} is already on line {first}"),
        ));
    }
    Ok(())
}

/// The `user =` of the entry, if given: a word without `@` that ssh accepts as a user.
fn own_user(src: Source<'_>, entry: &NodeEntry) -> Result<Option<String>, InventoryError> {
    let name = entry.name.get_ref();
    let Some(u) = &entry.user else {
        return Ok(None);
    };
    if !is_word(u.get_ref()) || u.get_ref().contains('@') {
        return Err(src.err(
            Some(u.span()),
            format!("a user name for node {name}, got {:?}", u.get_ref()),
        ));
    }
    if let Err(why) = super::check_ssh_user(u.get_ref()) {
        return Err(src.err(
            Some(u.span()),
            format!("{why} for node {}", super::shown(name)),
        ));
    }
    Ok(Some(u.get_ref().clone()))
}

/// The ssh destination, host and user: `host =` (the name if none) split at its last `@`
/// into a user, which `user` must not also give; then both checked as ssh accepts them.
fn destination(
    src: Source<'_>,
    entry: &NodeEntry,
    user: Option<String>,
) -> Result<(String, Option<String>), InventoryError> {
    let name = entry.name.get_ref();
    let (host, user) = match &entry.host {
        None => (name.clone(), user),
        Some(h) => split_host(src, name, h, user)?,
    };
    let host_span = entry.host.as_ref().map_or(entry.name.span(), |h| h.span());
    if let Err(why) = super::check_ssh_host(&host) {
        return Err(src.err(
            Some(host_span),
            format!("{why} for node {}", super::shown(name)),
        ));
    }
    if let Some(u) = &user
        && let Err(why) = super::check_ssh_user(u)
    {
        return Err(src.err(
            Some(host_span),
            format!("{why} for node {}", super::shown(name)),
        ));
    }
    Ok((host, user))
}

/// `host =` of node `name` as host and user: a word, split at its last `@` (both sides
/// not empty) into a user, unless `user =` already gave one.
fn split_host(
    src: Source<'_>,
    name: &str,
    h: &Spanned<String>,
    user: Option<String>,
) -> Result<(String, Option<String>), InventoryError> {
    let bad = || {
        src.err(
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
        None => Ok((v.clone(), user)),
        Some((u, hh)) => {
            if u.is_empty() || hh.is_empty() {
                return Err(bad());
            }
            if user.is_some() {
                return Err(src.err(
                    Some(h.span()),
                    format!("either user = or user@ in host for node {name}, not both"),
                ));
            }
            Ok((hh.to_string(), Some(u.to_string())))
        }
    }
}

/// The `port =` of the entry, if given: 1 to 65535.
fn port(src: Source<'_>, entry: &NodeEntry) -> Result<Option<u16>, InventoryError> {
    let Some(p) = &entry.port else {
        return Ok(None);
    };
    match u16::try_from(*p.get_ref()) {
        Ok(port) if port != 0 => Ok(Some(port)),
        _ => Err(src.err(
            Some(p.span()),
            format!(
                "a port number from 1 to 65535 for node {}, got {}",
                entry.name.get_ref(),
                p.get_ref()
            ),
        )),
    }
}

/// The node's layout: the built-in defaults, patched by `[defaults]`, then by its
/// class's `[classes.<class>]` (if any), then by the layout keys in its own entry.
fn layout(src: Source<'_>, file: &File, entry: &NodeEntry) -> Result<Layout, InventoryError> {
    let name = entry.name.get_ref();
    let mut layout = Layout::default();
    let patches = [
        Some(&file.defaults),
        file.classes.get(entry.class.get_ref().as_str()),
        Some(&entry.layout),
    ];
    for patch in patches.into_iter().flatten() {
        patch
            .apply(&mut layout)
            .map_err(|why| src.err(Some(entry.name.span()), format!("{why} for node {name}")))?;
    }
    Ok(layout)
}

/// Every `[classes.<class>]` names the class of some node (else it is likely a typo).
fn check_classes_used(
    src: Source<'_>,
    file: &File,
    used_classes: &[&str],
) -> Result<(), InventoryError> {
    if let Some(unused) = file
        .classes
        .keys()
        .find(|c| !used_classes.contains(&c.get_ref().as_str()))
    {
        return Err(src.err(
            Some(unused.span()),
            format!(
                "a class used by some node, but no node has class = {:?} (a typo in [classes.{}]?)",
                unused.get_ref(),
                unused.get_ref()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inventory::NodeId;
    use crate::inventory::test_support::assert_refused;

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
        let w1 = &inv.nodes[NodeId::new(0)];
        assert_eq!(w1.destination(), "admin@10.0.0.1:2222");
        assert_eq!(w1.labels, vec!["rack-a", "canary"]);
        assert_eq!(w1.layout.run_as, "");
        assert_eq!(w1.layout.state_dir, "/c/state");
        assert_eq!(w1.layout.openclaw, "/d/openclaw");
        assert_eq!(w1.layout.drain_cmd.as_deref(), Some("class-drain"));
        assert_eq!(w1.layout.cache_max_age_min, 60);
        assert_eq!(w1.layout.skills_root, "/etc/openclaw/skills");
        let g1 = &inv.nodes[NodeId::new(1)];
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
        assert_eq!(inv.nodes[NodeId::new(0)].layout.run_as, "");
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
        assert_refused(cases, p);
    }
}
