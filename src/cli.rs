//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "meshroll",
    version,
    about = "Roll a pinned OpenClaw skills bundle out to MeshMac nodes and watch the pool live",
    after_help = crate::exit::HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub dash: PlanArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The bundle and the plan: shared by `rollout` and by the dashboard, which stages the
/// rollout paused for the operator to step.
#[derive(Debug, Clone, Args, Default)]
pub struct PlanArgs {
    /// The skills folder to ship (in the dashboard: stage a rollout of it).
    #[arg(long)]
    pub skills: Option<PathBuf>,
    /// Name a folder outside git by its content instead of refusing.
    #[arg(long = "content-id")]
    pub content_id: bool,
    /// Only this class (repeat for several, in this order).
    #[arg(long = "class")]
    pub class: Vec<String>,
    /// Only this node (repeat for several): the plan, --check, the journal and a resume
    /// cover these nodes alone; each class's canary is its first named node.
    #[arg(long = "node", value_name = "NODE")]
    pub node: Vec<String>,
    /// Nodes per wave after the canary: a count or a percentage (25%).
    #[arg(long, default_value = "25%")]
    pub wave: String,
    /// Nodes of a wave in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Failed nodes a class tolerates before it halts: a count or a percentage.
    #[arg(long = "failure-budget", default_value = "0")]
    pub failure_budget: String,
    /// Run doctor on every node, not only on each class's canary.
    #[arg(long = "doctor-every-node")]
    pub doctor_every_node: bool,
    /// Classes are independent: start every class's canary at once and let each class
    /// widen on its own (a halt in any class still stops new nodes in all). Off by
    /// default: classes go one after the other.
    #[arg(long = "parallel-classes")]
    pub parallel_classes: bool,
    /// The canary bake: after each class's canary lands, poll it at the poll interval
    /// for this long (90s, 5m, 1h) before its first wave; a dead or skewed verdict
    /// halts the class. 0s: no bake.
    #[arg(long, default_value = "0s")]
    pub bake: String,
    /// The append-only journal (JSON lines).
    #[arg(long, default_value = "meshroll-journal.jsonl")]
    pub journal: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Inventory: a meshroll.toml or an Ansible inventory (INI or YAML).
    #[arg(
        short = 'i',
        long = "inventory",
        global = true,
        default_value = "meshroll.toml"
    )]
    pub inventory: PathBuf,
    /// ssh config file, passed to ssh as -F.
    #[arg(long = "ssh-config", global = true)]
    pub ssh_config: Option<PathBuf>,
    /// Seconds one remote command may take.
    #[arg(long, global = true, default_value_t = 10)]
    pub timeout: u64,
    /// Accept host keys of hosts not yet in known_hosts (a changed key is still refused).
    #[arg(long = "accept-new-host-keys", global = true)]
    pub accept_new_host_keys: bool,
    /// Theme name (a file in themes/) or path to a theme file.
    #[arg(long, global = true, default_value = "default")]
    pub theme: String,
    /// Directory for the rolling log file.
    #[arg(long = "log-dir", global = true)]
    pub log_dir: Option<PathBuf>,
    /// Seconds between cheap polls (files, liveness, disk).
    #[arg(long = "poll-interval", global = true, default_value_t = 5)]
    pub poll_interval: u64,
    /// Seconds between gateway status polls (each costs a real node 2-3 s of CPU; a
    /// change of liveness triggers one at once). 300 keeps polling under 2% of a core.
    #[arg(long = "gateway-interval", global = true, default_value_t = 300)]
    pub gateway_interval: u64,
    /// The simulated mesh (demo, status --sim, rollout --sim): this many nodes, the
    /// demo's classes and troubles in the demo's shares. Default: the 26-node demo.
    #[arg(long, global = true, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub nodes: Option<u64>,
    /// The simulated mesh's seed: the same seed gives the same mesh.
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,
    /// ssh connections being set up at once (sshd refuses bursts past its
    /// MaxStartups, 10:30:100 by default); 0 = no limit.
    #[arg(long = "connect-concurrency", global = true, default_value_t = 10)]
    pub connect_concurrency: usize,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the dashboard on a built-in simulated mesh.
    Demo,
    /// Poll every node once and print (or keep polling with --watch). Exits 1 when a
    /// node is dead (see --fail-on), 2 when meshroll could not run.
    #[command(after_help = crate::exit::HELP)]
    Status(StatusArgs),
    /// Print a skills folder's SKILLS_SHA and SKILLS_MANIFEST_SHA256 (writes nothing
    /// unless --write-lock is given).
    Manifest(ManifestArgs),
    /// Roll a skills bundle out, class by class, canary first, without a terminal.
    Rollout(RolloutArgs),
    /// Flip `current` back to the previous target on chosen nodes or classes.
    Rollback(RollbackArgs),
    /// Remove a node lock left by a rollout that is gone (shows its owner, host and
    /// age, and asks first).
    Unlock(UnlockArgs),
    /// List every locked node: the lock's owner, host, rollout, age and heartbeat,
    /// stale after 3 missed heartbeats, and whether the owner's process is alive when
    /// it ran on this host.
    #[command(after_help = crate::exit::HELP)]
    Locks(LocksArgs),
    /// Replay a past rollout from its journal (the dashboard in time order), or print
    /// its timeline with --summary (with the node actions of the audit log beside it).
    Replay(ReplayArgs),
    /// Drain nodes outside a rollout (the layout's drain command, or the drain flag).
    Drain(NodeActionArgs),
    /// Undrain nodes (and release a lock this host's dead rollout left, after showing it).
    Undrain(NodeActionArgs),
    /// Restart the gateway on nodes (`openclaw gateway restart`), then poll them.
    Restart(NodeActionArgs),
    /// Print a node's gateway log (`openclaw logs --plain`), or follow it.
    Logs(LogsArgs),
    /// A shell on a node, or one command, over its ssh master.
    Ssh(SshArgs),
    /// Run one of your actions (actions.toml, meshroll-actions.toml) on nodes.
    Action(UserActionArgs),
}

