//! Shared Ansible rules for the INI ([`super::ini`]) and YAML ([`super::yaml`]) readers:
//! groups and their children, variables and their precedence, host ranges, and how a
//! host's class is chosen.
//!
//! Both readers feed a [`Builder`] in document order and call [`Builder::finish`]:
//!
//! - **Nodes** come out in the order their host names first appear.
//! - **Class**: the first group that lists the host directly (`[worker]` in INI,
//!   `worker: {hosts: ...}` in YAML). Other groups that list it directly become its
//!   labels, in the order they list it. `all` and `ungrouped` only count when no other
//!   group lists the host; such a host's class is `ungrouped`.
//! - **Membership**: a host belongs to the groups that list it, to every ancestor of those
//!   through `children`, and to `all`.
//! - **Variables**, lowest to highest precedence: `all`, then the host's other groups by
//!   depth (parents before their children; the depth of a group is its longest chain of
//!   parents up to `all`); at equal depth a group that lists the host directly beats one
//!   it only inherits, and among direct groups the one that gives the class wins, then
//!   the next listed; then the host's own variables, later definitions winning. Variables
//!   from `group_vars/` and `host_vars/` files ([`super::sources`]) form a second layer
//!   in Ansible's order: inventory group vars < `group_vars/all` < `group_vars/<group>`
//!   (same group order) < inventory host vars < `host_vars/<host>`.
//! - **Recognised variables**: `ansible_host`, `ansible_port`, `ansible_user` (and their
//!   older names `ansible_ssh_host/port/user`, which win over them as in Ansible's ssh
//!   connection plugin), and
//!   `meshroll_<key>` for every layout key ([`super::layout::KEYS`]). An unknown `meshroll_*` variable is
//!   an error (it is almost always a typo); any other variable is ignored. Values are
//!   checked where they are defined, even in a group without hosts. A null value (YAML
//!   `~`, `null` or nothing) means "not set": the built-in default. A Jinja template
//!   (`{{ ... }}`) in a variable meshroll reads is an error (it would be taken literally).
//!   `ansible_host` and `ansible_user` (and host names) must not begin with `-` or hold
//!   whitespace or control characters: ssh would take them for options.
//! - **Size**: at most 50 000 host entries (one host in one group) per inventory.
//! - **Ranges**: `mac-w[01:20]` (the width of a zero-padded start is kept, and the end must
//!   have the same width), `[a:f]` (letters), `[1:10:2]` (a stride), `[:3]` (from 0);
//!   several ranges in one pattern expand as a cross product.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::layout::{KEY_NAMES, KeyDef};
use super::{Inventory, InventoryError, Layout, Node};

/// The most host names one pattern may expand to (a guard against `[1:99999999]` typos).
const MAX_RANGE_HOSTS: usize = 10_000;

/// One recognised variable, already checked.
#[derive(Debug, Clone)]
enum Setting {
    /// `ansible_host`; `None` means the inventory name.
    Host(Option<String>),
    Port(Option<u16>),
    User(Option<String>),
    /// `meshroll_<key>`; `None` means the built-in default.
    Layout(&'static KeyDef, Option<String>),
    /// `ansible_ssh_host`, `ansible_ssh_port`, `ansible_ssh_user`: the older names, still
    /// read by Ansible's ssh connection plugin, which takes them over the new names when
    /// both are set (whatever the level that set each). A null means "not set".
    Legacy(Box<Setting>),
}

#[derive(Debug, Clone)]
struct Var {
    setting: Setting,
    /// Index into [`Builder::files`]: the file that set it.
    file: usize,
    line: Option<usize>,
}

#[derive(Debug, Default)]
struct Group {
    name: String,
    /// Variables from the inventory itself (`[group:vars]`, `vars:`).
    vars: Vec<Var>,
    /// Variables from `group_vars/<name>` files, which win over `vars` (Ansible's
    /// default `VARIABLE_PRECEDENCE`).
    file_vars: Vec<Var>,
    /// Child group indices, in declaration order.
    children: Vec<usize>,
}

#[derive(Debug)]
struct Host {
    name: String,
    /// Groups that list this host directly, in the order they list it.
    groups: Vec<usize>,
    vars: Vec<Var>,
    /// Variables from `host_vars/<name>` files: they win over the inline ones.
    file_vars: Vec<Var>,
}

/// Where a variable comes from: the inventory itself or a `group_vars/`/`host_vars/` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VarSource {
    Inline,
    VarsFile,
}

