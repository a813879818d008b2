//! Ansible inventories as operators keep them on disk: one file or a directory of files,
//! with `group_vars/` and `host_vars/` folders beside them.
//!
//! - **An inventory file** (INI or YAML) reads the `group_vars/` and `host_vars/` folders
//!   of the folder it is in.
//! - **An inventory directory** reads every file in it, in name order, going into
//!   subfolders, as Ansible does: INI and YAML (and JSON) files may be mixed; hosts,
//!   groups, children and vars of all files add up as if they were one file. Skipped as
//!   Ansible skips them: hidden names, `group_vars`, `host_vars`, `vars_plugins`, and the
//!   extensions of Ansible's `INVENTORY_IGNORE_EXTS` (`~ .orig .cfg .retry .pyc .pyo .swp
//!   .bak .rpm .md .txt .rst`). The directory's own `group_vars/` and `host_vars/` are read.
//! - **Vars folders**: `group_vars/<group>` and `host_vars/<host>` are found as Ansible's
//!   `host_group_vars` finds them: `<name>`, `<name>.yml`, `<name>.yaml` or
//!   `<name>.json`, either a file or a folder whose files (recursively, in name order,
//!   hidden and `~` names skipped, extensions `.yml .yaml .json` or none) all apply,
//!   later files winning. They set `meshroll_*` and `ansible_host/port/user` exactly like
//!   inline vars, with the same checks.
//! - **Precedence** (Ansible's default `VARIABLE_PRECEDENCE`), lowest first: the
//!   inventory's own group vars (all, then parents before children), `group_vars/all`,
//!   `group_vars/<group>` (parents before children), the inventory's host vars,
//!   `host_vars/<host>`. So a `group_vars/all` setting beats a `[worker:vars]` line, and
//!   `host_vars/` beats a variable on the host's line.
//! - **Never silently ignored**: a vars file for a group or host the inventory does not
//!   have is an error when it sets a `meshroll_*` variable (it would otherwise fall back
//!   to the default); two files naming the same group (`worker/` and `worker.yml`, of
//!   which Ansible reads only the first) are an error; a `group_vars/` folder inside a
//!   subfolder of an inventory directory (Ansible does not read it) is an error.
//! - **Not supported, stopped with an error naming the file**: dynamic inventory scripts
//!   (a `#!` first line, or an executable `.py`/`.sh`/...), inventory plugin
//!   configurations (`plugin: aws_ec2`), vault-encrypted files (`$ANSIBLE_VAULT;...`), a
//!   TOML file inside an inventory directory. `!vault` values are refused for variables
//!   meshroll reads (see [`super::yaml`]).
use std::path::{Path, PathBuf};

use super::ansible::Builder;
use super::yaml::VarsOf;
use super::{Format, Inventory, InventoryError, detect_format, ini, yaml};

/// The largest inventory or vars file read, in bytes.
pub const MAX_FILE_BYTES: u64 = crate::bounded_file::Kind::Inventory.cap();

/// The most files one inventory directory (or one vars folder) may hold.
const MAX_FILES: usize = 10_000;

/// The deepest folder nesting followed (a guard against symlink loops).
const MAX_DIR_DEPTH: usize = 16;

/// Ansible's `INVENTORY_IGNORE_EXTS` (`REJECT_EXTS` plus `.orig .cfg .retry`).
const IGNORED_EXTS: &[&str] = &[
    "~", ".orig", ".cfg", ".retry", ".pyc", ".pyo", ".swp", ".bak", ".rpm", ".md", ".txt", ".rst",
];

/// Extensions of a file that is a program, not an inventory.
const SCRIPT_EXTS: &[&str] = &["py", "sh", "bash", "rb", "pl", "js", "php"];

/// Names an inventory directory never reads as inventory files.
const IGNORED_NAMES: &[&str] = &["group_vars", "host_vars", "vars_plugins"];

fn io_err(path: &Path, e: std::io::Error) -> InventoryError {
    InventoryError::new(path, None, format!("a readable file ({e})"))
}

