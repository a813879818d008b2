//! The table's rows, kept up to date incrementally: a polled node's row is rebuilt; the
//! rows on screen follow the clock (ages in whole seconds); every row's verdict is
//! checked against the clock once a second (the counts, the verdict sort and filter
//! stay exact), the skew only when its inputs move; and the visible order (tab,
//! filter, sort), cached until one of those changes.
//!
//! So an idle fleet costs a verdict check per node and the screen's rows once a
//! second, not a rebuild of every row.

use std::cell::RefCell;

use super::state::{AGE_EVERY_MS, App, Sort};
use crate::inventory::NodeId;
use crate::observe::{Millis, NodeState};
use crate::poller::{self, PollResult};
use crate::report::{self, NodeReport};
use crate::skew::{self, ManifestState, Skew};
use crate::verdict::{self, Kind};

/// Rows either side of the selection kept exact for the screen: the table drawn always
/// holds the selection, so no terminal shorter than this shows a row outside it.
pub const SCREEN_ROWS_MAX: usize = 160;

/// The title bar's counts over the fleet, kept as rows change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub healthy: usize,
    pub draining: usize,
    pub dead: usize,
    /// Not answered yet (shown as pending, not dead).
    pub pending: usize,
    pub skewed: usize,
    /// Still on their class's previous bundle while a rollout targets another:
    /// waiting for the rollout.
    pub rollout_pending: usize,
    /// On a bundle without a lock file (not skew: a fact of its own).
    pub unverified: usize,
    /// Holding a node lock (a rollout's, or one left behind).
    pub locked: usize,
}

impl Counts {
    fn add(&mut self, r: &NodeReport, pending: bool, sign: isize) {
        let bump = |x: &mut usize| *x = x.wrapping_add_signed(sign);
        if r.manifest.state == Some(ManifestState::Waiting) {
            bump(&mut self.rollout_pending);
        }
        if r.manifest.unverified {
            bump(&mut self.unverified);
        }
        if r.lock.is_some() {
            bump(&mut self.locked);
        }
        if pending {
            bump(&mut self.pending);
            return;
        }
        match r.verdict {
            Kind::Healthy => bump(&mut self.healthy),
            Kind::Draining => bump(&mut self.draining),
            Kind::Dead => bump(&mut self.dead),
        }
        if r.skew.any {
            bump(&mut self.skewed);
        }
    }

    /// Counted from scratch (what the incremental counts must equal).
    pub fn of(rows: &[NodeReport], states: &[NodeState]) -> Counts {
        let mut c = Counts::default();
        for (r, st) in rows.iter().zip(states) {
            c.add(r, is_pending(st), 1);
        }
        c
    }
}

/// A row not answered yet: not polled yet, not dead (the rule is [`report::polled`]).
pub fn is_pending(st: &NodeState) -> bool {
    !report::polled(st)
}

/// Incremental state of the reports and of the table order.
#[derive(Default)]
pub struct Cache {
    /// Rows to rebuild at the end of this refresh.
    dirty: Dirty,
    /// The fleet's skew, assessed again only when its inputs move.
    skew: SkewState,
    /// When each row was built, and whether it was pending then.
    built_at: Vec<Millis>,
    pending: Vec<bool>,
    /// Where the round-robin check of verdicts against the clock stands.
    sweep: VerdictSweep,
    counts: Counts,
    /// Rows per class tab (0 = all), and the widest node and class names: names do not
    /// change, so they are counted at the full rebuild.
    per_tab: Vec<usize>,
    name_widths: (usize, usize),
    /// The rollout target of the last full rebuild.
    built: bool,
    built_target: Option<String>,
    /// Bumped whenever a row changes: the visible order is recomputed then, if it
    /// depends on what changed.
    rows_gen: u64,
    visible: RefCell<Option<(VisibleKey, Vec<NodeId>)>>,
}

/// The rows to rebuild: marked by a poll and by every step of [`App::update_rows`],
/// rebuilt (and cleared) by its last.
#[derive(Default)]
struct Dirty {
    /// Per node: polled, or found out of date, since its row was built.
    rows: Vec<bool>,
    /// Any of `rows` is set (an idle frame skips the pass over the fleet).
    any: bool,
}

impl Dirty {
    fn mark(&mut self, i: usize) {
        self.rows[i] = true;
        self.any = true;
    }
}

