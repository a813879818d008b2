//! The layout rules of README's "Layout of the code", checked: what each module may not
//! reach for. Pure modules do no I/O and read no clock; `remote/` does not know about
//! rollouts or the screen; the dashboard's state does not know about drawing.
//!
//! A rule is a module under `src/` and the words its code (test modules and comments set
//! aside) may not contain. A module is a file (`src/fit.rs`), a folder (`src/ui`), or
//! both (`src/poller` is `src/poller.rs` and every file under `src/poller/`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// I/O and the clock: what a pure module may not use.
const IO: &[&str] = &[
    "tokio::",
    "std::fs",
    "std::process",
    "std::net",
    "std::env",
    "now_ms(",
    "SystemTime::now",
    "Instant::now",
];

struct Rule {
    /// A file (`.rs`), or a module: `path.rs` and every file under the folder `path`.
    path: &'static str,
    /// Files under `path` the rule does not cover.
    except: &'static [&'static str],
    forbidden: &'static [&'static [&'static str]],
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        path: "src/inventory",
        except: &[],
        forbidden: &[&[
            "crate::remote",
            "crate::poller",
            "crate::rollout",
            "crate::ui",
            "tokio::",
        ]],
        why: "an inventory is read from files; it does not talk to nodes",
    },
    Rule {
        path: "src/poller",
        except: &[],
        forbidden: &[&["crate::dashboard", "crate::ui", "ratatui::"]],
        why: "the scheduler polls; it does not know the dashboard or the screen",
    },
    Rule {
        path: "src/dashboard/state.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "crossterm::terminal", "ratatui::"]],
        why: "the dashboard's state is pure: events and the time in, effects out",
    },
    Rule {
        path: "src/dashboard",
        except: &[],
        forbidden: &[&["crate::cmd"]],
        why: "cmd/ runs the dashboard; the dashboard (its event loop too) imports nothing from cmd/",
    },
    Rule {
        path: "src/dashboard/scroll.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "ratatui::"]],
        why: "scroll offsets are plain state",
    },
    Rule {
        path: "src/fit.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "crate::dashboard"]],
        why: "fitting a table to a width is a function of its columns",
    },
    Rule {
        path: "src/dashboard/actions.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "crossterm::terminal", "ratatui::"]],
        why: "node actions in the dashboard's state are pure: the event loop runs them",
    },
    Rule {
        path: "src/actions/mod.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "crate::dashboard"]],
        why: "the action model is pure: run.rs and audit.rs do the I/O",
    },
    Rule {
        path: "src/dashboard/rows.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "ratatui::"]],
        why: "the rows cache is pure",
    },
    Rule {
        path: "src/ui",
        except: &["src/ui/theme.rs"],
        forbidden: &[
            IO,
            &[
                "crate::rollout::runner",
                "crate::remote",
                "crate::poller::spawn",
            ],
        ],
        why: "drawing is a function of the state: no I/O, no clock, no tasks",
    },
    Rule {
        path: "src/remote",
        except: &[],
        forbidden: &[&["crate::rollout", "crate::dashboard", "crate::ui"]],
        why: "remote/ talks to nodes; it does not know rollouts or the screen",
    },
    Rule {
        path: "src/rollout/machine.rs",
        except: &[],
        forbidden: &[IO, &["crate::remote", "crate::ui"]],
        why: "the rollout machine is pure",
    },
    Rule {
        path: "src/rollout/plan.rs",
        except: &[],
        forbidden: &[IO, &["crate::remote", "crate::ui"]],
        why: "a plan is pure",
    },
    Rule {
        path: "src/rollout/state.rs",
        except: &[],
        forbidden: &[IO, &["crate::remote::ssh", "crate::ui"]],
        why: "the rollout's state is pure; the runner does its I/O",
    },
    Rule {
        path: "src/signals",
        except: &[],
        forbidden: &[IO, &["crate::remote", "crate::ui", "crate::rollout"]],
        why: "parsers are pure",
    },
    Rule {
        path: "src/verdict",
        except: &[],
        forbidden: &[IO, &["crate::ui", "crate::remote"]],
        why: "the verdict is a function of the signals and the time",
    },
    Rule {
        path: "src/skew.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "crate::remote"]],
        why: "skew is a function of the rows",
    },
    Rule {
        path: "src/node_lock.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "crate::remote", "crate::rollout"]],
        why: "the node lock read back is a function of what the poll saw and the time",
    },
    Rule {
        path: "src/report.rs",
        except: &[],
        forbidden: &[IO, &["crate::ui", "crate::remote::ssh"]],
        why: "a report is a function of the state and the time",
    },
    Rule {
        path: "src/keymap.rs",
        except: &[],
        forbidden: &[&["crate::ui", "crate::dashboard"]],
        why: "the key bindings are data; where keys.toml lives is src/config_paths.rs",
    },
];

/// The I/O files: what the pure states may not import a type from.
const IO_FILES: &[&str] = &[
    "rollout::steps::",
    "rollout::steps;",
    "super::steps::",
    "super::steps;",
    "rollout::runner",
    "super::runner",
    "remote::ssh",
    "super::ssh",
];