/// Collects groups, hosts and variables in document order; see the module docs for the rules.
pub(super) struct Builder {
    /// Every file read so far; errors name the one that holds the offending line.
    files: Vec<PathBuf>,
    /// The file being read now.
    cur: usize,
    groups: Vec<Group>,
    group_index: HashMap<String, usize>,
    hosts: Vec<Host>,
    host_index: HashMap<String, usize>,
    /// Host entries added so far (a host listed by two groups counts twice).
    memberships: usize,
}

const ALL: usize = 0;

/// The most host entries (one host in one group) in one inventory, all files together:
/// a guard against a few lines (aliases, ranges) expanding into millions of entries.
const MAX_MEMBERSHIPS: usize = 50_000;

impl Builder {
    pub(super) fn new(file: &Path) -> Self {
        let mut b = Builder {
            files: vec![file.to_path_buf()],
            cur: 0,
            groups: Vec::new(),
            group_index: HashMap::new(),
            hosts: Vec::new(),
            host_index: HashMap::new(),
            memberships: 0,
        };
        b.group_id("all");
        b
    }

    /// The following calls come from `file` (another file of an inventory directory, or
    /// a `group_vars/`/`host_vars/` file).
    pub(super) fn begin_file(&mut self, file: &Path) {
        self.cur = match self.files.iter().position(|f| f == file) {
            Some(i) => i,
            None => {
                self.files.push(file.to_path_buf());
                self.files.len() - 1
            }
        };
    }

    /// The file being read now.
    pub(super) fn file(&self) -> &Path {
        &self.files[self.cur]
    }

    fn err(&self, line: Option<usize>, expected: impl Into<String>) -> InventoryError {
        InventoryError::new(&self.files[self.cur], line, expected)
    }

    /// Whether the inventory has a group of this name.
    pub(super) fn has_group(&self, name: &str) -> bool {
        self.group_index.contains_key(name)
    }

    /// Whether the inventory has a host of this name.
    pub(super) fn has_host(&self, name: &str) -> bool {
        self.host_index.contains_key(name)
    }

    fn group_id(&mut self, name: &str) -> usize {
        if let Some(&i) = self.group_index.get(name) {
            return i;
        }
        let i = self.groups.len();
        self.groups.push(Group {
            name: name.to_string(),
            ..Group::default()
        });
        self.group_index.insert(name.to_string(), i);
        i
    }

    /// Declare a group (so that it exists even without hosts). Checks the name.
    pub(super) fn group(&mut self, name: &str, line: Option<usize>) -> Result<(), InventoryError> {
        check_group_name(name).map_err(|e| self.err(line, e))?;
        self.group_id(name);
        Ok(())
    }

    /// `child` is a child group of `parent`: its hosts belong to `parent` as well.
    pub(super) fn add_child(
        &mut self,
        parent: &str,
        child: &str,
        line: Option<usize>,
    ) -> Result<(), InventoryError> {
        check_group_name(parent).map_err(|e| self.err(line, e))?;
        check_group_name(child).map_err(|e| self.err(line, e))?;
        if child == "all" {
            return Err(self.err(
                line,
                format!(
                    "a child group of {parent} other than all (all is the root of every group)"
                ),
            ));
        }
        if child == parent {
            return Err(self.err(
                line,
                format!("a child group of {parent} other than {parent} itself"),
            ));
        }
        let p = self.group_id(parent);
        let c = self.group_id(child);
        if self.descends(p, c) {
            return Err(self.err(
                line,
                format!(
                    "group children without a cycle, but {child} is already an ancestor of {parent}"
                ),
            ));
        }
        if !self.groups[p].children.contains(&c) {
            self.groups[p].children.push(c);
        }
        Ok(())
    }