/// Each node's skew from the last assessment of the fleet.
#[derive(Default)]
struct SkewState {
    skews: Vec<Skew>,
    /// A poll changed what the skew is computed from (a manifest, a gateway status):
    /// the fleet's skew is assessed again at the next refresh.
    inputs_moved: bool,
}

/// Verdicts are checked against the clock round-robin.
#[derive(Default)]
struct VerdictSweep {
    /// The next row to check.
    cursor: usize,
    /// The time the checks have caught up to.
    at: Millis,
}

/// What [`App::visible`] depends on.
#[derive(Clone, PartialEq, Eq)]
struct VisibleKey {
    /// The rows' generation, or 0 when the order cannot depend on it (no filter, and a
    /// sort by inventory or name: the class and name of a node never change).
    rows_gen: u64,
    rows: usize,
    class_tab: usize,
    filter: String,
    sort: Sort,
}

/// `hay` contains `needle_lower` (already lower case), ignoring ASCII case, without
/// allocating.
fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.len() >= n.len()
        && h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// The verdict [`report::row`] would give at `now` (without building the row).
fn kind_at(app: &App, i: NodeId, now: Millis) -> Kind {
    let rules = report::rules_for(&app.nodes[i], &app.rules);
    verdict::judge(&app.states[i], now, &rules).map_or(Kind::Dead, |v| v.kind)
}

impl App {
    /// Bring the reports up to `now`, doing the least work that keeps what is shown
    /// exact:
    ///
    /// * a polled node's row is rebuilt; the fleet's skew is assessed again only when
    ///   a poll changed a manifest or a gateway status (then every row whose skew
    ///   moved is rebuilt too);
    /// * every row's verdict is checked against the clock at least once per
    ///   [`AGE_EVERY_MS`], round-robin (a row whose verdict moved is rebuilt): the
    ///   counts, the verdict sort and the filter on verdicts follow the whole fleet
    ///   within a second, as its ages do on screen;
    /// * ages are in whole seconds: the rows on screen (the [`SCREEN_ROWS_MAX`] either
    ///   side of the selection) are rebuilt once they are [`AGE_EVERY_MS`] old. Rows
    ///   off screen keep the ages of their last poll until they are polled again or
    ///   come on screen;
    /// * everything is rebuilt when the rollout target changes.
    ///
    /// Returns whether any row changed.
    pub fn update_rows(&mut self, now: Millis) -> bool {
        self.now = now;
        let n = self.nodes.len().min(self.states.len());
        self.cache.dirty.rows.resize(n, false);
        if self.needs_full_rebuild(n) {
            self.rebuild_all(n, now);
            return true;
        }
        self.reassess_skew();
        self.check_verdicts_round_robin(n, now);
        self.age_rows_on_screen(n, now);
        self.rebuild_dirty(n, now)
    }

    /// The rollout's target bundle, if a rollout is on.
    fn rollout_target(&self) -> Option<&str> {
        self.rollout.as_ref().map(|d| d.skills_sha.as_str())
    }

    /// Never built, the fleet or the states resized, or the rollout target changed:
    /// nothing cached can be trusted.
    fn needs_full_rebuild(&self, n: usize) -> bool {
        let c = &self.cache;
        !c.built
            || self.rows.len() != n
            || c.skew.skews.len() != n
            || c.built_target.as_deref() != self.rollout_target()
    }

    /// The fleet's skew from the current states, against the rollout's target. Only
    /// the classes the rollout covers wait for its bundle.
    fn assess_skew(&self) -> Vec<Skew> {
        let planned: std::collections::BTreeSet<&str> =
            self.rollout.as_ref().map_or_else(Default::default, |d| {
                d.machine
                    .plan
                    .classes
                    .iter()
                    .map(|c| c.class.as_str())
                    .collect()
            });
        let pairs: Vec<(&str, &NodeState)> = self
            .nodes
            .iter()
            .zip(&self.states)
            .map(|(node, st)| (node.class.as_str(), st))
            .collect();
        skew::assess_rolling(&pairs, self.rollout_target(), &|c| planned.contains(c))
    }

