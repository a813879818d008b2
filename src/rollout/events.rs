//! What the steps of a rollout report ([`super::steps`] sends them, the pure
//! [`super::state::RolloutState`] and the dashboard's state read them): a type of its
//! own, so the pure states import nothing from the I/O file.

use super::machine::Input;
use crate::inventory::NodeId;
use crate::poller::PollResult;
use crate::remote::rsync::RsyncStats;
use crate::signals::DoctorReport;

/// What a rollout's steps report.
#[derive(Debug, Clone)]
pub enum ExecEvent {
    Input(Input),
    /// A line of a running step's output (prewarm), for the node view.
    Output {
        node: NodeId,
        line: String,
    },
    Doctor {
        node: NodeId,
        report: DoctorReport,
    },
    Synced {
        node: NodeId,
        stats: RsyncStats,
    },
    /// A poll the rollout made of a node (the probe's, and the one right after undrain):
    /// the dashboard folds it into the node's row like its own, so a node that has
    /// just landed reads as landed at once.
    Polled(Box<PollResult>),
}
