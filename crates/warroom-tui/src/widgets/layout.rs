//! Layout helpers that never panic, whatever the terminal size.

use ratatui::layout::Rect;

/// A centred box of at most `width` x `height`, clipped to `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Split off `n` rows at the top (fewer if the area is smaller).
pub fn take_top(area: Rect, n: u16) -> (Rect, Rect) {
    let n = n.min(area.height);
    (
        Rect { height: n, ..area },
        Rect {
            y: area.y + n,
            height: area.height - n,
            ..area
        },
    )
}

/// The rows of `items` a view of `rows` rows shows, with their index: scrolled just far
/// enough that the row at `cursor` is on screen.
pub fn scrolled_window<T>(
    items: &[T],
    cursor: usize,
    rows: usize,
) -> impl Iterator<Item = (usize, &T)> {
    let first = (cursor + 1).saturating_sub(rows.max(1));
    items.iter().enumerate().skip(first).take(rows)
}

/// Split off `n` rows at the bottom (fewer if the area is smaller).
pub fn take_bottom(area: Rect, n: u16) -> (Rect, Rect) {
    let n = n.min(area.height);
    (
        Rect {
            height: area.height - n,
            ..area
        },
        Rect {
            y: area.y + area.height - n,
            height: n,
            ..area
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_areas_do_not_underflow() {
        let a = Rect::new(0, 0, 1, 1);
        assert_eq!(centered(a, 80, 20), a);
        let (top, rest) = take_top(a, 3);
        assert_eq!((top.height, rest.height), (1, 0));
        let (rest, bottom) = take_bottom(Rect::new(0, 0, 0, 0), 2);
        assert_eq!((rest.height, bottom.height), (0, 0));
    }
}
