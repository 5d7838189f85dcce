//! Charts drawn on the server as SVG (plotters), inserted into pages as markup.

use plotters::prelude::*;

const WIDTH: u32 = 360;
const HEIGHT: u32 = 180;
const BAR: RGBColor = RGBColor(47, 111, 79);
const INK: RGBColor = RGBColor(110, 118, 128);

/// Bars over bin edges (`edges.len() == counts.len() + 1`).
pub fn histogram_svg(edges: &[f64], counts: &[u64]) -> String {
    let mut svg = String::new();
    if edges.len() != counts.len() + 1 || counts.is_empty() {
        return svg;
    }
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let max = counts.iter().copied().max().unwrap_or(1).max(1);
        let (lo, hi) = (edges[0], edges[edges.len() - 1]);
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let mut chart = ChartBuilder::on(&root)
                .margin(6)
                .x_label_area_size(22)
                .y_label_area_size(42)
                .build_cartesian_2d(lo..hi, 0u64..(max + max / 10 + 1))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(INK.mix(0.15))
                .bold_line_style(INK.mix(0.3))
                .axis_style(INK)
                .x_labels(5)
                .y_labels(4)
                .label_style(("sans-serif", 11).into_font().color(&INK))
                .x_label_formatter(&|x| short(*x))
                .draw()?;
            chart.draw_series(counts.iter().enumerate().map(|(i, c)| {
                Rectangle::new([(edges[i], 0), (edges[i + 1], *c)], BAR.mix(0.75).filled())
            }))?;
            root.present()?;
            Ok(())
        })();
        if drawn.is_err() {
            return String::new();
        }
    }
    svg
}

/// Horizontal bars for the most frequent values.
pub fn top_values_svg(values: &[(String, u64)]) -> String {
    let mut svg = String::new();
    if values.is_empty() {
        return svg;
    }
    let n = values.len().min(10);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, (24 * n as u32 + 30).max(80))).into_drawing_area();
        let max = values.iter().map(|v| v.1).max().unwrap_or(1).max(1);
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let mut chart = ChartBuilder::on(&root)
                .margin(6)
                .x_label_area_size(20)
                .y_label_area_size(110)
                .build_cartesian_2d(0u64..(max + max / 10 + 1), (0..n).into_segmented())?;
            let labels: Vec<String> = values.iter().take(n).map(|v| truncate(&v.0, 16)).collect();
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(INK.mix(0.15))
                .bold_line_style(INK.mix(0.3))
                .axis_style(INK)
                .x_labels(4)
                .y_labels(n)
                .label_style(("sans-serif", 11).into_font().color(&INK))
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .draw()?;
            chart.draw_series(values.iter().take(n).enumerate().map(|(i, (_, c))| {
                Rectangle::new([(0, SegmentValue::Exact(i)), (*c, SegmentValue::Exact(i + 1))], BAR.mix(0.75).filled())
            }))?;
            root.present()?;
            Ok(())
        })();
        if drawn.is_err() {
            return String::new();
        }
    }
    svg
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_bars() {
        let svg = histogram_svg(&[0.0, 1.0, 2.0, 3.0], &[3, 5, 1]);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<rect").count() >= 3, true);
        assert!(histogram_svg(&[0.0], &[]).is_empty());
        let bars = top_values_svg(&[("basic".into(), 120), ("pro".into(), 60)]);
        assert!(bars.contains("basic") && bars.contains("pro"));
    }
}
