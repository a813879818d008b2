//! Ansible YAML inventories.
//!
//! ```yaml
//! all:
//!   hosts:                        # hosts listed under all are in the group ungrouped
//!     bastion-mac:
//!       ansible_host: 10.0.0.2
//!   vars:
//!     meshroll_cache_max_age_min: 90
//!   children:
//!     gateway:                    # a group: its hosts' class is the group name
//!       hosts:
//!         mac-g01: {ansible_host: 10.0.0.11}
//!     worker:
//!       hosts:
//!         mac-w[01:20]:           # ranges as in INI
//!       vars:
//!         meshroll_skills_root: /opt/openclaw/skills
//!     macs:
//!       children: {gateway: , worker: }
//!       vars: {ansible_user: admin}
//! ```
//!
//! Details of the format:
//! - The top is a mapping of groups; `all` is the root, any other top-level group is a
//!   child of `all`. A group is empty or a mapping with `hosts`, `vars` and `children`
//!   (anything else is an error). `hosts` maps host patterns to nothing or to a mapping of
//!   host variables; `children` maps group names to group bodies. A group may appear in
//!   several places; its hosts, vars and children add up.
//! - Scalars are taken as written (`ansible_port: 22` is `"22"`); a null (`~`, `null` or
//!   nothing) means "not set". A list or mapping as the value of a variable meshroll reads
//!   is an error; other variables may hold anything.
//! - Anchors and aliases work, but what aliases expand to is capped
//!   ([`MAX_ALIAS_EXPANSION`]): a few hundred bytes of nested aliases (a "billion laughs")
//!   stop with an error naming the alias's line instead of filling memory. Nesting is
//!   capped at [`MAX_DEPTH`] levels. A key repeated in one mapping is an error.
//! - An inventory plugin configuration (a top-level `plugin:` key, like `plugin:
//!   aws_ec2`) is refused with an error naming the plugin: meshroll reads static
//!   inventories only. A `!vault` value for a variable meshroll reads is refused too (other
//!   variables may be vaulted: meshroll never reads them).
//! - The same reader loads `group_vars/` and `host_vars/` files ([`feed_vars`]): a
//!   mapping of variables at the top.
//! - Groups, variables, precedence, classes and ranges follow the shared rules in
//!   [`super::ansible`]. Every error carries the line of the offending key or value.
use std::collections::HashMap;
use std::path::Path;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::ansible::{Builder, VarSource, expand_hosts, reads_key};
use super::{Inventory, InventoryError};

/// The most that aliases may add to a document, in bytes of scalars plus
/// [`NODE_WEIGHT`] per node. Real inventories reuse a vars block a few dozen times.
pub const MAX_ALIAS_EXPANSION: usize = 1024 * 1024;

/// What one node counts for in [`MAX_ALIAS_EXPANSION`], besides its text.
const NODE_WEIGHT: usize = 16;

/// The deepest nesting of lists and mappings accepted.
pub const MAX_DEPTH: usize = 64;

/// A YAML node with the line it starts on.
#[derive(Debug, Clone)]
struct Node {
    line: usize,
    value: Value,
    /// Its size for the alias cap: [`NODE_WEIGHT`] per node plus the scalars' bytes.
    weight: usize,
}

#[derive(Debug, Clone)]
enum Value {
    Null,
    Scalar(String),
    /// A `!vault` encrypted scalar: meshroll cannot read it.
    Vault,
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn new(line: usize, value: Value) -> Node {
        let weight = NODE_WEIGHT
            + match &value {
                Value::Scalar(s) => s.len(),
                _ => 0,
            };
        Node {
            line,
            value,
            weight,
        }
    }

    fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing",
            Value::Scalar(_) => "a scalar",
            Value::Vault => "a vault-encrypted value",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

enum Frame {
    Seq(Node, usize),
    /// The mapping, its anchor, and a key waiting for its value.
    Map(Node, usize, Option<Node>),
}

/// Builds [`Node`] trees from parser events.
#[derive(Default)]
struct Loader {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    /// What aliases have added so far (see [`MAX_ALIAS_EXPANSION`]).
    expanded: usize,
    /// The first semantic error (a repeated key, an alias or nesting over its cap), with
    /// its line. Once set, the rest of the events are ignored.
    error: Option<(usize, String)>,
}

impl Loader {
    fn fail(&mut self, line: usize, expected: String) {
        if self.error.is_none() {
            self.error = Some((line, expected));
        }
        // Nothing more is built: free what was.
        self.stack.clear();
        self.anchors.clear();
        self.docs.clear();
    }

