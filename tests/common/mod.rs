//! The integration-test lab: real `sshd` processes on loopback, one per MeshMac node,
//! each with its own host key, port and node root directory, plus a liveness HTTP server
//! and a stand-in OpenClaw CLI (`tests/standin/openclaw`) on every node.
//!
//! ```ignore
//! mod common;
//! use common::{Lab, NodeSpec};
//!
//! let lab = Lab::start(&[NodeSpec::new("n01", "gateway"), NodeSpec::new("n02", "worker")]);
//! let inv = lab.write_inventory_ini();
//! // run meshroll with: -i <inv> --ssh-config <lab.ssh_config>
//! lab.node("n02").set_mode("unreachable");
//! lab.node("n02").set_live(&lab, 503);
//! lab.node("n01").stop_sshd();
//! ```
//!
//! Layout of the lab directory (a short path under /tmp, `/tmp/mlXXXXXX`, so ssh control
//! sockets fit):
//!
//! ```text
//! client_key, client_key.pub   the one client key (ed25519, no passphrase)
//! authorized_keys              client_key.pub; every node's sshd reads it
//! known_hosts                  [127.0.0.1]:<port> <host key>, one line per node
//! ssh_config                   Host <alias> per node (strict host key checking, batch mode)
//! cm/                          empty; for ssh control sockets (`Lab::control_dir`)
//! inventory.ini                written by `write_inventory_ini`
//! <node>/                      the node root:
//!   etc/openclaw/skills/         skills root (bundles, `current`)
//!   var/lib/openclaw/            state dir (skill-cache-ready, drain, ...)
//!   bin/openclaw                 the stand-in CLI
//!   standin/                     mode files, fixtures/, calls.log, pids
//!   ssh/                         host key, sshd_config
//!   sshd.log, sshd.pid
//! ```
//!
//! Dropping the [`Lab`] kills every sshd (with the connections it has open) and every
//! stand-in left hanging in `hung` mode, then removes the directory. Set
//! `MESHROLL_LAB_KEEP=1` to keep the directory for a post-mortem (its path is printed).
#![allow(dead_code)]

pub mod liveness;
pub mod macos;
pub mod procs;
pub mod real_openclaw;
pub mod tmux;

pub use liveness::LivenessServer;

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

/// The OpenSSH server binary (sshd re-executes itself, so it must be an absolute path).
pub const SSHD: &str = "/usr/sbin/sshd";
/// How long a node's sshd gets to accept connections after a (re)start.
pub const SSHD_START_DEADLINE: Duration = Duration::from_secs(10);

/// The OpenClaw version of the fixtures (the default `cli.version`, daemon version and
/// `--version`, which prints `OpenClaw <version> (eb377ac)` like the real CLI).
pub const FIXTURE_VERSION: &str = "2026.9.6";

/// A node to create: its name (also its ssh alias, directory name and liveness path)
/// and its class (the Ansible group it lands in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub class: String,
    /// A macOS-shaped node (`NodeSpec::macos`, tests/common/macos.rs); `None`: plain.
    pub macos: Option<macos::MacSpec>,
}

impl NodeSpec {
    pub fn new(name: &str, class: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_string(),
            class: class.to_string(),
            macos: None,
        }
    }

    /// `count` nodes `<prefix>01..` of one class, e.g. `NodeSpec::many("w", 10, "worker")`.
    pub fn many(prefix: &str, count: usize, class: &str) -> Vec<NodeSpec> {
        (1..=count)
            .map(|i| NodeSpec::new(&format!("{prefix}{i:02}"), class))
            .collect()
    }
}

/// A running lab. See the module docs for the directory layout.
pub struct Lab {
    /// The lab directory (`/tmp/mlXXXXXX`), removed on drop.
    pub dir: PathBuf,
    /// The nodes, in the order they were given to [`Lab::start`].
    pub nodes: Vec<LabNode>,
    /// Pass to meshroll as `--ssh-config` (and to ssh as `-F`).
    pub ssh_config: PathBuf,
    pub known_hosts: PathBuf,
    /// The client's private key (`.pub` next to it).
    pub client_key: PathBuf,
    /// An empty, short directory for ssh control sockets.
    pub control_dir: PathBuf,
    /// The user every node is logged into (the current user; `root` here).
    pub user: String,
    pub liveness: LivenessServer,
    // Last field: dropped after the nodes, so sshds are dead before the directory goes.
    tmp: Option<TempDir>,
}