    /// Every row, the skew, the counts, the tab sizes and the name widths from
    /// scratch (first build, a resized fleet, a new rollout target). Everything the
    /// other steps keep incrementally starts here: each row built at `now`,
    /// every verdict checked at `now`, nothing dirty.
    fn rebuild_all(&mut self, n: usize, now: Millis) {
        let skews = self.assess_skew();
        let target = self.rollout_target().map(str::to_owned);
        let c = &mut self.cache;
        c.skew.skews = skews;
        self.rows = self
            .nodes
            .ids()
            .take(n)
            .map(|i| {
                report::row(
                    &self.nodes[i],
                    &self.states[i],
                    c.skew.skews[i.index()].clone(),
                    now,
                    &self.rules,
                )
            })
            .collect();
        c.pending = self.states.iter().take(n).map(is_pending).collect();
        c.built_at = vec![now; n];
        c.sweep.at = now;
        c.counts = Counts::of(&self.rows, &self.states);
        c.per_tab = std::iter::once(n)
            .chain(
                self.classes
                    .iter()
                    .map(|k| self.rows.iter().filter(|r| &r.class == k).count()),
            )
            .collect();
        let widest = |f: fn(&NodeReport) -> &str| {
            self.rows
                .iter()
                .map(|r| f(r).chars().count())
                .max()
                .unwrap_or(0)
        };
        c.name_widths = (widest(|r| &r.node), widest(|r| &r.class));
        c.built = true;
        c.built_target = target;
        c.dirty.rows.iter_mut().for_each(|d| *d = false);
        c.dirty.any = false;
        c.skew.inputs_moved = false;
        c.rows_gen += 1;
    }

    /// When a skew input moved (a manifest, a gateway status), the fleet's skew is
    /// assessed again and every row whose skew changed is marked dirty: one node's
    /// manifest can change another's skew (the fleet's majority), so the skew column,
    /// the skew count and the `skew` filter stay exact. Otherwise nothing is done.
    fn reassess_skew(&mut self) {
        if !self.cache.skew.inputs_moved {
            return;
        }
        let new = self.assess_skew();
        let c = &mut self.cache;
        for (i, (old, new)) in c.skew.skews.iter().zip(&new).enumerate() {
            if old != new {
                c.dirty.mark(i);
            }
        }
        c.skew.skews = new;
        c.skew.inputs_moved = false;
    }

    /// Every row's verdict against the clock at least once per [`AGE_EVERY_MS`],
    /// round-robin, marking dirty a row whose verdict moved (a node going quiet turns
    /// draining, then dead, without a poll). Under a stream of polls (a frame every
    /// 100 ms) a tenth of the fleet per frame, with only the clock (a frame a second)
    /// all of it: the counts, the verdict sort and the verdict filter follow the
    /// whole fleet within a second. A clock gone backwards checks everything.
    fn check_verdicts_round_robin(&mut self, n: usize, now: Millis) {
        let sweep = &mut self.cache.sweep;
        let elapsed = now.saturating_sub(sweep.at);
        let due = if elapsed >= AGE_EVERY_MS || now < sweep.at || n == 0 {
            sweep.at = now;
            n
        } else {
            let k = (n as u64 * elapsed / AGE_EVERY_MS) as usize;
            sweep.at += k as u64 * AGE_EVERY_MS / n as u64;
            k
        };
        for k in 0..due {
            let i = (self.cache.sweep.cursor + k) % n;
            let id = NodeId::new(i);
            if !self.cache.dirty.rows[i] && kind_at(self, id, now) != self.rows[id].verdict {
                self.cache.dirty.mark(i);
            }
        }
        if n > 0 {
            self.cache.sweep.cursor = (self.cache.sweep.cursor + due) % n;
        }
    }

    /// The rows on screen (the [`SCREEN_ROWS_MAX`] either side of the selection in
    /// the visible order) follow the clock: one built [`AGE_EVERY_MS`] ago or more,
    /// or in the future of a clock gone backwards, is marked dirty, so the ages shown
    /// are exact to the second. Rows off screen keep the ages of their last build.
    fn age_rows_on_screen(&mut self, n: usize, now: Millis) {
        let screen: Vec<NodeId> = self.with_visible(|v| {
            let sel = self.cursor.min(v.len().saturating_sub(1));
            let lo = sel.saturating_sub(SCREEN_ROWS_MAX);
            let hi = (sel + SCREEN_ROWS_MAX).min(v.len());
            v.get(lo..hi).map_or_else(Vec::new, <[NodeId]>::to_vec)
        });
        let c = &mut self.cache;
        for i in screen.into_iter().map(NodeId::index) {
            if i < n && (now >= c.built_at[i] + AGE_EVERY_MS || now < c.built_at[i]) {
                c.dirty.mark(i);
            }
        }
    }

