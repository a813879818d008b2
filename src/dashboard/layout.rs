//! Where the screen puts the fleet table: what the state needs to know of the layout
//! (to map a click to a row, to keep the selection in the window) and the drawing
//! follows, so the two never disagree.

/// Screen row of the first table row (title, tabs, header above it).
pub const TABLE_FIRST_ROW: u16 = 3;

/// Rows of the footer: the rollout's status line above the keys when one is staged.
pub fn footer_height(rolling: bool) -> u16 {
    if rolling { 2 } else { 1 }
}

/// The table's body height on a screen `screen_height` rows high.
pub fn table_rows(screen_height: u16, rolling: bool) -> usize {
    screen_height.saturating_sub(TABLE_FIRST_ROW + footer_height(rolling)) as usize
}

/// The first visible row to draw so that `selected` stays in a window of `height`
/// rows, moving the window as little as possible from `offset` (as ratatui's table
/// scrolls).
pub fn window_start(offset: usize, selected: usize, height: usize, len: usize) -> usize {
    let height = height.max(1);
    let mut start = offset.min(len.saturating_sub(1));
    if selected < start {
        start = selected;
    } else if selected >= start + height {
        start = selected + 1 - height;
    }
    // Do not leave the window half empty at the end when rows above could fill it.
    start.min(len.saturating_sub(height))
}