    /// Whether `g` is `from` or one of its descendants through `children`.
    fn descends(&self, g: usize, from: usize) -> bool {
        let mut seen = vec![false; self.groups.len()];
        let mut todo = vec![from];
        while let Some(x) = todo.pop() {
            if x == g {
                return true;
            }
            if !std::mem::replace(&mut seen[x], true) {
                todo.extend(self.groups[x].children.iter().copied());
            }
        }
        false
    }

    /// `group` lists the host `name` directly (`name` is one host, not a pattern).
    pub(super) fn add_host(
        &mut self,
        group: &str,
        name: &str,
        line: Option<usize>,
    ) -> Result<(), InventoryError> {
        check_group_name(group).map_err(|e| self.err(line, e))?;
        check_host_name(name).map_err(|e| self.err(line, e))?;
        let g = self.group_id(group);
        let h = match self.host_index.get(name) {
            Some(&h) => h,
            None => {
                let h = self.hosts.len();
                self.hosts.push(Host {
                    name: name.to_string(),
                    groups: Vec::new(),
                    vars: Vec::new(),
                    file_vars: Vec::new(),
                });
                self.host_index.insert(name.to_string(), h);
                h
            }
        };
        if !self.hosts[h].groups.contains(&g) {
            self.memberships += 1;
            if self.memberships > MAX_MEMBERSHIPS {
                return Err(self.err(
                    line,
                    format!(
                        "at most {MAX_MEMBERSHIPS} host entries in one inventory, but it lists more (aliases or ranges that expand too far?)"
                    ),
                ));
            }
            self.hosts[h].groups.push(g);
        }
        Ok(())
    }

    /// A group variable (`[group:vars]`, `vars:` of a group). `value` `None` is a null.
    pub(super) fn group_var(
        &mut self,
        group: &str,
        key: &str,
        value: Option<&str>,
        line: Option<usize>,
    ) -> Result<(), InventoryError> {
        self.group_var_from(VarSource::Inline, group, key, value, line)
    }

    /// A group variable from `source`; vars files win over the inventory's own vars.
    pub(super) fn group_var_from(
        &mut self,
        source: VarSource,
        group: &str,
        key: &str,
        value: Option<&str>,
        line: Option<usize>,
    ) -> Result<(), InventoryError> {
        check_group_name(group).map_err(|e| self.err(line, e))?;
        let setting = parse_setting(key, value)
            .map_err(|e| self.err(line, format!("{e} (in the vars of group {group})")))?;
        let g = self.group_id(group);
        if let Some(setting) = setting {
            let var = Var {
                setting,
                file: self.cur,
                line,
            };
            match source {
                VarSource::Inline => self.groups[g].vars.push(var),
                VarSource::VarsFile => self.groups[g].file_vars.push(var),
            }
        }
        Ok(())
    }

    /// A host variable. The host must have been added with [`Builder::add_host`].
    pub(super) fn host_var(
        &mut self,
        host: &str,
        key: &str,
        value: Option<&str>,
        line: Option<usize>,
    ) -> Result<(), InventoryError> {
        self.host_var_from(VarSource::Inline, host, key, value, line)
    }

    /// A host variable from `source`; `host_vars/` files win over inline host vars.
    pub(super) fn host_var_from(
        &mut self,
        source: VarSource,
        host: &str,
        key: &str,
        value: Option<&str>,
        line: Option<usize>,
    ) -> Result<(), InventoryError> {
        let setting = parse_setting(key, value)
            .map_err(|e| self.err(line, format!("{e} (in the vars of host {host})")))?;
        let Some(&h) = self.host_index.get(host) else {
            return Err(self.err(line, format!("host {host} to be listed in a group")));
        };
        if let Some(setting) = setting {
            let var = Var {
                setting,
                file: self.cur,
                line,
            };
            match source {
                VarSource::Inline => self.hosts[h].vars.push(var),
                VarSource::VarsFile => self.hosts[h].file_vars.push(var),
            }
        }
        Ok(())
    }

