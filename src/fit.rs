//! Fitting a table to a width: which columns stay and how wide each is, by priority.
//! One rule for the dashboard's fleet table and `status`'s table: when the columns do
//! not fit, the lowest-priority column goes first; the space left after every column's
//! minimum widens the highest priorities first (each to what it wants, or not at all),
//! then the free-text columns share the rest.

/// One column as the fitting sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Narrower than this the column is not worth showing: it is dropped instead.
    pub min: usize,
    /// As wide as it would like to be.
    pub want: usize,
    /// Higher stays longer and is widened first.
    pub priority: u8,
    /// Widened only after every other column has what it wants (a free-text column).
    pub fill: bool,
}

impl Column {
    /// A column that is always `w` wide.
    pub const fn fixed(w: usize, priority: u8) -> Column {
        Column {
            min: w,
            want: w,
            priority,
            fill: false,
        }
    }

    /// A column between `min` and `want` wide.
    pub const fn between(min: usize, want: usize, priority: u8) -> Column {
        Column {
            min,
            want,
            priority,
            fill: false,
        }
    }

    /// A free-text column: at least `min`, then whatever is left, up to `want`.
    pub const fn fill(min: usize, want: usize, priority: u8) -> Column {
        Column {
            min,
            want,
            priority,
            fill: true,
        }
    }
}

