//! The REAL OpenClaw CLI (2026.9.6, on Node 24) and a real gateway on one lab node, for
//! `tests/real_openclaw.rs` and `benches/node_cost.rs`.
//!
//! ```ignore
//! let bin = real_openclaw::install();             // tests/real-openclaw/install.sh, cached
//! let lab = Lab::start(&[NodeSpec::new("real01", "gateway")]);
//! let token = real_openclaw::random_token();
//! let mut node = RealNode::setup(lab.node("real01"), &bin, &token);
//! node.start_gateway();
//! node.wait_ready(Duration::from_secs(90)).unwrap();
//! // the lab node's liveness URL -> the real gateway's /healthz:
//! lab.node_mut("real01").healthz_url = node.healthz_url();
//! ```
//!
//! The node's `<root>/bin/openclaw` (the `meshroll_openclaw` layout path) becomes a small
//! `sh` wrapper that sets `HOME=<root>/home` and execs the real CLI from the cache, so the
//! node has its own OpenClaw config at `<root>/home/.openclaw/openclaw.json`, as a real
//! host has. The gateway token lives only in that config: it is written with
//! `openclaw config set --batch-file` (a 0600 file, removed after), never on a command
//! line, so a process-list check can cover the whole run, setup included.
//!
//! The config also sets `gateway.reload.mode off`: the gateway otherwise hot-reloads
//! `gateway.auth.token` from the config within a second, and then a token changed on the
//! node (a rotation the gateway has not picked up yet) could never be observed as wrong.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::LabNode;
use super::procs;

/// The OpenClaw release the installer pins.
pub const OPENCLAW_VERSION: &str = "2026.9.6";

/// Where the real CLI is cached: `$MESHROLL_OPENCLAW_CACHE`, else
/// `<repo>/target/openclaw-cache` (owned by the tests, kept between runs).
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("MESHROLL_OPENCLAW_CACHE").filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/openclaw-cache"),
    }
}

/// Install (or reuse) Node 24 + openclaw in [`cache_dir`] with
/// `tests/real-openclaw/install.sh`; returns the `bin` dir holding `node` and `openclaw`.
/// Panics with what to install when npm is missing or the install fails.
pub fn install() -> PathBuf {
    let cache = cache_dir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real-openclaw/install.sh");
    let reuse = cache.join(".meshroll-install-ok").is_file();
    if !reuse {
        let npm = Command::new("npm")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            npm,
            "real-openclaw: `npm` is not installed. The real OpenClaw CLI is installed from the \
             npm registry into {} (~1 GB, 1-2 min, needs network access to registry.npmjs.org). \
             Install npm (Debian/Ubuntu: `apt-get install npm`; scripts/test.sh does this), or \
             point MESHROLL_OPENCLAW_CACHE at an existing install.",
            cache.display()
        );
        eprintln!(
            "real-openclaw: installing Node 24 + openclaw@{OPENCLAW_VERSION} into {} (first run: 1-2 min)",
            cache.display()
        );
    }
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script)
        .arg(&cache)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("real-openclaw: cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "real-openclaw: {} {} failed ({}); it needs npm, tar and network access to the npm \
         registry (see the lines above)",
        script.display(),
        cache.display(),
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bin = PathBuf::from(
        stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("real-openclaw: install.sh printed nothing")),
    );
    assert!(
        bin.join("openclaw").is_file(),
        "real-openclaw: install.sh said {} but there is no openclaw in it",
        bin.display()
    );
    if !reuse {
        eprintln!("real-openclaw: installed in {:.0?}", started.elapsed());
    }
    bin
}

/// A fresh random token (48 hex digits from /dev/urandom), made at runtime.
pub fn random_token() -> String {
    let mut b = [0u8; 24];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("real-openclaw: read /dev/urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("real-openclaw: bind 127.0.0.1:0")
        .port()
}

/// `GET http://127.0.0.1:<port><path>`: the HTTP status, or `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(3)));
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let head = std::str::from_utf8(&buf[..got]).ok()?;
    head.strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))?
        .get(..3)?
        .parse()
        .ok()
}

/// A real `openclaw gateway run`, a child of this process in its own process group.
/// Dropping it stops the gateway (SIGTERM to the group, SIGKILL after 15 s) with every
/// process it started (its spawn broker has a process group of its own).
pub struct Gateway {
    child: Child,
    pub pid: u32,
    pub started: Instant,
}

