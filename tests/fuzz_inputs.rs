//! Property tests over what meshroll reads from files (issue 7, "Fuzzing"): the INI, YAML
//! and TOML inventory parsers, the theme parser and the journal reader, on arbitrary
//! text and on structure-aware mutations of the real fixtures (tests/fixtures/inventory,
//! themes/, a journal as the rollout writes it). Properties: no panic; an inventory or an
//! error naming the file; bounded output (every string of a node comes from the input,
//! at most 50 000 host entries); bounded heap. Case counts are in `config(...)` below
//! and in the README; `MESHROLL_FUZZ_SCALE=N` runs N times as many.
#![allow(clippy::unwrap_used)]

mod fuzz_support;

use std::path::Path;

use fuzz_support::{assert_bounded, config, mutate, ops, peak_of, repo_file};
use meshroll::inventory::{Inventory, InventoryError, ini, toml_inv, yaml};
use meshroll::rollout::journal::read_resume;
use meshroll::ui::theme::Theme;
use proptest::prelude::*;

/// Heap per input byte an inventory parse may take, plus a constant that covers ranges
/// (`h[0:9999]` is 10 bytes and 10 000 nodes) up to the host-entry cap.
const INV_FACTOR: usize = 256;
const INV_SLACK: usize = 128 * 1024 * 1024;

const INI_TOKENS: &[&[u8]] = &[
    b"[",
    b"]",
    b":children]",
    b":vars]",
    b"[worker]\n",
    b"[all:vars]\n",
    b"=",
    b"\"",
    b"'",
    b"\\",
    b"#",
    b";",
    b"\n",
    b" ",
    b"[01:20]",
    b"[a:f]",
    b"[0:9999]",
    b"[1:10:2]",
    b":2222",
    b"ansible_host=",
    b"ansible_port=",
    b"ansible_user=",
    b"meshroll_skills_root=",
    b"meshroll_cache_max_age_min=",
    b"-oProxyCommand=x",
    b"\x1b[31m",
    b"\xe2\x80\xae",
    b"\xef\xbb\xbf",
    b"\r\n",
    b"{{ x }}",
];

const YAML_TOKENS: &[&[u8]] = &[
    b": ",
    b":\n",
    b"- ",
    b"\n  ",
    b"\n    ",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b"&a ",
    b"*a",
    b"&b [*a,*a,*a,*a]",
    b"<<: *a\n",
    b"~",
    b"null",
    b"'",
    b"\"",
    b"#",
    b"---\n",
    b"...\n",
    b"!vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\n",
    b"!!str ",
    b"? ",
    b"|\n  ",
    b">-\n  ",
    b"hosts:\n",
    b"vars:\n",
    b"children:\n",
    b"plugin: x\n",
    b"ansible_port: ",
    b"meshroll_skills_root: ",
    b"[0:9999]",
    b"\t",
    b"\xe2\x80\xae",
    b"\"\\u0000\"",
];

const TOML_TOKENS: &[&[u8]] = &[
    b"[[nodes]]\n",
    b"[defaults]\n",
    b"[classes.worker]\n",
    b"=",
    b"\"",
    b"'''",
    b"\"\"\"",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b"\n",
    b"#",
    b"name = ",
    b"host = ",
    b"port = ",
    b"user = ",
    b"class = ",
    b"labels = [",
    b"70000",
    b"-1",
    b"1e400",
    b"9223372036854775808",
    b"\"-oProxyCommand=x\"",
    b"\"\\u001b\"",
    b"\xe2\x80\xae",
    b"inf",
    b"nan",
    b"1979-05-27",
];

const THEME_TOKENS: &[&[u8]] = &[
    b"[palette]\n",
    b"[roles]\n",
    b"=",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b"\n",
    b"#",
    b"fg = ",
    b"bg = ",
    b"bold = true",
    b"modifiers = [",
    b"\"#zzzzzz\"",
    b"\"#00\"",
    b"\"rgb(1,2,3)\"",
    b"\"indexed(300)\"",
    b"name = ",
    b"base = \"default\"\n",
    b"base = \"mono\"\n",
    b"ok = ",
    b"\xe2\x80\xae",
    b"\x1b",
];