/// One node of the lab: a real sshd on 127.0.0.1:`port` and a root directory that stands
/// in for the node's `/`.
pub struct LabNode {
    pub name: String,
    pub class: String,
    /// sshd's port on 127.0.0.1; the same across `stop_sshd`/`start_sshd`.
    pub port: u16,
    /// The node root (its `etc/`, `var/`, `bin/`, `standin/` ...).
    pub root: PathBuf,
    /// The `Host` alias in the lab's ssh config (= `name`): the node's ssh destination.
    pub alias: String,
    /// The host's public key as in known_hosts: `ssh-ed25519 AAAA...`.
    pub host_key_pub: String,
    /// This node's liveness URL on the lab's [`LivenessServer`].
    pub healthz_url: String,
    /// This node's gateway readiness URL (`meshroll_gateway_ready_url`), also on the lab's
    /// [`LivenessServer`] (name `<node>.gw`); 200 by default, see [`LabNode::set_ready`].
    pub ready_url: String,
    sshd_config: PathBuf,
    sshd_log: PathBuf,
    sshd: Mutex<Option<Child>>,
    /// Set for a macOS-shaped node: its sshd runs in a mount namespace of Apple-like tools.
    macos: Option<macos::MacSpec>,
}

// ---------------------------------------------------------------------------------------
// small helpers

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// Write a file atomically (temp file in the same directory, then rename), so the
/// stand-in never reads half a file.
fn write_atomic(path: &Path, contents: &[u8]) {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}-{n}",
        path.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    fs::write(&tmp, contents).unwrap_or_else(|e| panic!("lab: write {}: {e}", tmp.display()));
    fs::rename(&tmp, path).unwrap_or_else(|e| panic!("lab: rename to {}: {e}", path.display()));
}

fn mkdirs(p: &Path) {
    fs::create_dir_all(p).unwrap_or_else(|e| panic!("lab: mkdir {}: {e}", p.display()));
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("lab: cannot run {what}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "lab: {what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn keygen(path: &Path, comment: &str) {
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(path)
            .stdin(Stdio::null()),
        "ssh-keygen (apt-get install openssh-client)",
    );
}

/// A port that was free a moment ago (bind 127.0.0.1:0, release).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("lab: bind 127.0.0.1:0");
    l.local_addr().expect("lab: local addr").port()
}

/// The sshd answers with its `SSH-2.0-...` banner.
fn sshd_banner(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(1000)));
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 4 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let ok = buf[..got].starts_with(b"SSH-");
    if ok {
        // Answer with a banner of our own: closing before that makes sshd log
        // "kex_exchange_identification: Connection closed by remote host" at ERROR.
        let _ = s.write_all(b"SSH-2.0-meshroll-lab-probe\r\n");
    }
    ok
}

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with(['.', '-'])
}

