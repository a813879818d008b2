//! The table's rows, kept up to date incrementally: a polled node's row is rebuilt, ages
//! a share of the fleet per frame, the skew only when its inputs move; and the visible
//! order (tab, filter, sort), cached until one of those changes.

use std::cell::RefCell;

use super::state::{AGE_EVERY_MS, App, Sort};
use crate::observe::{Millis, NodeState};
use crate::poller::{self, PollResult};
use crate::report;
use crate::skew::{self, Skew};

/// Incremental state of the reports and of the table order.
#[derive(Default)]
pub struct Cache {
    /// Nodes polled since their report was built.
    dirty: Vec<bool>,
    any_dirty: bool,
    /// Each node's skew from the last assessment of the fleet.
    skews: Vec<Skew>,
    /// A poll changed what the skew is computed from (a manifest, a gateway status):
    /// the fleet's skew is assessed again at the next refresh.
    skew_inputs_moved: bool,
    /// Rows are rebuilt round-robin so that each is at most [`AGE_EVERY_MS`] old:
    /// the next row to age and the time aging has caught up to.
    age_cursor: usize,
    aged_to: Millis,
    /// Each node's poll count when its row was last built: a state changed without
    /// [`App::on_poll`] (a test, a replay writing `states` directly) is caught by it.
    seen: Vec<u64>,
    /// The rollout target of the last full rebuild.
    built: bool,
    built_target: Option<String>,
    /// Bumped whenever a row changes: the visible order is recomputed then.
    rows_gen: u64,
    visible: RefCell<Option<(VisibleKey, Vec<usize>)>>,
}

/// What [`App::visible`] depends on.
#[derive(Clone, PartialEq, Eq)]
struct VisibleKey {
    rows_gen: u64,
    rows: usize,
    class_tab: usize,
    filter: String,
    sort: Sort,
}