    fn insert(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(seq, _)) => {
                seq.weight += node.weight;
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, _, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    map.weight += key.weight + node.weight;
                    if let Value::Map(entries) = &mut map.value {
                        if let Value::Scalar(k) = &key.value {
                            let repeated = entries
                                .iter()
                                .any(|(e, _)| matches!(&e.value, Value::Scalar(x) if x == k));
                            if repeated && self.error.is_none() {
                                self.error = Some((
                                    key.line,
                                    format!(
                                        "unique keys in a mapping, but {} appears twice",
                                        crate::safe_text::clean_capped(k, 200)
                                    ),
                                ));
                            }
                        }
                        entries.push((key, node));
                    }
                }
            },
        }
    }

    fn open(&mut self, frame: Frame, line: usize) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(
                line,
                format!("lists and mappings nested at most {MAX_DEPTH} deep"),
            );
            return;
        }
        self.stack.push(frame);
    }
}

impl MarkedEventReceiver for Loader {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match ev {
            Event::SequenceStart(anchor, _) => self.open(
                Frame::Seq(Node::new(line, Value::Seq(Vec::new())), anchor),
                line,
            ),
            Event::MappingStart(anchor, _) => self.open(
                Frame::Map(Node::new(line, Value::Map(Vec::new())), anchor, None),
                line,
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(Frame::Seq(node, anchor) | Frame::Map(node, anchor, _)) =
                    self.stack.pop()
                {
                    self.insert(node, anchor);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let vault = tag
                    .as_ref()
                    .is_some_and(|t| t.handle == "!" && t.suffix == "vault");
                let null = style == TScalarStyle::Plain
                    && tag.is_none()
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL");
                let value = if vault {
                    Value::Vault
                } else if null {
                    Value::Null
                } else {
                    Value::Scalar(text)
                };
                self.insert(Node::new(line, value), anchor);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => n,
                    None => {
                        self.insert(Node::new(line, Value::Null), 0);
                        return;
                    }
                };
                self.expanded = self.expanded.saturating_add(node.weight);
                if self.expanded > MAX_ALIAS_EXPANSION {
                    self.fail(
                        line,
                        format!(
                            "aliases (*name) that expand to at most {} MiB, but this one takes the document past it (nested aliases, a \"billion laughs\"?)",
                            MAX_ALIAS_EXPANSION / (1024 * 1024)
                        ),
                    );
                    return;
                }
                let node = node.clone();
                self.insert(node, 0);
            }
            Event::DocumentEnd => {
                if self.stack.is_empty() && self.docs.is_empty() {
                    // An empty document: keep the place so that the count is right.
                    self.docs.push(Node::new(line, Value::Null));
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
        }
    }
}

/// Read one YAML document; `None` when the text holds none (or only a null).
fn load_doc(path: &Path, text: &str) -> Result<Option<Node>, InventoryError> {
    let err = |line: usize, expected: String| InventoryError::new(path, Some(line), expected);
    let mut loader = Loader::default();
    Parser::new_from_str(text)
        .load(&mut loader, true)
        .map_err(|e| err(e.marker().line(), format!("valid YAML ({})", e.info())))?;
    if let Some((line, expected)) = loader.error {
        return Err(err(line, expected));
    }
    if let Some(second) = loader.docs.get(1) {
        return Err(err(
            second.line,
            "a single YAML document, but there is more than one".to_string(),
        ));
    }
    Ok(loader
        .docs
        .into_iter()
        .next()
        .filter(|d| !matches!(d.value, Value::Null)))
}

/// Parse an Ansible YAML inventory.
pub fn parse(path: &Path, text: &str) -> Result<Inventory, InventoryError> {
    let mut b = Builder::new(path);
    feed(&mut b, text)?;
    b.finish()
}

/// Read an Ansible YAML inventory into `b` (the file is [`Builder::file`]).
pub(super) fn feed(b: &mut Builder, text: &str) -> Result<(), InventoryError> {
    let path = b.file().to_path_buf();
    let Some(root) = load_doc(&path, text)? else {
        return Ok(());
    };
    let mut w = Walker {
        b,
        source: VarSource::Inline,
    };
    match &root.value {
        Value::Map(groups) => {
            for (key, value) in groups {
                if let (Value::Scalar(k), Value::Scalar(plugin)) = (&key.value, &value.value)
                    && k == "plugin"
                {
                    return Err(w.err(
                        key.line,
                        format!(
                            "a static inventory, but this is the configuration of the inventory plugin {} (meshroll does not run inventory plugins: export the hosts with `ansible-inventory -i {} --list --yaml > hosts.yml` and pass that)",
                            super::shown(plugin),
                            path.display()
                        ),
                    ));
                }
            }
            for (key, body) in groups {
                let name = w.scalar(key, "a group name as a key at the top (like all:)")?;
                if name != "all" {
                    w.b.add_child("all", name, Some(key.line))?;
                }
                w.group(name, key.line, body)?;
            }
            Ok(())
        }
        _ => Err(w.err(
            root.line,
            format!(
                "a mapping of groups at the top (like all:), got {}",
                root.kind()
            ),
        )),
    }
}

/// Whose variables a `group_vars/` or `host_vars/` file holds.
pub(super) enum VarsOf<'a> {
    Group(&'a str),
    Host(&'a str),
}

/// Read a `group_vars/` or `host_vars/` file (YAML or JSON: a mapping of variables) into
/// `b` (the file is [`Builder::file`]). The group or host must exist in `b`.
pub(super) fn feed_vars(b: &mut Builder, of: VarsOf<'_>, text: &str) -> Result<(), InventoryError> {
    let path = b.file().to_path_buf();
    let Some(root) = load_doc(&path, text)? else {
        return Ok(());
    };
    let mut w = Walker {
        b,
        source: VarSource::VarsFile,
    };
    let target = match of {
        VarsOf::Group(g) => Target::Group(g),
        VarsOf::Host(h) => Target::Host(h),
    };
    w.vars(&target, &root)
}

/// The `meshroll_*` and `ansible_*` variables meshroll reads that a vars file sets, with
/// their lines (for a file whose group or host is not in the inventory).
pub(super) fn read_keys_in_vars(
    path: &Path,
    text: &str,
) -> Result<Vec<(String, usize)>, InventoryError> {
    let Some(root) = load_doc(path, text)? else {
        return Ok(Vec::new());
    };
    let Value::Map(entries) = &root.value else {
        return Ok(Vec::new());
    };
    Ok(entries
        .iter()
        .filter_map(|(k, _)| match &k.value {
            Value::Scalar(k2) if reads_key(k2) => Some((k2.clone(), k.line)),
            _ => None,
        })
        .collect())
}

struct Walker<'b> {
    b: &'b mut Builder,
    source: VarSource,
}

impl Walker<'_> {
    fn err(&self, line: usize, expected: impl Into<String>) -> InventoryError {
        InventoryError::new(self.b.file(), Some(line), expected)
    }

