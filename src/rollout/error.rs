//! Why a node operation outside a phase did not succeed (rollback, lock heartbeat,
//! release, reading or removing a lock, reading `current`), as a type: the kind says
//! what happened, the text is the node-facing reason. `Display` is the text alone, the
//! words operators and the journal have always seen.

use crate::rollout::Failure;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The node could not be reached, or the command did not finish (the transport's
    /// error, cleaned).
    #[error("{0}")]
    Remote(String),
    /// Another rollout holds the node's lock: nothing was done.
    #[error("{}", .0.message())]
    LockedByOther(Failure),
    /// The node ran the operation and it failed there (its script's error, or its exit).
    #[error("{}", .0.message())]
    Refused(Failure),
    /// The node's answer could not be read (no end marker: cut short).
    #[error("{0}")]
    Unreadable(String),
}