/// `hay` contains `needle_lower` (already lower case), ignoring ASCII case, without
/// allocating.
fn polls(st: &NodeState) -> u64 {
    st.polls_ok.wrapping_add(st.polls_failed)
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.len() >= n.len()
        && h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

impl App {
    /// Bring the reports up to `now`, doing the least work that keeps them exact:
    ///
    /// * a polled node's row is rebuilt; the fleet's skew is assessed again only when
    ///   a poll changed a manifest or a gateway status (then every row whose skew
    ///   moved is rebuilt too);
    /// * ages are in whole seconds: every row is rebuilt once per [`AGE_EVERY_MS`],
    ///   round-robin, a share of the fleet per frame rather than all at once;
    /// * everything is rebuilt when the rollout target changes.
    ///
    /// So a frame under a stream of poll results costs the nodes that changed and a
    /// tenth of the fleet at 10 frames a second, not the fleet.
    pub fn refresh(&mut self, now: Millis) {
        self.now = now;
        let n = self.nodes.len().min(self.states.len());
        let target = self.rollout.as_ref().map(|d| d.skills_sha.clone());
        // Only the classes the rollout covers wait for its bundle.
        let planned: std::collections::BTreeSet<&str> =
            self.rollout.as_ref().map_or_else(Default::default, |d| {
                d.machine
                    .plan
                    .classes
                    .iter()
                    .map(|c| c.class.as_str())
                    .collect()
            });
        let c = &mut self.cache;
        c.dirty.resize(n, false);
        let pairs = || -> Vec<(&str, &NodeState)> {
            self.nodes
                .iter()
                .zip(&self.states)
                .map(|(node, st)| (node.class.as_str(), st))
                .collect()
        };
        if !c.built || self.rows.len() != n || c.skews.len() != n || c.built_target != target {
            c.skews = skew::assess_rolling(&pairs(), target.as_deref(), &|c| planned.contains(c));
            self.rows = (0..n)
                .map(|i| {
                    report::row(
                        &self.nodes[i],
                        &self.states[i],
                        c.skews[i].clone(),
                        now,
                        &self.rules,
                    )
                })
                .collect();
            c.seen = self.states.iter().map(polls).collect();
            c.built = true;
            c.built_target = target;
            c.dirty.iter_mut().for_each(|d| *d = false);
            c.any_dirty = false;
            c.skew_inputs_moved = false;
            c.aged_to = now;
            c.rows_gen += 1;
            return;
        }
        // States changed behind on_poll's back: rebuild them and reassess the skew.
        c.seen.resize(n, 0);
        for (i, st) in self.states.iter().enumerate().take(n) {
            let p = polls(st);
            if p != c.seen[i] {
                c.seen[i] = p;
                c.dirty[i] = true;
                c.any_dirty = true;
                c.skew_inputs_moved = true;
            }
        }
        if c.skew_inputs_moved {
            let new = skew::assess_rolling(&pairs(), target.as_deref(), &|c| planned.contains(c));
            for (i, (old, new)) in c.skews.iter().zip(&new).enumerate() {
                if old != new {
                    c.dirty[i] = true;
                    c.any_dirty = true;
                }
            }
            c.skews = new;
            c.skew_inputs_moved = false;
        }
        // Rows whose ages are due, round-robin.
        let elapsed = now.saturating_sub(c.aged_to);
        let due = if elapsed >= AGE_EVERY_MS || n == 0 {
            c.aged_to = now;
            n
        } else {
            let k = (n as u64 * elapsed / AGE_EVERY_MS) as usize;
            c.aged_to += k as u64 * AGE_EVERY_MS / n as u64;
            k
        };
        for k in 0..due {
            let i = (c.age_cursor + k) % n;
            c.dirty[i] = true;
            c.any_dirty = true;
        }
        if n > 0 {
            c.age_cursor = (c.age_cursor + due) % n;
        }
        if !c.any_dirty {
            return;
        }
        for i in 0..n {
            if c.dirty[i] {
                c.dirty[i] = false;
                self.rows[i] = report::row(
                    &self.nodes[i],
                    &self.states[i],
                    c.skews[i].clone(),
                    now,
                    &self.rules,
                );
            }
        }
        c.any_dirty = false;
        c.rows_gen += 1;
    }

    pub fn on_poll(&mut self, r: PollResult) {
        let idx = r.idx;
        if let Some(st) = self.states.get_mut(idx) {
            // What the skew is computed from: a change means the fleet is assessed again.
            let inputs = |st: &NodeState| {
                (
                    st.manifest.as_ref().map(|m| m.value.clone()),
                    st.gateway.as_ref().map(|g| g.value.clone()),
                )
            };
            let before = inputs(st);
            poller::apply(st, r);
            if inputs(st) != before {
                self.cache.skew_inputs_moved = true;
            }
            let c = &mut self.cache;
            if c.dirty.len() <= idx {
                c.dirty.resize(self.nodes.len().max(idx + 1), false);
            }
            if c.seen.len() <= idx {
                c.seen.resize(self.nodes.len().max(idx + 1), 0);
            }
            c.seen[idx] = polls(st);
            c.dirty[idx] = true;
            c.any_dirty = true;
        }
    }

    /// Indices into `rows` shown in the table: class tab, filter, sort. Cached until
    /// a row, the tab, the filter or the sort changes.
    pub fn visible(&self) -> Vec<usize> {
        self.with_visible(|v| v.to_vec())
    }

    /// How many rows the table shows.
    pub fn visible_len(&self) -> usize {
        self.with_visible(|v| v.len())
    }

    /// Run `f` on the cached visible order, computing it first if it is out of date.
    pub fn with_visible<R>(&self, f: impl FnOnce(&[usize]) -> R) -> R {
        let key = VisibleKey {
            rows_gen: self.cache.rows_gen,
            rows: self.rows.len(),
            class_tab: self.class_tab,
            filter: self.filter.clone(),
            sort: self.sort,
        };
        let mut cache = self.cache.visible.borrow_mut();
        if cache.as_ref().is_none_or(|(k, _)| *k != key) {
            *cache = Some((key, self.compute_visible()));
        }
        f(cache.as_ref().map_or(&[][..], |(_, v)| v.as_slice()))
    }

    pub(super) fn compute_visible(&self) -> Vec<usize> {
        let class = self
            .class_tab
            .checked_sub(1)
            .and_then(|i| self.classes.get(i));
        let f = self.filter.to_ascii_lowercase();
        let mut v: Vec<usize> = (0..self.rows.len())
            .filter(|&i| class.is_none_or(|c| &self.rows[i].class == c))
            .filter(|&i| {
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
                .any(|s| contains_ci(s, &f))
                    || (f == "skew" && r.skew.any)
            })
            .collect();
        match self.sort {
            Sort::Inventory => {}
            Sort::Verdict => v.sort_by_key(|&i| std::cmp::Reverse(self.rows[i].verdict)),
            Sort::Name => v.sort_by(|&a, &b| self.rows[a].node.cmp(&self.rows[b].node)),
            Sort::Cache => {
                v.sort_by_key(|&i| std::cmp::Reverse(self.rows[i].cache.age_s.unwrap_or(u64::MAX)))
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::state::Sort;
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
            idx,
            at,
            took_ms: 1,
            result,
        }
    }

    fn full(app: &App, now: Millis) -> Vec<NodeReport> {
        report::build(&app.nodes, &app.states, now, None, &app.rules)
    }

    /// Rows brought up to date incrementally equal a full rebuild, also when the polled
    /// nodes move their class's majority (which changes the other rows' skew).
    #[tokio::test(start_paused = true)]
    async fn incremental_rows_equal_a_full_rebuild() {
        let (inv, mesh) = SimMesh::generate(300, 5);
        let mut app = App::new("t".into(), inv.nodes.clone(), inv.classes.clone());
        let t0 = 1_800_000_000_100;
        for i in 0..inv.nodes.len() {
            app.on_poll(poll(&mesh, i, t0).await);
        }
        app.refresh(t0);
        assert!(app.rows == full(&app, t0), "first rows differ");
        // A few nodes change, within the same second.
        for i in [3usize, 40, 41, 200] {
            mesh.with_node(i, |n| n.drained = !n.drained);
            app.on_poll(poll(&mesh, i, t0 + 200).await);
        }
        app.refresh(t0 + 300);
        assert!(app.rows == full(&app, t0 + 300), "incremental rows differ");
        // Most workers move to the old bundle: the majority moves, every worker's
        // skew changes, though only the moved ones were polled.
        let workers: Vec<usize> = (0..inv.nodes.len())
            .filter(|&i| inv.nodes[i].class == "worker")
            .collect();
        let moved = &workers[..workers.len() * 2 / 3];
        for &i in moved {
            mesh.with_node(i, |n| {
                n.current = Some(OLD_SHA.into());
                n.lock_claim = Some(OLD_SHA.into());
            });
            app.on_poll(poll(&mesh, i, t0 + 400).await);
        }
        app.refresh(t0 + 500);
        let want = full(&app, t0 + 500);
        let untouched = workers[workers.len() - 1];
        assert!(want[untouched].skew.manifest, "{:?}", want[untouched].skew);
        assert!(
            app.rows == want,
            "incremental rows differ after the majority moved"
        );
        // A state written directly (not through on_poll) is caught too.
        let w = untouched;
        mesh.with_node(w, |n| n.current = Some(OLD_SHA.into()));
        let r = poll(&mesh, w, t0 + 600).await;
        poller::apply(&mut app.states[w], r);
        app.refresh(t0 + 700);
        assert!(
            app.rows == full(&app, t0 + 700),
            "a direct state write was missed"
        );
        assert_ne!(app.rows[w].manifest.state, want[w].manifest.state);
    }

    /// The cached table order follows every change of rows, tab, filter and sort.
    #[tokio::test(start_paused = true)]
    async fn visible_order_follows_changes() {
        let (inv, mesh) = SimMesh::generate(120, 2);
        let mut app = App::new("t".into(), inv.nodes.clone(), inv.classes.clone());
        let t0 = 1_800_000_000_000;
        for i in 0..inv.nodes.len() {
            app.on_poll(poll(&mesh, i, t0).await);
        }
        app.refresh(t0);
        app.sort = Sort::Verdict;
        assert_eq!(app.visible(), app.compute_visible());
        let first = app.visible()[0];
        assert_eq!(app.rows[first].verdict, crate::verdict::Kind::Dead);
        // The last healthy node goes down: it moves up the verdict order.
        let last = *app.visible().last().expect("rows");
        mesh.with_node(last, |n| n.host_up = false);
        app.on_poll(poll(&mesh, last, t0 + 100).await);
        app.refresh(t0 + 200);
        assert_eq!(app.visible(), app.compute_visible());
        assert_ne!(app.visible().last(), Some(&last));
        app.filter = "W0".into();
        assert_eq!(app.visible(), app.compute_visible());
        assert!(!app.visible().is_empty());
        assert!(
            app.visible()
                .iter()
                .all(|&i| app.rows[i].node.contains("w0"))
        );
        app.class_tab = 1;
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