    /// Parents of every group, and the depth of every group (longest chain up to `all`).
    fn depths(&self) -> (Vec<Vec<usize>>, Vec<usize>) {
        let n = self.groups.len();
        let mut parents = vec![Vec::new(); n];
        for (p, g) in self.groups.iter().enumerate() {
            for &c in &g.children {
                parents[c].push(p);
            }
        }
        // No cycles (add_child refuses them), so the recursion ends.
        let mut depth: Vec<Option<usize>> = vec![None; n];
        depth[ALL] = Some(0);
        fn depth_of(g: usize, parents: &[Vec<usize>], depth: &mut Vec<Option<usize>>) -> usize {
            if let Some(d) = depth[g] {
                return d;
            }
            let mut d = 1; // every group is at least a child of all
            for &p in &parents[g] {
                if p != ALL {
                    d = d.max(depth_of(p, parents, depth) + 1);
                }
            }
            depth[g] = Some(d);
            d
        }
        let depth: Vec<usize> = (0..n).map(|g| depth_of(g, &parents, &mut depth)).collect();
        (parents, depth)
    }

    /// Resolve every host into a [`Node`].
    pub(super) fn finish(self) -> Result<Inventory, InventoryError> {
        let (parents, depth) = self.depths();
        let ungrouped = self.group_index.get("ungrouped").copied();
        let mut nodes = Vec::with_capacity(self.hosts.len());
        for host in &self.hosts {
            // Class and labels.
            let named: Vec<usize> = host
                .groups
                .iter()
                .copied()
                .filter(|&g| g != ALL && Some(g) != ungrouped)
                .collect();
            let (class, labels) = match named.split_first() {
                Some((&first, rest)) => (
                    self.groups[first].name.clone(),
                    rest.iter().map(|&g| self.groups[g].name.clone()).collect(),
                ),
                None => ("ungrouped".to_string(), Vec::new()),
            };
            // Every group the host belongs to.
            let mut member = vec![false; self.groups.len()];
            member[ALL] = true;
            // A host listed by a named group is not in ungrouped, as in Ansible.
            let mut todo: Vec<usize> = named.clone();
            if let (true, Some(u)) = (named.is_empty(), ungrouped) {
                todo.push(u);
            }
            while let Some(g) = todo.pop() {
                if !member[g] {
                    member[g] = true;
                    todo.extend(parents[g].iter().copied());
                }
            }
            // Precedence: (depth, direct rank); stable, so ties keep declaration order.
            let direct_rank = |g: usize| -> usize {
                match named.iter().position(|&x| x == g) {
                    Some(pos) => named.len() - pos,
                    None => 0,
                }
            };
            let mut order: Vec<usize> = (0..self.groups.len()).filter(|&g| member[g]).collect();
            order.sort_by_key(|&g| (depth[g], direct_rank(g)));

            let mut node = Node {
                name: host.name.clone(),
                host: host.name.clone(),
                port: None,
                user: None,
                class,
                labels,
                layout: Layout::default(),
            };
            // Ansible's default VARIABLE_PRECEDENCE: the inventory's own group vars (all,
            // then by depth), then group_vars/all, then group_vars/<group> by depth; then
            // the inventory's host vars, then host_vars/<host>.
            let vars = order
                .iter()
                .flat_map(|&g| self.groups[g].vars.iter())
                .chain(order.iter().flat_map(|&g| self.groups[g].file_vars.iter()))
                .chain(host.vars.iter())
                .chain(host.file_vars.iter());
            let mut legacy: Vec<&Setting> = Vec::new();
            for var in vars {
                match &var.setting {
                    Setting::Legacy(s) => legacy.push(s),
                    s => apply(&mut node, s)
                        .map_err(|e| InventoryError::new(&self.files[var.file], var.line, e))?,
                }
            }
            // The older names win over the new ones, in precedence order among themselves.
            for s in legacy {
                match s {
                    Setting::Host(Some(h)) => node.host = h.clone(),
                    Setting::Port(Some(p)) => node.port = Some(*p),
                    Setting::User(Some(u)) => node.user = Some(u.clone()),
                    _ => {}
                }
            }
            nodes.push(node);
        }
        Inventory::from_nodes(&self.files[0], nodes)
    }
}

fn apply(node: &mut Node, setting: &Setting) -> Result<(), String> {
    match setting {
        Setting::Host(h) => node.host = h.clone().unwrap_or_else(|| node.name.clone()),
        Setting::Port(p) => node.port = *p,
        Setting::User(u) => node.user = u.clone(),
        Setting::Layout(key, Some(v)) => (key.set)(&mut node.layout, v)?,
        Setting::Layout(key, None) => (key.reset)(&mut node.layout),
        Setting::Legacy(s) => apply(node, s)?,
    }
    Ok(())
}

