//! End to end in a real terminal: `meshroll demo` inside tmux, driven with send-keys
//! and read back with capture-pane. The table appears, `?` shows help, `q` exits and
//! the terminal is given back (alternate screen left, shell prompt line printed).
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn start(cmd: &str, w: u16, h: u16) -> Tmux {
        let session = format!("meshroll-e2e-{}", std::process::id());
        let st = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .arg(cmd)
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux is installed (scripts/test.sh installs it)");
        assert!(st.success(), "tmux new-session failed");
        Tmux { session }
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn alternate_on(&self) -> bool {
        let out = Command::new("tmux")
            .args([
                "display-message",
                "-p",
                "-t",
                &self.session,
                "#{alternate_on}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Wait until the screen satisfies `pred`; panic with the screen if it never does.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
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

#[test]
fn demo_draws_the_fleet_shows_help_and_quits_cleanly() {
    let logs = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{} demo --log-dir {}; echo MESHROLL-EXITED=$?; sleep 30",
        env!("CARGO_BIN_EXE_meshroll"),
        logs.path().display()
    );
    let t = Tmux::start(&cmd, 100, 32);
    let screen = t.wait_for("the fleet table with verdicts", |s| {
        s.contains("NODE")
            && s.contains("mac-w20")
            && s.contains("✖ dead")
            && s.contains("◐ draining")
    });
    assert!(screen.contains("meshroll"), "{screen}");
    assert!(screen.contains("✔ healthy"), "{screen}");
    assert!(
        t.alternate_on(),
        "the dashboard runs on the alternate screen"
    );

    t.keys(&["?"]);
    t.wait_for("the help overlay", |s| {
        s.contains("help — ? or Esc closes") && s.contains("filter")
    });
    t.keys(&["Escape"]);
    t.wait_for("help to close", |s| !s.contains("help — ? or Esc closes"));

    // Open the node view of the second node and come back.
    t.keys(&["j", "Enter"]);
    t.wait_for("the node view", |s| {
        s.contains(" node ") && s.contains("mac-g02") && s.contains("cli / daemon")
    });
    t.keys(&["Escape"]);
    t.wait_for("the fleet again", |s| s.contains("LAST ERROR"));

    t.keys(&["q"]);
    let screen = t.wait_for("meshroll to exit", |s| s.contains("MESHROLL-EXITED="));
    assert!(screen.contains("MESHROLL-EXITED=0"), "{screen}");
    assert!(
        !t.alternate_on(),
        "the terminal is given back (alternate screen left)"
    );
    assert!(
        !screen.contains("LAST ERROR"),
        "the dashboard is gone from the screen:\n{screen}"
    );
    // Logs went to the file, not the terminal.
    let logged: Vec<_> = std::fs::read_dir(logs.path()).unwrap().collect();
    assert!(!logged.is_empty(), "a log file was written");
}

#[test]
fn dashboard_refuses_to_start_without_a_terminal() {
    let out = Command::new(env!("CARGO_BIN_EXE_meshroll"))
        .args(["demo", "--log-dir"])
        .arg(std::env::temp_dir().join("meshroll-e2e-logs"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
}