fn tools_present() {
    assert!(
        Path::new(SSHD).is_file(),
        "lab: {SSHD} not found; the lab needs the OpenSSH server (apt-get install openssh-server)"
    );
    for tool in ["ssh", "ssh-keygen"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        assert!(
            ok,
            "lab: `{tool}` not found in PATH (apt-get install openssh-client)"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Lab

impl Lab {
    /// Create the lab directory, keys, node roots, and start one sshd per node; returns
    /// when every sshd answers with its banner. Panics with a clear message when
    /// sshd/ssh-keygen are missing or an sshd does not come up (its log is included).
    pub fn start(specs: &[NodeSpec]) -> Lab {
        tools_present();
        for (i, s) in specs.iter().enumerate() {
            assert!(
                name_ok(&s.name),
                "lab: node name {:?} must be [A-Za-z0-9._-] (it is an ssh alias, a directory and a URL path)",
                s.name
            );
            assert!(
                name_ok(&s.class),
                "lab: class {:?} must be [A-Za-z0-9._-]",
                s.class
            );
            assert!(
                !specs[..i].iter().any(|o| o.name == s.name),
                "lab: node name {:?} given twice",
                s.name
            );
        }

        let user = run_ok(Command::new("id").arg("-un"), "id -un");
        let is_root = run_ok(Command::new("id").arg("-u"), "id -u") == "0";
        if is_root {
            // sshd's privilege separation directory; Debian creates it from systemd only.
            let run = Path::new("/run/sshd");
            if !run.exists() {
                mkdirs(run);
                let _ = fs::set_permissions(run, fs::Permissions::from_mode(0o755));
            }
        }

        let tmp = tempfile::Builder::new()
            .prefix("ml")
            .tempdir_in("/tmp")
            .expect("lab: create temp dir under /tmp");
        let dir = tmp.path().to_path_buf();
        let client_key = dir.join("client_key");
        keygen(&client_key, "meshroll-lab-client");
        let authorized_keys = dir.join("authorized_keys");
        fs::copy(dir.join("client_key.pub"), &authorized_keys).expect("lab: authorized_keys");
        let control_dir = dir.join("cm");
        mkdirs(&control_dir);
        let _ = fs::set_permissions(&control_dir, fs::Permissions::from_mode(0o700));

        let liveness = LivenessServer::start();
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openclaw-2026.9.6");
        let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin/openclaw");

        // Build every node first: if anything below panics, dropping `nodes` kills the
        // sshds already started.
        let mut nodes: Vec<LabNode> = Vec::with_capacity(specs.len());
        for s in specs {
            let root = dir.join(&s.name);
            for sub in [
                "etc/openclaw/skills",
                "var/lib/openclaw",
                "bin",
                "standin/fixtures",
                "ssh",
            ] {
                mkdirs(&root.join(sub));
            }
            let cli = root.join("bin/openclaw");
            fs::copy(&standin, &cli).unwrap_or_else(|e| {
                panic!("lab: copy {} -> {}: {e}", standin.display(), cli.display())
            });
            fs::set_permissions(&cli, fs::Permissions::from_mode(0o755))
                .expect("lab: chmod stand-in");
            for e in fs::read_dir(&fixtures)
                .unwrap_or_else(|e| panic!("lab: read {}: {e}", fixtures.display()))
                .flatten()
            {
                fs::copy(e.path(), root.join("standin/fixtures").join(e.file_name()))
                    .expect("lab: copy fixture");
            }
            // the real CLI's answer to a wrong gateway token (mode `auth`), when captured
            let auth = Path::new(env!("CARGO_MANIFEST_DIR")).join(
                "tests/fixtures/openclaw-2026.9.6-captured/gateway-status.wrong-token-config.json",
            );
            if auth.is_file() {
                fs::copy(
                    &auth,
                    root.join("standin/fixtures/gateway-status.auth.json"),
                )
                .expect("lab: copy auth fixture");
            }
            // more of the real CLI's answers, for the stand-in's other modes (it falls
            // back to the fields alone when one is missing)
            let captured = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/openclaw-2026.9.6-captured");
            for (from, to) in [
                (
                    "gateway-status.no-token.json",
                    "gateway-status.no-token.json",
                ),
                (
                    "gateway-status.rate-limit.attempt4-right.json",
                    "gateway-status.rate-limited.json",
                ),
                (
                    "gateway-status.silent-listener-timeout.json",
                    "gateway-status.silent.json",
                ),
                (
                    "gateway-status.ready.require-rpc.json",
                    "gateway-status.ready.require-rpc.json",
                ),
                (
                    "gateway-status.unreachable.require-rpc.json",
                    "gateway-status.unreachable.require-rpc.json",
                ),
                (
                    "gateway-status.wrong-token-config.require-rpc.json",
                    "gateway-status.auth.require-rpc.json",
                ),
                (
                    "gateway-status.no-token.require-rpc.json",
                    "gateway-status.no-token.require-rpc.json",
                ),
            ] {
                let src = captured.join(from);
                if src.is_file() {
                    fs::copy(&src, root.join("standin/fixtures").join(to))
                        .expect("lab: copy captured fixture");
                }
            }
            let host_key = root.join("ssh/host_ed25519_key");
            keygen(&host_key, &format!("meshroll-lab-{}", s.name));
            let pub_line = fs::read_to_string(root.join("ssh/host_ed25519_key.pub"))
                .expect("lab: host key pub");
            let host_key_pub = pub_line
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            liveness.set(&s.name, 200);
            liveness.set(&format!("{}.gw", s.name), 200);
            if let Some(m) = s.macos {
                macos::prepare(&root, m);
            }
            nodes.push(LabNode {
                name: s.name.clone(),
                class: s.class.clone(),
                port: 0,
                healthz_url: liveness.url(&s.name),
                ready_url: liveness.url(&format!("{}.gw", s.name)),
                alias: s.name.clone(),
                host_key_pub,
                sshd_config: root.join("ssh/sshd_config"),
                sshd_log: root.join("sshd.log"),
                root,
                sshd: Mutex::new(None),
                macos: s.macos,
            });
        }

        // Start all sshds, then wait for each; a port grabbed by someone else between
        // free_port() and sshd's bind gets a new port (a few tries).
        for n in &mut nodes {
            n.port = free_port();
            n.write_sshd_config(&host_key_path(&n.root), &authorized_keys);
            *n.sshd.lock().unwrap() = Some(n.spawn_sshd());
        }
        for n in &mut nodes {
            let mut attempt = 1;
            loop {
                let res = {
                    let mut g = n.sshd.lock().unwrap();
                    n.wait_ready(g.as_mut().unwrap())
                };
                match res {
                    Ok(()) => break,
                    // A port taken between picking and binding, or an sshd that died
                    // at start under load: try again on a fresh port.
                    Err(e)
                        if attempt < 5
                            && (e.contains("Address already in use")
                                || e.contains("sshd exited")) =>
                    {
                        attempt += 1;
                        n.port = free_port();
                        n.write_sshd_config(&host_key_path(&n.root), &authorized_keys);
                        *n.sshd.lock().unwrap() = Some(n.spawn_sshd());
                    }
                    Err(e) => panic!("lab: sshd for node {} did not come up: {e}", n.name),
                }
            }
        }

        let known_hosts = dir.join("known_hosts");
        let mut kh = String::new();
        for n in &nodes {
            kh.push_str(&known_hosts_line(n.port, &n.host_key_pub));
        }
        fs::write(&known_hosts, kh).expect("lab: write known_hosts");

        let ssh_config = dir.join("ssh_config");
        let mut cfg = String::from("# meshroll integration-test lab\n");
        for n in &nodes {
            let _ = write!(
                cfg,
                "\nHost {alias}\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n    \
                 IdentityFile {key}\n    IdentitiesOnly yes\n    UserKnownHostsFile {kh}\n    \
                 GlobalKnownHostsFile /dev/null\n    StrictHostKeyChecking yes\n    \
                 UpdateHostKeys no\n    BatchMode yes\n    LogLevel ERROR\n",
                alias = n.alias,
                port = n.port,
                key = client_key.display(),
                kh = known_hosts.display(),
            );
        }
        fs::write(&ssh_config, cfg).expect("lab: write ssh_config");

        Lab {
            dir,
            nodes,
            ssh_config,
            known_hosts,
            client_key,
            control_dir,
            user,
            liveness,
            tmp: Some(tmp),
        }
    }

    /// The node named `name`; panics when there is none.
    pub fn node(&self, name: &str) -> &LabNode {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("lab: no node named {name:?}"))
    }

    pub fn node_mut(&mut self, name: &str) -> &mut LabNode {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("lab: no node named {name:?}"))
    }

    /// `ssh -F <ssh_config> <alias>`; add the remote command with `.arg(..)`.
    pub fn ssh_command(&self, alias: &str) -> Command {
        let mut c = Command::new("ssh");
        c.arg("-F")
            .arg(&self.ssh_config)
            .arg(alias)
            .stdin(Stdio::null());
        c
    }

    /// Run `remote` (one shell command line) on `alias` through plain ssh.
    pub fn ssh(&self, alias: &str, remote: &str) -> Output {
        self.ssh_command(alias)
            .arg("--")
            .arg(remote)
            .output()
            .expect("lab: run ssh")
    }

    /// Write `<lab>/inventory.ini`: an Ansible INI inventory with one group per class
    /// (in order of first appearance) and, per host, `ansible_host=<alias>` and the
    /// `meshroll_*` layout variables pointing into the node root. `meshroll_run_as=`
    /// is empty: commands run as the ssh user (there is no `openclaw` user here).
    /// [`Lab::write_inventory_ini`] written to `file` in the lab's folder, with a space
    /// and `extra(node)` appended to each node's host line (layout keys of a test).
    pub fn write_inventory_with(&self, file: &str, extra: impl Fn(&LabNode) -> String) -> PathBuf {
        let base = fs::read_to_string(self.write_inventory_ini()).expect("lab: read inventory.ini");
        let mut out = String::new();
        for line in base.lines() {
            out.push_str(line);
            if let Some(n) = self
                .nodes
                .iter()
                .find(|n| line.starts_with(&format!("{} ansible_host=", n.name)))
            {
                out.push(' ');
                out.push_str(&extra(n));
            }
            out.push('\n');
        }
        let p = self.dir.join(file);
        fs::write(&p, out).expect("lab: write the inventory");
        p
    }

    pub fn write_inventory_ini(&self) -> PathBuf {
        let mut classes: Vec<&str> = Vec::new();
        for n in &self.nodes {
            if !classes.contains(&n.class.as_str()) {
                classes.push(&n.class);
            }
        }
        let mut s = String::from("# meshroll integration-test lab\n");
        for c in classes {
            let _ = writeln!(s, "\n[{c}]");
            for n in self.nodes.iter().filter(|n| n.class == c) {
                let _ = writeln!(
                    s,
                    "{} ansible_host={} meshroll_skills_root={} meshroll_state_dir={} \
                     meshroll_openclaw={} meshroll_gateway_ready_url={} \
                     meshroll_healthz_url={} meshroll_run_as=",
                    n.name,
                    n.alias,
                    n.skills_root().display(),
                    n.state_dir().display(),
                    n.openclaw().display(),
                    n.ready_url,
                    n.healthz_url,
                );
            }
        }
        let path = self.dir.join("inventory.ini");
        fs::write(&path, s).expect("lab: write inventory.ini");
        path
    }

    /// A poll context over the lab's nodes (ssh, strict host keys, the lab's control
    /// directory); `channel` false polls with one command per poll.
    pub fn poll_ctx(
        &self,
        timeout: u64,
        channel: bool,
    ) -> std::sync::Arc<meshroll::poller::PollCtx> {
        use meshroll::poller::{Cadence, PollCtx};
        use meshroll::remote::Transport;
        use meshroll::remote::ssh::{SshOptions, SshPool};
        let inv = self.inventory();
        let mut opts = SshOptions::new(Some(self.ssh_config.clone()), Duration::from_secs(timeout));
        opts.control_dir = self.control_dir.clone();
        opts.poll_channel = channel;
        let pool = SshPool::new(inv.nodes.clone(), opts).expect("lab: ssh pool");
        std::sync::Arc::new(PollCtx {
            transport: Transport::ssh(pool),
            nodes: inv.nodes,
            token: None,
            cadence: Cadence::for_timeout(Duration::from_secs(timeout)),
        })
    }

    /// Every node runs bundle `abc` (a lock file naming it) with a fresh cache marker.
    pub fn all_ready(&self) {
        for n in &self.nodes {
            n.install_bundle(
                "abc",
                Some(r#"{"files":[],"skills_sha":"abc","version":1}"#),
            );
            n.set_current(Some("abc"));
            n.touch_cache(60);
        }
    }

    /// The fleet as meshroll's own types, built directly (no inventory parser involved):
    /// host = alias, no port/user (both come from the ssh config), layout into the node
    /// roots, run_as empty.
    pub fn inventory(&self) -> meshroll::inventory::Inventory {
        use meshroll::inventory::{Inventory, Layout, Node};
        let nodes = self
            .nodes
            .iter()
            .map(|n| {
                let mut layout = Layout::default();
                for (k, v) in [
                    ("skills_root", n.skills_root().display().to_string()),
                    ("state_dir", n.state_dir().display().to_string()),
                    ("openclaw", n.openclaw().display().to_string()),
                    ("healthz_url", n.healthz_url.clone()),
                    ("gateway_ready_url", n.ready_url.clone()),
                    ("run_as", String::new()),
                ] {
                    assert_eq!(layout.set(k, &v), Ok(true), "lab: layout key {k}");
                }
                Node {
                    name: n.name.clone(),
                    host: n.alias.clone(),
                    port: None,
                    user: None,
                    class: n.class.clone(),
                    labels: Vec::new(),
                    layout,
                }
            })
            .collect();
        Inventory::from_nodes(&self.dir.join("inventory.ini"), nodes).expect("lab: inventory")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &self.nodes {
            n.shutdown();
        }
        if std::env::var_os("MESHROLL_LAB_KEEP").is_some_and(|v| !v.is_empty() && v != "0")
            && let Some(t) = self.tmp.take()
        {
            let kept = t.keep();
            eprintln!("lab: kept {}", kept.display());
        }
    }
}

fn host_key_path(root: &Path) -> PathBuf {
    root.join("ssh/host_ed25519_key")
}

/// One known_hosts line for a loopback node: `[127.0.0.1]:<port> <key>\n`.
pub fn known_hosts_line(port: u16, host_key_pub: &str) -> String {
    format!("[127.0.0.1]:{port} {host_key_pub}\n")
}

// ---------------------------------------------------------------------------------------
// LabNode

impl LabNode {
    /// `<root>/etc/openclaw/skills`
    pub fn skills_root(&self) -> PathBuf {
        self.root.join("etc/openclaw/skills")
    }

    /// `<root>/var/lib/openclaw`
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("var/lib/openclaw")
    }

    /// `<root>/bin/openclaw` (the stand-in CLI)
    pub fn openclaw(&self) -> PathBuf {
        self.root.join("bin/openclaw")
    }

    /// `<root>/standin` (mode files, fixtures, calls.log)
    pub fn standin_dir(&self) -> PathBuf {
        self.root.join("standin")
    }

    /// `<skills_root>/<sha>`
    pub fn bundle_dir(&self, sha: &str) -> PathBuf {
        self.skills_root().join(sha)
    }

    // -- stand-in CLI ---------------------------------------------------------------

    /// How `openclaw gateway status --json` behaves: `ready` (default), `unreachable`,
    /// `auth`, `notjson`, `hung`, `slow`, `state-ready`, `binary`, `huge`.
    pub fn set_mode(&self, mode: &str) {
        write_atomic(
            &self.standin_dir().join("mode"),
            format!("{mode}\n").as_bytes(),
        );
    }

    /// How `openclaw doctor --lint --json` behaves: `findings` (default: the real
    /// fixture, three warnings, exit 1), `clean` (no findings, exit 0), `error` (an
    /// error-severity finding plus a warning, exit 1).
    pub fn set_doctor(&self, mode: &str) {
        write_atomic(
            &self.standin_dir().join("doctor"),
            format!("{mode}\n").as_bytes(),
        );
    }

    /// In `ready` mode, report this `rpc.server.buildId`, daemon version
    /// (`rpc.server.version`, `rpc.version`, `gateway.version`) and `cli.version`
    /// (also what `--version` prints). An empty string restores the fixture's value.
    pub fn set_build(&self, build_id: &str, daemon_version: &str, cli_version: &str) {
        let sd = self.standin_dir();
        write_atomic(&sd.join("build_id"), format!("{build_id}\n").as_bytes());
        write_atomic(
            &sd.join("daemon_version"),
            format!("{daemon_version}\n").as_bytes(),
        );
        write_atomic(
            &sd.join("cli_version"),
            format!("{cli_version}\n").as_bytes(),
        );
    }

    /// Every stand-in invocation so far, one entry per call (its arguments joined by
    /// spaces, e.g. `gateway status --json`).
    pub fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.standin_dir().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many times `gateway status` has been run on this node.
    pub fn gateway_status_calls(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with("gateway status"))
            .count()
    }

    pub fn clear_calls(&self) {
        let _ = fs::remove_file(self.standin_dir().join("calls.log"));
    }

    // -- liveness ------------------------------------------------------------------

    /// What this node's liveness URL answers (HTTP status; 200 by default).
    pub fn set_live(&self, lab: &Lab, status: u16) {
        lab.liveness.set(&self.name, status);
    }

    /// What this node's gateway readiness URL answers (HTTP status; 200 by default).
    pub fn set_ready(&self, lab: &Lab, status: u16) {
        lab.liveness.set(&format!("{}.gw", self.name), status);
    }

    // -- node files -----------------------------------------------------------------

    /// Create `<skills_root>/<sha>/` and, when given, its `skills.lock.json`.
    pub fn install_bundle(&self, sha: &str, lock_json: Option<&str>) {
        let b = self.bundle_dir(sha);
        mkdirs(&b);
        if let Some(lock) = lock_json {
            write_atomic(&b.join("skills.lock.json"), lock.as_bytes());
        }
    }

    /// The node serving bundle `sha` as a fleet member does: the bundle installed with
    /// its lock file ([`bundle_lock`]), `current` on it, the cache warmed 300 s ago.
    pub fn serve(&self, sha: &str) {
        self.install_bundle(sha, Some(&bundle_lock(sha)));
        self.set_current(Some(sha));
        self.touch_cache(300);
    }

    /// Point `<skills_root>/current` at `sha` (a relative symlink whose target is the
    /// sha itself; the bundle need not exist), atomically: a new link renamed over the
    /// old one. `None` removes `current`.
    pub fn set_current(&self, sha: Option<&str>) {
        let cur = self.skills_root().join("current");
        match sha {
            Some(sha) => {
                let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
                let tmp = self
                    .skills_root()
                    .join(format!(".current.tmp{}-{n}", std::process::id()));
                std::os::unix::fs::symlink(sha, &tmp).expect("lab: symlink current");
                fs::rename(&tmp, &cur).expect("lab: rename current");
            }
            None => match fs::remove_file(&cur) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("lab: remove {}: {e}", cur.display()),
            },
        }
    }

    /// The target of `current`, if any.
    pub fn current(&self) -> Option<String> {
        fs::read_link(self.skills_root().join("current"))
            .ok()
            .map(|p| p.display().to_string())
    }

    /// Create (or refresh) `<state>/skill-cache-ready` with an mtime `age_secs` ago.
    pub fn touch_cache(&self, age_secs: u64) {
        let p = self.state_dir().join("skill-cache-ready");
        let f = File::options()
            .create(true)
            .append(true)
            .open(&p)
            .expect("lab: open skill-cache-ready");
        let t = SystemTime::now() - Duration::from_secs(age_secs);
        f.set_modified(t)
            .expect("lab: set mtime of skill-cache-ready");
    }

    /// Remove `<state>/skill-cache-ready` (a cold cache).
    pub fn remove_cache(&self) {
        let _ = fs::remove_file(self.state_dir().join("skill-cache-ready"));
    }

    /// Create or remove `<state>/drain`.
    pub fn set_drain(&self, on: bool) {
        let p = self.state_dir().join("drain");
        if on {
            fs::write(&p, b"").expect("lab: write drain");
        } else {
            let _ = fs::remove_file(p);
        }
    }

    pub fn is_drained(&self) -> bool {
        self.state_dir().join("drain").exists()
    }

    // -- sshd -----------------------------------------------------------------------

    /// Kill this node's sshd together with every connection and session it has open
    /// (as if the host went away; ssh then gets "connection refused"). No-op when it is
    /// already stopped.
    pub fn stop_sshd(&self) {
        if let Some(mut child) = self.sshd.lock().unwrap().take() {
            let pid = child.id();
            procs::signal(&[pid], "STOP"); // no new forks while the tree is collected
            let mut all = procs::descendants(pid);
            all.push(pid);
            procs::signal(&all, "KILL");
            let _ = child.wait();
            let _ = fs::remove_file(self.root.join("sshd.pid"));
        }
    }

    /// Start sshd again on the same port with the same host key; returns once it
    /// answers. No-op when it is running. Panics (with the log) if it does not come up.
    pub fn start_sshd(&self) {
        let mut g = self.sshd.lock().unwrap();
        if let Some(c) = g.as_mut()
            && matches!(c.try_wait(), Ok(None))
        {
            return;
        }
        let mut child = self.spawn_sshd();
        let res = self.wait_ready(&mut child);
        *g = Some(child);
        if let Err(e) = res {
            drop(g);
            self.stop_sshd();
            panic!(
                "lab: sshd for node {} did not come back on port {}: {e}",
                self.name, self.port
            );
        }
    }

    /// Freeze sshd and all its connections (SIGSTOP): TCP still connects (the kernel
    /// accepts into the backlog) but nothing answers, like a hung host. Open sessions
    /// hang too. Undo with [`LabNode::thaw_sshd`].
    pub fn freeze_sshd(&self) {
        if let Some(c) = self.sshd.lock().unwrap().as_ref() {
            let pid = c.id();
            procs::signal(&[pid], "STOP");
            let mut all = procs::descendants(pid);
            all.push(pid);
            procs::signal(&all, "STOP");
        }
    }

    pub fn thaw_sshd(&self) {
        if let Some(c) = self.sshd.lock().unwrap().as_ref() {
            let pid = c.id();
            let mut all = procs::descendants(pid);
            all.push(pid);
            procs::signal(&all, "CONT");
        }
    }

    /// The pid of this node's sshd listener (the parent of every session it serves),
    /// while it runs.
    pub fn sshd_pid(&self) -> Option<u32> {
        self.sshd.lock().unwrap().as_ref().map(Child::id)
    }

    /// Whether this node's sshd process is alive.
    pub fn sshd_running(&self) -> bool {
        self.sshd
            .lock()
            .unwrap()
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Give this node's account a login shell that sources `rc` as its `~/.bashrc` (in
    /// `<root>/login-home`, the session's `$HOME` via sshd's `SetEnv`), like an account whose
    /// rc file is slow or prints a banner; restarts sshd. Every ssh command runs it once
    /// (Debian's bash sources ~/.bashrc for commands run by sshd).
    pub fn set_login_rc(&self, rc: &str) {
        let home = self.login_home();
        mkdirs(&home);
        fs::write(home.join(".bashrc"), rc).expect("lab: write .bashrc");
        let mut cfg = fs::read_to_string(&self.sshd_config).expect("lab: read sshd_config");
        let line = format!("SetEnv HOME={}\n", home.display());
        if !cfg.contains(&line) {
            cfg.push_str(&line);
            fs::write(&self.sshd_config, cfg).expect("lab: write sshd_config");
        }
        self.stop_sshd();
        self.start_sshd();
    }

    /// The session's `$HOME` after [`LabNode::set_login_rc`].
    pub fn login_home(&self) -> PathBuf {
        self.root.join("login-home")
    }

    /// sshd's log (its stderr, `-e`, LogLevel ERROR), all starts appended.
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(&self.sshd_log).unwrap_or_default()
    }

    fn write_sshd_config(&self, host_key: &Path, authorized_keys: &Path) {
        let cfg = format!(
            "# meshroll lab node {name}\n\
             Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {hk}\n\
             PidFile {pid}\n\
             AuthorizedKeysFile {ak}\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             StrictModes no\n\
             PermitRootLogin yes\n\
             UsePAM no\n\
             MaxSessions 10\n\
             MaxStartups 100:30:200\n\
             LogLevel ERROR\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             Subsystem sftp internal-sftp\n",
            name = self.name,
            port = self.port,
            hk = host_key.display(),
            pid = self.root.join("sshd.pid").display(),
            ak = authorized_keys.display(),
        );
        fs::write(&self.sshd_config, cfg).expect("lab: write sshd_config");
    }

    fn spawn_sshd(&self) -> Child {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.sshd_log)
            .expect("lab: open sshd.log");
        let mut cmd = match self.macos {
            Some(_) => macos::sshd_command(&self.root, SSHD, &self.sshd_config),
            None => {
                let mut c = Command::new(SSHD);
                c.args(["-D", "-e", "-f"]).arg(&self.sshd_config);
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("lab: cannot start {SSHD}: {e}"))
    }

    /// Wait until `child` answers with an SSH banner on `port`, or fail with why.
    fn wait_ready(&self, child: &mut Child) -> Result<(), String> {
        let start = Instant::now();
        let log_from = fs::metadata(&self.sshd_log).map_or(0, |m| m.len()) as usize;
        // only what this start wrote (the log is appended to across restarts)
        let log = || {
            self.sshd_log()
                .get(log_from..)
                .unwrap_or_default()
                .to_string()
        };
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!(
                    "sshd exited ({st}) on port {}; sshd.log:\n{}",
                    self.port,
                    log()
                ));
            }
            if sshd_banner(self.port) {
                return Ok(());
            }
            if start.elapsed() > SSHD_START_DEADLINE {
                return Err(format!(
                    "no SSH banner on 127.0.0.1:{} after {:?}; sshd.log:\n{}",
                    self.port,
                    SSHD_START_DEADLINE,
                    log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kill sshd (with its connections) and any stand-in left sleeping in `hung` mode.
    fn shutdown(&self) {
        self.stop_sshd();
        let pids = fs::read_to_string(self.standin_dir().join("pids")).unwrap_or_default();
        let hung: Vec<u32> = pids
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            // only our own `exec sleep 3600`, never a recycled pid
            .filter(|p| procs::cmdline(*p).is_some_and(|c| c == "sleep 3600"))
            .collect();
        procs::signal(&hung, "KILL");
    }
}

impl Drop for LabNode {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The ssh pool behind a poll context (the lab's are ssh).
pub fn ssh_pool(ctx: &meshroll::poller::PollCtx) -> &meshroll::remote::ssh::SshPool {
    ctx.transport
        .as_any()
        .downcast_ref::<meshroll::remote::ssh::SshPool>()
        .expect("lab: an ssh transport")
}

/// The `skills.lock.json` of an empty bundle that names `sha`.
pub fn bundle_lock(sha: &str) -> String {
    format!(r#"{{"files":[],"skills_sha":"{sha}","version":1}}"#)
}