impl Gateway {
    /// SIGTERM the group and wait; returns when the gateway process has exited (SIGKILL
    /// after `grace`), with how long that took.
    pub fn stop(mut self, grace: Duration) -> Duration {
        let t = Instant::now();
        self.terminate(grace);
        t.elapsed()
    }

    fn terminate(&mut self, grace: Duration) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.pid;
        // collected before the signal: once the gateway exits, its workers are orphans
        let tree = procs::descendants(pid);
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // workers that outlived the main process (only ones that are still ours)
        let left: Vec<u32> = tree
            .into_iter()
            .filter(|p| procs::cmdline(*p).is_some_and(|c| c.contains("openclaw")))
            .collect();
        procs::signal(&left, "KILL");
    }

    /// Whether the gateway process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(15));
    }
}

/// One lab node running the real CLI, with its own OpenClaw config and (when started) a
/// real gateway on loopback.
pub struct RealNode {
    pub name: String,
    /// The node root (the lab node's).
    pub root: PathBuf,
    /// `<root>/home`: the node user's HOME as the CLI sees it.
    pub home: PathBuf,
    /// `<root>/bin/openclaw`: the wrapper (the inventory's `meshroll_openclaw`).
    pub wrapper: PathBuf,
    /// The real CLI in the cache (`<cache>/bin/openclaw`).
    pub cli: PathBuf,
    /// The gateway's port on 127.0.0.1 (`gateway.port` in the node's config).
    pub port: u16,
    /// `<root>/gateway.log`: the gateway's stdout and stderr (every start appended).
    pub gateway_log: PathBuf,
    pub gateway: Option<Gateway>,
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Replace lab node `node`'s `<root>/bin/openclaw` with a wrapper that runs the real
/// CLI `cli` with `HOME=home`; returns its path.
fn write_wrapper(node: &LabNode, home: &Path, cli: &Path) -> PathBuf {
    let wrapper = node.openclaw();
    let script = format!(
        "#!/bin/sh\n\
         # meshroll lab node {name}: the REAL OpenClaw CLI with this node's own HOME\n\
         # (config in $HOME/.openclaw/openclaw.json). Written by tests/common/real_openclaw.rs.\n\
         HOME={home}\n\
         export HOME\n\
         exec {cli} \"$@\"\n",
        name = node.name,
        home = sh_quote(&home.display().to_string()),
        cli = sh_quote(&cli.display().to_string()),
    );
    // replace atomically (the stand-in copy may be running)
    let tmp = wrapper.with_extension("real.tmp");
    fs::write(&tmp, script).expect("real-openclaw: write wrapper");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))
        .expect("real-openclaw: chmod wrapper");
    fs::rename(&tmp, &wrapper).expect("real-openclaw: install wrapper");
    wrapper
}

impl RealNode {
    /// Make another lab node run the same real CLI with this node's HOME (the same
    /// config, so the same gateway): several sshds in front of one OpenClaw install,
    /// e.g. to measure different pollers side by side.
    pub fn attach(&self, other: &LabNode) {
        write_wrapper(other, &self.home, &self.cli);
    }

    /// Turn lab node `node` into a real-CLI node: the wrapper over `<root>/bin/openclaw`,
    /// then `config set` (through the wrapper) gateway.mode local, the token, a free
    /// port, bind loopback and reload mode off. Does not start the gateway.
    pub fn setup(node: &LabNode, bin: &Path, token: &str) -> RealNode {
        let root = node.root.clone();
        let home = root.join("home");
        fs::create_dir_all(&home).expect("real-openclaw: mkdir home");
        let cli = bin.join("openclaw");
        let wrapper = write_wrapper(node, &home, &cli);

        let rn = RealNode {
            name: node.name.clone(),
            gateway_log: root.join("gateway.log"),
            root,
            home,
            wrapper,
            cli,
            port: free_port(),
            gateway: None,
        };
        // One CLI run (each costs 1-5 s of Node start-up) for what is, by hand:
        //   openclaw config set gateway.mode local
        //   openclaw config set gateway.auth.token <token>
        //   openclaw config set gateway.port <port> --strict-json
        //   openclaw config set gateway.bind loopback
        //   openclaw config set gateway.reload.mode off
        rn.config_batch(&serde_json::json!([
            { "path": "gateway.mode", "value": "local" },
            { "path": "gateway.auth.token", "value": token },
            { "path": "gateway.port", "value": rn.port },
            { "path": "gateway.bind", "value": "loopback" },
            { "path": "gateway.reload.mode", "value": "off" },
        ]));
        rn
    }