/// The width of each column in `total` characters with `spacing` between columns;
/// `None` for a column dropped. At least one column stays (cut to `total` if need be).
pub fn widths(cols: &[Column], total: usize, spacing: usize) -> Vec<Option<usize>> {
    let mut kept: Vec<bool> = vec![true; cols.len()];
    let need = |kept: &[bool]| {
        let n = kept.iter().filter(|k| **k).count();
        let mins: usize = cols
            .iter()
            .zip(kept)
            .filter(|(_, k)| **k)
            .map(|(c, _)| c.min.min(c.want))
            .sum();
        mins + spacing * n.saturating_sub(1)
    };
    while need(&kept) > total && kept.iter().filter(|k| **k).count() > 1 {
        // The lowest priority goes; of equals, the rightmost.
        let drop = (0..cols.len())
            .filter(|&i| kept[i])
            .min_by_key(|&i| (cols[i].priority, std::cmp::Reverse(i)));
        match drop {
            Some(i) => kept[i] = false,
            None => break,
        }
    }
    let mut w: Vec<Option<usize>> = cols
        .iter()
        .zip(&kept)
        .map(|(c, k)| k.then_some(c.min.min(c.want)))
        .collect();
    let used = need(&kept);
    if used > total {
        // One column left and it does not fit at its minimum: it gets the width there is.
        for x in w.iter_mut().flatten() {
            *x = total;
        }
        return w;
    }
    let mut left = total - used;
    let mut order: Vec<usize> = (0..cols.len()).filter(|&i| kept[i]).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(cols[i].priority), i));
    // The bounded columns first, highest priority first, each to what it wants or
    // not at all (a glyph at the end of a cell is cut whole or kept whole)...
    for &i in order.iter().filter(|&&i| !cols[i].fill) {
        let Some(x) = w[i].as_mut() else { continue };
        let add = cols[i].want.saturating_sub(*x);
        if add <= left {
            *x += add;
            left -= add;
        }
    }
    // ...then the free-text ones share what is left, a character each in turn.
    let fills: Vec<usize> = order.into_iter().filter(|&i| cols[i].fill).collect();
    while left > 0 {
        let mut gave = false;
        for &i in &fills {
            if let Some(x) = w[i].as_mut().filter(|x| **x < cols[i].want)
                && left > 0
            {
                *x += 1;
                left -= 1;
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    w
}

/// Characters `s` takes on screen, as this table counts them (one per `char`).
pub fn text_width(s: &str) -> usize {
    s.chars().count()
}

/// `s` in at most `w` characters: cut with `…` when longer.
pub fn cut(s: &str, w: usize) -> String {
    if text_width(s) <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

/// A plain-text table: `header` then `rows`, each column's [`Column`] given by `col`
/// from its cells' widths (`want` = the widest cell); fitted to `width` characters, or
/// every cell in full when `width` is `None`. Cells cut to fit end in `…`; two spaces
/// between columns; no trailing spaces.
pub fn text_table(
    header: &[&str],
    rows: &[Vec<String>],
    width: Option<usize>,
    col: &dyn Fn(usize, usize) -> Column,
) -> String {
    const SPACING: usize = 2;
    let widest: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| text_width(s))
                .chain(std::iter::once(text_width(header[c])))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let cols: Vec<Column> = widest.iter().enumerate().map(|(c, &w)| col(c, w)).collect();
    let chosen: Vec<Option<usize>> = match width {
        Some(total) => widths(&cols, total, SPACING),
        None => widest.iter().map(|&w| Some(w)).collect(),
    };
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (cell, w) in cells.into_iter().zip(&chosen) {
            let Some(w) = *w else { continue };
            if !out.is_empty() {
                out.push_str(&" ".repeat(SPACING));
            }
            let text = cut(cell, w);
            let pad = w - text_width(&text);
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        }
        let mut out = out.trim_end().to_string();
        out.push('\n');
        out
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: Column = Column::fixed(7, 100);
    const CLASS: Column = Column::fixed(7, 10);
    const BUILD: Column = Column::fixed(9, 30);
    const MANIFEST: Column = Column::between(10, 14, 60);
    const VERDICT: Column = Column::fixed(10, 90);
    const REASON: Column = Column::fill(24, 500, 80);

    fn table() -> Vec<Column> {
        vec![NODE, CLASS, BUILD, MANIFEST, VERDICT, REASON]
    }

    #[test]
    fn wide_enough_every_column_gets_what_it_wants_and_the_fill_the_rest() {
        let w = widths(&table(), 160, 1);
        assert_eq!(
            w,
            vec![Some(7), Some(7), Some(9), Some(14), Some(10), Some(108)]
        );
        let used: usize = w.iter().flatten().sum::<usize>() + 5;
        assert_eq!(used, 160);
    }

    #[test]
    fn narrower_the_lowest_priorities_go_first_and_the_rest_narrow() {
        // Every minimum: 67 + 5 spaces = 72. Without class (10): 64; without build too
        // (30): 54. What is left widens the manifest (60) first, then the reason.
        let w = widths(&table(), 69, 1);
        assert_eq!(
            w,
            vec![Some(7), None, Some(9), Some(14), Some(10), Some(25)]
        );
        // Two left: not enough for the manifest's four; the reason takes them.
        let w = widths(&table(), 66, 1);
        assert_eq!(
            w,
            vec![Some(7), None, Some(9), Some(10), Some(10), Some(26)]
        );
        let w = widths(&table(), 63, 1);
        assert_eq!(w, vec![Some(7), None, None, Some(14), Some(10), Some(29)]);
    }

    #[test]
    fn node_verdict_and_reason_go_last() {
        let w = widths(&table(), 44, 1);
        assert_eq!(w, vec![Some(7), None, None, None, Some(10), Some(25)]);
        let w = widths(&table(), 30, 1);
        assert_eq!(w, vec![Some(7), None, None, None, Some(10), None]);
        let w = widths(&table(), 12, 1);
        assert_eq!(w, vec![Some(7), None, None, None, None, None]);
        // Too narrow even for the last column: it gets what there is.
        assert_eq!(widths(&table(), 5, 1)[0], Some(5));
    }

    #[test]
    fn a_fill_column_stops_at_what_it_wants() {
        let cols = [Column::fixed(4, 9), Column::fill(3, 10, 1)];
        assert_eq!(widths(&cols, 80, 2), vec![Some(4), Some(10)]);
    }

    #[test]
    fn free_text_columns_share_what_is_left() {
        let cols = [
            Column::fixed(4, 9),
            Column::fill(3, 10, 1),
            Column::fill(3, 100, 2),
        ];
        // 10 + 2 spaces: 8 left, 4 each.
        assert_eq!(widths(&cols, 20, 1), vec![Some(4), Some(7), Some(7)]);
        // The first stops at 10; the second takes the rest.
        assert_eq!(widths(&cols, 40, 1), vec![Some(4), Some(10), Some(24)]);
    }

    #[test]
    fn equal_priorities_drop_from_the_right() {
        let cols = [
            Column::fixed(5, 1),
            Column::fixed(5, 1),
            Column::fixed(5, 1),
        ];
        assert_eq!(widths(&cols, 11, 1), vec![Some(5), Some(5), None]);
    }

    #[test]
    fn cut_marks_what_it_cut() {
        assert_eq!(cut("healthy", 7), "healthy");
        assert_eq!(cut("healthy", 6), "healt…");
        assert_eq!(cut("héllo wörld", 4), "hél…");
        assert_eq!(cut("x", 0), "");
    }

    #[test]
    fn a_text_table_fits_its_width_or_prints_every_cell_in_full() {
        let header = ["NODE", "CLASS", "REASON"];
        let rows = vec![
            vec!["mac-w01".to_string(), "worker".into(), "fine".into()],
            vec![
                "mac-w02".to_string(),
                "worker".into(),
                "gateway auth rejected: token mismatch on the node".into(),
            ],
        ];
        let col = |c: usize, w: usize| match c {
            0 => Column::fixed(w, 100),
            1 => Column::fixed(w, 10),
            _ => Column::fill(10, w, 80),
        };
        let fitted = text_table(&header, &rows, Some(30), &col);
        assert_eq!(
            fitted,
            "NODE     CLASS   REASON\n\
             mac-w01  worker  fine\n\
             mac-w02  worker  gateway auth…\n"
        );
        assert!(fitted.lines().all(|l| text_width(l) <= 30));
        let narrower = text_table(&header, &rows, Some(20), &col);
        assert_eq!(narrower.lines().nth(2), Some("mac-w02  gateway au…"));
        let wide = text_table(&header, &rows, None, &col);
        assert!(wide.contains("token mismatch on the node\n"), "{wide}");
    }
}