/// Read an inventory or vars file as text, refusing what meshroll cannot read: over
/// [`MAX_FILE_BYTES`], not UTF-8, vault-encrypted, a dynamic inventory script.
pub(super) fn read_text(path: &Path) -> Result<String, InventoryError> {
    let text = read_plain(path)?;
    if is_vault(&text) {
        return Err(InventoryError::new(
            path,
            Some(1),
            "a plain-text file, but it is encrypted with ansible-vault (meshroll cannot decrypt it, and Ansible cannot either without the vault password: keep the variables meshroll reads in a plain file, outside this folder's vault files)",
        ));
    }
    if text.starts_with("#!") || is_script_by_name(path) {
        return Err(InventoryError::new(
            path,
            Some(1),
            "a static inventory (INI or YAML), but this is a dynamic inventory script (meshroll does not run inventory scripts: export the hosts with `ansible-inventory -i SCRIPT --list --yaml > hosts.yml` and pass that)",
        ));
    }
    Ok(text)
}

fn is_vault(text: &str) -> bool {
    text.starts_with("$ANSIBLE_VAULT;")
}

/// Read a file as UTF-8 text of at most [`MAX_FILE_BYTES`], without a BOM: a regular
/// file only, through the one bounded reader (`crate::bounded_file`).
fn read_plain(path: &Path) -> Result<String, InventoryError> {
    let bytes = crate::bounded_file::read(path, crate::bounded_file::Kind::Inventory)
        .map_err(|e| io_err(path, e))?;
    let text =
        String::from_utf8(bytes).map_err(|_| InventoryError::new(path, None, "UTF-8 text"))?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(t) => t.to_string(),
        None => text,
    })
}

/// An executable file with a script's extension.
fn is_script_by_name(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    SCRIPT_EXTS.contains(&ext)
        && std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Load an Ansible inventory file (`format` INI or YAML) with the vars folders beside it.
pub(super) fn load_file(
    path: &Path,
    format: Format,
    text: &str,
) -> Result<Inventory, InventoryError> {
    let mut b = Builder::new(path);
    feed(&mut b, format, text)?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    read_vars_folders(&mut b, &base)?;
    b.finish()
}

fn feed(b: &mut Builder, format: Format, text: &str) -> Result<(), InventoryError> {
    match format {
        Format::Ini => ini::feed(b, text),
        Format::Yaml => yaml::feed(b, text),
        Format::Toml => Err(InventoryError::new(
            b.file(),
            None,
            "an Ansible INI or YAML inventory file in an inventory directory, but this looks like TOML (a meshroll.toml is passed on its own with -i; Ansible's TOML inventory format is not supported)",
        )),
    }
}

/// Load an inventory directory: every inventory file in it, then its vars folders.
pub(super) fn load_dir(dir: &Path) -> Result<Inventory, InventoryError> {
    let mut files = Vec::new();
    inventory_files(dir, dir, 0, &mut files)?;
    if files.is_empty() {
        return Err(InventoryError::new(
            dir,
            None,
            "an inventory directory with at least one INI or YAML inventory file",
        ));
    }
    let mut b = Builder::new(dir);
    for f in &files {
        let text = read_text(f)?;
        b.begin_file(f);
        let format = match f.extension().and_then(|e| e.to_str()) {
            Some("json") => Format::Yaml,
            _ => detect_format(f, &text),
        };
        feed(&mut b, format, &text)?;
    }
    b.begin_file(dir);
    read_vars_folders(&mut b, dir)?;
    b.finish()
}

/// Sorted names in `dir`.
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, InventoryError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| InventoryError::new(dir, None, format!("a readable folder ({e})")))?;
    let mut out = Vec::new();
    for e in rd {
        let e =
            e.map_err(|e| InventoryError::new(dir, None, format!("a readable folder ({e})")))?;
        let Ok(name) = e.file_name().into_string() else {
            return Err(InventoryError::new(
                &e.path(),
                None,
                "a file name that is UTF-8",
            ));
        };
        out.push((name, e.path()));
        if out.len() > MAX_FILES {
            return Err(InventoryError::new(
                dir,
                None,
                format!("a folder of at most {MAX_FILES} files"),
            ));
        }
    }
    out.sort();
    Ok(out)
}