/// Which nodes a command acts on: `--node` and `--class`, each repeatable (resolved
/// against the inventory by `cmd::targets`).
#[derive(Debug, Clone, Args)]
pub struct NodeSelect {
    /// A node (repeat for several).
    #[arg(long = "node")]
    pub node: Vec<String>,
    /// Every node of a class (repeat for several).
    #[arg(long = "class")]
    pub class: Vec<String>,
}

/// Which nodes a node action runs on, and whether to ask.
#[derive(Debug, Clone, Args)]
pub struct NodeActionArgs {
    #[command(flatten)]
    pub select: NodeSelect,
    /// Do not ask (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// The rollout journal; the audit log is written beside it.
    #[arg(long, default_value = "meshroll-journal.jsonl")]
    pub journal: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// The node.
    #[arg(long = "node", required = true)]
    pub node: String,
    /// Keep printing new lines until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Lines to show (`openclaw logs --limit`).
    #[arg(long, default_value_t = 200)]
    pub lines: u32,
    /// The rollout journal; the audit log is written beside it.
    #[arg(long, default_value = "meshroll-journal.jsonl")]
    pub journal: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct SshArgs {
    /// The node.
    pub node: String,
    /// A command to run instead of a shell (after `--`), each word quoted for the
    /// node's shell.
    #[arg(last = true)]
    pub command: Vec<String>,
    /// The rollout journal; the audit log is written beside it.
    #[arg(long, default_value = "meshroll-journal.jsonl")]
    pub journal: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct UserActionArgs {
    /// The action's name in the actions file.
    pub name: String,
    #[command(flatten)]
    pub on: NodeActionArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LocksArgs {
    /// Print a JSON array, one object per locked node.
    #[arg(long)]
    pub json: bool,
    /// Poll the built-in simulated mesh instead of an inventory.
    #[arg(long)]
    pub sim: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UnlockArgs {
    /// The nodes whose locks to remove (each shown and asked about in turn).
    #[command(flatten)]
    pub select: NodeSelect,
    /// Do not ask (headless).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The journal a rollout wrote (`--journal`, JSON lines).
    pub journal: PathBuf,
    /// Print the timeline for an incident review instead of opening the replay.
    #[arg(long)]
    pub summary: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// The nodes to roll back.
    #[command(flatten)]
    pub select: NodeSelect,
    /// Really do it.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ManifestArgs {
    /// The skills folder.
    pub dir: PathBuf,
    /// Name a folder outside git by its content instead of refusing.
    #[arg(long = "content-id")]
    pub content_id: bool,
    /// Also write the canonical skills.lock.json to this path.
    #[arg(long = "write-lock")]
    pub write_lock: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RolloutArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Print the plan (which node in which wave) and touch nothing.
    #[arg(long)]
    pub check: bool,
    /// Really run: a headless rollout changes nodes without asking.
    #[arg(long)]
    pub yes: bool,
    /// Seconds the probe phase waits for the merged probe to pass.
    #[arg(long = "probe-timeout", default_value_t = 120)]
    pub probe_timeout: u64,
    /// Seconds one rsync may take.
    #[arg(long = "sync-timeout", default_value_t = 600)]
    pub sync_timeout: u64,
    /// Seconds the prewarm command may take.
    #[arg(long = "prewarm-timeout", default_value_t = 930)]
    pub prewarm_timeout: u64,
    /// Roll the demo bundle out to the built-in simulated mesh.
    #[arg(long)]
    pub sim: bool,
    /// Seconds between refreshes of the node locks' heartbeat while the rollout holds
    /// them (what `unlock` and a refused rollout show as the lock's age).
    #[arg(long = "lock-heartbeat", default_value_t = 30)]
    pub lock_heartbeat: u64,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Print JSON: one array, or with --watch one {"round","round_ms","nodes"} per line.
    #[arg(long)]
    pub json: bool,
    /// Keep polling, one round per --poll-interval.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: stop after N rounds.
    #[arg(long)]
    pub count: Option<u64>,
    /// Also run `openclaw doctor --lint --json` on every node.
    #[arg(long)]
    pub doctor: bool,
    /// Poll the built-in simulated mesh instead of an inventory.
    #[arg(long)]
    pub sim: bool,
    /// The SKILLS_SHA being rolled out: nodes still on their class's previous bundle
    /// read `waiting`, not skew.
    #[arg(long = "target")]
    pub target: Option<String>,
    /// Print why NODE has its verdict: every signal with its value, limit, age and
    /// pass/fail. Polls that node alone.
    #[arg(long, value_name = "NODE")]
    pub explain: Option<String>,
    /// Print every cell of the table in full, however wide (the table otherwise fits
    /// `COLUMNS`, the terminal, or 80 columns when piped).
    #[arg(long)]
    pub wide: bool,
    /// Also exit 1 when a node is skewed (`skew`) or draining (`draining`); a dead node
    /// always makes status exit 1 (repeat, or comma-separate, for both).
    #[arg(long = "fail-on", value_enum, value_delimiter = ',')]
    pub fail_on: Vec<crate::exit::FailOn>,
}
