//! `meshroll rollout`: run a plan headless, print progress lines and a recap, exit 0
//! only when every node landed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::cli::{Global, PlanArgs, RollbackArgs, RolloutArgs};
use crate::inventory::Inventory;
use crate::manifest::{self, Bundle};
use crate::observe::now_ms;
use crate::poller::PollCtx;
use crate::rollout::plan::{self, PlanOptions, Size};
use crate::rollout::session;
use crate::rollout::state::RolloutState;
use crate::rollout::steps::Limits;
use crate::rollout::{Input, Mode, Plan};
use crate::safe_text::{Shown, clean_capped};

/// The longest progress line printed, in characters.
pub const LINE_CAP: usize = 1024;

/// One headless line: progress lines, notes, the recap's errors, lock messages and
/// rollback notes carry node text, so each goes through the one redactor and sanitiser
/// (no terminal control reaches the operator's terminal; long lines are capped).
fn line(s: &str) -> Shown {
    Shown::capped(s, LINE_CAP)
}

/// The plan options from the flags.
pub fn plan_options(a: &PlanArgs) -> anyhow::Result<PlanOptions> {
    Ok(PlanOptions {
        classes: (!a.class.is_empty()).then(|| a.class.clone()),
        nodes: (!a.node.is_empty()).then(|| a.node.clone()),
        wave: Size::parse(&a.wave).map_err(|e| anyhow::anyhow!("--wave: expected {e}"))?,
        concurrency: a.concurrency.max(1),
        failure_budget: Size::parse(&a.failure_budget)
            .map_err(|e| anyhow::anyhow!("--failure-budget: expected {e}"))?,
        doctor_every_node: a.doctor_every_node,
        parallel_classes: a.parallel_classes,
        bake_ms: plan::parse_duration(&a.bake)
            .map_err(|e| anyhow::anyhow!("--bake: expected {e}"))?,
        ..PlanOptions::default()
    })
}

/// `user@host pid N`, for node locks.
pub fn who() -> String {
    // $USER is often unset (containers, cron, CI); the lock owner must still be named.
    let user = ["USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|u| u.trim().to_string())
        .find(|u| !u.is_empty())
        .or_else(|| {
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|u| !u.is_empty())
        })
        .unwrap_or_else(|| "unknown".into());
    let host = hostname().unwrap_or_else(|| "localhost".into());
    // The owner line is split on spaces on the node: keep each part one word.
    let word = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    };
    format!("{}@{}/pid{}", word(&user), word(&host), std::process::id())
}

/// The machine's host name from gethostname(2) (macOS has no /etc/hostname).
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname writes at most that
    // many and we read up to the first NUL (or the whole buffer if it was truncated).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let h = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!h.is_empty()).then_some(h)
}

/// Everything a rollout run needs, prepared before any node is touched.
pub struct Prepared {
    pub inv: Inventory,
    pub poll: Arc<PollCtx>,
    pub bundle: Arc<Bundle>,
    pub plan: Plan,
    /// Keeps the staged copy alive for the run.
    pub stage: Option<tempfile::TempDir>,
}

impl Prepared {
    /// Stage the bundle with the node's modes and the lock inside, for rsync (when the
    /// nodes copy staged files: the simulated mesh needs none). Returns the staged folder.
    pub fn stage(&mut self) -> anyhow::Result<std::path::PathBuf> {
        if !self.poll.transport.copies_staged_files() {
            return Ok(std::path::PathBuf::new());
        }
        let t = stage_tempdir()?;
        let dir = t.path().join(&self.bundle.skills_sha);
        manifest::stage(&self.bundle, &dir)?;
        self.stage = Some(t);
        Ok(dir)
    }
}

/// The staging folder: only this user reads the staged copy (secrets included) before
/// it ships, so it is created 0700 (tempfile's default follows the umask: 0755).
pub fn stage_tempdir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("meshroll-stage")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

pub fn prepare(g: &Global, a: &PlanArgs, sim: bool) -> anyhow::Result<Prepared> {
    let (inv, poll, bundle) = if sim {
        let (inv, ctx) = super::sim_ctx(g);
        (inv, ctx, crate::remote::sim::demo_bundle())
    } else {
        let dir = a
            .skills
            .as_ref()
            .context("--skills DIR is required (the folder to ship)")?;
        let bundle = manifest::build(dir, a.content_id)?;
        let (inv, ctx) = super::real_ctx(g)?;
        (inv, ctx, bundle)
    };
    let opts = PlanOptions {
        // A baking canary is polled at the poll interval.
        bake_every_ms: g.poll_interval.max(1) * 1000,
        ..plan_options(a)?
    };
    let mut plan = plan::make(&inv, &opts).map_err(|e| anyhow::anyhow!("plan: {e}"))?;
    plan.old_rsync_refusals = crate::rollout::node_ops::old_rsync_refusals(&inv, &plan, &bundle);
    Ok(Prepared {
        inv,
        poll: Arc::new(poll),
        bundle: Arc::new(bundle),
        plan,
        stage: None,
    })
}

