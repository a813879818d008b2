//! The one reader for every file meshroll reads on the operator's machine: inventories
//! and their vars files, `keys.toml`, actions files, themes, journals and the audit log.
//!
//! - Regular files only: a FIFO, a device (`/dev/zero`, also through a symlink), a
//!   socket or a folder is refused by what it is, before anything is read. The file is
//!   opened non-blocking (opening a FIFO for reading would wait for a writer for ever)
//!   and checked again on the open handle, so a file swapped between the check and the
//!   open is caught too.
//! - A size cap per [`Kind`]: refused at once when the size says so, and read through a
//!   limit in any case (a file that grows while it is read, or lies about its size,
//!   stops at the cap with the same error).
//!
//! Errors are `std::io::Error`s (a missing file keeps `NotFound`, so "no keys.toml" is
//! still the defaults); their text says why, and every caller names the path.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// What a file is for, which sets its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An inventory file, or a `group_vars`/`host_vars` file.
    Inventory,
    /// `keys.toml`.
    Keys,
    /// `actions.toml` or `meshroll-actions.toml`.
    Actions,
    /// A theme file.
    Theme,
    /// A rollout journal (read line by line, each line capped by its reader).
    Journal,
    /// The node actions' audit log.
    Audit,
}

impl Kind {
    /// The largest file of this kind meshroll reads.
    pub const fn cap(self) -> u64 {
        match self {
            Kind::Inventory => 16 * MIB,
            Kind::Keys | Kind::Actions | Kind::Theme => MIB,
            Kind::Journal => 512 * MIB,
            Kind::Audit => 64 * MIB,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Inventory => "an inventory or vars file",
            Kind::Keys => "a key bindings file",
            Kind::Actions => "an actions file",
            Kind::Theme => "a theme file",
            Kind::Journal => "a journal",
            Kind::Audit => "an audit log",
        }
    }
}

/// Open `path` for reading as a regular file of `kind`, through the size cap.
pub fn open(path: &Path, kind: Kind) -> io::Result<impl BufRead> {
    // What is not a regular file is refused before it is read.
    let (file, meta) = open_regular(path, std::fs::OpenOptions::new().read(true), "reads only")?;
    if meta.len() > kind.cap() {
        return Err(over_cap(kind, Some(meta.len())));
    }
    Ok(BufReader::new(Capped {
        inner: file.take(kind.cap() + 1),
        kind,
        read: 0,
    }))
}

/// The whole of `path`, a regular file of `kind`, at most its cap.
pub fn read(path: &Path, kind: Kind) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    open(path, kind)?.read_to_end(&mut out)?;
    Ok(out)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, kind: Kind) -> io::Result<String> {
    String::from_utf8(read(path, kind)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// `--ssh-config` is read by ssh, not here: it must open (without waiting, so a FIFO
/// cannot hang meshroll) and be a regular file, or `/dev/null` (`-F /dev/null`, the
/// usual way to say "no config").
pub fn check_ssh_config(path: &Path) -> io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let t = file.metadata()?.file_type();
    match not_regular(&t) {
        Some(_) if t.is_char_device() && std::fs::canonicalize(path)? == Path::new("/dev/null") => {
            Ok(())
        }
        Some(what) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file but {what}: ssh would wait on it"),
        )),
        None => Ok(()),
    }
}

/// Open `path` for appending (and reading back its end), creating it 0600 or tightening a
/// looser mode: the one opener of every file meshroll appends to (the journal, the
/// audit log, the daily log). Regular files only, checked on the open handle: the open
/// does not wait (`O_NONBLOCK`; appending to a FIFO would wait for a reader for ever,
/// and a device such as `/dev/zero` would swallow every record). The flag stays on the
/// handle: on a regular file it changes nothing (Linux and macOS ignore it there).
pub fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::PermissionsExt;
    let (file, meta) = open_regular(
        path,
        std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600),
        "appends only to",
    )?;
    if meta.permissions().mode() & 0o777 != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Open with `how` plus `O_NONBLOCK` (opening a FIFO does not wait for the other end;
/// the flag changes nothing for a regular file), and refuse what is not a regular file,
/// checked on the open handle: "meshroll `verb` only regular files".
fn open_regular(
    path: &Path,
    how: &mut std::fs::OpenOptions,
    verb: &str,
) -> io::Result<(File, std::fs::Metadata)> {
    let file = how.custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    match not_regular(&meta.file_type()) {
        Some(what) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file but {what}: meshroll {verb} regular files"),
        )),
        None => Ok((file, meta)),
    }
}

/// What a file that is not a regular file is, in words.
fn not_regular(t: &std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_dir() {
        Some("a folder")
    } else {
        Some("a special file")
    }
}

fn over_cap(kind: Kind, size: Option<u64>) -> io::Error {
    let size = size.map_or_else(String::new, |s| format!(" ({} MiB)", s.div_ceil(MIB)));
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "larger{size} than the {} MiB cap for {}",
            kind.cap() / MIB,
            kind.what()
        ),
    )
}

/// A reader that fails, rather than ends, past the cap.
struct Capped {
    inner: io::Take<File>,
    kind: Kind,
    read: u64,
}

impl Read for Capped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.kind.cap() {
            return Err(over_cap(self.kind, None));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_whole() {
        let d = tempfile::tempdir().expect("test setup");
        let p = d.path().join("keys.toml");
        std::fs::write(&p, "[keys]\n").expect("test setup");
        assert_eq!(
            read_to_string(&p, Kind::Keys).expect("test setup"),
            "[keys]\n"
        );
    }

    #[test]
    fn a_missing_file_stays_not_found() {
        let d = tempfile::tempdir().expect("test setup");
        let e = read(&d.path().join("none"), Kind::Keys).expect_err("an error");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_folder_is_refused() {
        let d = tempfile::tempdir().expect("test setup");
        let e = read(d.path(), Kind::Theme).expect_err("an error");
        assert!(e.to_string().contains("a folder"), "{e}");
    }

    #[test]
    fn a_file_that_grows_past_the_cap_while_read_fails() {
        // The size check passes (the file is small when opened); the limit stops the
        // read at the cap all the same.
        let d = tempfile::tempdir().expect("test setup");
        let p = d.path().join("t.toml");
        std::fs::write(&p, b"x").expect("test setup");
        let mut r = open(&p, Kind::Theme).expect("test setup");
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("test setup");
        f.set_len(Kind::Theme.cap() + 10).expect("test setup");
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).expect_err("an error");
        assert!(e.to_string().contains("cap"), "{e}");
    }
}