    /// The text of a scalar key; `what` says what was expected otherwise.
    fn scalar<'n>(&self, node: &'n Node, what: &str) -> Result<&'n str, InventoryError> {
        match &node.value {
            Value::Scalar(s) => Ok(s),
            _ => Err(self.err(node.line, format!("{what}, got {}", node.kind()))),
        }
    }

    /// A group body: nothing, or a mapping of `hosts`, `vars`, `children`.
    fn group(&mut self, name: &str, line: usize, body: &Node) -> Result<(), InventoryError> {
        self.b.group(name, Some(line))?;
        let entries = match &body.value {
            Value::Null => return Ok(()),
            Value::Map(entries) => entries,
            _ => {
                return Err(self.err(
                    body.line,
                    format!(
                        "a mapping with hosts, vars or children for group {name}, got {}",
                        body.kind()
                    ),
                ));
            }
        };
        for (key, value) in entries {
            let what = format!("hosts, vars or children in group {name}");
            match self.scalar(key, &what)? {
                "hosts" => self.hosts(name, value)?,
                "vars" => self.vars(&Target::Group(name), value)?,
                "children" => match &value.value {
                    Value::Null => {}
                    Value::Map(children) => {
                        for (ckey, cbody) in children {
                            let child = self.scalar(
                                ckey,
                                &format!("a group name under children of group {name}"),
                            )?;
                            self.b.add_child(name, child, Some(ckey.line))?;
                            self.group(child, ckey.line, cbody)?;
                        }
                    }
                    _ => {
                        return Err(self.err(
                            value.line,
                            format!(
                                "a mapping of group names under children of group {name} (write `group:` per child), got {}",
                                value.kind()
                            ),
                        ));
                    }
                },
                other => {
                    return Err(self.err(key.line, format!("{what}, got {}", super::shown(other))));
                }
            }
        }
        Ok(())
    }
    /// `hosts:` of a group: host patterns to nothing or to their variables.
    fn hosts(&mut self, group: &str, hosts: &Node) -> Result<(), InventoryError> {
        let entries = match &hosts.value {
            Value::Null => return Ok(()),
            Value::Map(entries) => entries,
            _ => {
                return Err(self.err(
                    hosts.line,
                    format!(
                        "a mapping of host names under hosts of group {group} (write `name:` per host, not a list), got {}",
                        hosts.kind()
                    ),
                ));
            }
        };
        for (key, vars) in entries {
            let pattern = self.scalar(key, &format!("a host name under hosts of group {group}"))?;
            let names = expand_hosts(pattern).map_err(|e| self.err(key.line, e))?;
            for name in &names {
                self.b.add_host(group, name, Some(key.line))?;
            }
            match &vars.value {
                Value::Null => {}
                Value::Map(_) => {
                    for name in &names {
                        self.vars(&Target::Host(name), vars)?;
                    }
                }
                _ => {
                    return Err(self.err(
                        vars.line,
                        format!(
                            "a mapping of variables (or nothing) for host {pattern} in group {group}, got {}",
                            vars.kind()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Variables of a group or a host.
    fn vars(&mut self, target: &Target<'_>, vars: &Node) -> Result<(), InventoryError> {
        let whose = match target {
            Target::Group(g) => format!("group {g}"),
            Target::Host(h) => format!("host {h}"),
        };
        let entries = match &vars.value {
            Value::Null => return Ok(()),
            Value::Map(entries) => entries,
            _ => {
                return Err(self.err(
                    vars.line,
                    format!("a mapping of variables for {whose}, got {}", vars.kind()),
                ));
            }
        };
        for (key, value) in entries {
            let k = self.scalar(key, &format!("a variable name in the vars of {whose}"))?;
            let v = match &value.value {
                Value::Null => None,
                Value::Scalar(s) => Some(s.as_str()),
                Value::Seq(_) | Value::Map(_) | Value::Vault => {
                    if reads_key(k) {
                        let why = if matches!(value.value, Value::Vault) {
                            " (meshroll cannot decrypt vault values: set it in plain text)"
                        } else {
                            ""
                        };
                        return Err(self.err(
                            key.line,
                            format!(
                                "a single value for {k} in the vars of {whose}, got {}{why}",
                                value.kind()
                            ),
                        ));
                    }
                    continue;
                }
            };
            let source = self.source;
            match target {
                Target::Group(g) => self.b.group_var_from(source, g, k, v, Some(key.line))?,
                Target::Host(h) => self.b.host_var_from(source, h, k, v, Some(key.line))?,
            }
        }
        Ok(())
    }
}

enum Target<'a> {
    Group(&'a str),
    Host(&'a str),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inventory::NodeId;
    use crate::inventory::test_support::{assert_groups_example, assert_refused};

    fn p(text: &str) -> Result<Inventory, InventoryError> {
        parse(Path::new("hosts.yml"), text)
    }

    #[test]
    fn groups_children_vars() {
        let inv = p("
all:
  hosts:
    solo:
  vars:
    meshroll_skills_root: /all/skills
    meshroll_cache_max_age_min: 90
    ansible_python_interpreter: [ignored, list]
  children:
    gateway:
      hosts:
        g1: {ansible_host: 10.0.0.1, ansible_user: admin}
    worker:
      hosts:
        w[1:2]:
          ansible_port: 2200
        w3:
          meshroll_run_as: ''
          ansible_port: 2300
      vars:
        meshroll_skills_root: /opt/skills
    macs:
      children:
        gateway:
        worker:
      vars:
        meshroll_state_dir: /srv/state
")
        .unwrap();
        assert_groups_example(&inv);
        let w3 = &inv.nodes[NodeId::new(4)].layout;
        assert_eq!(w3.cache_max_age_min, 90);
        assert_eq!(
            inv.nodes[NodeId::new(0)].layout.state_dir,
            "/var/lib/openclaw"
        );
    }

    #[test]
    fn top_level_groups_and_anchors() {
        let inv = p("
worker:
  vars: &v
    meshroll_run_as: svc
  hosts:
    w1:
gateway:
  vars: *v
  hosts:
    g1:
      meshroll_prewarm_cmd: ~
      meshroll_drain_cmd: 'touch /tmp/d'
")
        .unwrap();
        assert_eq!(inv.classes, vec!["worker", "gateway"]);
        assert_eq!(inv.nodes[NodeId::new(1)].layout.run_as, "svc");
        assert_eq!(inv.nodes[NodeId::new(1)].layout.prewarm_cmd, None);
        assert_eq!(
            inv.nodes[NodeId::new(1)].layout.drain_cmd.as_deref(),
            Some("touch /tmp/d")
        );
    }

    #[test]
    fn empty_documents() {
        assert!(p("").unwrap().nodes.is_empty());
        assert!(p("---\n").unwrap().nodes.is_empty());
        assert!(p("all:\n").unwrap().nodes.is_empty());
    }

    #[test]
    fn errors_have_lines() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "all:\n  hosts:\n    - w1\n",
                3,
                "a mapping of host names under hosts of group all",
            ),
            (
                "all:\n  children:\n    worker:\n      hosts: [w1]\n",
                4,
                "hosts of group worker",
            ),
            (
                "all:\n  hostz:\n    w1:\n",
                2,
                "hosts, vars or children in group all, got \"hostz\"",
            ),
            (
                "all:\n  hosts:\n    w1:\n      ansible_port: ssh\n",
                4,
                "a port number for ansible_port",
            ),
            (
                "all:\n  hosts:\n    w1:\n      ansible_port: ssh\n",
                4,
                "host w1",
            ),
            ("all:\n  hosts:\n    mac-w[01:]:\n", 3, "mac-w[01:]"),
            (
                "all:\n  hosts:\n    w1: 5\n",
                3,
                "a mapping of variables (or nothing) for host w1",
            ),
            (
                "all:\n  vars:\n    meshroll_run_as: [a]\n",
                3,
                "a single value for meshroll_run_as",
            ),
            (
                "all:\n  vars:\n    meshroll_skils_root: /x\n",
                3,
                "meshroll_skills_root",
            ),
            (
                "all:\n  children:\n    - worker\n",
                3,
                "children of group all",
            ),
            (
                "all:\n  children:\n    worker: [a]\n",
                3,
                "for group worker",
            ),
            ("- all\n", 1, "a mapping of groups at the top"),
            ("all:\n  hosts:\n    w1:\n    w1:\n", 4, "w1 appears twice"),
            ("all:\n  hosts: {w1: }\n  bad: [\n", 4, "valid YAML"),
            (
                "all:\n  hosts:\n   w1:\n  w2:\n",
                4,
                "in group all, got \"w2\"",
            ),
            ("all:\n\thosts:\n", 2, "valid YAML"),
            ("all:\n---\nall:\n", 3, "a single YAML document"),
            (
                "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n",
                7,
                "without a cycle",
            ),
        ];
        assert_refused(cases, p);
    }
}
