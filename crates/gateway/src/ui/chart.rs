//! A small bar chart drawn on the server as SVG: rows at the merge base, on each side, and
//! after the merge.

use maud::{Markup, html};

use super::layout::count;

const WIDTH: u64 = 560;
const LABEL: u64 = 170;
const BAR: u64 = 22;
const GAP: u64 = 10;

/// Horizontal bars, one per `(label, value, css class)`, scaled to the largest value.
pub(crate) fn bars(title: &str, items: &[(String, u64, &str)]) -> Markup {
    let max = items.iter().map(|(_, v, _)| *v).max().unwrap_or(0).max(1);
    let room = WIDTH - LABEL - 90;
    let height = items.len() as u64 * (BAR + GAP) + GAP;
    html! {
        svg.chart role="img" aria-label=(title) viewBox={ "0 0 " (WIDTH) " " (height) }
            width=(WIDTH) height=(height) xmlns="http://www.w3.org/2000/svg" {
            title { (title) }
            @for (i, (label, value, class)) in items.iter().enumerate() {
                @let y = GAP + i as u64 * (BAR + GAP);
                @let w = (value.saturating_mul(room) / max).max(1);
                text x="0" y=(y + BAR * 2 / 3) class="label" { (label) }
                rect x=(LABEL) y=(y) width=(w) height=(BAR) class=(class) {}
                text x=(LABEL + w + 6) y=(y + BAR * 2 / 3) class="value" { (count(*value)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_largest_bar_fills_the_room_and_labels_are_escaped() {
        let svg = super::bars(
            "rows",
            &[
                ("<base>".into(), 486_000, "base"),
                ("double".into(), 972_000, "right"),
            ],
        )
        .into_string();
        assert!(svg.contains("972,000"));
        assert!(svg.contains("&lt;base&gt;"));
        assert!(svg.contains(&format!("width=\"{}\"", super::WIDTH - super::LABEL - 90)));
    }
}