/// The pure states (the rollout's machine, plan and state; the dashboard's state and what
/// it is made of) import no type from an I/O file: the I/O files import theirs.
const PURE_STATES: &[Rule] = &[
    pure_state("src/rollout/state.rs"),
    pure_state("src/rollout/machine"),
    pure_state("src/rollout/machine_only.rs"),
    pure_state("src/rollout/types.rs"),
    pure_state("src/rollout/events.rs"),
    pure_state("src/rollout/words.rs"),
    pure_state("src/rollout/plan.rs"),
    pure_state("src/dashboard/state.rs"),
    pure_state("src/dashboard/rows.rs"),
    pure_state("src/dashboard/scroll.rs"),
    pure_state("src/dashboard/actions.rs"),
    pure_state("src/dashboard/marks.rs"),
    pure_state("src/dashboard/stage.rs"),
];

const fn pure_state(path: &'static str) -> Rule {
    Rule {
        path,
        except: &[],
        forbidden: &[IO_FILES],
        why: "a pure state imports no type from an I/O file (rollout/exec.rs, rollout/runner.rs, remote/ssh*.rs)",
    }
}

/// The event loop carries effects out; the commands wire it up, never the other way.
const EVENT_LOOP: &[Rule] = &[Rule {
    path: "src/dashboard/event_loop.rs",
    except: &[],
    forbidden: &[&["crate::cmd", "super::super::cmd"]],
    why: "the event loop imports nothing from cmd/: a command starts it",
}];

/// The one module that knows where meshroll's files live (config, state): named here
/// so the rule follows it if it moves.
const CONFIG_PATHS_MODULE: &str = "src/config_paths.rs";

/// Config and state paths are made in one module; everyone else asks it.
const CONFIG_PATHS: &[Rule] = &[Rule {
    path: "src",
    except: &[CONFIG_PATHS_MODULE],
    forbidden: &[&[
        "\"XDG_CONFIG_HOME\"",
        "\"XDG_STATE_HOME\"",
        "\".config\"",
        "\".local/state",
        "ui::theme::config_home",
    ]],
    why: "config and state paths are made in one module (CONFIG_PATHS_MODULE)",
}];

/// The files of the module or file `path` (relative to `root`); empty when it is missing.
fn module_files(root: &Path, path: &str) -> Vec<PathBuf> {
    let base = root.join(path);
    if path.ends_with(".rs") {
        return if base.is_file() {
            vec![base]
        } else {
            Vec::new()
        };
    }
    let mut out = Vec::new();
    let file = root.join(format!("{path}.rs"));
    if file.is_file() {
        out.push(file);
    }
    if base.is_dir() {
        out.extend(files(&base));
    }
    out
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The code of a file without its test module and comments.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every place where `rules` are broken, with the rule's reason.
fn broken(rules: &[Rule]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    for rule in rules {
        let files = module_files(root, rule.path);
        if files.is_empty() {
            broken.push(format!("rule for a missing path: {}", rule.path));
            continue;
        }
        for f in files {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rule.except.contains(&rel.as_str()) {
                continue;
            }
            let c = code(&std::fs::read_to_string(&f).unwrap());
            for word in rule.forbidden.iter().flat_map(|l| l.iter()) {
                if let Some((n, line)) = c.lines().enumerate().find(|(_, l)| l.contains(word)) {
                    broken.push(format!(
                        "{rel}:{}: uses `{word}` ({}): {}",
                        n + 1,
                        rule.why,
                        line.trim()
                    ));
                }
            }
        }
    }
    broken
}

fn assert_kept(rules: &[Rule]) {
    let broken = broken(rules);
    assert!(
        broken.is_empty(),
        "layout rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn modules_keep_to_their_layout() {
    assert_kept(RULES);
}

#[test]
fn pure_states_import_no_type_from_io_files() {
    assert_kept(PURE_STATES);
}

#[test]
fn the_event_loop_imports_nothing_from_cmd() {
    assert_kept(EVENT_LOOP);
}

#[test]
fn config_paths_are_made_in_one_module() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join(CONFIG_PATHS_MODULE);
    assert!(
        module.is_file(),
        "no {CONFIG_PATHS_MODULE}: name the config paths module"
    );
    assert_kept(CONFIG_PATHS);
}

/// A module is its file and its folder: the poller's rule covers `poller/scheduler.rs`
/// as well as `poller.rs`.
#[test]
fn a_module_is_its_file_and_its_folder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = |path: &str| -> Vec<String> {
        module_files(root, path)
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().to_string_lossy().to_string())
            .collect()
    };
    let poller = rel("src/poller");
    assert!(poller.contains(&"src/poller.rs".to_string()), "{poller:?}");
    assert!(
        poller.contains(&"src/poller/scheduler.rs".to_string()),
        "{poller:?}"
    );
    assert_eq!(rel("src/fit.rs"), vec!["src/fit.rs".to_string()]);
    assert!(rel("src/no_such_module").is_empty());
    // The rules cover both halves of a module split into a file and a folder.
    for module in ["src/poller", "src/verdict"] {
        assert!(
            RULES.iter().any(|r| r.path == module),
            "no rule for {module}"
        );
    }
}

/// The checker itself finds what it should: a file that breaks a rule is reported, a
/// comment or a test module that mentions the word is not.
#[test]
fn the_checker_sees_code_not_comments() {
    let src = "use crate::ui::theme;\n// tokio::spawn in a comment\nfn f() {}\n#[cfg(test)]\nmod tests { use tokio::time; }\n";
    let c = code(src);
    assert!(c.contains("crate::ui"));
    assert!(!c.contains("tokio::"));
}
