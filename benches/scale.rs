//! The dashboard at scale: a simulated mesh of 100 and of 10,000 nodes side by side in
//! one run (issue 10's goals).
//!
//!     cargo build --release && cargo bench --bench scale
//!
//! Under `cargo test` (no `--bench` argument) it only says how to run it.
//!
//! In process (the library, ratatui's TestBackend at 200x60, the generated mesh of
//! `SimMesh::generate(n, 1)` polled once with the gateway status):
//!
//! * **frame under load**: what the event loop does for one frame while every node
//!   reports once a second at 10 frames a second (n/10 poll results handled, then the
//!   reports refreshed and the screen drawn), 300 frames;
//! * **clock frame**: the once-a-second redraw with nothing new (refresh + draw);
//! * **key to frame**: a key handled and the next frame drawn, for `j`, `k`, `G`, `g`,
//!   `/` + two letters + Enter (each key its own frame), `s`, `Tab`; 30 rounds each.
//!
//! Out of process (the release binary, `target/release/meshroll` or `$MESHROLL_BIN`):
//!
//! * `status --sim --nodes N --json` wall time and peak RSS;
//! * `demo --nodes N` in a detached tmux window of 200x60: RSS after the first round,
//!   CPU while idle (`--poll-interval 3600 --gateway-interval 3600`: after the first
//!   round nothing arrives, only the 1 s clock tick) and CPU under load
//!   (`--poll-interval 1`: every node reports every second, 10,000 updates a second at
//!   10,000 nodes), each over `MESHROLL_SCALE_SECS` (default 20) seconds read from
//!   /proc/<pid>/stat.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use meshroll::dashboard::{App, AppEvent, Setup};
use meshroll::inventory::NodeId;
use meshroll::observe::now_ms;
use meshroll::poller::{Cadence, PollResult};
use meshroll::remote::sim::SimMesh;
use meshroll::ui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: [usize; 2] = [100, 10_000];
const FRAMES: usize = 300;
const KEY_ROUNDS: usize = 30;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "benches/scale.rs: run it with `cargo build --release && cargo bench --bench scale`"
        );
        return;
    }
    let secs: u64 = std::env::var("MESHROLL_SCALE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut out = String::new();
    let mut inproc = Vec::new();
    for n in SIZES {
        eprintln!("scale: in-process dashboard, {n} nodes");
        inproc.push((n, in_process(n)));
    }
    out.push_str(&in_process_table(&inproc));
    let bin = meshroll_bin();
    if bin.is_file() {
        let mut rows = Vec::new();
        for n in SIZES {
            eprintln!("scale: status --sim --nodes {n} --json");
            let status = status_json(&bin, n);
            eprintln!("scale: demo --nodes {n} in tmux ({secs} s idle, {secs} s loaded)");
            let idle = dashboard(
                &bin,
                n,
                &["--poll-interval", "3600", "--gateway-interval", "3600"],
                secs,
            );
            let busy = dashboard(
                &bin,
                n,
                &["--poll-interval", "1", "--gateway-interval", "3600"],
                secs,
            );
            rows.push((n, status, idle, busy));
        }
        out.push_str(&process_table(&bin, &rows));
    } else {
        out.push_str(&format!(
            "\n{} not built: `cargo build --release` for the process figures\n",
            bin.display()
        ));
    }
    println!("{out}");
}

fn meshroll_bin() -> PathBuf {
    std::env::var_os("MESHROLL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/meshroll")
        })
}

// ---------------------------------------------------------------------------------
// in process

