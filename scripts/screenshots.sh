#!/usr/bin/env bash
# Real screenshots of `meshroll demo`, taken from a real terminal emulator.
#
#   scripts/screenshots.sh            # writes screenshots/*.png
#
# xterm runs under Xvfb (a virtual X server), meshroll runs inside it, xdotool
# types keys into it, xwd grabs the xterm window and ImageMagick turns that into
# a cropped, stripped PNG. Everything the script starts is killed on exit.
#
# Needs (Debian): xvfb xterm x11-apps (xwd) x11-utils xdotool imagemagick
# fonts-dejavu-core; missing ones are installed with apt-get.
#
# Knobs (environment): COLS, ROWS (terminal size, default 120x36), FONT_SIZE
# (default 12), GREY (ANSI colour 8, default #585858), SETTLE (seconds to wait
# after each key, default 1.5), STARTUP (seconds to let the demo fill in before
# the first shot, default 4).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="$ROOT/screenshots"

COLS=${COLS:-120}
ROWS=${ROWS:-36}
FONT=${FONT:-DejaVu Sans Mono}
FONT_SIZE=${FONT_SIZE:-12}
# ANSI colour 8 ("darkgray": the theme's borders and selected-row background).
# xterm's own grey50 washes out dim text on the selected row; #585858 is close
# to what GNOME Terminal, iTerm2 and Windows Terminal use.
GREY=${GREY:-#585858}
SETTLE=${SETTLE:-1.5}
STARTUP=${STARTUP:-4}

say() { echo "screenshots.sh: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- tools
# /usr/local/bin/convert may be a stand-in that only reads PNGs: insist on the
# real ImageMagick binary in /usr/bin.
CONVERT=/usr/bin/convert
need=()
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v xterm >/dev/null 2>&1 || need+=(xterm)
command -v xwd >/dev/null 2>&1 || need+=(x11-apps)
command -v xdpyinfo >/dev/null 2>&1 || need+=(x11-utils)
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
[ -x "$CONVERT" ] || need+=(imagemagick)
fc-list 2>/dev/null | grep -q "DejaVuSansMono.ttf" || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
    || { $sudo apt-get update >/dev/null \
         && $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; } \
    || die "could not install ${need[*]} with apt-get"
fi
for t in Xvfb xterm xwd xdpyinfo xdotool; do
  command -v "$t" >/dev/null 2>&1 || die "$t is still missing after the install"
done
[ -x "$CONVERT" ] || die "$CONVERT (ImageMagick) is still missing after the install"

# ---------------------------------------------------------------- build
say "building meshroll"
cargo build --bin meshroll || die "cargo build --bin meshroll failed"
BIN="$ROOT/target/debug/meshroll"
[ -x "$BIN" ] || die "no binary at $BIN after the build"

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshroll-shots.XXXXXX")
XVFB_PID=""
XTERM_PID=""
cleanup() {
  local rc=$?
  if [ -n "$XTERM_PID" ] && kill -0 "$XTERM_PID" 2>/dev/null; then
    kill "$XTERM_PID" 2>/dev/null || true
    wait "$XTERM_PID" 2>/dev/null || true
  fi
  if [ -n "$XVFB_PID" ] && kill -0 "$XVFB_PID" 2>/dev/null; then
    kill "$XVFB_PID" 2>/dev/null || true
    wait "$XVFB_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
  if [ "$rc" -ne 0 ]; then
    say "FAILED (exit $rc)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- X server
# -displayfd lets Xvfb pick a free display number itself, so concurrent runs
# (or a stale lock file) do not collide.
say "starting Xvfb"
Xvfb -displayfd 3 -screen 0 1920x1200x24 -dpi 96 -nolisten tcp \
  3>"$TMP/display" >"$TMP/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 100); do
  [ -s "$TMP/display" ] && break
  kill -0 "$XVFB_PID" 2>/dev/null || { cat "$TMP/xvfb.log" >&2; die "Xvfb exited at start"; }
  sleep 0.1
done
[ -s "$TMP/display" ] || die "Xvfb did not report a display within 10 s"
export DISPLAY=":$(tr -d '[:space:]' <"$TMP/display")"
xdpyinfo >/dev/null 2>&1 || die "cannot talk to Xvfb on $DISPLAY"
say "Xvfb is on $DISPLAY"

# ---------------------------------------------------------------- xterm
WID=""
# start_demo NAME [meshroll args...]: opens an xterm running `meshroll demo`.
start_demo() {
  local name=$1; shift
  local logdir="$TMP/log-$name" errfile="$TMP/meshroll-$name.err"
  mkdir -p "$logdir"
  : >"$errfile"
  # directColor: pass 24-bit colours (the colorblind theme's hex colours)
  # through instead of rounding them to the 256-colour palette.
  xterm -name "meshshot-$name" -title "meshroll $name" \
    -geometry "${COLS}x${ROWS}+0+0" \
    -fa "$FONT" -fs "$FONT_SIZE" -u8 \
    -bg '#1c1c1c' -fg '#d0d0d0' -cr '#d0d0d0' \
    -bc -b 6 -bw 0 +sb \
    -tn xterm-256color \
    -xrm 'XTerm*directColor: true' \
    -xrm 'XTerm*cursorBlink: false' \
    -xrm 'XTerm*allowBoldFonts: true' \
    -xrm "XTerm*color8: $GREY" \
    -e sh -c 'exec "$@" 2>"$0"' "$errfile" \
       env COLORTERM=truecolor "$BIN" "${SUBCMD:-demo}" --log-dir "$logdir" "$@" \
    >"$TMP/xterm-$name.log" 2>&1 &
  XTERM_PID=$!
  WID=""
  for _ in $(seq 100); do
    WID=$(xdotool search --classname "meshshot-$name" 2>/dev/null | head -n1 || true)
    [ -n "$WID" ] && break
    kill -0 "$XTERM_PID" 2>/dev/null || died "$name" "before its window appeared"
    sleep 0.1
  done
  [ -n "$WID" ] || die "no xterm window appeared within 10 s"
  # No window manager: give the window the keyboard focus ourselves, so
  # xdotool's XTEST key presses reach it (xterm ignores synthetic events).
  # The window can be found before it is mapped (BadMatch): retry for a few seconds.
  local focused=""
  for _ in $(seq 25); do
    if xdotool windowfocus --sync "$WID" 2>/dev/null; then focused=1; break; fi
    sleep 0.2
  done
  [ -n "$focused" ] || xdotool windowfocus "$WID" || die "cannot focus the xterm window"
  say "xterm window $WID is up ($name); letting the demo fill in for ${STARTUP}s"
  sleep "$STARTUP"
  kill -0 "$XTERM_PID" 2>/dev/null || died "$name" "before the first screenshot"
}

# died NAME WHEN: the xterm (so meshroll) is gone too early; show why and fail.
died() {
  local name=$1 when=$2 f
  for f in "$TMP/xterm-$name.log" "$TMP/meshroll-$name.err" "$TMP"/log-"$name"/*; do
    [ -s "$f" ] || continue
    say "--- ${f#"$TMP"/} (last lines)"
    tail -n 20 "$f" >&2
  done
  die "xterm running 'meshroll demo' ($name) exited $when"
}

# keys KEY...: type keys into the xterm (xdotool key names), then let it redraw.
keys() {
  kill -0 "$XTERM_PID" 2>/dev/null || die "the terminal is gone before keys: $*"
  xdotool windowfocus "$WID" 2>/dev/null || true
  local k
  for k in "$@"; do
    xdotool key --clearmodifiers "$k"
    sleep 0.3
  done
  sleep "$SETTLE"
}

# shot FILE: grab the xterm window into screenshots/FILE (a stripped PNG).
shot() {
  local file=$1 colours
  kill -0 "$XTERM_PID" 2>/dev/null || die "the terminal is gone before shot $file"
  xwd -silent -id "$WID" >"$TMP/shot.xwd" || die "xwd failed for $file"
  # A blank or nearly blank window means the demo did not draw: fail loudly.
  colours=$("$CONVERT" "xwd:$TMP/shot.xwd" -format '%k' info:)
  # 256 colours without dithering keeps text pixel-for-pixel readable (only
  # anti-aliasing shades merge) and makes the file ~5x smaller than RGB.
  "$CONVERT" "xwd:$TMP/shot.xwd" -strip -dither None -colors 256 \
    -define png:compression-level=9 "PNG8:$TMP/$file" \
    || die "convert failed for $file"
  [ "$colours" -ge 8 ] || die "$file looks blank ($colours colours)"
  mkdir -p "$OUT"
  mv "$TMP/$file" "$OUT/$file"
  say "wrote screenshots/$file ($("$CONVERT" "$OUT/$file" -format '%wx%h' info:), $colours colours, $(stat -c %s "$OUT/$file") bytes)"
}

# stop_demo [ANSWER]: quit meshroll with `q` (answering its question with ANSWER when a
# rollout has nodes in flight: `f` finishes them first) and wait for the xterm to close.
stop_demo() {
  keys q "$@"
  for _ in $(seq 150); do
    kill -0 "$XTERM_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$XTERM_PID" 2>/dev/null; then
    die "meshroll did not quit on 'q' within 15 s"
  fi
  wait "$XTERM_PID" 2>/dev/null || true
  XTERM_PID=""
}

# ---------------------------------------------------------------- the shots
start_demo default
shot fleet.png
keys j Return
shot node.png
keys Escape S
shot skew.png
keys Escape question
shot help.png
keys Escape
# Node actions: two nodes marked, drain asks naming them; then the gateway log of the
# selected node in a pane of its node view.
keys g m m D
shot action-confirm.png
keys Escape M Return L
shot action-logs.png
keys Escape Escape
stop_demo

start_demo colorblind --theme colorblind
shot fleet-colorblind.png
stop_demo

# A rollout in progress on the demo's staged rollout, stepped phase by phase: the
# canary's sync fails once (retry countdown), the plan view, then prewarm's output in
# the node view.
start_demo rollout
keys n n n
shot rollout-retry.png
# Let the retry's countdown run out and the sync pass.
sleep 8
keys p
shot rollout-plan.png
keys p n n n n
sleep 3
keys Return
shot rollout-prewarm.png
keys Escape
stop_demo f

# A replay of a real headless rollout of the simulated mesh's gateways, jumped to its
# second failure (mac-g04's gateway not ready at baseline).
say "running a headless rollout of the simulated mesh for the replay"
"$BIN" rollout --sim --yes --class gateway --journal "$TMP/journal.jsonl" \
  --log-dir "$TMP/log-headless" >"$TMP/rollout.out" 2>&1 \
  || grep -q "halted" "$TMP/rollout.out" \
  || { tail -n 20 "$TMP/rollout.out" >&2; die "the headless sim rollout failed"; }
SUBCMD=replay start_demo replay "$TMP/journal.jsonl"
keys f f
shot replay.png
stop_demo

say "done: $(cd "$OUT" && ls *.png | tr '\n' ' ')"
