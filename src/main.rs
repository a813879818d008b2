use clap::Parser;

use meshroll::cli::{Cli, Command};
use meshroll::cmd;

fn main() {
    // SAFETY: first thing in main, before any thread exists (the log writer and the
    // runtime start theirs below).
    unsafe { cmd::take_token_from_env() };
    let cli = Cli::parse();
    let log_dir = cli
        .global
        .log_dir
        .clone()
        .unwrap_or_else(meshroll::logging::default_dir);
    let guard = match meshroll::logging::init(&log_dir) {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("meshroll: cannot log to {}: {e}", log_dir.display());
            None
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("meshroll: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(async {
        match &cli.command {
            Some(Command::Status(a)) => cmd::status::run(&cli.global, a).await,
            Some(Command::Manifest(a)) => cmd::manifest::run(a),
            Some(Command::Rollout(a)) => cmd::rollout::run(&cli.global, a).await,
            Some(Command::Rollback(a)) => cmd::rollout::rollback(&cli.global, a).await,
            Some(Command::Unlock(a)) => cmd::unlock::run(&cli.global, a).await,
            Some(Command::Locks(a)) => cmd::locks::run(&cli.global, a).await,
            Some(Command::Replay(a)) => cmd::replay::run(&cli.global, a).await,
            Some(Command::Drain(a)) => cmd::actions::builtin(&cli.global, a, "drain").await,
            Some(Command::Undrain(a)) => cmd::actions::builtin(&cli.global, a, "undrain").await,
            Some(Command::Restart(a)) => cmd::actions::builtin(&cli.global, a, "restart").await,
            Some(Command::Logs(a)) => cmd::actions::logs(&cli.global, a).await,
            Some(Command::Ssh(a)) => cmd::actions::ssh(&cli.global, a).await,
            Some(Command::Action(a)) => cmd::actions::user(&cli.global, a).await,
            Some(Command::Demo) => cmd::dashboard::run(&cli.global, &cli.dash, true).await,
            None => cmd::dashboard::run(&cli.global, &cli.dash, false).await,
        }
    });
    let exit = match code {
        Ok(c) => c,
        Err(e) => {
            // The error may carry node or file text: through the one sanitiser, keeping
            // the lines of multi-line messages (a theme error points at its column).
            let e = format!("{e:#}");
            tracing::error!(error = %meshroll::safe_text::clean_capped(&e, 4096), "meshroll failed");
            eprintln!(
                "meshroll: {}",
                meshroll::safe_text::clean_keep_newlines(&e, 4096)
            );
            // meshroll itself could not run (an inventory, ssh config, journal...).
            meshroll::exit::CANNOT_RUN
        }
    };
    // `exit` runs no destructors: flush the log writer first, or the last lines (why
    // the dashboard quit, the final error) are lost.
    drop(guard);
    std::process::exit(exit);
}
