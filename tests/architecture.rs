//! The layout rules of README's "Layout of the code", checked: what each module may not
//! reach for. Pure modules do no I/O and read no clock; `remote/` does not know about
//! rollouts or the screen; the dashboard's state does not know about drawing.
//!
//! A rule is a path prefix under `src/` and the words its code (test modules and
//! comments set aside) may not contain.
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
    /// A file, or a folder (every file under it).
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
        path: "src/poller.rs",
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
        path: "src/verdict.rs",
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
];

fn files(root: &Path) -> Vec<PathBuf> {
    if root.is_file() {
        return vec![root.to_path_buf()];
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
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

#[test]
fn modules_keep_to_their_layout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    for rule in RULES {
        let base = root.join(rule.path);
        if !base.exists() {
            broken.push(format!("rule for a missing path: {}", rule.path));
            continue;
        }
        for f in files(&base) {
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
    assert!(
        broken.is_empty(),
        "layout rules broken:\n{}",
        broken.join("\n")
    );
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