/// The checks every inventory parse passes, whatever the input.
fn check_inventory(file: &Path, input: &str, r: &Result<Inventory, InventoryError>, peak: usize) {
    assert_bounded("inventory", input.len(), peak, INV_FACTOR, INV_SLACK);
    match r {
        Ok(inv) => {
            assert!(inv.nodes.len() <= 50_000, "{} nodes", inv.nodes.len());
            // Every string of a node comes from the input (or is a built-in default).
            let cap = input.len().max(64);
            for n in &inv.nodes {
                let l = &n.layout;
                for s in [
                    &n.name,
                    &n.host,
                    &n.class,
                    &l.skills_root,
                    &l.state_dir,
                    &l.run_as,
                    &l.openclaw,
                    &l.healthz_url,
                    &l.rsync_path,
                ]
                .into_iter()
                .chain(&n.user)
                .chain(&n.labels)
                .chain(&l.prewarm_cmd)
                .chain(&l.drain_cmd)
                .chain(&l.undrain_cmd)
                {
                    assert!(
                        s.len() <= cap,
                        "{} bytes from {} of input",
                        s.len(),
                        input.len()
                    );
                }
                // What reaches ssh is never an option.
                assert!(!n.host.starts_with('-'), "{:?}", n.host);
                assert!(!n.user.as_deref().unwrap_or("").starts_with('-'));
                assert!(!n.host.chars().any(|c| c.is_control() || c.is_whitespace()));
                assert_ne!(n.port, Some(0));
            }
        }
        Err(e) => {
            assert_eq!(e.file, file);
            let shown = e.to_string();
            assert!(
                shown.len() <= 4 * input.len() + 2048,
                "{} bytes of message",
                shown.len()
            );
        }
    }
}

fn fuzz_ini(text: &str) {
    let f = Path::new("fuzz.ini");
    let (r, peak) = peak_of(|| ini::parse(f, text));
    check_inventory(f, text, &r, peak);
}

fn fuzz_yaml(text: &str) {
    let f = Path::new("fuzz.yml");
    let (r, peak) = peak_of(|| yaml::parse(f, text));
    check_inventory(f, text, &r, peak);
}

