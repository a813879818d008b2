//! Real nodes as [`Nodes`]: polls over each node's long-lived poll channel (or a
//! one-shot command when it is busy), operations as the scripts of [`super::ops`] on
//! `sh -s` as the node's user, syncs with rsync over the node's master.

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::ops::NodeOp;
use super::ssh::{ChannelError, SshPool};
use super::transport::{Nodes, RunLimits, SyncError, SyncTree};
use super::{PollFailure, PollRequest, RemoteError, RemoteOutput, as_user, ops, rsync, script};
use crate::inventory::Node;
use crate::signals::{self, RawPoll, SignalError};

impl Nodes for SshPool {
    fn poll<'a>(
        &'a self,
        idx: usize,
        node: &'a Node,
        req: &'a PollRequest,
        token: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RawPoll, PollFailure>> {
        poll(self, idx, node, req, token).boxed()
    }

    fn run<'a>(
        &'a self,
        idx: usize,
        node: &'a Node,
        op: &'a NodeOp,
        token: Option<&'a str>,
        limits: RunLimits<'a>,
    ) -> BoxFuture<'a, Result<RemoteOutput, RemoteError>> {
        async move {
            let argv = as_user(node, &["sh", "-s"]);
            let script = ops::script(&node.layout, op, token);
            self.run_for(
                idx,
                &argv,
                script.as_bytes(),
                limits.cap,
                limits.timeout,
                limits.on_line,
            )
            .await
        }
        .boxed()
    }

    fn sync<'a>(
        &'a self,
        idx: usize,
        node: &'a Node,
        tree: SyncTree<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<RemoteOutput, SyncError>> {
        rsync::run(self, idx, node, tree, timeout).boxed()
    }

    fn learned_login_path(&self, idx: usize, path: &super::login_path::LoginPath) {
        self.set_login_path(idx, path);
    }

    fn connect_now(&self, idx: usize) {
        SshPool::connect_now(self, idx);
    }

    fn open(&self, idx: usize) -> BoxFuture<'_, Result<(), RemoteError>> {
        async move { self.control_socket(idx).await.map(|_| ()) }.boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.close_all().boxed()
    }

    fn copies_staged_files(&self) -> bool {
        true
    }

    fn outlives_the_process(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// One poll of a real node.
async fn poll(
    pool: &SshPool,
    idx: usize,
    node: &Node,
    req: &PollRequest,
    token: Option<&str>,
) -> Result<RawPoll, PollFailure> {
    let argv = as_user(node, &["sh", "-s"]);
    // A poll carrying doctor waits for it (it has its own limit on the node).
    let mut timeout = pool.options().timeout;
    if req.doctor {
        timeout = timeout.max(Duration::from_secs(req.doctor_timeout_s + 5));
    }
    let too_large = |e| match e {
        RemoteError::OutputTooLarge(_) => {
            PollFailure::Signal(SignalError::new("poll", e.to_string()))
        }
        e => PollFailure::Remote(e),
    };
    let layout = &node.layout;
    let channel = if pool.options().poll_channel {
        pool.poll_channel(
            idx,
            &argv,
            &|| {
                let known = pool.login_path(idx);
                script::poll_loop_script(
                    layout,
                    token,
                    pool.options().timeout.as_secs(),
                    known.as_ref(),
                )
            },
            &|id| script::poll_request_line(id, req),
            signals::POLL_OUTPUT_CAP,
            timeout,
        )
        .await
    } else {
        Err(ChannelError::Busy)
    };
    let out = match channel {
        // The answer with this poll's id (the channel checked it).
        Ok((_, line)) => RemoteOutput {
            code: Some(0),
            stdout: line,
            stderr: Vec::new(),
        },
        Err(ChannelError::Remote(e)) => return Err(too_large(e)),
        // Another poll of this node holds its channel (a rollout probe while the
        // dashboard polls), or the channel answered another request and was closed:
        // one round trip of its own.
        Err(ChannelError::Busy | ChannelError::OutOfStep { .. }) => {
            let script = script::poll_script(layout, req, token);
            pool.run_for(
                idx,
                &argv,
                script.as_bytes(),
                signals::POLL_OUTPUT_CAP,
                timeout,
                None,
            )
            .await
            .map_err(too_large)?
        }
    };
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(PollFailure::Signal(no_output(&out)));
    }
    // What the node printed may carry the token we forwarded: it is removed
    // where it leaves meshroll (crate::safe_text), after decoding.
    signals::parse_poll(&out.stdout).map_err(PollFailure::Signal)
}

/// The error for a poll that printed nothing on stdout: its exit and an excerpt of its
/// stderr (redacted whole, then cut: [`signals::excerpt`]).
pub(crate) fn no_output(out: &RemoteOutput) -> SignalError {
    SignalError::new(
        "poll",
        format!(
            "no output (exit {}), stderr {}",
            out.code.map_or("signal".into(), |c| c.to_string()),
            signals::excerpt(&out.stderr)
        ),
    )
}