struct InProc {
    load_frame_cpu: Vec<f64>,
    tick_frame_cpu: Vec<f64>,
    keys_cpu: Vec<(&'static str, Vec<f64>)>,
    load_frame: Vec<f64>,
    load_handle: Vec<f64>,
    tick_frame: Vec<f64>,
    tick_refresh: Vec<f64>,
    keys: Vec<(&'static str, Vec<f64>)>,
    setup_s: f64,
}

fn pctl(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time of this thread, ms: unlike wall time, not inflated when the box is shared
/// and the thread waits for a core.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

fn in_process(n: usize) -> InProc {
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let (inv, mesh) = SimMesh::generate(n, 1);
    let cadence = Cadence::for_timeout(Duration::from_secs(10));
    let req = cadence.request(true, false);
    let cheap = cadence.request(false, false);
    let now = now_ms();
    let first: Vec<PollResult> = rt.block_on(async {
        let mut v = Vec::with_capacity(n);
        for idx in 0..n {
            let result = mesh.poll(idx, &req).await;
            v.push(PollResult {
                node: NodeId::new(idx),
                at: now,
                took_ms: 1,
                result,
            });
        }
        v
    });
    // What the node loops send between gateway polls: the cheap signals.
    let updates: Vec<PollResult> = rt.block_on(async {
        let mut v = Vec::with_capacity(n);
        for idx in 0..n {
            let result = mesh.poll(idx, &cheap).await;
            v.push(PollResult {
                node: NodeId::new(idx),
                at: now,
                took_ms: 1,
                result,
            });
        }
        v
    });
    let mut app = App::new(
        "scale bench".into(),
        inv.nodes.clone(),
        inv.classes.clone(),
        Setup::default(),
    );
    app.handle(AppEvent::Input(TermEvent::Resize(200, 60)), now);
    for r in first {
        app.handle(AppEvent::Poll(Box::new(r)), now);
    }
    let theme = Theme::load("default").expect("theme");
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let mut frame = |app: &mut App, at: u64| {
        app.update_rows(at);
        term.draw(|f| meshroll::ui::draw(f, app, &theme))
            .expect("draw");
    };
    frame(&mut app, now);
    let setup_s = t0.elapsed().as_secs_f64();
    if std::env::var_os("MESHROLL_SCALE_PROFILE").is_some() {
        for _ in 0..5 {
            let pairs: Vec<(&str, &meshroll::observe::NodeState)> = app
                .nodes()
                .iter()
                .zip(app.states())
                .map(|(n, s)| (n.class.as_str(), s))
                .collect();
            let t = Instant::now();
            let k = meshroll::skew::assess(&pairs, None);
            let ta = ms(t.elapsed());
            let t = Instant::now();
            let rows = meshroll::report::build(app.nodes(), app.states(), now, None, app.rules());
            let tb = ms(t.elapsed());
            let t = Instant::now();
            drop(rows);
            drop(k);
            eprintln!(
                "profile {n}: assess {ta:.2} ms, build {tb:.2} ms, drop {:.2} ms",
                ms(t.elapsed())
            );
        }
    }

    // Frames under load: n/10 updates per frame at 10 frames a second.
    let per_frame = (n / 10).max(1);
    let mut load_frame = Vec::with_capacity(FRAMES);
    let mut load_frame_cpu = Vec::with_capacity(FRAMES);
    let mut load_handle = Vec::with_capacity(FRAMES);
    let mut next = 0usize;
    let mut at = now;
    for _ in 0..FRAMES {
        at += 100;
        let batch: Vec<PollResult> = (0..per_frame)
            .map(|k| {
                let mut r = updates[(next + k) % n].clone();
                r.at = at;
                r
            })
            .collect();
        next = (next + per_frame) % n;
        let t = Instant::now();
        let c = thread_cpu_ms();
        for r in batch {
            app.handle(AppEvent::Poll(Box::new(r)), at);
        }
        let handled = t.elapsed();
        frame(&mut app, at);
        load_frame_cpu.push(thread_cpu_ms() - c);
        load_frame.push(ms(t.elapsed()));
        load_handle.push(ms(handled));
    }

    // Tick frames: nothing new, the clock moved a second.
    let mut tick_frame = Vec::with_capacity(FRAMES / 3);
    let mut tick_refresh = Vec::with_capacity(FRAMES / 3);
    let mut tick_frame_cpu = Vec::with_capacity(FRAMES / 3);
    for _ in 0..FRAMES / 3 {
        // The event loop's clock: a Tick every second; a frame when a row changed.
        at += 1000;
        let t = Instant::now();
        let c = thread_cpu_ms();
        let changed = app.handle(AppEvent::Tick, at).redraw;
        tick_refresh.push(ms(t.elapsed()));
        if changed {
            frame(&mut app, at);
        }
        tick_frame_cpu.push(thread_cpu_ms() - c);
        tick_frame.push(ms(t.elapsed()));
    }

    // Key to frame.
    let press = |app: &mut App, c: KeyCode| {
        app.handle(
            AppEvent::Input(TermEvent::Key(KeyEvent::new(c, KeyModifiers::NONE))),
            at,
        )
    };
    let mut keys: Vec<(&'static str, Vec<f64>)> = Vec::new();
    let mut keys_cpu: Vec<(&'static str, Vec<f64>)> = Vec::new();
    let mut time_key = |name: &'static str, app: &mut App, codes: &[KeyCode]| {
        let mut v = Vec::new();
        let mut vc = Vec::new();
        for _ in 0..KEY_ROUNDS {
            for &c in codes {
                let t = Instant::now();
                let cpu = thread_cpu_ms();
                press(app, c);
                frame(app, at);
                vc.push(thread_cpu_ms() - cpu);
                v.push(ms(t.elapsed()));
            }
        }
        keys.push((name, v));
        keys_cpu.push((name, vc));
    };
    time_key("j", &mut app, &[KeyCode::Char('j')]);
    time_key("k", &mut app, &[KeyCode::Char('k')]);
    time_key("G", &mut app, &[KeyCode::Char('G')]);
    time_key("g", &mut app, &[KeyCode::Char('g')]);
    time_key(
        "/ w1 Enter, Esc",
        &mut app,
        &[
            KeyCode::Char('/'),
            KeyCode::Char('w'),
            KeyCode::Char('1'),
            KeyCode::Enter,
            KeyCode::Esc,
        ],
    );
    time_key("s", &mut app, &[KeyCode::Char('s')]);
    time_key("Tab", &mut app, &[KeyCode::Tab]);
    InProc {
        load_frame_cpu,
        tick_frame_cpu,
        keys_cpu,
        load_frame,
        load_handle,
        tick_frame,
        tick_refresh,
        keys,
        setup_s,
    }
}

fn in_process_table(rows: &[(usize, InProc)]) -> String {
    let mut s = String::new();
    s.push_str("#### Dashboard frames, in process (TestBackend 200x60)\n\n");
    s.push_str("Wall time (what the operator waits, including waiting for a core on a shared box) and the thread's CPU time (the work itself).\n\n");
    s.push_str("| what | nodes | p50 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms | goal |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (n, r) in rows {
        let goal = if *n >= 10_000 { "p99 < 4 ms" } else { "" };
        let line = |name: &str, v: &[f64], cpu: Option<&[f64]>, goal: &str| {
            let (c50, c99) = cpu.map_or((String::new(), String::new()), |c| {
                (
                    format!("{:.2}", pctl(c, 0.5)),
                    format!("{:.2}", pctl(c, 0.99)),
                )
            });
            format!(
                "| {name} | {n} | {:.2} | {:.2} | {:.2} | {c50} | {c99} | {goal} |\n",
                pctl(v, 0.5),
                pctl(v, 0.99),
                pctl(v, 1.0)
            )
        };
        s.push_str(&line(
            &format!(
                "frame under load ({} updates handled + refresh + draw)",
                (n / 10).max(1)
            ),
            &r.load_frame,
            Some(&r.load_frame_cpu),
            goal,
        ));
        s.push_str(&line(
            "  of which handling the updates",
            &r.load_handle,
            None,
            "",
        ));
        s.push_str(&line(
            "clock frame (1 s later, nothing new: every verdict checked, the rows on screen aged + draw)",
            &r.tick_frame,
            Some(&r.tick_frame_cpu),
            goal,
        ));
        s.push_str(&line(
            "  of which refreshing the reports",
            &r.tick_refresh,
            None,
            "",
        ));
        for ((k, v), (_, vc)) in r.keys.iter().zip(&r.keys_cpu) {
            s.push_str(&line(
                &format!("key `{k}` to frame"),
                v,
                Some(vc),
                if *n >= 10_000 { "instant (< 4 ms)" } else { "" },
            ));
        }
        s.push_str(&format!(
            "| setup: generate, poll every node, first frame (s) | {n} | {:.2} | | | | | |\n",
            r.setup_s
        ));
    }
    s
}

// ---------------------------------------------------------------------------------
// out of process

struct StatusRun {
    wall_s: f64,
    max_rss_mib: Option<f64>,
    nodes_out: usize,
}

fn status_json(bin: &std::path::Path, n: usize) -> StatusRun {
    let log = tempfile::tempdir().expect("tempdir");
    let has_time = std::path::Path::new("/usr/bin/time").is_file();
    let rss_file = log.path().join("rss");
    let mut cmd = if has_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.arg("--log-dir")
        .arg(log.path())
        .args(["status", "--sim", "--nodes", &n.to_string(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let t = Instant::now();
    let out = cmd.output().expect("run meshroll status");
    let wall_s = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "status --sim failed: {}", out.status);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let nodes_out = v.as_array().map_or(0, Vec::len);
    assert_eq!(
        nodes_out, n,
        "status --sim --nodes {n} printed {nodes_out} nodes"
    );
    let max_rss_mib = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.trim().lines().last()?.trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0);
    StatusRun {
        wall_s,
        max_rss_mib,
        nodes_out,
    }
}

struct DashRun {
    rss_mib: f64,
    hwm_mib: f64,
    cpu_pct: f64,
}

fn proc_field(pid: u32, key: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with(key))?;
    l.split_whitespace().nth(1)?.parse::<f64>().ok()
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// `demo --nodes n` in a detached tmux window of 200x60; RSS once the first round is
/// in, then CPU over `secs` seconds.
fn dashboard(bin: &std::path::Path, n: usize, flags: &[&str], secs: u64) -> DashRun {
    let log = tempfile::tempdir().expect("tempdir");
    let sock = format!("meshroll-scale-{}", std::process::id());
    let cmd = format!(
        "exec {} --log-dir {} demo --nodes {n} {}",
        bin.display(),
        log.path().display(),
        flags.join(" ")
    );
    let ok = Command::new("tmux")
        .args([
            "-L",
            &sock,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "60",
            &cmd,
        ])
        .env("TERM", "xterm-256color")
        .status()
        .expect("tmux (apt-get install tmux)");
    assert!(ok.success(), "tmux new-session failed");
    let pid: u32 = {
        let out = Command::new("tmux")
            .args(["-L", &sock, "list-panes", "-F", "#{pane_pid}"])
            .output()
            .expect("tmux list-panes");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid")
    };
    // The first round: every node answered.
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let out = Command::new("tmux")
            .args(["-L", &sock, "capture-pane", "-p"])
            .output()
            .expect("tmux capture-pane");
        let screen = String::from_utf8_lossy(&out.stdout);
        // `… N pending` counts the nodes not answered yet (`→ N pending` is the
        // staged rollout's, which stays).
        let unanswered = screen.lines().next().is_some_and(|l| l.contains("… "));
        if screen.contains(&format!("{n} nodes")) && !unanswered {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "demo --nodes {n}: first round not in after 120 s:\n{screen}"
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let rss = proc_field(pid, "VmRSS:").unwrap_or(f64::NAN) / 1024.0;
    let c0 = cpu_ticks(pid).expect("cpu ticks");
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let c1 = cpu_ticks(pid).expect("cpu ticks");
    let wall = t0.elapsed().as_secs_f64();
    let hwm = proc_field(pid, "VmHWM:").unwrap_or(f64::NAN) / 1024.0;
    let rss_end = proc_field(pid, "VmRSS:").unwrap_or(f64::NAN) / 1024.0;
    let _ = Command::new("tmux")
        .args(["-L", &sock, "send-keys", "q"])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("tmux")
        .args(["-L", &sock, "kill-server"])
        .status();
    DashRun {
        rss_mib: rss.max(rss_end),
        hwm_mib: hwm,
        cpu_pct: (c1 - c0) as f64 / clk_tck() / wall * 100.0,
    }
}

fn process_table(bin: &std::path::Path, rows: &[(usize, StatusRun, DashRun, DashRun)]) -> String {
    let mut s = String::new();
    let _ = writeln!(std::io::stderr(), "scale: binary {}", bin.display());
    s.push_str("\n#### The release binary\n\n");
    s.push_str("| what | nodes | value | goal |\n|---|---:|---:|---|\n");
    for (n, st, idle, busy) in rows {
        let big = *n >= 10_000;
        s.push_str(&format!(
            "| `status --sim --nodes {n} --json` wall time ({} nodes printed) | {n} | {:.2} s | {} |\n",
            st.nodes_out,
            st.wall_s,
            if big { "< 3 s" } else { "" }
        ));
        if let Some(m) = st.max_rss_mib {
            s.push_str(&format!(
                "| `status --sim --nodes {n} --json` peak RSS | {n} | {m:.1} MiB | |\n"
            ));
        }
        s.push_str(&format!(
            "| `demo --nodes {n}` RSS after the first round (peak) | {n} | {:.1} MiB ({:.1}) | {} |\n",
            idle.rss_mib,
            idle.hwm_mib,
            if big { "< 100 MB" } else { "" }
        ));
        s.push_str(&format!(
            "| `demo --nodes {n}` CPU idle (only the clock: at most 1 frame a second) | {n} | {:.2}% of a core | {} |\n",
            idle.cpu_pct,
            if big { "< 2%" } else { "" }
        ));
        s.push_str(&format!(
            "| `demo --nodes {n} --poll-interval 1` CPU, every node reporting every second | {n} | {:.1}% of a core (RSS {:.1} MiB) | (context) |\n",
            busy.cpu_pct, busy.rss_mib
        ));
    }
    s
}