/// The inventory files of an inventory directory, in Ansible's order.
fn inventory_files(
    top: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<PathBuf>,
) -> Result<(), InventoryError> {
    if depth > MAX_DIR_DEPTH {
        return Err(InventoryError::new(
            dir,
            None,
            format!("folders nested at most {MAX_DIR_DEPTH} deep (a symlink loop?)"),
        ));
    }
    for (name, path) in sorted_entries(dir)? {
        if name.starts_with('.') || IGNORED_EXTS.iter().any(|x| name.ends_with(x)) {
            continue;
        }
        if IGNORED_NAMES.contains(&name.as_str()) {
            if depth > 0 && name != "vars_plugins" {
                return Err(InventoryError::new(
                    &path,
                    None,
                    format!(
                        "{name}/ at the top of the inventory directory {} (Ansible does not read it in a subfolder, and neither does meshroll): move it up",
                        top.display()
                    ),
                ));
            }
            continue;
        }
        if path.is_dir() {
            inventory_files(top, &path, depth + 1, out)?;
        } else {
            out.push(path);
            if out.len() > MAX_FILES {
                return Err(InventoryError::new(
                    top,
                    None,
                    format!("an inventory directory of at most {MAX_FILES} files"),
                ));
            }
        }
    }
    Ok(())
}

/// The name of the group or host a vars folder entry is for, when it is one Ansible
/// reads: `name`, `name.yml`, `name.yaml`, `name.json`, or a folder `name`.
fn entity_of(name: &str, is_dir: bool) -> Option<String> {
    if name.starts_with('.') || name.ends_with('~') {
        return None;
    }
    for ext in [".yml", ".yaml", ".json"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return Some(stem.to_string());
        }
    }
    if is_dir {
        return Some(name.to_string());
    }
    // Ansible reads files without an extension and skips other extensions.
    match Path::new(name).extension() {
        None => Some(name.to_string()),
        Some(_) => None,
    }
}

/// The files of a vars folder entry that is a folder (Ansible's `_get_dir_vars_files`).
fn dir_vars_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    if depth > MAX_DIR_DEPTH {
        return Err(InventoryError::new(
            dir,
            None,
            format!("folders nested at most {MAX_DIR_DEPTH} deep (a symlink loop?)"),
        ));
    }
    for (name, path) in sorted_entries(dir)? {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = Path::new(&name)
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| format!(".{e}"));
        if path.is_dir() && ext.is_none() {
            dir_vars_files(&path, depth + 1, out)?;
        } else if !path.is_dir()
            // a FIFO or device is read, so the bounded reader refuses it by name
            && ext
                .as_deref()
                .is_none_or(|e| matches!(e, ".yml" | ".yaml" | ".json"))
        {
            out.push(path);
            if out.len() > MAX_FILES {
                return Err(InventoryError::new(
                    dir,
                    None,
                    format!("a vars folder of at most {MAX_FILES} files"),
                ));
            }
        }
    }
    Ok(())
}

/// Which vars folder: `group_vars/` or `host_vars/`.
#[derive(Clone, Copy)]
enum VarsFolder {
    Group,
    Host,
}

impl VarsFolder {
    /// Both, in the order they are read.
    const ALL: [VarsFolder; 2] = [VarsFolder::Group, VarsFolder::Host];

    /// The folder's name beside the inventory.
    fn dir_name(self) -> &'static str {
        match self {
            VarsFolder::Group => "group_vars",
            VarsFolder::Host => "host_vars",
        }
    }

    /// What one entry of the folder holds the vars of.
    fn what(self) -> &'static str {
        match self {
            VarsFolder::Group => "group",
            VarsFolder::Host => "host",
        }
    }

    /// Whether the inventory has the group or host `entity`.
    fn known(self, b: &Builder, entity: &str) -> bool {
        match self {
            VarsFolder::Group => b.has_group(entity),
            VarsFolder::Host => b.has_host(entity),
        }
    }

    /// Whose vars a file of this folder for `entity` sets.
    fn vars_of(self, entity: &str) -> VarsOf<'_> {
        match self {
            VarsFolder::Group => VarsOf::Group(entity),
            VarsFolder::Host => VarsOf::Host(entity),
        }
    }
}

