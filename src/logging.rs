//! Logs go to a daily file, never to the terminal under the dashboard.
//!
//! The log is an output boundary like the screen: everything written passes
//! [`crate::safe_text::CleanWriter`] (registered secrets redacted, controls and bidi
//! characters escaped, lines capped), and the files are the operator's alone (0600 in a
//! directory created 0700).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::safe_text::CleanWriter;

/// The longest log line kept, in characters (node text is capped well below this).
pub const LOG_LINE_CAP: usize = 8192;

/// The default log directory: `$XDG_STATE_HOME/meshroll` or `~/.local/state/meshroll`.
pub fn default_dir() -> PathBuf {
    crate::config_paths::state_dir()
}

/// Create `dir` (and missing parents) with mode 0700. An existing directory is left
/// as it is: it may be one the operator chose and shares on purpose.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The UTC date of `t` as `YYYY-MM-DD` (the civil-from-days algorithm).
pub fn utc_date(t: SystemTime) -> String {
    let days = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = crate::observe::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `dir/meshroll.log.<UTC date>`, a new file each day, each created 0600.
pub struct DailyFile {
    dir: PathBuf,
    open: Option<(String, File)>,
}

impl DailyFile {
    pub fn new(dir: &Path) -> DailyFile {
        DailyFile {
            dir: dir.to_path_buf(),
            open: None,
        }
    }

    /// The file for today, opening it (and closing yesterday's) when needed.
    fn file(&mut self) -> std::io::Result<&mut File> {
        let today = utc_date(SystemTime::now());
        if self.open.as_ref().is_none_or(|(d, _)| *d != today) {
            let f =
                crate::bounded_file::open_append(&self.dir.join(format!("meshroll.log.{today}")))?;
            self.open = Some((today, f));
        }
        match self.open.as_mut() {
            Some((_, f)) => Ok(f),
            None => Err(std::io::Error::other("log file not open")),
        }
    }
}

impl Write for DailyFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.open.as_mut() {
            Some((_, f)) => f.flush(),
            None => Ok(()),
        }
    }
}

/// Start logging to `dir/meshroll.log.<date>`; keep the guard alive until exit.
pub fn init(dir: &Path) -> std::io::Result<WorkerGuard> {
    create_private_dir(dir)?;
    let mut file = DailyFile::new(dir);
    // Fail here, not in the background writer, when the file cannot be created.
    file.file()?;
    let (writer, guard) = tracing_appender::non_blocking(CleanWriter::new(file, LOG_LINE_CAP));
    let filter = EnvFilter::try_from_env("MESHROLL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01");
        // 2026-12-02T00:00:00Z and a leap day
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(1_796_169_600)),
            "2026-12-02"
        );
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29"
        );
    }
}
