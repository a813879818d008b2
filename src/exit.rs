//! Exit codes scripts can use, decided in one place:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ran, and nothing it checks failed |
//! | 1 | ran, and a node failed: `status` saw a dead node (or, with `--fail-on skew`, a skewed one); a node action, `unlock`, `rollout` or `rollback` failed on a node; `locks` could not read a node |
//! | 2 | meshroll itself could not run: bad arguments (clap's own exit 2), an inventory, ssh config, theme or journal it cannot use; a node action refused without `--yes` or cancelled at its question (nothing ran) |
//! | other | `meshroll ssh NODE [-- CMD]`: ssh's own code (the command's, or 255) |
//! | 130 | interrupted (Ctrl-C) during `status --watch` |

use serde::Serialize;

use crate::report::NodeReport;
use crate::verdict::Kind;

/// Nothing failed.
pub const OK: i32 = 0;
/// A node failed (dead, skewed with `--fail-on skew`, an action failed on it).
pub const NODE_FAILED: i32 = 1;
/// meshroll itself could not run (clap exits with this code on bad arguments too).
pub const CANNOT_RUN: i32 = 2;

/// What makes `status` fail besides a dead node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// A node in version skew (manifest, build or CLI/daemon versions).
    Skew,
    /// A node draining (drained, warming up, cache stale).
    Draining,
}

/// The text `--help` shows under the commands (the README says the same).
pub const HELP: &str = "Exit status:
  0  ran, and nothing it checks failed
  1  a node failed: `status` saw a dead node (with --fail-on skew|draining, a skewed or
     draining one too); a rollout, rollback, unlock or node action failed on a node;
     `locks` could not read a node
  2  meshroll itself could not run: bad arguments, an inventory, ssh config, theme or
     journal it cannot use";

/// `status`'s exit code for these rows, and the nodes that decided it with why, in
/// inventory order: a dead node always fails; a skewed or draining one when asked.
pub fn status(rows: &[NodeReport], fail_on: &[FailOn]) -> (i32, Vec<(String, String)>) {
    let failing: Vec<(String, String)> = rows
        .iter()
        .filter_map(|r| {
            if r.verdict == Kind::Dead {
                Some((r.node.clone(), format!("dead: {}", r.reason)))
            } else if fail_on.contains(&FailOn::Skew) && r.skew.any {
                Some((
                    r.node.clone(),
                    format!("skewed: {}", r.skew.reasons.join("; ")),
                ))
            } else if fail_on.contains(&FailOn::Draining) && r.verdict == Kind::Draining {
                Some((r.node.clone(), format!("draining: {}", r.reason)))
            } else {
                None
            }
        })
        .collect();
    let code = if failing.is_empty() { OK } else { NODE_FAILED };
    (code, failing)
}

/// The exit code of a command that did something to each of `n` nodes, `failed` of
/// which failed.
pub fn per_node(failed: usize) -> i32 {
    if failed == 0 { OK } else { NODE_FAILED }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Node;
    use crate::observe::NodeState;
    use crate::skew::Skew;

    fn row(name: &str, verdict: Kind, skewed: bool) -> NodeReport {
        let n = Node::new(name.to_string(), "worker");
        let mut r = crate::report::row(
            &n,
            &NodeState::default(),
            Skew {
                manifest: None,
                unverified: false,
                reference: None,
                versions: false,
                build: false,
                cli: false,
                reasons: Vec::new(),
                diffs: Vec::new(),
                no_majority: Vec::new(),
            },
            0,
            &crate::verdict::Rules::default(),
        );
        r.verdict = verdict;
        r.reason = crate::safe_text::Shown::new(&format!("{verdict}"));
        r.skew.any = skewed;
        if skewed {
            r.skew.reasons = vec!["manifest differs".into()];
        }
        r
    }

    #[test]
    fn dead_fails_skew_and_draining_only_when_asked() {
        let healthy = [
            row("a", Kind::Healthy, false),
            row("b", Kind::Draining, false),
        ];
        assert_eq!(status(&healthy, &[]), (0, vec![]));
        let skewed = [
            row("a", Kind::Healthy, true),
            row("b", Kind::Healthy, false),
        ];
        assert_eq!(
            status(&skewed, &[]).0,
            0,
            "skew alone does not fail by default"
        );
        let (code, why) = status(&skewed, &[FailOn::Skew]);
        assert_eq!(code, 1);
        assert_eq!(
            why,
            vec![("a".to_string(), "skewed: manifest differs".to_string())]
        );
        assert_eq!(status(&healthy, &[FailOn::Draining]).0, 1);
        let dead = [row("a", Kind::Healthy, false), row("z", Kind::Dead, false)];
        let (code, why) = status(&dead, &[]);
        assert_eq!(code, 1);
        assert_eq!(why[0].0, "z");
        assert!(why[0].1.starts_with("dead"), "{why:?}");
        assert_eq!(per_node(0), 0);
        assert_eq!(per_node(3), 1);
        assert_eq!((OK, NODE_FAILED, CANNOT_RUN), (0, 1, 2));
    }
}