/// Whether meshroll reads this variable: `ansible_host`, `ansible_port`, `ansible_user`
/// or any `meshroll_*` (an unknown one is an error, not ignored).
pub(super) fn reads_key(key: &str) -> bool {
    key.starts_with("meshroll_")
        || matches!(
            key,
            "ansible_host"
                | "ansible_port"
                | "ansible_user"
                | "ansible_ssh_host"
                | "ansible_ssh_port"
                | "ansible_ssh_user"
        )
}

/// Check one variable. `Ok(None)`: not one meshroll reads. `Err(expected)` otherwise.
fn parse_setting(key: &str, value: Option<&str>) -> Result<Option<Setting>, String> {
    if let Some(v) = value
        && reads_key(key)
        && (v.contains("{{") || v.contains("{%"))
    {
        return Err(format!(
            "a plain value for {key} (meshroll does not evaluate Jinja templates), got {}",
            super::shown(v)
        ));
    }
    let setting = match key {
        "ansible_host" | "ansible_ssh_host" => match value {
            Some(v) => match super::check_ssh_host(v) {
                Ok(()) => Setting::Host(Some(v.to_string())),
                Err(why) => return Err(format!("{why} for {key}")),
            },
            None => Setting::Host(None),
        },
        "ansible_port" | "ansible_ssh_port" => Setting::Port(match value {
            None => None,
            Some(v) => Some(parse_port(v).ok_or_else(|| {
                format!(
                    "a port number for {key} (1 to 65535), got {}",
                    super::shown(v)
                )
            })?),
        }),
        "ansible_user" | "ansible_ssh_user" => match value {
            Some(v) => match super::check_ssh_user(v) {
                Ok(()) => Setting::User(Some(v.to_string())),
                Err(why) => return Err(format!("{why} for {key}")),
            },
            None => Setting::User(None),
        },
        _ => {
            let Some(short) = key.strip_prefix("meshroll_") else {
                return Ok(None);
            };
            let Some(def) = KeyDef::find(short) else {
                let hint = crate::suggest::did_you_mean(
                    crate::suggest::closest(short, KEY_NAMES.iter().copied())
                        .map(|k| format!("meshroll_{k}")),
                );
                return Err(format!(
                    "a known meshroll variable (meshroll_{}), got {key}{hint}",
                    KEY_NAMES.join(", meshroll_")
                ));
            };
            if let Some(v) = value {
                (def.set)(&mut Layout::default(), v)?;
            }
            Setting::Layout(def, value.map(str::to_string))
        }
    };
    if key.starts_with("ansible_ssh_") {
        return Ok(Some(Setting::Legacy(Box::new(setting))));
    }
    Ok(Some(setting))
}

/// A TCP port, 1 to 65535.
pub(super) fn parse_port(s: &str) -> Option<u16> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

/// Group names: not empty, no whitespace, none of `[ ] : = # ; " '`.
pub(super) fn check_group_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "[]:=#;\"'".contains(c))
    {
        Err(format!(
            "a group name (no spaces or any of [ ] : = # ; quotes), got {name:?}"
        ))
    } else {
        Ok(())
    }
}

/// Host names (after range expansion): not empty, no whitespace, no brackets, and not
/// beginning with `-` (the name is the ssh destination unless `ansible_host` is set).
fn check_host_name(name: &str) -> Result<(), String> {
    super::check_node_name(name)?;
    if name.is_empty()
        || name.chars().any(|c| {
            c.is_whitespace() || crate::safe_text::is_unsafe_char(c) || "[]\"'=".contains(c)
        })
    {
        Err(format!(
            "a host name (no spaces, brackets, quotes or =), got {}",
            super::shown(name)
        ))
    } else if name.starts_with('-') {
        Err(format!(
            "a host name that does not begin with - (ssh would take it for an option), got {}",
            super::shown(name)
        ))
    } else {
        Ok(())
    }
}

