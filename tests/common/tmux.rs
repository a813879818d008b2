//! A real terminal for end-to-end tests: a detached tmux session driven with
//! `send-keys` and read back with `capture-pane`. Every screen captured is kept, so a
//! test can grep all of them afterwards (the token checks do).
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub session: String,
    screens: Mutex<Vec<String>>,
}

impl Tmux {
    /// A `w` x `h` session named after the test process and `name`, running `cmd`.
    pub fn start(name: &str, cmd: &str, w: u16, h: u16) -> Tmux {
        let session = format!("meshroll-e2e-{}-{name}", std::process::id());
        let st = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x"])
            .arg(w.to_string())
            .arg("-y")
            .arg(h.to_string())
            .arg(cmd)
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed (scripts/test.sh installs it)");
        assert!(st.success(), "tmux new-session failed");
        Tmux {
            session,
            screens: Mutex::new(Vec::new()),
        }
    }

    /// The screen now (wrapped lines joined), also kept for [`Tmux::screens`].
    pub fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-t", &self.session])
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        self.screens.lock().unwrap().push(s.clone());
        s
    }

    /// Every screen captured so far.
    pub fn screens(&self) -> Vec<String> {
        self.screens.lock().unwrap().clone()
    }

    pub fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// A tmux format of the pane, e.g. `#{alternate_on}`.
    pub fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn alternate_on(&self) -> bool {
        self.display("#{alternate_on}") == "1"
    }

    /// Wait (up to 30 s) until the screen satisfies `pred`; panic with the screen if it
    /// never does.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, Duration::from_secs(30), pred)
    }

    pub fn wait_for_within(
        &self,
        what: &str,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let end = Instant::now() + within;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}
