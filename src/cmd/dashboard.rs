//! `meshroll` and `meshroll demo`: the live dashboard.

use std::io::IsTerminal;

use crate::cli::Global;
use crate::ui::theme::Theme;

pub async fn run(g: &Global, demo: bool) -> anyhow::Result<i32> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the dashboard needs a terminal; for scripts use `meshroll status --json`");
    }
    let theme = Theme::from_env(&g.theme)?;
    let (inv, ctx, title) = if demo {
        let (inv, ctx) = super::sim_ctx(g);
        (inv, ctx, "demo (simulated mesh)".to_string())
    } else {
        let (inv, ctx) = super::real_ctx(g)?;
        (inv, ctx, g.inventory.display().to_string())
    };
    tracing::info!(nodes = inv.nodes.len(), demo, "dashboard starting");
    crate::app::run(ctx, title, inv.classes, theme).await?;
    Ok(0)
}
