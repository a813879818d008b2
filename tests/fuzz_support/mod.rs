//! Shared by the property tests (`tests/fuzz_*.rs`): a counting allocator to bound the
//! memory one parse may take, structure-aware mutations of real fixtures, and the case
//! counts.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::Config;

// --- Memory -------------------------------------------------------------------------

/// The system allocator, counting the bytes live on each thread and their peak, so a
/// test can check that parsing N bytes never takes more than a bounded multiple of N
/// (a "billion laughs" would take gigabytes).
pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now);
            }
        });
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are thread-local
// cells with const initialisers (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: same pointer and layout, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: same arguments, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Run `f` and return its result with the most heap (bytes) it held at once on this
/// thread, above what was live when it started.
pub fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, (peak - start).max(0) as usize)
}

/// The memory bound every parser must keep: `factor` bytes per input byte plus `slack`.
pub fn assert_bounded(what: &str, input_len: usize, peak: usize, factor: usize, slack: usize) {
    let bound = input_len.saturating_mul(factor).saturating_add(slack);
    assert!(
        peak <= bound,
        "{what}: {peak} bytes of heap for {input_len} bytes of input (bound {bound})"
    );
}

// --- Cases --------------------------------------------------------------------------

/// `cases` per target, times `MESHROLL_FUZZ_SCALE` (default 1) for longer runs by hand.
pub fn config(cases: u32) -> Config {
    let scale = std::env::var("MESHROLL_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(1);
    Config {
        cases: cases.saturating_mul(scale),
        // Shrinking a parser input can take long; a failing case is printed as found.
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..Config::default()
    }
}

// --- Inputs -------------------------------------------------------------------------

/// A file from the repository.
pub fn repo_file(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every file of a repository folder whose name ends with `suffix`, sorted.
pub fn repo_files(dir: &str, suffix: &str) -> Vec<(String, Vec<u8>)> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.ends_with(suffix)
                .then(|| (name, std::fs::read(e.path()).unwrap_or_default()))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no *{suffix} in {dir}");
    out
}

/// One edit of a byte string; positions are taken modulo the current length.
#[derive(Debug, Clone)]
pub enum Op {
    /// Replace one byte.
    Set(usize, u8),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Insert a token of the format's dictionary (a bracket, a key, an alias...).
    Token(usize, usize),
    /// Delete up to `len` bytes.
    Delete(usize, usize),
    /// Copy a range to another place (repeats a section, a key, a line).
    Dup(usize, usize, usize),
    /// Cut the text here (a torn file).
    Truncate(usize),
    /// Swap two lines.
    SwapLines(usize, usize),
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Op::Set(a, b)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(a, v)| Op::Insert(a, v)),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(a, t)| Op::Token(a, t)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(a, n)| Op::Delete(a, n)),
        1 => (any::<usize>(), 1usize..256, any::<usize>()).prop_map(|(a, n, t)| Op::Dup(a, n, t)),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::SwapLines(a, b)),
    ]
}

/// 1 to `max` edits.
pub fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..=max)
}

/// Apply `ops` to `base`; `dict` holds the tokens [`Op::Token`] inserts.
pub fn mutate(base: &[u8], ops: &[Op], dict: &[&[u8]]) -> Vec<u8> {
    let mut v = base.to_vec();
    for op in ops {
        let at = |i: usize, v: &Vec<u8>| i % (v.len() + 1);
        match op {
            Op::Set(i, b) => {
                if !v.is_empty() {
                    let i = i % v.len();
                    v[i] = *b;
                }
            }
            Op::Insert(i, bytes) => {
                let i = at(*i, &v);
                v.splice(i..i, bytes.iter().copied());
            }
            Op::Token(i, t) => {
                if !dict.is_empty() {
                    let i = at(*i, &v);
                    let tok = dict[t % dict.len()];
                    v.splice(i..i, tok.iter().copied());
                }
            }
            Op::Delete(i, n) => {
                let i = at(*i, &v);
                let end = (i + n).min(v.len());
                v.drain(i..end);
            }
            Op::Dup(i, n, to) => {
                let i = at(*i, &v);
                let end = (i + n).min(v.len());
                let piece = v[i..end].to_vec();
                let to = at(*to, &v);
                v.splice(to..to, piece);
            }
            Op::Truncate(i) => {
                let i = at(*i, &v);
                v.truncate(i);
            }
            Op::SwapLines(a, b) => {
                let mut lines: Vec<Vec<u8>> =
                    v.split(|c| *c == b'\n').map(<[u8]>::to_vec).collect();
                let (a, b) = (a % lines.len(), b % lines.len());
                lines.swap(a, b);
                v = lines.join(&b'\n');
            }
        }
        // Keep inputs small enough that thousands of cases stay fast.
        v.truncate(64 * 1024);
    }
    v
}

/// Tokens that matter to JSON parsers.
pub const JSON_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b"\"\\u001b]0;x\\u0007\"",
    b"{\"a\":",
    b"[[[[[[[[",
    b"\xff",
    b"\xe2\x80\xae",
];