/// Expand the Ansible ranges in a host pattern: `mac-w[01:03]` gives `mac-w01`,
/// `mac-w02`, `mac-w03`. A pattern without brackets is returned as is.
/// `Err(expected)` for a malformed range.
pub(super) fn expand_hosts(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        if pattern.contains(']') {
            return Err(format!(
                "a host name or a range like mac-w[01:20], got a stray ] in {pattern}"
            ));
        }
        return Ok(vec![pattern.to_string()]);
    };
    let (head, rest) = pattern.split_at(open);
    if head.contains(']') {
        return Err(format!(
            "a host name or a range like mac-w[01:20], got a stray ] in {pattern}"
        ));
    }
    let Some(close) = rest.find(']') else {
        return Err(format!("a closing ] in the host range {pattern}"));
    };
    let inner = &rest[1..close];
    let tail = &rest[close + 1..];
    let items = expand_range(inner).map_err(|why| {
        format!("a host range like [01:20], [a:f] or [1:10:2] in {pattern}, but [{inner}] {why}")
    })?;
    let tails = expand_hosts(tail)?;
    if items.len().saturating_mul(tails.len()) > MAX_RANGE_HOSTS {
        return Err(format!(
            "at most {MAX_RANGE_HOSTS} hosts from one pattern, but {pattern} gives more"
        ));
    }
    let mut out = Vec::with_capacity(items.len() * tails.len());
    for item in &items {
        for t in &tails {
            out.push(format!("{head}{item}{t}"));
        }
    }
    Ok(out)
}