/// Read `<base>/group_vars/` and `<base>/host_vars/` into `b`.
fn read_vars_folders(b: &mut Builder, base: &Path) -> Result<(), InventoryError> {
    for kind in VarsFolder::ALL {
        let folder = base.join(kind.dir_name());
        if !folder.exists() {
            continue;
        }
        if !folder.is_dir() {
            return Err(InventoryError::new(
                &folder,
                None,
                format!("{} to be a folder of YAML files", kind.dir_name()),
            ));
        }
        for (entity, paths) in entries_by_entity(&folder)? {
            read_entity_vars(b, kind, &folder, &entity, &paths)?;
        }
    }
    Ok(())
}

/// The entries of a vars folder grouped by the group or host they are for (see
/// [`entity_of`]), in name order; entries that are for none are left out.
fn entries_by_entity(folder: &Path) -> Result<Vec<(String, Vec<PathBuf>)>, InventoryError> {
    let mut by_entity: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for (name, path) in sorted_entries(folder)? {
        let is_dir = path.is_dir();
        let Some(entity) = entity_of(&name, is_dir) else {
            continue;
        };
        match by_entity.iter_mut().find(|(e, _)| *e == entity) {
            Some((_, paths)) => paths.push(path),
            None => by_entity.push((entity, vec![path])),
        }
    }
    Ok(by_entity)
}

/// Read the vars of one group or host from its entries in `folder` (`paths`, files or
/// folders) into `b`. An entity the inventory has may have only one entry; for one it
/// does not have, nothing is read, but a `meshroll_*` variable is an error.
fn read_entity_vars(
    b: &mut Builder,
    kind: VarsFolder,
    folder: &Path,
    entity: &str,
    paths: &[PathBuf],
) -> Result<(), InventoryError> {
    let known = kind.known(b, entity);
    if known && paths.len() > 1 {
        return Err(one_entry_per_entity(kind, folder, entity, paths));
    }
    for f in &vars_files(paths)? {
        if known {
            let text = read_text(f)?;
            b.begin_file(f);
            yaml::feed_vars(b, kind.vars_of(entity), &text)?;
        } else {
            refuse_meshroll_vars_of_unknown(kind, entity, f)?;
        }
    }
    Ok(())
}

/// The error for two or more entries (`worker/` and `worker.yml`) holding the vars of
/// one group or host, of which Ansible reads only the first.
fn one_entry_per_entity(
    kind: VarsFolder,
    folder: &Path,
    entity: &str,
    paths: &[PathBuf],
) -> InventoryError {
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                kind.dir_name(),
                p.file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .collect();
    InventoryError::new(
        folder,
        None,
        format!(
            "one vars file or folder per {}, but {} all hold the vars of {} (Ansible reads only the first of them): keep one",
            kind.what(),
            names.join(" and "),
            super::shown(entity)
        ),
    )
}

/// The vars files of an entity's entries, in order: a file as it is, a folder as the
/// files in it (see [`dir_vars_files`]).
fn vars_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InventoryError> {
    let mut files = Vec::new();
    for entry in paths {
        if entry.is_dir() {
            dir_vars_files(entry, 0, &mut files)?;
        } else {
            files.push(entry.clone());
        }
    }
    Ok(files)
}

/// A vars file of a group or host the inventory does not have: Ansible ignores it (a
/// vaulted one too, so it is not refused here), but a `meshroll_*` setting in it would
/// silently fall back to the default, so that is an error.
fn refuse_meshroll_vars_of_unknown(
    kind: VarsFolder,
    entity: &str,
    f: &Path,
) -> Result<(), InventoryError> {
    let text = read_plain(f)?;
    if is_vault(&text) {
        return Ok(());
    }
    let keys = yaml::read_keys_in_vars(f, &text)?;
    if let Some((key, line)) = keys.iter().find(|(k, _)| k.starts_with("meshroll_")) {
        let what = kind.what();
        return Err(InventoryError::new(
            f,
            Some(*line),
            format!(
                "a {what} {} in the inventory for {key} in {}, but the inventory has no {what} of that name (a typo in the file name?)",
                super::shown(entity),
                kind.dir_name()
            ),
        ));
    }
    Ok(())
}