    /// Rebuilds every dirty row at `now` and clears the marks. A rebuilt row that
    /// differs (or whose pending state flipped) replaces the old one, its old
    /// contribution to the counts taken out and the new one added, so the counts
    /// equal [`Counts::of`] without a recount; the rows' generation is bumped only
    /// then, so the visible order is recomputed only when a row really changed.
    /// Returns whether any row changed.
    fn rebuild_dirty(&mut self, n: usize, now: Millis) -> bool {
        let c = &mut self.cache;
        if !c.dirty.any {
            return false;
        }
        let mut changed = false;
        for i in 0..n {
            if !c.dirty.rows[i] {
                continue;
            }
            c.dirty.rows[i] = false;
            let id = NodeId::new(i);
            let row = report::row(
                &self.nodes[id],
                &self.states[id],
                c.skew.skews[i].clone(),
                now,
                &self.rules,
            );
            c.built_at[i] = now;
            let pending = is_pending(&self.states[id]);
            if row != self.rows[id] || pending != c.pending[i] {
                c.counts.add(&self.rows[id], c.pending[i], -1);
                c.counts.add(&row, pending, 1);
                c.pending[i] = pending;
                self.rows[id] = row;
                changed = true;
            }
        }
        c.dirty.any = false;
        if changed {
            c.rows_gen += 1;
        }
        changed
    }

    /// The title bar's counts (kept as rows change, not counted per frame).
    pub fn counts(&self) -> Counts {
        self.cache.counts
    }

    /// Rows in class tab `tab` (0 = all).
    pub fn tab_len(&self, tab: usize) -> usize {
        self.cache.per_tab.get(tab).copied().unwrap_or(0)
    }

    /// The widest node name and class name, in characters.
    pub fn name_widths(&self) -> (usize, usize) {
        self.cache.name_widths
    }

    /// A poll's answer (only through [`App::handle`]): the node's state, and its row
    /// marked for the next [`App::update_rows`].
    pub(super) fn on_poll(&mut self, r: PollResult) {
        let idx = r.node.index();
        if let Some(st) = self.states.get_mut(r.node) {
            // What the skew is computed from (a manifest, a gateway status): a change
            // means the fleet is assessed again. A readable poll replaces the manifest,
            // and the gateway status when it carried one; the old values are moved out
            // to compare, not cloned. A failed poll changes neither.
            let (gateway_polled, ok) = match &r.result {
                Ok(raw) => (raw.gateway.is_some(), true),
                Err(_) => (false, false),
            };
            // which CLI the channel runs: a skew input too (skew::cli_split)
            let cli_polled = matches!(&r.result, Ok(raw) if raw.cli.is_some());
            let old_cli = if cli_polled { st.cli.take() } else { None };
            let old_manifest = if ok { st.manifest.take() } else { None };
            let old_gateway = if gateway_polled {
                st.gateway.take()
            } else {
                None
            };
            poller::apply(st, r);
            let moved = ok
                && (old_manifest.as_ref().map(|m| &m.value)
                    != st.manifest.as_ref().map(|m| &m.value)
                    || (gateway_polled
                        && old_gateway.as_ref().map(|g| &g.value)
                            != st.gateway.as_ref().map(|g| &g.value))
                    || (cli_polled
                        && old_cli.as_ref().map(|c| &c.value)
                            != st.cli.as_ref().map(|c| &c.value)));
            if moved {
                self.cache.skew.inputs_moved = true;
            }
            let c = &mut self.cache;
            if c.dirty.rows.len() <= idx {
                c.dirty.rows.resize(self.nodes.len().max(idx + 1), false);
            }
            c.dirty.mark(idx);
        }
    }

    /// The nodes the table shows, in its order: class tab, filter, sort. Cached until
    /// a row, the tab, the filter or the sort changes.
    pub fn visible(&self) -> Vec<NodeId> {
        self.with_visible(|v| v.to_vec())
    }

