//! Every file meshroll reads goes through one bounded reader (`src/bounded_file.rs`):
//! a FIFO, a device (a symlink to `/dev/zero`) or a 1 GB sparse file is refused, naming
//! the path, for every kind of file: an inventory, a `group_vars` file, a `host_vars`
//! folder's file, `keys.toml`, an actions file, a theme, a journal and the audit log.
//!
//! Each read runs on its own thread under a deadline, so a reader that blocks on a FIFO
//! (as meshroll did: `status` hung for ever on a FIFO `group_vars` file) fails the test
//! instead of hanging it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use meshroll::keymap::KeyMap;

/// The special files a hostile or careless teammate can leave where meshroll reads.
#[derive(Clone, Copy, Debug)]
enum Special {
    Fifo,
    DevZero,
    Sparse1G,
}

const ALL: [Special; 3] = [Special::Fifo, Special::DevZero, Special::Sparse1G];

fn make(path: &Path, s: Special) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    match s {
        Special::Fifo => {
            let st = std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .expect("mkfifo");
            assert!(st.success());
        }
        Special::DevZero => std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        Special::Sparse1G => {
            let f = std::fs::File::create(path).unwrap();
            f.set_len(1 << 30).unwrap();
        }
    }
}

/// Run `read` on a thread: its error text within 10 s, or why not.
fn refused(
    s: Special,
    read: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => Err(format!("{s:?}: read without an error")),
        Ok(Err(e)) => Ok(e),
        Err(_) => Err(format!("{s:?}: the read did not end within 10 s")),
    }
}

/// The error names the path and says why: not a regular file, or over the cap.
fn check(s: Special, path: &Path, err: &str) -> Result<(), String> {
    let p = path.display().to_string();
    if !err.contains(&p) {
        return Err(format!("{s:?}: the error does not name {p}: {err}"));
    }
    let why = match s {
        Special::Fifo => "FIFO",
        Special::DevZero => "device",
        Special::Sparse1G => "cap",
    };
    if !err.contains(why) {
        return Err(format!("{s:?}: the error does not say {why:?}: {err}"));
    }
    Ok(())
}

/// Every special file in turn where `setup` puts it; every failure listed at the end.
fn each(
    what: &str,
    setup: impl Fn(&Path, Special) -> PathBuf,
    read: fn(PathBuf) -> Result<(), String>,
) {
    let mut failed = Vec::new();
    for s in ALL {
        let dir = tempfile::tempdir().unwrap();
        let special = setup(dir.path(), s);
        let arg = special.clone();
        if let Err(e) = refused(s, move || read(arg)).and_then(|err| check(s, &special, &err)) {
            failed.push(e);
        }
    }
    assert!(failed.is_empty(), "{what}:\n{}", failed.join("\n"));
}

const HOSTS: &str = "[workers]\nn1 ansible_host=127.0.0.1\n";

#[test]
fn an_inventory_that_is_not_a_regular_file_is_refused() {
    each(
        "inventory",
        |d, s| {
            let p = d.join("hosts.ini");
            make(&p, s);
            p
        },
        |p| {
            meshroll::inventory::load(&p)
                .map(drop)
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn a_group_vars_file_that_is_not_a_regular_file_is_refused() {
    each(
        "group_vars file",
        |d, s| {
            std::fs::write(d.join("hosts.ini"), HOSTS).unwrap();
            let p = d.join("group_vars/all.yml");
            make(&p, s);
            p
        },
        |p| {
            let inv = p.parent().unwrap().parent().unwrap().join("hosts.ini");
            meshroll::inventory::load(&inv)
                .map(drop)
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn a_host_vars_folder_file_that_is_not_a_regular_file_is_refused() {
    each(
        "host_vars folder",
        |d, s| {
            std::fs::write(d.join("hosts.ini"), HOSTS).unwrap();
            let p = d.join("host_vars/n1/main.yml");
            make(&p, s);
            p
        },
        |p| {
            let inv = p.ancestors().nth(3).unwrap().join("hosts.ini");
            meshroll::inventory::load(&inv)
                .map(drop)
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn a_keys_file_that_is_not_a_regular_file_is_refused() {
    each(
        "keys.toml",
        |d, s| {
            let p = d.join("keys.toml");
            make(&p, s);
            p
        },
        |p| KeyMap::load(&p).map(drop).map_err(|e| e.to_string()),
    );
}

#[test]
fn an_actions_file_that_is_not_a_regular_file_is_refused() {
    each(
        "meshroll-actions.toml",
        |d, s| {
            std::fs::write(d.join("hosts.ini"), HOSTS).unwrap();
            let p = d.join("meshroll-actions.toml");
            make(&p, s);
            p
        },
        |p| {
            let inv = p.parent().unwrap().join("hosts.ini");
            meshroll::actions::user::load_all(&inv, &KeyMap::default())
                .map(drop)
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn a_theme_file_that_is_not_a_regular_file_is_refused() {
    each(
        "theme",
        |d, s| {
            let p = d.join("mine.toml");
            make(&p, s);
            p
        },
        |p| {
            meshroll::ui::theme::Theme::from_env(&p.display().to_string())
                .map(drop)
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn a_journal_that_is_not_a_regular_file_is_refused() {
    each(
        "journal",
        |d, s| {
            let p = d.join("meshroll-journal.jsonl");
            make(&p, s);
            p
        },
        |p| {
            meshroll::replay::Replay::load(&p)
                .map(drop)
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn an_audit_log_that_is_not_a_regular_file_is_refused() {
    each(
        "audit log",
        |d, s| {
            let p = d.join("meshroll-audit.jsonl");
            make(&p, s);
            p
        },
        // The audit reader's callers name the file (`replay --summary`); its error says why.
        |p| match meshroll::actions::audit::read(&p) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("{}: {e}", p.display())),
        },
    );
}
