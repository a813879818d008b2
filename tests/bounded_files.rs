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

/// `--ssh-config` is read by ssh, but meshroll opens it first to check it: a FIFO there
/// hung `status` before a node was polled. The binary runs under a deadline.
#[test]
fn an_ssh_config_that_is_a_fifo_is_refused_and_dev_null_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("hosts.ini");
    std::fs::write(
        &inv,
        "[workers]\nn1 ansible_host=127.0.0.1 ansible_port=1\n",
    )
    .unwrap();
    let fifo = dir.path().join("ssh_config");
    make(&fifo, Special::Fifo);
    let run = |cfg: &Path| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_meshroll"))
            .args([
                "-i",
                inv.to_str().unwrap(),
                "--ssh-config",
                cfg.to_str().unwrap(),
            ])
            .args(["--log-dir", dir.path().join("log").to_str().unwrap()])
            .args(["--timeout", "2", "status", "--json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                return (st.code(), err);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "meshroll --ssh-config {} did not end within 15 s",
                    cfg.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (code, err) = run(&fifo);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&fifo.display().to_string()) && err.contains("FIFO"),
        "{err}"
    );
    // `-F /dev/null` stays usable: the node is polled (and is dead: nothing listens).
    let (code, err) = run(Path::new("/dev/null"));
    assert_eq!(code, Some(1), "{err}");
}

/// The files meshroll appends to go through one opener too: appending to a FIFO waited
/// for a reader for ever (the rollout hung before its first node), and a device such as
/// `/dev/zero` swallowed every record of the journal that resume depends on.
fn each_appended(what: &str, name: &str, append: fn(PathBuf) -> Result<(), String>) {
    let mut failed = Vec::new();
    for s in [Special::Fifo, Special::DevZero] {
        let dir = tempfile::tempdir().unwrap();
        let special = dir.path().join(name);
        make(&special, s);
        let arg = special.clone();
        let err = refused(s, move || {
            append(arg).map_err(|e| format!("{}: {e}", special.display()))
        });
        if let Err(e) = err.and_then(|err| {
            let why = if matches!(s, Special::Fifo) {
                "FIFO"
            } else {
                "device"
            };
            if err.contains(why) {
                Ok(())
            } else {
                Err(format!("{s:?}: the error does not say {why:?}: {err}"))
            }
        }) {
            failed.push(e);
        }
    }
    assert!(failed.is_empty(), "{what}:\n{}", failed.join("\n"));
}

#[test]
fn a_journal_to_append_to_that_is_not_a_regular_file_is_refused() {
    each_appended("journal (append)", "meshroll-journal.jsonl", |p| {
        meshroll::rollout::journal::Journal::open(
            &p,
            "r1".into(),
            "sha".into(),
            "m".into(),
            meshroll::inventory::Fleet::default(),
        )
        .map(drop)
        .map_err(|e| e.to_string())
    });
}

#[test]
fn an_audit_log_to_append_to_that_is_not_a_regular_file_is_refused() {
    each_appended("audit log (append)", "meshroll-audit.jsonl", |p| {
        let rec = meshroll::actions::audit::Record {
            ts: 1,
            who: "ops@h/pid1".into(),
            host: "h".into(),
            action: "drain".into(),
            node: "n1".into(),
            command: "touch /s/drain".into(),
            exit: Some(0),
            ok: true,
            duration_ms: 1,
            note: String::new(),
        };
        meshroll::actions::audit::append(&p, &rec).map_err(|e| e.to_string())
    });
}

#[test]
fn a_daily_log_that_is_not_a_regular_file_is_refused() {
    let day = meshroll::logging::utc_date(std::time::SystemTime::now());
    // The name of today's log: a FIFO or a device put there fails the write, and the
    // next day's file is a new one.
    fn write_today(p: PathBuf) -> Result<(), String> {
        let dir = p.parent().unwrap().to_path_buf();
        let mut f = meshroll::logging::DailyFile::new(&dir);
        std::io::Write::write_all(&mut f, b"line\n").map_err(|e| e.to_string())
    }
    each_appended("daily log", &format!("meshroll.log.{day}"), write_today);
}