    /// How many rows the table shows.
    pub fn visible_len(&self) -> usize {
        self.with_visible(|v| v.len())
    }

    /// Run `f` on the cached visible order, computing it first if it is out of date.
    /// A filter that grows (a letter typed) narrows the cached order instead of
    /// filtering the fleet again.
    pub fn with_visible<R>(&self, f: impl FnOnce(&[NodeId]) -> R) -> R {
        let by_rows = !self.filter.is_empty() || matches!(self.sort, Sort::Verdict | Sort::Cache);
        let key = VisibleKey {
            rows_gen: if by_rows { self.cache.rows_gen } else { 0 },
            rows: self.rows.len(),
            class_tab: self.class_tab,
            filter: self.filter.clone(),
            sort: self.sort,
        };
        let mut cache = self.cache.visible.borrow_mut();
        match cache.as_mut() {
            Some((k, _)) if *k == key => {}
            Some((k, v))
                if k.rows_gen == self.cache.rows_gen
                    && k.rows == key.rows
                    && k.class_tab == key.class_tab
                    && k.sort == key.sort
                    && key.filter.len() > k.filter.len()
                    && key.filter.starts_with(k.filter.as_str())
                    && k.filter != "skew"
                    && key.filter != "skew" =>
            {
                // Every row matching the longer filter matches the shorter one, and
                // the order is kept.
                let f = key.filter.to_ascii_lowercase();
                v.retain(|&i| self.matches(i, &f));
                *k = key;
            }
            _ => *cache = Some((key, self.compute_visible())),
        }
        f(cache.as_ref().map_or(&[][..], |(_, v)| v.as_slice()))
    }

    /// Node `i`'s row matches the filter `f` (lower case).
    fn matches(&self, i: NodeId, f: &str) -> bool {
        if f.is_empty() {
            return true;
        }
        let r = &self.rows[i];
        [
            r.node.as_str(),
            r.class.as_str(),
            r.verdict.as_str(),
            r.reason.as_str(),
            r.manifest.sha.as_deref().unwrap_or(""),
            r.gateway.build_id.as_deref().unwrap_or(""),
        ]
        .iter()
        .any(|s| contains_ci(s, f))
            || (f == "skew" && r.skew.any)
    }

