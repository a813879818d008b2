//! The poll channel driven directly on a lab node: a pool with a chosen backoff, a poll
//! through `sh -s` reading a test's script (requests `p ID`, 10 s limit), the answer a
//! well-behaved script gives, and the info log captured for a test to read.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshroll::remote::ssh::{ChannelError, SshOptions, SshPool};

use crate::common::Lab;

/// A pool on the lab's nodes whose channel, once it failed to open, waits `retry`
/// before it is tried again.
pub fn pool(lab: &Lab, retry: Duration) -> SshPool {
    let mut opts = SshOptions::new(Some(lab.ssh_config.clone()), Duration::from_secs(10));
    opts.control_dir = lab.control_dir.clone();
    opts.channel_retry = retry;
    SshPool::new(lab.inventory().nodes, opts).unwrap()
}

/// One poll of node 0 over its channel: the shell `sh -s` reads `script`, each request
/// is `p ID`, at most `cap` bytes of answer, 10 s.
pub async fn poll(
    pool: &SshPool,
    script: &(dyn Fn() -> String + Send + Sync),
    cap: usize,
) -> Result<(u64, Vec<u8>), ChannelError> {
    let sh = vec!["sh".to_string(), "-s".to_string()];
    let req = |id: u64| format!("p {id}\n");
    pool.poll_channel(0, &sh, script, &req, cap, Duration::from_secs(10))
        .await
}

/// What the test scripts answer to request `id`: an answer with its id.
pub fn answer(id: u64) -> Vec<u8> {
    format!("{{\"v\":1,\"id\":{id}}}").into_bytes()
}

/// A log sink the test can read.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Info-level logs of this thread (no colour) go here while the guard lives; with a
    /// current-thread runtime that is the whole poll.
    pub fn info() -> (Captured, tracing::subscriber::DefaultGuard) {
        let log = Captured::default();
        let sink = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
