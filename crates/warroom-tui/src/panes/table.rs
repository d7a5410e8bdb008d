//! Sorting a table over a `Column` trait, and the list cursor: shared by the panes that show
//! rows (PostgreSQL sessions, Kafka groups, pods).

use std::cell::Cell;

use super::Effect;
use crate::keymap::KeyAction;

/// A column a table can be sorted by.
pub trait Column: Copy + PartialEq + 'static {
    /// The columns in the order `s` steps through them.
    const SORTABLE: &'static [Self];
    fn title(self) -> &'static str;
}

/// The sort of a table: by which column, which way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sort<C: Column> {
    pub by: C,
    pub descending: bool,
}

impl<C: Column> Sort<C> {
    pub fn new(by: C) -> Sort<C> {
        Sort {
            by,
            descending: true,
        }
    }

    /// `s` and `S`: the effects (a toast naming the new column) when the key sorts, `None`
    /// for other keys. The caller rebuilds its rows when it gets `Some`.
    pub fn on_action(&mut self, action: KeyAction, noun: &str) -> Option<Vec<Effect>> {
        match action {
            KeyAction::SortNext => {
                let i = C::SORTABLE.iter().position(|c| *c == self.by).unwrap_or(0);
                if let Some(next) = C::SORTABLE.get((i + 1) % C::SORTABLE.len().max(1)) {
                    self.by = *next;
                }
                Some(Effect::toast(format!("{noun} by {}", self.by.title())))
            }
            KeyAction::SortReverse => {
                self.descending = !self.descending;
                Some(Vec::new())
            }
            _ => None,
        }
    }

    /// "lag ↓" for info lines.
    pub fn label(&self) -> String {
        format!(
            "{} {}",
            self.by.title(),
            if self.descending { "↓" } else { "↑" }
        )
    }
}

/// Where the cursor of a list is, and how many rows the last draw showed (for page keys).
#[derive(Debug)]
pub struct ListCursor {
    pub row: usize,
    page: Cell<usize>,
}

impl ListCursor {
    pub fn new(page: usize) -> ListCursor {
        ListCursor {
            row: 0,
            page: Cell::new(page),
        }
    }

    /// Set by drawing: rows that fit on screen.
    pub fn set_page(&self, rows: usize) {
        self.page.set(rows.max(1));
    }

    /// The rows of `items` a view of `rows` rows shows, with their index: the cursor stays
    /// on screen.
    pub fn window<'a, T>(
        &self,
        items: &'a [T],
        rows: usize,
    ) -> impl Iterator<Item = (usize, &'a T)> + 'a {
        crate::widgets::layout::scrolled_window(items, self.row, rows)
    }

    /// Where a movement key takes the cursor in a list of `len` rows; `None` for other keys.
    pub fn moved(&self, action: KeyAction, len: usize) -> Option<usize> {
        super::moved_cursor(action, self.row, len, self.page.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Col {
        A,
        B,
    }

    impl Column for Col {
        const SORTABLE: &'static [Col] = &[Col::A, Col::B];
        fn title(self) -> &'static str {
            match self {
                Col::A => "a",
                Col::B => "b",
            }
        }
    }

    #[test]
    fn sort_keys_step_through_the_columns_and_reverse() {
        let mut sort = Sort::new(Col::A);
        assert_eq!(sort.label(), "a ↓");
        let said = sort.on_action(KeyAction::SortNext, "sorted");
        assert!(matches!(&said.as_deref(), Some([Effect::Toast(t)]) if t == "sorted by b"));
        sort.on_action(KeyAction::SortNext, "sorted");
        assert_eq!(sort.by, Col::A);
        assert!(sort.on_action(KeyAction::SortReverse, "sorted").is_some());
        assert_eq!(sort.label(), "a ↑");
        assert!(sort.on_action(KeyAction::Open, "sorted").is_none());
        let cursor = ListCursor::new(10);
        assert_eq!(cursor.moved(KeyAction::PageDown, 50), Some(10));
        assert_eq!(cursor.moved(KeyAction::Open, 50), None);
    }

    #[test]
    fn the_window_keeps_the_cursor_on_screen() {
        let items: Vec<u32> = (0..10).collect();
        let mut cursor = ListCursor::new(3);
        let shown =
            |c: &ListCursor, rows| c.window(&items, rows).map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(shown(&cursor, 3), vec![0, 1, 2]);
        cursor.row = 7;
        assert_eq!(shown(&cursor, 3), vec![5, 6, 7]);
        assert_eq!(shown(&cursor, 0), Vec::<usize>::new());
        cursor.row = 9;
        assert_eq!(shown(&cursor, 20), (0..10).collect::<Vec<_>>());
    }
}
