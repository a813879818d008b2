//! The terminal of a full-screen command (the dashboard, `replay`), taken over and given
//! back in one place: SIGTERM, SIGHUP and SIGINT arrive as input (so each command ends
//! like `q`, the terminal restored, instead of being killed with the terminal left raw,
//! on the alternate screen, with mouse capture on), a panic restores it (ratatui's hook
//! plus mouse capture), and dropping the guard restores it on every other way out.

use std::io;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What reaches a full-screen command from outside: the terminal's events, and the
/// signals that end it.
#[derive(Debug)]
pub enum Incoming {
    Term(crossterm::event::Event),
    /// SIGTERM, SIGHUP or SIGINT (its name).
    Signal(&'static str),
}

/// Hands the terminal over to a child (a shell on a node) and takes it back: what the
/// dashboard's loop needs of a real terminal. A test's `TestBackend` has nothing to
/// hand over ([`NoHandover`]).
#[allow(async_fn_in_trait)]
pub trait Handover {
    /// Stop reading input and leave the screen: the child owns the terminal.
    async fn leave(&mut self);
    /// Take the screen back (the caller clears it and redraws in full).
    async fn back(&mut self) -> io::Result<()>;
    /// Read input again, once the screen is cleared: clearing asks the terminal where
    /// its cursor is, an answer a running input reader could take.
    fn listen(&mut self);
}

/// A terminal that is not a real one (a test's `TestBackend`): nothing to hand over.
pub struct NoHandover;

impl Handover for NoHandover {
    async fn leave(&mut self) {}
    async fn back(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn listen(&mut self) {}
}

/// The full-screen terminal: raw mode, the alternate screen, mouse capture when asked,
/// the quit signals; restored when dropped.
pub struct FullScreen {
    mouse: bool,
    taken: bool,
    tx: mpsc::UnboundedSender<Incoming>,
    input: Option<JoinHandle<()>>,
    signals: JoinHandle<()>,
}

/// The input stream of a [`FullScreen`]: the terminal's events and the quit signals.
pub type IncomingStream = futures::stream::BoxStream<'static, Incoming>;

impl FullScreen {
    /// The signal handlers first (so no signal is lost while the screen changes), then
    /// the terminal taken over. Returns the guard, the terminal to draw on and the
    /// stream of what comes in.
    pub fn enter(
        mouse: bool,
    ) -> io::Result<(FullScreen, ratatui::DefaultTerminal, IncomingStream)> {
        let signals = QuitSignals::new()?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let signals = signals.forward(tx.clone());
        let terminal = ratatui::try_init()?;
        restore_mouse_on_panic();
        let mut guard = FullScreen {
            mouse,
            taken: true,
            tx,
            input: None,
            signals,
        };
        guard.capture_mouse(true);
        guard.input = Some(read_input(guard.tx.clone()));
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
        Ok((guard, terminal, stream))
    }

    fn capture_mouse(&self, on: bool) {
        if !self.mouse {
            return;
        }
        if on {
            crossterm::execute!(io::stdout(), EnableMouseCapture).ok();
        } else {
            crossterm::execute!(io::stdout(), DisableMouseCapture).ok();
        }
    }

    /// Give the terminal back as it was.
    fn restore(&mut self) {
        if self.taken {
            self.capture_mouse(false);
            ratatui::restore();
            self.taken = false;
        }
    }
}

impl Handover for FullScreen {
    async fn leave(&mut self) {
        // The reader stops before the child starts: no keystroke of the child's is
        // read here.
        if let Some(task) = self.input.take() {
            task.abort();
            let _ = task.await;
        }
        self.restore();
    }

    async fn back(&mut self) -> io::Result<()> {
        crossterm::terminal::enable_raw_mode()?;
        crossterm::execute!(io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
        self.taken = true;
        self.capture_mouse(true);
        Ok(())
    }

    fn listen(&mut self) {
        if self.input.is_none() {
            self.input = Some(read_input(self.tx.clone()));
        }
    }
}

impl Drop for FullScreen {
    fn drop(&mut self) {
        if let Some(task) = self.input.take() {
            task.abort();
        }
        self.signals.abort();
        self.restore();
    }
}

/// The terminal's events, read in a task of their own until it is aborted.
fn read_input(tx: mpsc::UnboundedSender<Incoming>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = EventStream::new();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    if tx.send(Incoming::Term(ev)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the terminal failed");
                    break;
                }
            }
        }
    })
}

/// SIGTERM, SIGHUP and SIGINT: each ends a full-screen command (and the headless
/// rollout) like `q`.
pub struct QuitSignals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl QuitSignals {
    /// Install the handlers (before the terminal is taken over, so no signal is lost).
    pub fn new() -> io::Result<QuitSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(QuitSignals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// The name of the next signal received.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
            _ = self.int.recv() => "SIGINT",
        }
    }

    /// Each signal received, by name, into `tx`.
    fn forward(mut self, tx: mpsc::UnboundedSender<Incoming>) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let sig = self.recv().await;
                if tx.send(Incoming::Signal(sig)).is_err() {
                    break;
                }
            }
        })
    }
}

/// Chain a panic hook that turns mouse capture off before the hook already installed
/// (ratatui's, which leaves raw mode and the alternate screen but not mouse capture).
fn restore_mouse_on_panic() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(io::stdout(), DisableMouseCapture);
        prev(info);
    }));
}
