//! A `TestBackend` the test can read while the dashboard's event loop draws on it: the
//! loop owns the `Terminal`, the test keeps a handle on the same screen.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::{Position, Size};

/// A `TestBackend` shared between the loop drawing on it and the test reading it.
#[derive(Clone)]
pub struct SharedScreen(Arc<Mutex<TestBackend>>);

impl SharedScreen {
    pub fn new(w: u16, h: u16) -> SharedScreen {
        SharedScreen(Arc::new(Mutex::new(TestBackend::new(w, h))))
    }

    /// The last frame drawn, as `TestBackend` prints it (one quoted line per row).
    pub fn text(&self) -> String {
        format!("{}", self.0.lock().unwrap())
    }

    /// The last frame drawn, with its styles.
    pub fn buffer(&self) -> Buffer {
        self.0.lock().unwrap().buffer().clone()
    }
}

impl Backend for SharedScreen {
    type Error = std::convert::Infallible;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.0.lock().unwrap().draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.0.lock().unwrap().get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.0.lock().unwrap().set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.0.lock().unwrap().clear_region(clear_type)
    }
    fn size(&self) -> Result<Size, Self::Error> {
        self.0.lock().unwrap().size()
    }
    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.0.lock().unwrap().window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.lock().unwrap().flush()
    }
}
