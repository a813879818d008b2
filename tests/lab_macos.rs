//! meshroll against a macOS-shaped lab node (tests/common/macos.rs: Apple-like `stat`,
//! `mv`, `df`, `wc`, stock `rsync`, no `sha256sum`/`timeout`, dash as `sh`, zsh login
//! shell), each compared with a plain node in the same lab.

mod common;

use common::macos::RsyncFlavor;
use common::{Lab, NodeSpec};

/// Run `cmd` on `node` through ssh (the node's login shell): (exit code, stdout, stderr).
fn sh(lab: &Lab, node: &str, cmd: &str) -> (i32, String, String) {
    let o = lab.ssh(node, cmd);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// The harness itself: the macOS-shaped node has the Apple-like tools and the plain node
/// beside it does not (the mounts are inside the mac node's namespace only).
#[test]
fn macos_node_has_apple_tools_and_the_plain_node_does_not() {
    let lab = Lab::start(&[
        NodeSpec::macos("mac", "worker", RsyncFlavor::Apple269),
        NodeSpec::macos("mac2", "worker", RsyncFlavor::Openrsync),
        NodeSpec::new("lin", "worker"),
    ]);
    let (rc, _, err) = sh(&lab, "mac", "stat -c %Y /");
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("stat: illegal option -- c"), "{err}");
    let (rc, out, err) = sh(&lab, "lin", "stat -c %Y /");
    assert_eq!(rc, 0, "plain node: {err}");
    assert!(out.trim().parse::<u64>().is_ok(), "{out}");

    let (rc, out, err) = sh(
        &lab,
        "mac",
        "f=/tmp/mlmac.$$; printf 'hello' >$f; chmod 640 $f; stat -f '%z %Lp %N' $f; rm -f $f",
    );
    assert_eq!(rc, 0, "{err}");
    assert!(out.starts_with("5 640 /tmp/mlmac."), "{out}");

    let (rc, _, err) = sh(&lab, "mac", "mv -T /nonexistent-a /nonexistent-b");
    assert_eq!(rc, 64, "{err}");
    assert!(err.contains("mv: illegal option -- T"), "{err}");
    let (rc, out, err) = sh(
        &lab,
        "mac",
        "d=$(mktemp -d); mkdir $d/a $d/b; ln -s a $d/cur; ln -s b $d/new; mv -h $d/new $d/cur && readlink $d/cur; rm -rf $d",
    );
    assert_eq!((rc, out.trim()), (0, "b"), "{err}");

    let (_, out, _) = sh(&lab, "mac", "printf hello | wc -c");
    assert_eq!(out, "       5\n");
    let (_, out, _) = sh(&lab, "lin", "printf hello | wc -c");
    assert_eq!(out, "5\n");

    let (rc, out, err) = sh(&lab, "mac", "df /; df -Pk /");
    assert_eq!(rc, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("512-blocks")
            && lines[0].contains("iused")
            && lines[0].contains("%iused"),
        "{out}"
    );
    assert!(
        lines[2].contains("1024-blocks") && !lines[2].contains("iused"),
        "{out}"
    );

    for absent in ["sha256sum", "timeout"] {
        let (rc, _, _) = sh(&lab, "mac", &format!("command -v {absent}"));
        assert_ne!(rc, 0, "{absent} must be absent on the mac node");
        let (rc, _, _) = sh(&lab, "lin", &format!("command -v {absent}"));
        assert_eq!(rc, 0, "{absent} is on the plain node");
    }

    // sh is strict POSIX: no [[ ]]
    let (rc, _, _) = sh(&lab, "mac", "sh -c '[[ 1 ]]'");
    assert_ne!(rc, 0);
    // the login shell is zsh, and openclaw is only on the login PATH (~/.zprofile)
    let (_, out, _) = sh(&lab, "mac", "echo \"zsh=$ZSH_VERSION\"");
    assert!(out.starts_with("zsh=") && out.trim().len() > 4, "{out}");
    let (rc, _, _) = sh(&lab, "mac", "command -v openclaw");
    assert_ne!(rc, 0, "openclaw must not be on the non-login PATH");
    let (rc, out, err) = sh(&lab, "mac", "zsh -lc 'openclaw --version'");
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("2026.9.6"), "{out}");

    // stock rsync: -s refused with each version's own words, --version as it prints it
    let (rc, _, err) = sh(&lab, "mac", "rsync --server -slOogDtprce.iLsfxCIvu . /tmp");
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("rsync: -slOogDtprce.iLsfxCIvu: unknown option"),
        "{err}"
    );
    let (rc, _, err) = sh(&lab, "mac2", "rsync --server -slOogDtprce.iLsfxCIvu . /tmp");
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("rsync: illegal option -- s"), "{err}");
    let (_, out, _) = sh(&lab, "mac", "rsync --version");
    assert!(
        out.starts_with("rsync  version 2.6.9  protocol version 29"),
        "{out}"
    );
    let (_, out, _) = sh(&lab, "mac2", "rsync --version");
    assert!(out.starts_with("openrsync: protocol version 29"), "{out}");
    let (_, out, _) = sh(&lab, "lin", "rsync --version");
    assert!(out.starts_with("rsync  version 3."), "{out}");
}