/// The items of one range body (`01:20`, `a:f`, `1:10:2`). `Err(why)` when malformed.
fn expand_range(inner: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = inner.split(':').map(str::trim).collect();
    let (beg, end, step) = match parts.as_slice() {
        [b, e] => (*b, *e, None),
        [b, e, s] => (*b, *e, Some(*s)),
        _ => return Err("is not start:end or start:end:step".to_string()),
    };
    if end.is_empty() {
        return Err("has no end".to_string());
    }
    let step = match step {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "has a step {s:?} that is not a positive whole number"
                ));
            }
        },
    };
    let is_letter = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic());
    if is_letter(end) && (beg.is_empty() || is_letter(beg)) {
        let b = beg.bytes().next().unwrap_or(b'a');
        let e = end.bytes().next().unwrap_or(b'a');
        if b.is_ascii_lowercase() != e.is_ascii_lowercase() {
            return Err("mixes lower and upper case letters".to_string());
        }
        if b > e {
            return Err("starts after its end".to_string());
        }
        return Ok((b..=e)
            .step_by(step)
            .map(|c| char::from(c).to_string())
            .collect());
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(end) || !(beg.is_empty() || digits(beg)) {
        return Err("is neither two numbers nor two letters".to_string());
    }
    let width = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err("has a zero-padded start and an end of a different width".to_string());
        }
        beg.len()
    } else {
        0
    };
    let b: u64 = if beg.is_empty() {
        0
    } else {
        beg.parse()
            .map_err(|_| "has a start too large".to_string())?
    };
    let e: u64 = end
        .parse()
        .map_err(|_| "has an end too large".to_string())?;
    if b > e {
        return Err("starts after its end".to_string());
    }
    let count = (e - b) / step as u64 + 1;
    if count > MAX_RANGE_HOSTS as u64 {
        return Err(format!("gives more than {MAX_RANGE_HOSTS} hosts"));
    }
    Ok((b..=e)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::inventory::NodeId;
    use crate::inventory::test_support::labels;

    fn names(p: &str) -> Vec<String> {
        expand_hosts(p).unwrap()
    }

    #[test]
    fn plain_name_is_kept() {
        assert_eq!(names("mac-w01"), vec!["mac-w01"]);
    }

    #[test]
    fn numeric_range_keeps_padding() {
        assert_eq!(names("mac-w[01:03]"), vec!["mac-w01", "mac-w02", "mac-w03"]);
        assert_eq!(names("mac-w[8:10]"), vec!["mac-w8", "mac-w9", "mac-w10"]);
        assert_eq!(
            names("m[098:100].lan"),
            vec!["m098.lan", "m099.lan", "m100.lan"]
        );
        assert_eq!(names("m[:2]"), vec!["m0", "m1", "m2"]);
        assert_eq!(names("m[0:0]"), vec!["m0"]);
    }

    #[test]
    fn letter_and_stride_ranges() {
        assert_eq!(names("db-[a:c]"), vec!["db-a", "db-b", "db-c"]);
        assert_eq!(names("db-[A:C]"), vec!["db-A", "db-B", "db-C"]);
        assert_eq!(names("n[1:10:4]"), vec!["n1", "n5", "n9"]);
        assert_eq!(names("n[a:e:2]"), vec!["na", "nc", "ne"]);
        assert_eq!(names("n[01:05:2]x"), vec!["n01x", "n03x", "n05x"]);
    }

    #[test]
    fn several_ranges_cross() {
        assert_eq!(names("r[a:b]-[1:2]"), vec!["ra-1", "ra-2", "rb-1", "rb-2"]);
    }

    #[test]
    fn malformed_ranges() {
        for (p, why) in [
            ("mac-w[01:]", "has no end"),
            ("mac-w[01:20", "a closing ]"),
            ("mac-w[5]", "is not start:end"),
            ("mac-w[1:2:3:4]", "is not start:end"),
            ("mac-w[3:1]", "starts after its end"),
            ("mac-w[c:a]", "starts after its end"),
            ("mac-w[a:C]", "mixes lower and upper"),
            ("mac-w[1:b]", "neither two numbers nor two letters"),
            ("mac-w[01:100]", "different width"),
            ("mac-w[1:5:0]", "step"),
            ("mac-w[1:5:x]", "step"),
            ("mac-w01]", "stray ]"),
            ("m]ac-w[1:2]", "stray ]"),
            ("m[0:99999999]", "more than 10000"),
            ("m[0:999]-[0:99]", "at most 10000"),
        ] {
            let e = expand_hosts(p).unwrap_err();
            assert!(e.contains(why), "{p}: {e}");
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(matches!(
            parse_setting("ansible_port", Some("2222")),
            Ok(Some(Setting::Port(Some(2222))))
        ));
        assert!(parse_setting("ansible_port", Some("0")).is_err());
        assert!(
            parse_setting("ansible_port", Some("ssh"))
                .unwrap_err()
                .contains("a port number for ansible_port")
        );
        assert!(parse_setting("ansible_port", Some("70000")).is_err());
        assert!(matches!(
            parse_setting("ansible_connection", Some("ssh")),
            Ok(None)
        ));
        assert!(
            parse_setting("meshroll_skils_root", Some("/x"))
                .unwrap_err()
                .contains("meshroll_skills_root")
        );
        assert!(
            parse_setting("meshroll_cache_max_age_min", Some("soon"))
                .unwrap_err()
                .contains("whole number of minutes")
        );
        assert!(matches!(
            parse_setting("meshroll_drain_cmd", None),
            Ok(Some(Setting::Layout(
                KeyDef {
                    name: "drain_cmd",
                    ..
                },
                None
            )))
        ));
        assert!(
            parse_setting("meshroll_skils_root", Some("/x"))
                .unwrap_err()
                .ends_with("got meshroll_skils_root (did you mean \"meshroll_skills_root\"?)")
        );
    }

    fn build(
        f: impl FnOnce(&mut Builder) -> Result<(), InventoryError>,
    ) -> Result<Inventory, InventoryError> {
        let mut b = Builder::new(Path::new("t"));
        f(&mut b)?;
        b.finish()
    }

    #[test]
    fn class_is_first_direct_group_and_others_are_labels() {
        let inv = build(|b| {
            b.add_host("ungrouped", "solo", None)?;
            b.add_host("worker", "w1", None)?;
            b.add_host("canary", "w1", None)?;
            b.add_host("all", "w2", None)?;
            b.add_host("worker", "w2", None)?;
            b.add_child("macs", "worker", None)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            labels(&inv),
            vec![
                ("solo", "ungrouped", vec![]),
                ("w1", "worker", vec!["canary".to_string()]),
                ("w2", "worker", vec![]),
            ]
        );
        assert_eq!(inv.classes, vec!["ungrouped", "worker"]);
    }

    #[test]
    fn precedence() {
        let inv = build(|b| {
            b.add_host("worker", "w1", None)?;
            b.add_host("canary", "w1", None)?;
            b.add_host("worker", "w2", None)?;
            b.add_host("deep", "w3", None)?;
            b.add_child("macs", "worker", None)?;
            b.add_child("worker", "deep", None)?;
            b.group_var("all", "meshroll_run_as", Some("all"), None)?;
            b.group_var("all", "meshroll_state_dir", Some("/all"), None)?;
            b.group_var("all", "meshroll_openclaw", Some("all"), None)?;
            b.group_var("macs", "meshroll_run_as", Some("macs"), None)?;
            b.group_var("macs", "meshroll_state_dir", Some("/macs"), None)?;
            b.group_var("worker", "meshroll_run_as", Some("worker"), None)?;
            b.group_var("canary", "meshroll_run_as", Some("canary"), None)?;
            b.group_var("deep", "meshroll_run_as", Some("deep"), None)?;
            b.host_var("w2", "meshroll_run_as", Some("host"), None)?;
            b.host_var("w2", "meshroll_openclaw", None, None)?;
            Ok(())
        })
        .unwrap();
        let l = |i: usize| &inv.nodes[NodeId::new(i)].layout;
        // canary and worker are both depth 1 and direct; worker (the class) wins.
        assert_eq!(l(0).run_as, "worker");
        assert_eq!(l(0).state_dir, "/macs");
        assert_eq!(l(0).openclaw, "all");
        assert_eq!(l(1).run_as, "host");
        assert_eq!(l(1).openclaw, "openclaw", "null resets to the default");
        // deep (child of worker, grandchild of macs) beats its parents.
        assert_eq!(l(2).run_as, "deep");
        assert_eq!(l(2).state_dir, "/macs");
        assert_eq!(inv.nodes[NodeId::new(2)].class, "deep");
    }

    #[test]
    fn deeper_direct_group_beats_class_group() {
        let inv = build(|b| {
            b.add_host("worker", "w1", None)?;
            b.add_host("canary", "w1", None)?;
            b.add_child("worker", "canary", None)?;
            b.group_var("worker", "meshroll_run_as", Some("worker"), None)?;
            b.group_var("canary", "meshroll_run_as", Some("canary"), None)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(inv.nodes[NodeId::new(0)].class, "worker");
        assert_eq!(inv.nodes[NodeId::new(0)].labels, vec!["canary"]);
        assert_eq!(inv.nodes[NodeId::new(0)].layout.run_as, "canary");
    }

    #[test]
    fn destination_vars() {
        let inv = build(|b| {
            b.add_host("g", "n1", None)?;
            b.group_var("g", "ansible_user", Some("admin"), None)?;
            b.group_var("g", "ansible_port", Some("2222"), None)?;
            b.host_var("n1", "ansible_host", Some("10.0.0.1"), None)?;
            b.add_host("g", "n2", None)?;
            b.host_var("n2", "ansible_port", None, None)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(
            inv.nodes[NodeId::new(0)].destination(),
            "admin@10.0.0.1:2222"
        );
        assert_eq!(inv.nodes[NodeId::new(1)].destination(), "admin@n2");
    }

    #[test]
    fn cycles_are_errors() {
        let e = build(|b| {
            b.add_child("a", "b", Some(3))?;
            b.add_child("b", "c", Some(5))?;
            b.add_child("c", "a", Some(7))?;
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.line, Some(7));
        assert!(e.expected.contains("without a cycle"), "{}", e.expected);
        let e = build(|b| b.add_child("a", "a", Some(2))).unwrap_err();
        assert!(e.expected.contains("other than a itself"));
        let e = build(|b| b.add_child("a", "all", Some(2))).unwrap_err();
        assert!(e.expected.contains("other than all"));
    }

    #[test]
    fn bad_names() {
        assert!(build(|b| b.add_host("g", "bad name", Some(1))).is_err());
        assert!(build(|b| b.add_host("bad:group", "h", Some(1))).is_err());
        let e = build(|b| b.group_var("g", "ansible_port", Some("x"), Some(4))).unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.expected.contains("in the vars of group g"));
    }
}
