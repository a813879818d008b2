//! The version lock: a skills tree -> `skills.lock.json`, `SKILLS_SHA` and
//! `SKILLS_MANIFEST_SHA256`.
//!
//! `SKILLS_SHA` is the git tree id of the folder at HEAD (`git rev-parse HEAD:<dir>`).
//! Outside git, meshroll refuses unless the user opts into a content id, which is
//! `c` + the first 39 hex digits of the sha256 of the file list.
//!
//! The lock file is canonical JSON (sorted keys, no spaces, one line, `\n` at the end):
//! the same tree always gives the same bytes. It lists every file with its relative
//! path, size, the mode it gets on a node and its sha256.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const LOCK_NAME: &str = "skills.lock.json";

/// Modes on the node: directories, files, secret sidecars. Never world-readable.
pub const DIR_MODE: u32 = 0o750;
pub const FILE_MODE: u32 = 0o640;
pub const SECRET_MODE: u32 = 0o440;

/// File name suffixes that mark a secret sidecar.
pub const DEFAULT_SECRET_SUFFIXES: &[&str] = &[".secret", ".key"];

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("skills folder {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(
        "skills folder {0} is not in a git work tree (or not committed at HEAD); commit it, or pass --content-id to name the bundle by its content"
    )]
    NotInGit(PathBuf),
    #[error(
        "skills folder {0} differs from what is committed at HEAD ({1}); its git tree id would name other files: commit it, or pass --content-id to name the bundle by its content"
    )]
    Dirty(PathBuf, String),
    #[error("skills folder {0}: git: {1}")]
    Git(PathBuf, String),
    #[error("skills folder {0}: {1} is not a regular file or folder (symlinks are not shipped)")]
    Special(PathBuf, String),
    #[error("skills folder {0}: path {1:?} is not UTF-8")]
    NotUtf8(PathBuf, PathBuf),
    #[error("skills folder {0} already holds a {LOCK_NAME}; it is generated, remove it")]
    LockInSource(PathBuf),
    #[error(
        "skills folder {0}: the name {1} holds a backslash or a control character (newline, tab, ...); sha256sum on the node escapes such names, so the copy could never verify: rename it"
    )]
    BadName(PathBuf, String),
}

/// Whether a path can ship: `sha256sum` (and `stat`) on the node print a name holding a
/// backslash, a newline or a carriage return escaped (or split over lines), so it could
/// never match its lock entry. Control characters of any kind are refused with them.
fn check_name(root: &Path, rel: &str) -> Result<(), ManifestError> {
    if rel.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(ManifestError::BadName(
            root.to_path_buf(),
            format!("\"{}\"", crate::safe_text::clean(rel)),
        ));
    }
    Ok(())
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEntry {
    /// Octal, as a string: `"0640"`.
    pub mode: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// `skills.lock.json`. Field order is alphabetical, so serde writes canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub files: Vec<LockEntry>,
    pub skills_sha: String,
    pub version: u32,
}

