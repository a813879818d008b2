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
                None => r.reason.to_string(),
            };
            Some((text, tone))
        }
        Kind::Healthy => {
            if let Some(s) = skew {
                return Some((s, Tone::Warn));
            }
            if let Some(e) = &r.error {
                return Some((e.to_string(), Tone::Error));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::sim::SimMesh;
    use crate::verdict::Rules;

    async fn demo_rows() -> Vec<NodeReport> {
        let (inv, mesh) = SimMesh::demo();
        let req = crate::poller::Cadence::for_timeout(std::time::Duration::from_secs(10))
            .request(true, false);
        let now = crate::observe::now_ms();
        let states = mesh.poll_states(&req, now).await;
        super::super::build(&inv.nodes, &states, now, None, &Rules::default())
    }

    fn of<'a>(rows: &'a [NodeReport], name: &str) -> &'a NodeReport {
        rows.iter().find(|r| r.node == name).expect("demo node")
    }

    /// A node that is not healthy reads its verdict's reason first, then its skew; a
    /// healthy one its skew, then what is wrong now, then the last error.
    #[tokio::test(start_paused = true)]
    async fn the_reason_comes_first_then_the_skew() {
        let mut rows = demo_rows().await;
        // The drained node reads "drained", not a skew line or an old error.
        let w03 = of(&rows, "mac-w03");
        assert_eq!(reason(w03), Some(("drained".to_string(), Tone::Warn)));
        // A dead one its verdict's reason.
        let w09 = of(&rows, "mac-w09");
        assert_eq!(
            reason(w09),
            Some(("gateway auth rejected".to_string(), Tone::Error))
        );
        // A healthy skewed one its skew.
        let g02 = of(&rows, "mac-g02").clone();
        assert_eq!(g02.verdict, Kind::Healthy);
        let (text, tone) = reason(&g02).expect("a reason");
        assert_eq!(tone, Tone::Warn);
        assert_eq!(text, g02.skew.reasons.join("; "));
        // The same skew on a drained node: the reason first, then the skew.
        let i = rows.iter().position(|r| r.node == "mac-w03").expect("w03");
        rows[i].skew = g02.skew.clone();
        let (text, _) = reason(&rows[i]).expect("a reason");
        assert_eq!(text, format!("drained; {}", g02.skew.reasons.join("; ")));
        // A healthy node with nothing to say, and one with a past error.
        let g01 = of(&rows, "mac-g01");
        assert_eq!(reason(g01), None);
        let mut past = g01.clone();
        past.last_error = Some(crate::safe_text::Shown::new("gateway: unreachable"));
        past.last_error_age_s = Some(125);
        assert_eq!(
            reason(&past),
            Some(("2m ago: gateway: unreachable".to_string(), Tone::Dim))
        );
        // Not polled yet: nothing (the verdict column says it).
        past.polled = false;
        assert_eq!(reason(&past), None);
    }
}
