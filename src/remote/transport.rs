//! The one interface to nodes: poll one, run an operation on one, copy a staged tree to
//! one, open and close connections. [`Nodes`] is what answers: real nodes over SSH and
//! rsync (`impl Nodes for SshPool`, [`super::ssh_exec`]) or the simulated mesh from its
//! state (`impl Nodes for SimMesh`, [`super::sim_ops`]). A [`Transport`] holds the one
//! in use; everything above this (the poller, the rollout's phases, node actions) is
//! written once against it.

use std::any::Any;
use std::path::Path;
use std::time::Duration;

use futures::future::BoxFuture;

use super::ops::NodeOp;
use super::{PollFailure, PollRequest, RemoteError, RemoteOutput};
use crate::inventory::Node;
use crate::manifest::Bundle;
use crate::signals::RawPoll;

/// Called with each line of a running operation's output (prewarm), as it comes.
pub type OnLine<'a> = Option<&'a (dyn Fn(&str) + Send + Sync)>;

/// How an operation runs: at most `cap` bytes of output are read, for at most `timeout`.
#[derive(Clone, Copy)]
pub struct RunLimits<'a> {
    pub cap: usize,
    pub timeout: Duration,
    pub on_line: OnLine<'a>,
}

/// What a sync copies: the staged copy of `bundle` (with the node's modes and the lock
/// inside) into the directory `dest` on the node, replacing what differs.
#[derive(Clone, Copy)]
pub struct SyncTree<'a> {
    pub staged: &'a Path,
    pub bundle: &'a Bundle,
    pub dest: &'a str,
    /// The node's rsync as learned at baseline (`None`: not learned, e.g. the simulated
    /// mesh: the layout's `rsync_path` with `-s`).
    pub rsync: Option<&'a super::rsync::NodeRsync>,
}

/// Why a sync did not run to its end (a copy that ran and failed is an output with its
/// exit code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// No connection to the node.
    Remote(RemoteError),
    /// The copy did not end within its time limit.
    TimedOut(Duration),
    /// The copy could not be started here.
    CannotStart(String),
}

/// Nodes, real or simulated: what a [`Transport`] reaches.
pub trait Nodes: Send + Sync {
    /// One poll of node `idx`: one round trip, every signal `req` asks for.
    fn poll<'a>(
        &'a self,
        idx: usize,
        node: &'a Node,
        req: &'a PollRequest,
        token: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RawPoll, PollFailure>>;

    /// Run `op` on node `idx` as its configured user: its output as the node's script
    /// prints it (`crate::rollout::node_ops` reads it).
    fn run<'a>(
        &'a self,
        idx: usize,
        node: &'a Node,
        op: &'a NodeOp,
        token: Option<&'a str>,
        limits: RunLimits<'a>,
    ) -> BoxFuture<'a, Result<RemoteOutput, RemoteError>>;

    /// Copy `tree` to node `idx`: the output of the copy (rsync's: exit code, `--stats`
    /// on stdout, the reason on stderr).
    fn sync<'a>(
        &'a self,
        idx: usize,
        node: &'a Node,
        tree: SyncTree<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<RemoteOutput, SyncError>>;

    /// A rollout learned node `idx`'s login-shell PATH ([`super::login_path`]): the poll
    /// channels opened for it from now on start with it and run no login shell (nothing
    /// to do without channels).
    fn learned_login_path(&self, _idx: usize, _path: &super::login_path::LoginPath) {}

    /// The operator asked for node `idx` now (`r`): its next poll connects at once,
    /// whatever backoff a failed connect left (nothing to do without one).
    fn connect_now(&self, _idx: usize) {}

    /// Open the connection to node `idx` ahead of its first use.
    fn open(&self, idx: usize) -> BoxFuture<'_, Result<(), RemoteError>>;

    /// Close whatever connections are open.
    fn close(&self) -> BoxFuture<'_, ()>;

    /// Whether a sync copies files from a staged tree (it must then be staged first).
    fn copies_staged_files(&self) -> bool;

    /// Whether the nodes outlive this process, so a journal written by an earlier run
    /// describes them (the simulated mesh starts afresh each run).
    fn outlives_the_process(&self) -> bool;

    /// The implementation, for a test that needs its details (an ssh control socket).
    fn as_any(&self) -> &dyn Any;
}

/// Where polls, operations and syncs go: the [`Nodes`] in use, real or simulated.
pub struct Transport(Box<dyn Nodes>);

impl Transport {
    /// Real nodes, over ssh masters and rsync.
    pub fn ssh(pool: super::ssh::SshPool) -> Self {
        Transport(Box::new(pool))
    }

    /// The simulated mesh.
    pub fn sim(mesh: super::sim::SimMesh) -> Self {
        Transport(Box::new(mesh))
    }
}

impl std::ops::Deref for Transport {
    type Target = dyn Nodes;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}