pub async fn run(g: &Global, a: &RolloutArgs) -> anyhow::Result<i32> {
    let mut p = prepare(g, &a.plan, a.sim)?;
    println!("SKILLS_SHA={}", p.bundle.skills_sha);
    println!("SKILLS_MANIFEST_SHA256={}", p.bundle.manifest_sha256);
    print!(
        "{}",
        crate::safe_text::clean_keep_newlines(&p.plan.describe(&p.inv), LINE_CAP)
    );
    if a.check {
        return Ok(0);
    }
    if !a.yes {
        anyhow::bail!(
            "a headless rollout changes nodes: pass --yes to run it (or --check to see the plan)"
        );
    }
    let stage_dir = p.stage()?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let preconnect = session::preconnect(&p.poll, &p.plan);
    let limits = Limits {
        command: Duration::from_secs(g.timeout.max(1)),
        sync: Duration::from_secs(a.sync_timeout.max(1)),
        prewarm: Duration::from_secs(a.prewarm_timeout.max(1)),
        probe: Duration::from_secs(a.probe_timeout.max(1)),
        heartbeat: Duration::from_secs(a.lock_heartbeat.max(1)),
    };
    let session = session::Session {
        poll: p.poll.clone(),
        bundle: p.bundle.clone(),
        plan: p.plan.clone(),
        stage_dir,
        journal: a.plan.journal.clone(),
        limits,
        who: who(),
    };
    // The signals first: none is lost between the first node touched and the loop.
    let mut signals = crate::terminal::QuitSignals::new()?;
    let (mut d, mut runner, notes) = session::start(session, Mode::Run, tx, now_ms())
        .await
        .with_context(|| format!("opening the journal {}", a.plan.journal.display()))?;
    d.again = Some(super::again());
    for n in notes {
        println!("{}", line(&n));
    }
    let print = |lines: Vec<String>| {
        for l in lines {
            println!("{}", line(&l));
        }
    };
    print(runner.feed(&mut d, Input::Tick, now_ms()));
    let mut stopping = false;
    'run: loop {
        while !d.machine.idle() {
            tokio::select! {
                Some(ev) = rx.recv() => print(runner.on_exec(&mut d, ev, now_ms())),
                _ = tokio::time::sleep(Duration::from_millis(250)) => print(runner.feed(&mut d, Input::Tick, now_ms())),
                sig = signals.recv() => {
                    if stopping {
                        println!("{sig} again: quitting now; nodes still in flight stay drained (the same rollout resumes them)");
                        break 'run;
                    }
                    stopping = true;
                    println!("{sig}: stopping: nothing new starts; nodes in flight finish their phase and are put back ({sig} again quits at once)");
                    print(runner.feed(&mut d, Input::Op(crate::rollout::Command::Abort), now_ms()));
                }
            }
        }
        // Halted, or done with failed nodes still drained: no operator waits here, so
        // the run stops through the same path (those nodes are put back).
        if stopping || d.machine.in_flight() == 0 {
            break;
        }
        stopping = true;
        println!("stopping: putting back the node(s) the rollout still holds");
        print(runner.feed(&mut d, Input::Op(crate::rollout::Command::Abort), now_ms()));
    }
    preconnect.abort();
    recap(&d, &p.inv);
    p.poll.transport.close().await;
    if let Some(h) = &d.machine.halt {
        println!("halted: {}", line(&h.to_string()));
    }
    Ok(if d.machine.all_landed() { 0 } else { 1 })
}

fn recap(d: &RolloutState, inv: &Inventory) {
    // The per-node table, then where each node was left, as the dashboard's recap says
    // it: one recap (every node string in it is cleaned).
    let r = crate::replay::recap::Recap::of(d, &inv.nodes);
    print!("\nrecap:\n{}{r}", r.table());
}

/// `meshroll rollback`: flip `current` back to `previous` on the chosen nodes.
pub async fn rollback(g: &Global, a: &RollbackArgs) -> anyhow::Result<i32> {
    let (inv, poll) = super::real_ctx(g)?;
    let chosen = super::targets(g, &inv, &a.select, "to roll back")?;
    if !a.yes {
        anyhow::bail!("rollback changes {} node(s): pass --yes", chosen.len());
    }
    let id = format!("rollback-{}", std::process::id());
    let timeout = Duration::from_secs(g.timeout.max(1));
    let who = who();
    let results = futures::future::join_all(
        chosen
            .iter()
            .map(|&i| crate::rollout::steps::run_rollback(&poll, i, &id, &who, timeout)),
    )
    .await;
    let mut failed = 0;
    for (&i, r) in chosen.iter().zip(results) {
        match r {
            Ok(m) => println!(
                "{} rolled back: {}",
                clean_capped(&inv.nodes[i].name, 64),
                line(&m)
            ),
            Err(e) => {
                failed += 1;
                println!(
                    "{} rollback failed: {}",
                    clean_capped(&inv.nodes[i].name, 64),
                    line(&e.to_string())
                );
            }
        }
    }
    poll.transport.close().await;
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_staging_folder_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let t = super::stage_tempdir().expect("tempdir");
        let mode = std::fs::metadata(t.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn lock_owners_name_the_real_host() {
        let h = super::hostname().expect("gethostname");
        let who = super::who();
        assert!(
            who.contains(&format!("@{h}/pid{}", std::process::id())),
            "{who}"
        );
        assert!(!who.contains(char::is_whitespace), "{who}");
    }
}
