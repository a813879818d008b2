//! The REASON column, one rule for the dashboard's table and `status`'s: for a node
//! that is not healthy, the verdict's reason first (the signal that decided), then its
//! skew; for a healthy node, its skew, what is wrong right now (a disk error, disk
//! pressure), or the last error seen.

use super::NodeReport;
use crate::verdict::{Kind, human_age};

/// Used space at which the cache volume is flagged.
pub const DISK_PRESSURE_PCT: u8 = 90;

/// How a reason reads: as an error, a warning, or a note from the past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Error,
    Warn,
    Dim,
}

/// The row's reason and its tone; `None` for a node with nothing to say (healthy,
/// nothing skewed, no error ever, or not polled yet: its verdict says that).
pub fn reason(r: &NodeReport) -> Option<(String, Tone)> {
    if !r.polled {
        return None;
    }
    let skew = r.skew.any.then(|| r.skew.reasons.join("; "));
    match r.verdict {
        Kind::Dead | Kind::Draining => {
            let tone = if r.verdict == Kind::Dead {
                Tone::Error
            } else {
                Tone::Warn
            };
            let text = match skew {
                Some(s) => format!("{}; {s}", r.reason),
                None => r.reason.clone(),
            };
            Some((text, tone))
        }
        Kind::Healthy => {
            if let Some(s) = skew {
                return Some((s, Tone::Warn));
            }
            if let Some(e) = &r.error {
                return Some((e.clone(), Tone::Error));
            }
            if let Some(d) = r.disk.as_ref().filter(|d| d.used_pct >= DISK_PRESSURE_PCT) {
                return Some((
                    format!(
                        "disk pressure: {}% used, {} GiB free",
                        d.used_pct,
                        d.avail_kb / (1024 * 1024)
                    ),
                    Tone::Warn,
                ));
            }
            match (&r.last_error, r.last_error_age_s) {
                (Some(e), Some(age)) => Some((format!("{} ago: {e}", human_age(age)), Tone::Dim)),
                _ => None,
            }
        }
    }
}