    /// Run the CLI through the node's wrapper (locally: the node is this machine).
    /// `OPENCLAW_*` variables of this process are not passed on.
    pub fn openclaw(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("real-openclaw: run {}: {e}", self.wrapper.display()))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.wrapper);
        c.args(args);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OPENCLAW_") {
                c.env_remove(k);
            }
        }
        c
    }

    /// `openclaw config set <args>`; panics with the CLI's output when it fails.
    pub fn config_set(&self, args: &[&str]) {
        let mut a = vec!["config", "set"];
        a.extend_from_slice(args);
        let o = self.openclaw(&a);
        assert!(
            o.status.success(),
            "real-openclaw: `openclaw {}` failed ({}): {}{}",
            a.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Put `token` in the node's config as `gateway.auth.token` (never on a command line).
    pub fn set_token(&self, token: &str) {
        self.config_batch(&serde_json::json!([
            { "path": "gateway.auth.token", "value": token }
        ]));
    }

    /// `openclaw config set --batch-file <f>` with `ops` (`[{"path", "value"}, ...]`),
    /// through a 0600 file in the node's HOME that is removed after: values (the token)
    /// never go on a command line.
    pub fn config_batch(&self, ops: &serde_json::Value) {
        let batch = self.home.join(".meshroll-config-batch.json");
        {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&batch)
                .expect("real-openclaw: write config batch file");
            f.write_all(ops.to_string().as_bytes())
                .expect("real-openclaw: write config batch file");
        }
        let b = batch.display().to_string();
        let o = self.openclaw(&["config", "set", "--batch-file", &b]);
        let _ = fs::remove_file(&batch);
        assert!(
            o.status.success(),
            "real-openclaw: `openclaw config set --batch-file` failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// `http://127.0.0.1:<port>/healthz`: the real gateway's liveness URL.
    pub fn healthz_url(&self) -> String {
        format!("http://127.0.0.1:{}/healthz", self.port)
    }

    /// Start `openclaw gateway run` (no flags: port, bind and token come from the node's
    /// config) through the wrapper, in its own process group, output appended to
    /// `gateway.log`. Panics if one is already running.
    pub fn start_gateway(&mut self) {
        if let Some(g) = self.gateway.as_mut() {
            assert!(
                !g.running(),
                "real-openclaw: the gateway is already running"
            );
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.gateway_log)
            .expect("real-openclaw: open gateway.log");
        let err = log.try_clone().expect("real-openclaw: clone gateway.log");
        let child = self
            .command(&["gateway", "run"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("real-openclaw: start the gateway: {e}"));
        self.gateway = Some(Gateway {
            pid: child.id(),
            child,
            started: Instant::now(),
        });
    }

    /// Wait until `/readyz` answers 200; returns when that was. Err (with the end of the
    /// gateway's log) when the gateway exits or `deadline` passes.
    pub fn wait_ready(&mut self, deadline: Duration) -> Result<Instant, String> {
        let start = Instant::now();
        loop {
            if http_status(self.port, "/readyz") == Some(200) {
                return Ok(Instant::now());
            }
            if let Some(g) = self.gateway.as_mut()
                && !g.running()
            {
                return Err(format!(
                    "the gateway exited before it was ready; gateway.log:\n{}",
                    self.log_tail()
                ));
            }
            if start.elapsed() > deadline {
                return Err(format!(
                    "/readyz on port {} not 200 after {deadline:?}; gateway.log:\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stop the gateway (SIGTERM, SIGKILL after 20 s); returns how long it took to exit.
    pub fn stop_gateway(&mut self) -> Duration {
        self.gateway
            .take()
            .map_or(Duration::ZERO, |g| g.stop(Duration::from_secs(20)))
    }

    /// The last 40 lines of the gateway's output.
    pub fn log_tail(&self) -> String {
        let s = fs::read_to_string(&self.gateway_log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}