fn fuzz_toml(text: &str) {
    let f = Path::new("fuzz.toml");
    let (r, peak) = peak_of(|| toml_inv::parse(f, text));
    check_inventory(f, text, &r, peak);
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn ini_arbitrary(text in "(?s).{0,400}") {
        fuzz_ini(&text);
    }


    #[test]
    fn ini_fleet_mutated(ops in ops(8)) {
        let base = repo_file("tests/fixtures/inventory/fleet.ini");
        fuzz_ini(&lossy(&mutate(&base, &ops, INI_TOKENS)));
    }

    #[test]
    fn yaml_arbitrary(text in "(?s).{0,400}") {
        fuzz_yaml(&text);
    }

    #[test]
    fn yaml_fleet_mutated(ops in ops(8)) {
        let base = repo_file("tests/fixtures/inventory/fleet.yml");
        fuzz_yaml(&lossy(&mutate(&base, &ops, YAML_TOKENS)));
    }

    #[test]
    fn toml_arbitrary(text in "(?s).{0,400}") {
        fuzz_toml(&text);
    }

    #[test]
    fn toml_fleet_mutated(ops in ops(8)) {
        let base = repo_file("tests/fixtures/inventory/meshroll.toml");
        fuzz_toml(&lossy(&mutate(&base, &ops, TOML_TOKENS)));
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// Lines shaped like INI: sections, ranges, key=value pairs, quotes.
    #[test]
    fn ini_line_shaped(lines in proptest::collection::vec("\\[?[a-z:\\-\\[\\]0-9]{0,12}\\]?( [a-z_]{0,16}=[\"']?[^\\n]{0,12})*", 0..16)) {
        fuzz_ini(&lines.join("\n"));
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// Alias ladders of every shape (`levels` anchors, each aliasing the one before
    /// `width` times): small ones load, big ones stop with an error naming a line;
    /// memory stays bounded either way.
    #[test]
    fn yaml_alias_ladders(levels in 1usize..14, width in 1usize..14, in_hosts in any::<bool>()) {
        let mut text = String::from("all:\n  vars:\n    a0: &a0 [\"lol\", \"lol\"]\n");
        for i in 1..levels {
            let refs = vec![format!("*a{}", i - 1); width].join(",");
            text.push_str(&format!("    a{i}: &a{i} [{refs}]\n"));
        }
        if in_hosts {
            text.push_str(&format!(
                "  children:\n    w:\n      hosts: &h {{m[0:99]: }}\n    g:\n      hosts: *h\n      vars: {{big: *a{}}}\n",
                levels - 1
            ));
        }
        let f = Path::new("ladder.yml");
        let (r, peak) = peak_of(|| yaml::parse(f, &text));
        // width^levels nodes unchecked: far beyond any bound for the big shapes.
        check_inventory(f, &text, &r, peak);
        assert_bounded("alias ladder", text.len(), peak, 0, 64 * 1024 * 1024);
        if let Err(e) = &r {
            prop_assert!(e.line.is_some(), "{e}");
        }
    }
}

fn fuzz_theme(text: &str) {
    let (r, peak) = peak_of(|| Theme::parse(text, "fuzz-theme"));
    assert_bounded("theme", text.len(), peak, 64, 1024 * 1024);
    if let Err(e) = r {
        let shown = e.to_string();
        assert!(
            shown.len() <= 4 * text.len() + 4096,
            "{} bytes",
            shown.len()
        );
    }
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn theme_arbitrary(text in "(?s).{0,300}") {
        fuzz_theme(&text);
    }

    #[test]
    fn theme_files_mutated(ops in ops(8), which in 0usize..4) {
        let names = ["default", "colorblind", "mono", "solarized-dark"];
        let base = repo_file(&format!("themes/{}.toml", names[which]));
        fuzz_theme(&lossy(&mutate(&base, &ops, THEME_TOKENS)));
    }
}

/// A journal as the rollout writes it: one JSON object per line with both bundle ids.
fn journal_base() -> Vec<u8> {
    let ids = r#""rollout":"r-1764633600","skills_sha":"9f3c","manifest_sha256":"ab12""#;
    let mut s = String::new();
    for (i, (ev, node, extra)) in [
        ("stage_started", None, r#","class":"worker","stage":0"#),
        ("phase_started", Some(0), r#","phase":"baseline","attempt":1"#),
        ("phase_done", Some(0), r#","phase":"baseline","attempt":1,"note":"ready""#),
        ("phase_done", Some(0), r#","phase":"sync","attempt":1,"note":"3 files""#),
        (
            "phase_failed",
            Some(1),
            r#","phase":"verify","attempt":1,"failure":{"kind":"mismatch","message":"a.md sha256 differs"}"#,
        ),
        ("retry_scheduled", Some(1), r#","phase":"sync","attempt":2,"delay_ms":3000"#),
        ("node_landed", Some(0), ""),
        ("rolled_back", Some(1), ""),
        ("finished", None, ""),
    ]
    .into_iter()
    .enumerate()
    {
        let node = match node {
            Some(n) => format!(r#","node":{n},"node_name":"mac-w0{}""#, n + 1),
            None => String::new(),
        };
        s.push_str(&format!(
            "{{\"event\":\"{ev}\"{node}{extra},\"ts_ms\":{},{ids}}}\n",
            1_764_633_600_000u64 + i as u64
        ));
    }
    s.into_bytes()
}

const JOURNAL_TOKENS: &[&[u8]] = &[
    b"\n",
    b"{",
    b"}",
    b"\"",
    b",",
    b":",
    b"null",
    b"\xff\xfe",
    b"\"phase_done\"",
    b"\"node_landed\"",
    b"\"finished\"",
    b"\"mismatch\"",
    b"\"9f3c\"",
    b"\"node_name\":",
    b"\"phase\":\"undrain\"",
    b"{\"event\":\"phase_done\",\"node_name\":\"x\",\"phase\":\"sync\",\"skills_sha\":\"9f3c\"}\n",
];

proptest! {
    #![proptest_config(config(300))]

    /// The journal reader on torn, garbled and non-UTF-8 journals: no panic, and what it
    /// resumes names only nodes the file holds.
    #[test]
    fn journal_mutated(ops in ops(8)) {
        let bytes = mutate(&journal_base(), &ops, JOURNAL_TOKENS);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rollout.jsonl");
        std::fs::write(&p, &bytes).unwrap();
        let (r, peak) = peak_of(|| read_resume(&p, "9f3c"));
        assert_bounded("journal", bytes.len(), peak, 64, 1024 * 1024);
        let names: usize = r
            .nodes
            .values()
            .filter_map(|n| n.identity.as_ref())
            .map(|i| i.name.len() + i.host.len())
            .sum();
        prop_assert!(names <= bytes.len());
        if let Some(id) = &r.rollout_id {
            prop_assert!(id.len() <= bytes.len());
        }
    }

    #[test]
    fn journal_arbitrary(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rollout.jsonl");
        std::fs::write(&p, &bytes).unwrap();
        let (r, peak) = peak_of(|| read_resume(&p, "9f3c"));
        assert_bounded("journal", bytes.len(), peak, 64, 1024 * 1024);
        prop_assert!(r.nodes.len() <= bytes.len());
    }
}

/// The whole loader (files, group_vars/, host_vars/) on mutated real files in a temp dir.
mod on_disk {
    use super::*;

    proptest! {
        #![proptest_config(config(200))]

        #[test]
        fn inventory_with_vars_folders_mutated(inv_ops in ops(4), gv_ops in ops(4), yaml_inv in any::<bool>()) {
            let d = tempfile::tempdir().unwrap();
            let (name, base, dict) = if yaml_inv {
                ("hosts.yml", repo_file("tests/fixtures/inventory/fleet.yml"), YAML_TOKENS)
            } else {
                ("hosts.ini", repo_file("tests/fixtures/inventory/fleet.ini"), INI_TOKENS)
            };
            let inv = d.path().join(name);
            std::fs::write(&inv, mutate(&base, &inv_ops, dict)).unwrap();
            std::fs::create_dir_all(d.path().join("group_vars/worker")).unwrap();
            let gv = b"meshroll_skills_root: /Volumes/fast/skills\nmeshroll_cache_max_age_min: 45\nansible_user: ops\n";
            std::fs::write(d.path().join("group_vars/worker/main.yml"), mutate(gv, &gv_ops, YAML_TOKENS)).unwrap();
            std::fs::write(d.path().join("group_vars/all.yml"), gv).unwrap();
            let (r, peak) = peak_of(|| meshroll::inventory::load(&inv));
            assert_bounded("load", base.len() + gv.len() * 2, peak, INV_FACTOR, INV_SLACK);
            if let Err(e) = &r {
                prop_assert!(e.file.starts_with(d.path()), "{e}");
            }
        }
    }
}

/// Nesting far deeper than any real file, in every format: an error (or a value), never
/// a stack overflow.
#[test]
fn deep_nesting_in_every_format() {
    for depth in [1_000, 100_000] {
        let open = "[".repeat(depth);
        let close = "]".repeat(depth);
        let braces = "{a=".repeat(depth) + "1" + &"}".repeat(depth);
        let yaml_flow = format!("all:\n  vars:\n    x: {open}{close}\n");
        let yaml_block: String = (0..depth.min(300))
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        fuzz_yaml(&yaml_flow);
        fuzz_yaml(&yaml_block);
        fuzz_toml(&format!("x = {open}{close}\n"));
        fuzz_toml(&format!("x = {braces}\n"));
        fuzz_ini(&format!("[w]\nh{open}{close}\n"));
        fuzz_theme(&format!("name = {open}{close}\n"));
        fuzz_theme(&format!("[roles]\nok = {braces}\n"));
    }
}
