//! A drawn screen as text *with its styles*, for snapshots that fail when a colour or
//! a modifier changes, not only when the text does.
//!
//! [`styled`] writes each screen row twice: the text (quoted, as ratatui's
//! `TestBackend` shows it) and under it a style map, one character per cell: a space
//! for the terminal's own style (no colour, no modifier), else the legend key of the
//! cell's style. The legend, after the rows, spells each key out (`fg`, `bg`,
//! modifiers); keys are given in order of first appearance, row by row.
//!
//! ```text
//!  3 "▶mac-g01 ✔ ready  "
//!    "aaaaaaaabbbbbbbbbb"
//! ...
//! a  bg=DarkGray BOLD
//! b  fg=Green bg=DarkGray BOLD
//! ```
#![allow(dead_code)]

use ratatui::buffer::{Buffer, Cell, CellWidth};
use ratatui::style::{Color, Modifier};

/// Legend keys, in the order they are handed out.
const KEYS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// What a cell looks like apart from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub fg: Color,
    pub bg: Color,
    pub modifier: Modifier,
}

impl Look {
    pub fn of(cell: &Cell) -> Look {
        Look {
            fg: cell.fg,
            bg: cell.bg,
            modifier: cell.modifier,
        }
    }

    /// The terminal's own style: no colour, no modifier.
    pub fn is_plain(&self) -> bool {
        self.fg == Color::Reset && self.bg == Color::Reset && self.modifier.is_empty()
    }

    /// `fg=Green bg=DarkGray BOLD+DIM`, the parts that are set.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.fg != Color::Reset {
            parts.push(format!("fg={:?}", self.fg));
        }
        if self.bg != Color::Reset {
            parts.push(format!("bg={:?}", self.bg));
        }
        if !self.modifier.is_empty() {
            let names: Vec<&str> = self.modifier.iter_names().map(|(n, _)| n).collect();
            parts.push(names.join("+"));
        }
        parts.join(" ")
    }
}

/// The screen as text rows, each followed by its style map, then the legend.
pub fn styled(buffer: &Buffer) -> String {
    let width = buffer.area.width as usize;
    let mut legend: Vec<Look> = Vec::new();
    let mut out = String::new();
    for (y, cells) in buffer.content.chunks(width.max(1)).enumerate() {
        let mut text = String::new();
        let mut map = String::new();
        // Cells covered by a wide symbol before them print nothing, as in TestBackend.
        let mut covered = 0usize;
        for cell in cells {
            if covered == 0 {
                text.push_str(cell.symbol());
            }
            covered = covered.max(cell.cell_width() as usize).saturating_sub(1);
            let look = Look::of(cell);
            if look.is_plain() {
                map.push(' ');
                continue;
            }
            let k = match legend.iter().position(|l| *l == look) {
                Some(k) => k,
                None => {
                    legend.push(look);
                    legend.len() - 1
                }
            };
            map.push(KEYS.chars().nth(k).unwrap_or('#'));
        }
        out.push_str(&format!("{y:>2} \"{text}\"\n   \"{map}\"\n"));
    }
    out.push_str("legend:\n");
    for (k, look) in legend.iter().enumerate() {
        let key = KEYS.chars().nth(k).unwrap_or('#');
        out.push_str(&format!("{key}  {}\n", look.describe()));
    }
    if legend.len() > KEYS.len() {
        out.push_str(&format!(
            "({} styles: those past the {}th share the key #)\n",
            legend.len(),
            KEYS.len()
        ));
    }
    out
}

/// The text of row `y`, one `String` per cell (a wide symbol's covered cells are
/// empty strings), so a column index is a cell index.
pub fn row_cells(buffer: &Buffer, y: u16) -> Vec<String> {
    (0..buffer.area.width)
        .map(|x| buffer[(x, y)].symbol().to_string())
        .collect()
}

/// Where `needle` starts on row `y`, as a cell column.
pub fn find_in_row(buffer: &Buffer, y: u16, needle: &str) -> Option<u16> {
    let cells = row_cells(buffer, y);
    let want: Vec<String> = needle.chars().map(|c| c.to_string()).collect();
    (0..(cells.len() + 1).saturating_sub(want.len()))
        .find(|&x| cells[x..x + want.len()] == want[..])
        .map(|x| x as u16)
}

/// Where `needle` first shows on the screen, row by row: `(x, y)` of its first cell.
pub fn find(buffer: &Buffer, needle: &str) -> Option<(u16, u16)> {
    (0..buffer.area.height).find_map(|y| find_in_row(buffer, y, needle).map(|x| (x, y)))
}

/// The look of every cell `needle` covers where it first shows on the screen.
pub fn looks_of(buffer: &Buffer, needle: &str) -> Option<Vec<Look>> {
    let (x, y) = find(buffer, needle)?;
    Some(
        (0..needle.chars().count() as u16)
            .map(|dx| Look::of(&buffer[(x + dx, y)]))
            .collect(),
    )
}