impl Lock {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// A bundle ready to ship: where it comes from, its ids and its lock.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub source: PathBuf,
    pub skills_sha: String,
    pub lock: Lock,
    pub lock_bytes: Vec<u8>,
    /// `SKILLS_MANIFEST_SHA256`: sha256 of `lock_bytes`.
    pub manifest_sha256: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn file_sha256(p: &Path) -> std::io::Result<(String, u64)> {
    let mut f = fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((hex(&h.finalize()), n))
}

/// The mode a file gets on the node.
pub fn mode_for(path: &str, secret_suffixes: &[&str]) -> u32 {
    if secret_suffixes.iter().any(|s| path.ends_with(s)) {
        SECRET_MODE
    } else {
        FILE_MODE
    }
}

/// Every regular file under `dir`, relative paths with `/`, sorted bytewise.
pub fn list_files(dir: &Path) -> Result<Vec<String>, ManifestError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), ManifestError> {
        let rd = fs::read_dir(dir).map_err(|e| ManifestError::Io(dir.to_path_buf(), e))?;
        for e in rd {
            let e = e.map_err(|e| ManifestError::Io(dir.to_path_buf(), e))?;
            let p = e.path();
            let ft = e.file_type().map_err(|e| ManifestError::Io(p.clone(), e))?;
            let rel = p
                .strip_prefix(root)
                .map_err(|_| ManifestError::Special(root.to_path_buf(), p.display().to_string()))?;
            let rel_s = rel
                .to_str()
                .ok_or_else(|| ManifestError::NotUtf8(root.to_path_buf(), rel.to_path_buf()))?
                .to_string();
            check_name(root, &rel_s)?;
            if ft.is_dir() {
                if rel_s == ".git" {
                    continue;
                }
                walk(root, &p, out)?;
            } else if ft.is_file() {
                out.push(rel_s);
            } else {
                return Err(ManifestError::Special(root.to_path_buf(), rel_s));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// The git tree id of `dir` at HEAD, or `None` when `dir` is not tracked at HEAD.
pub fn git_tree_id(dir: &Path) -> Result<Option<String>, ManifestError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD:./"])
        .output()
        .map_err(|e| ManifestError::Git(dir.to_path_buf(), format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Ok(None);
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if id.len() >= 40 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(Some(id))
    } else {
        Err(ManifestError::Git(
            dir.to_path_buf(),
            format!("unexpected rev-parse output {id:?}"),
        ))
    }
}

/// What in `dir` differs from HEAD: changed, staged, untracked and ignored files (all
/// of them would be shipped, none is in the tree id). Empty when clean.
pub fn git_changes(dir: &Path) -> Result<Vec<String>, ManifestError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--ignored",
            "--",
            ".",
        ])
        .output()
        .map_err(|e| ManifestError::Git(dir.to_path_buf(), format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(ManifestError::Git(
            dir.to_path_buf(),
            format!(
                "git status failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|e| e.len() > 3)
        .map(|e| String::from_utf8_lossy(e).to_string())
        .collect())
}

/// Hash the tree and build its lock. `content_id`: name the bundle by content when the
/// folder is not in git.
pub fn build(dir: &Path, content_id: bool) -> Result<Bundle, ManifestError> {
    let files = list_files(dir)?;
    if files.iter().any(|f| f == LOCK_NAME) {
        return Err(ManifestError::LockInSource(dir.to_path_buf()));
    }
    let mut entries = Vec::with_capacity(files.len());
    for f in &files {
        let (sha, size) =
            file_sha256(&dir.join(f)).map_err(|e| ManifestError::Io(dir.join(f), e))?;
        entries.push(LockEntry {
            mode: format!("{:04o}", mode_for(f, DEFAULT_SECRET_SUFFIXES)),
            path: f.clone(),
            sha256: sha,
            size,
        });
    }
    let tree_id = match git_tree_id(dir)? {
        Some(id) => {
            // The tree id names what is committed; refuse to ship other bytes under it.
            let changes = git_changes(dir)?;
            if changes.is_empty() {
                Some(id)
            } else if content_id {
                None
            } else {
                let n = changes.len();
                let mut shown: Vec<String> = changes.into_iter().take(5).collect();
                if n > 5 {
                    shown.push(format!("and {} more", n - 5));
                }
                return Err(ManifestError::Dirty(dir.to_path_buf(), shown.join(", ")));
            }
        }
        None => None,
    };
    let skills_sha = match tree_id {
        Some(id) => id,
        None if content_id => {
            let listing = serde_json::to_vec(&entries).unwrap_or_default();
            format!("c{}", &sha256_hex(&listing)[..39])
        }
        None => return Err(ManifestError::NotInGit(dir.to_path_buf())),
    };
    let lock = Lock {
        files: entries,
        skills_sha: skills_sha.clone(),
        version: 1,
    };
    let lock_bytes = lock.to_bytes();
    Ok(Bundle {
        source: dir.to_path_buf(),
        manifest_sha256: sha256_hex(&lock_bytes),
        skills_sha,
        lock,
        lock_bytes,
    })
}

/// Copy the bundle into `stage` with the node's modes and the lock file inside, ready
/// for `rsync -a` (which then carries the modes).
pub fn stage(b: &Bundle, stage: &Path) -> Result<(), ManifestError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| ManifestError::Io(p, e)
    };
    fs::create_dir_all(stage).map_err(io(stage))?;
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for e in &b.lock.files {
        let dst = stage.join(&e.path);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let src = b.source.join(&e.path);
        fs::copy(&src, &dst).map_err(io(&dst))?;
        fs::set_permissions(&dst, fs::Permissions::from_mode(0o600)).map_err(io(&dst))?;
        // Keep the source's mtime so a re-run finds nothing to touch on the node.
        let mtime = fs::metadata(&src)
            .and_then(|m| m.modified())
            .map_err(io(&src))?;
        newest = newest.max(mtime);
        set_mtime(&dst, mtime).map_err(io(&dst))?;
        let mode = u32::from_str_radix(&e.mode, 8).unwrap_or(FILE_MODE);
        fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).map_err(io(&dst))?;
    }
    let lock = stage.join(LOCK_NAME);
    fs::write(&lock, &b.lock_bytes).map_err(io(&lock))?;
    set_mtime(&lock, newest).map_err(io(&lock))?;
    fs::set_permissions(&lock, fs::Permissions::from_mode(FILE_MODE)).map_err(io(&lock))?;
    // Directories last, so files could be written into them first.
    let mut dirs = vec![stage.to_path_buf()];
    while let Some(d) = dirs.pop() {
        fs::set_permissions(&d, fs::Permissions::from_mode(DIR_MODE)).map_err(io(&d))?;
        for e in fs::read_dir(&d).map_err(io(&d))? {
            let e = e.map_err(io(&d))?;
            if e.file_type().map_err(io(&d))?.is_dir() {
                dirs.push(e.path());
            }
        }
    }
    Ok(())
}

fn set_mtime(p: &Path, t: std::time::SystemTime) -> std::io::Result<()> {
    fs::OpenOptions::new().write(true).open(p)?.set_modified(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("weather/lib")).expect("mkdir");
        fs::write(root.join("weather/SKILL.md"), "# weather\n").expect("w");
        fs::write(root.join("weather/lib/api.key"), "k").expect("w");
        fs::write(root.join("README.md"), "skills\n").expect("w");
    }

    #[test]
    fn same_tree_same_bytes_and_modes() {
        let a = tempfile::tempdir().expect("tmp");
        let b = tempfile::tempdir().expect("tmp");
        tree(a.path());
        tree(b.path());
        let la = build(a.path(), true).expect("a");
        let lb = build(b.path(), true).expect("b");
        assert_eq!(la.lock_bytes, lb.lock_bytes);
        assert_eq!(la.manifest_sha256, lb.manifest_sha256);
        assert_eq!(la.skills_sha, lb.skills_sha);
        assert!(la.skills_sha.starts_with('c') && la.skills_sha.len() == 40);
        let text = String::from_utf8(la.lock_bytes.clone()).expect("utf8");
        assert!(text.ends_with("}\n") && text.lines().count() == 1);
        assert!(text.starts_with(r#"{"files":[{"mode":"0640","path":"README.md","sha256":""#));
        let key = la
            .lock
            .files
            .iter()
            .find(|f| f.path == "weather/lib/api.key")
            .expect("key");
        assert_eq!(key.mode, "0440");
        assert_eq!(key.size, 1);
        // A changed byte changes both ids.
        fs::write(b.path().join("README.md"), "skills!\n").expect("w");
        let lb2 = build(b.path(), true).expect("b2");
        assert_ne!(la.manifest_sha256, lb2.manifest_sha256);
        assert_ne!(la.skills_sha, lb2.skills_sha);
    }

    /// Names sha256sum escapes could never verify on a node: refused, the name shown
    /// escaped.
    #[test]
    fn names_that_could_never_verify_are_refused() {
        for (name, shown) in [
            ("back\\slash.md", "back\\slash.md"),
            ("new\nline.md", "new\\nline.md"),
            ("carriage\r", "carriage\\r"),
            ("tab\there", "tab\\there"),
            ("esc\x1b[31m.md", "esc\\e[31m.md"),
        ] {
            let a = tempfile::tempdir().expect("tmp");
            tree(a.path());
            fs::write(a.path().join("weather").join(name), "x").expect("w");
            let e = build(a.path(), true).expect_err(name);
            assert!(
                matches!(&e, ManifestError::BadName(_, n) if n.contains(shown)),
                "{name:?}: {e}"
            );
            let msg = e.to_string();
            assert!(msg.contains(&format!("weather/{shown}")), "{msg}");
            assert!(!msg.chars().any(|c| c.is_control()), "{msg:?}");
        }
        // A folder with such a name is refused too, even when it is empty.
        let a = tempfile::tempdir().expect("tmp");
        tree(a.path());
        fs::create_dir(a.path().join("odd\ndir")).expect("mkdir");
        assert!(matches!(
            build(a.path(), true),
            Err(ManifestError::BadName(..))
        ));
        // Spaces, quotes and non-ASCII letters verify fine and still ship.
        let a = tempfile::tempdir().expect("tmp");
        tree(a.path());
        fs::write(a.path().join("a b 'c' é.md"), "x").expect("w");
        assert!(build(a.path(), true).is_ok());
    }

    #[test]
    fn outside_git_needs_the_opt_in() {
        let a = tempfile::tempdir().expect("tmp");
        tree(a.path());
        let e = build(a.path(), false).expect_err("refused");
        assert!(e.to_string().contains("--content-id"), "{e}");
    }

    #[test]
    fn git_tree_id_matches_git() {
        let a = tempfile::tempdir().expect("tmp");
        let skills = a.path().join("skills");
        tree(&skills);
        let git = |args: &[&str]| {
            let st = Command::new("git")
                .arg("-C")
                .arg(a.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .expect("git");
            assert!(st.status.success(), "{st:?}");
            String::from_utf8_lossy(&st.stdout).trim().to_string()
        };
        git(&["init", "-q"]);
        git(&["add", "."]);
        git(&["commit", "-qm", "skills"]);
        let want = git(&["rev-parse", "HEAD:skills"]);
        let b = build(&skills, false).expect("in git");
        assert_eq!(b.skills_sha, want);
        assert_eq!(b.lock.skills_sha, want);
        // Bytes that are not what HEAD holds never ship under HEAD's tree id: a changed
        // file, a new one, an ignored one.
        fs::write(a.path().join(".gitignore"), "*.log\n").expect("w");
        git(&["add", ".gitignore"]);
        git(&["commit", "-qm", "ignore"]);
        assert_eq!(build(&skills, false).expect("clean").skills_sha, want);
        for (file, body) in [
            ("README.md", "changed\n"),
            ("new.md", "new\n"),
            ("x.log", "l\n"),
        ] {
            let p = skills.join(file);
            let old = fs::read(&p).ok();
            fs::write(&p, body).expect("w");
            let e = build(&skills, false).expect_err(file);
            assert!(
                matches!(&e, ManifestError::Dirty(_, what) if what.contains(file)),
                "{file}: {e}"
            );
            assert!(e.to_string().contains("--content-id"), "{e}");
            let c = build(&skills, true).expect("content id");
            assert!(
                c.skills_sha.starts_with('c') && c.skills_sha != want,
                "{file}"
            );
            match old {
                Some(o) => fs::write(&p, o).expect("restore"),
                None => fs::remove_file(&p).expect("rm"),
            }
        }
        assert_eq!(build(&skills, false).expect("clean again").skills_sha, want);
    }

    #[test]
    fn staging_sets_node_modes_and_ships_the_lock() {
        use std::os::unix::fs::PermissionsExt;
        let a = tempfile::tempdir().expect("tmp");
        tree(a.path());
        let b = build(a.path(), true).expect("b");
        let s = tempfile::tempdir().expect("tmp");
        let st = s.path().join("stage");
        stage(&b, &st).expect("stage");
        let mode = |p: &str| fs::metadata(st.join(p)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode("README.md"), 0o640);
        assert_eq!(mode("weather/lib/api.key"), 0o440);
        assert_eq!(mode("weather"), 0o750);
        assert_eq!(mode(""), 0o750);
        assert_eq!(fs::read(st.join(LOCK_NAME)).expect("lock"), b.lock_bytes);
    }
}
