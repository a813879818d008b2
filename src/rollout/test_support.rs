//! Test set-up shared by the rollout's tests: a rollout context on the simulated mesh.
//! (Kept out of `steps.rs`, which defines `RolloutCtx`: a field added there is added
//! here once, not in every test.)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::steps::{Limits, RolloutCtx};
use crate::inventory::Fleet;
use crate::poller::{Cadence, PollCtx};
use crate::remote::Transport;
use crate::remote::sim::{SimMesh, demo_bundle};

/// Rollout `r-test` of the demo bundle to `nodes` over the simulated `mesh`: no
/// token, a 10 s timeout, nothing staged, the default limits, nothing learned of the nodes yet.
pub(crate) fn sim_ctx(mesh: SimMesh, nodes: Fleet) -> RolloutCtx {
    RolloutCtx {
        poll: Arc::new(PollCtx {
            transport: Transport::sim(mesh),
            nodes,
            token: None,
            cadence: Cadence::for_timeout(Duration::from_secs(10)),
        }),
        bundle: Arc::new(demo_bundle()),
        stage_dir: PathBuf::new(),
        rollout_id: "r-test".into(),
        who: "ops@here/pid1".into(),
        limits: Limits::default(),
        learned: Default::default(),
    }
}

/// The simulated mesh `ctx` rolls out over.
pub(crate) fn sim_mesh(ctx: &RolloutCtx) -> &SimMesh {
    ctx.poll
        .transport
        .as_any()
        .downcast_ref::<SimMesh>()
        .expect("a simulated mesh")
}