    pub(super) fn compute_visible(&self) -> Vec<NodeId> {
        let class = self
            .class_tab
            .checked_sub(1)
            .and_then(|i| self.classes.get(i));
        let f = self.filter.to_ascii_lowercase();
        let mut v: Vec<NodeId> = self
            .rows
            .ids()
            .filter(|&i| class.is_none_or(|c| &self.rows[i].class == c))
            .filter(|&i| self.matches(i, &f))
            .collect();
        match self.sort {
            Sort::Inventory => {}
            Sort::Verdict => v.sort_by_key(|&i| std::cmp::Reverse(self.rows[i].verdict)),
            Sort::Name => v.sort_by(|&a, &b| self.rows[a].node.cmp(&self.rows[b].node)),
            // From the states at `now`: rows off screen may carry older ages.
            Sort::Cache => v.sort_by_key(|&i| {
                std::cmp::Reverse(
                    self.states
                        .get(i)
                        .and_then(|s| s.cache_age_s(self.now))
                        .unwrap_or(u64::MAX),
                )
            }),
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::state::Sort;
    use crate::dashboard::test_harness::Drive;
    use crate::dashboard::{AppEvent, Setup};
    use crate::remote::sim::{OLD_SHA, SimMesh};
    use crate::remote::{PollFailure, PollRequest};
    use crate::report::NodeReport;

    const REQ: PollRequest = PollRequest {
        gateway: true,
        doctor: false,
        cli_timeout_s: 5,
        doctor_timeout_s: 60,
        live_timeout_s: 2,
    };

    async fn poll(mesh: &SimMesh, idx: usize, at: Millis) -> PollResult {
        let result: Result<_, PollFailure> = mesh.poll(idx, &REQ).await;
        PollResult {
            node: NodeId::new(idx),
            at,
            took_ms: 1,
            result,
        }
    }

    /// A simulated mesh of `n` nodes (`seed`), every node polled once at `t0`.
    async fn polled(
        n: usize,
        seed: u64,
        t0: Millis,
    ) -> (crate::inventory::Inventory, SimMesh, App) {
        let (inv, mesh) = SimMesh::generate(n, seed);
        let mut app = App::new(
            "t".into(),
            inv.nodes.clone(),
            inv.classes.clone(),
            Setup::default(),
        );
        for i in 0..inv.nodes.len() {
            app.feed(poll(&mesh, i, t0).await);
        }
        (inv, mesh, app)
    }

    /// `s` until the table is sorted by verdict.
    fn sort_by_verdict(app: &mut App) {
        while app.sort != Sort::Verdict {
            app.press_at(
                crossterm::event::KeyCode::Char('s'),
                crossterm::event::KeyModifiers::NONE,
                0,
            );
        }
    }

    fn full(app: &App, now: Millis) -> Vec<NodeReport> {
        report::build(&app.nodes, &app.states, now, None, &app.rules)
    }

    /// Rows brought up to date incrementally equal a full rebuild, also when the polled
    /// nodes move their class's majority (which changes the other rows' skew).
    #[tokio::test(start_paused = true)]
    async fn incremental_rows_equal_a_full_rebuild() {
        let t0 = 1_800_000_000_100;
        let (inv, mesh, mut app) = polled(300, 5, t0).await;
        app.update_rows(t0);
        assert!(app.rows == full(&app, t0), "first rows differ");
        // A few nodes change, within the same second.
        for i in [3usize, 40, 41, 200] {
            mesh.with_node(i, |n| n.drained = !n.drained);
            app.feed(poll(&mesh, i, t0 + 200).await);
        }
        app.update_rows(t0 + 300);
        assert!(app.rows == full(&app, t0 + 300), "incremental rows differ");
        // Most workers move to the old bundle: the majority moves, every worker's
        // skew changes, though only the moved ones were polled.
        let workers: Vec<usize> = (0..inv.nodes.len())
            .filter(|&i| inv.nodes[NodeId::new(i)].class == "worker")
            .collect();
        let moved = &workers[..workers.len() * 2 / 3];
        for &i in moved {
            mesh.with_node(i, |n| {
                n.current = Some(OLD_SHA.into());
                n.lock_claim = Some(OLD_SHA.into());
            });
            app.feed(poll(&mesh, i, t0 + 400).await);
        }
        app.update_rows(t0 + 500);
        let want = full(&app, t0 + 500);
        let untouched = workers[workers.len() - 1];
        assert!(want[untouched].skew.manifest, "{:?}", want[untouched].skew);
        assert!(
            app.rows == want,
            "incremental rows differ after the majority moved"
        );
        // The last worker left moves too: its own row and the others' skew follow.
        let w = untouched;
        mesh.with_node(w, |n| n.current = Some(OLD_SHA.into()));
        app.feed(poll(&mesh, w, t0 + 600).await);
        app.update_rows(t0 + 700);
        assert!(
            app.rows == full(&app, t0 + 700),
            "incremental rows differ after the last worker moved"
        );
        assert_ne!(
            app.rows[NodeId::new(w)].manifest.state,
            want[w].manifest.state
        );
    }

    /// The clock alone: what is on screen equals a full rebuild (ages too), every
    /// row's verdict and the counts equal it over the whole fleet, also when verdicts
    /// move off screen (signals going stale); and a quiet second changes nothing.
    #[tokio::test(start_paused = true)]
    async fn the_clock_keeps_the_screen_and_every_verdict_exact() {
        let t0 = 1_800_000_000_100;
        let (_, _, mut app) = polled(1_000, 5, t0).await;
        assert!(app.update_rows(t0));
        app.move_to(500);
        let check = |app: &App, now: Millis, what: &str| {
            let want = full(app, now);
            let v = app.visible();
            let lo = app.cursor.saturating_sub(SCREEN_ROWS_MAX);
            for &i in &v[lo..(app.cursor + SCREEN_ROWS_MAX).min(v.len())] {
                assert!(
                    app.rows[i] == want[i.index()],
                    "{what}: row {i} on screen differs"
                );
            }
            for (i, w) in want.iter().enumerate() {
                assert_eq!(
                    app.rows[NodeId::new(i)].verdict,
                    w.verdict,
                    "{what}: verdict of row {i}"
                );
            }
            assert_eq!(
                app.counts(),
                Counts::of(&want, &app.states),
                "{what}: counts"
            );
        };
        for (k, dt) in [1_000u64, 7_300, 30_000, 3_600_000].into_iter().enumerate() {
            assert!(app.update_rows(t0 + dt), "ages moved at +{dt} ms");
            check(&app, t0 + dt, &format!("step {k}"));
        }
        let dead = app.counts().dead;
        assert!(
            dead > app.counts().healthy,
            "signals went stale: {:?}",
            app.counts()
        );
        // Within the same second nothing is rebuilt: no frame is owed.
        assert!(!app.update_rows(t0 + 3_600_000 + 200));
        // Rows come on screen with their ages brought up to date.
        app.move_to(0);
        app.update_rows(t0 + 3_600_000 + 300);
        check(&app, t0 + 3_600_000 + 300, "scrolled");
    }

    /// One call says whether a frame is owed: the clock's tick (no rollout) owes one
    /// exactly when it moved a row (an age on screen, once a second), a poll always.
    #[tokio::test(start_paused = true)]
    async fn the_outcome_of_a_tick_owes_a_frame_only_when_a_row_moved() {
        let t0 = 1_800_000_000_100;
        let (_, mesh, mut app) = polled(20, 5, t0).await;
        app.frame(t0);
        let tick = |app: &mut App, at: Millis| app.handle(AppEvent::Tick, at);
        assert!(!tick(&mut app, t0 + 300).redraw, "within the second");
        assert!(
            tick(&mut app, t0 + 1_000).redraw,
            "the ages on screen moved"
        );
        assert!(!tick(&mut app, t0 + 1_200).redraw, "nothing moved since");
        let r = poll(&mesh, 3, t0 + 1_300).await;
        let out = app.handle(AppEvent::Poll(Box::new(r)), t0 + 1_300);
        assert_eq!(
            out,
            super::super::Outcome {
                effects: vec![],
                redraw: true
            }
        );
    }

    /// Typing a filter narrows the cached order; the result equals a fresh one.
    #[tokio::test(start_paused = true)]
    async fn a_growing_filter_narrows_the_order() {
        let t0 = 1_800_000_000_000;
        let (_, _, mut app) = polled(500, 2, t0).await;
        app.update_rows(t0);
        sort_by_verdict(&mut app);
        for f in [
            "w", "w0", "w00", "w001", "w00", "ske", "skew", "skewx", "D", "DE",
        ] {
            app.type_filter(f);
            assert_eq!(app.visible(), app.compute_visible(), "filter {f}");
        }
        app.type_filter("w");
        let wide = app.visible_len();
        app.type_filter("w01");
        assert!(app.visible_len() < wide && app.visible_len() > 0);
    }

    /// The cached table order follows every change of rows, tab, filter and sort.
    #[tokio::test(start_paused = true)]
    async fn visible_order_follows_changes() {
        let t0 = 1_800_000_000_000;
        let (_, mesh, mut app) = polled(120, 2, t0).await;
        app.update_rows(t0);
        sort_by_verdict(&mut app);
        assert_eq!(app.visible(), app.compute_visible());
        let first = app.visible()[0];
        assert_eq!(app.rows[first].verdict, crate::verdict::Kind::Dead);
        // The last healthy node goes down: it moves up the verdict order.
        let last = *app.visible().last().expect("rows");
        mesh.with_node(last.index(), |n| n.host_up = false);
        app.feed(poll(&mesh, last.index(), t0 + 100).await);
        app.update_rows(t0 + 200);
        assert_eq!(app.visible(), app.compute_visible());
        assert_ne!(app.visible().last(), Some(&last));
        app.type_filter("W0");
        assert_eq!(app.visible(), app.compute_visible());
        assert!(!app.visible().is_empty());
        assert!(
            app.visible()
                .iter()
                .all(|&i| app.rows[i].node.contains("w0"))
        );
        app.press_at(
            crossterm::event::KeyCode::Char('1'),
            crossterm::event::KeyModifiers::NONE,
            t0,
        );
        assert_eq!(app.class_tab, 1);
        assert_eq!(app.visible(), app.compute_visible());
        assert!(app.visible().is_empty());
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ci("mac-W0012", "w001"));
        assert!(contains_ci("abc", ""));
        assert!(!contains_ci("ab", "abc"));
        assert!(!contains_ci("mac-g01", "w"));
    }
}
