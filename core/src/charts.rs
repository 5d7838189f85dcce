//! Charts drawn on the server as SVG (plotters), inserted into pages as markup.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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
    let as_numbers: Vec<(String, f64)> = values.iter().map(|(k, c)| (k.clone(), *c as f64)).collect();
    bars_svg(&as_numbers)
}

/// Horizontal bars of named non-negative values (the first ten), e.g. feature importances.
pub fn bars_svg(values: &[(String, f64)]) -> String {
    let first: Vec<(String, f64)> = values.iter().take(10).cloned().collect();
    horizontal_bars(&first, WIDTH, 110, 16)
}

/// Signed horizontal bars, largest magnitude first (at most 15): feature attributions. Positive
/// values (pushing the output up) in green, negative ones in red.
pub fn attributions_svg(values: &[(String, f64)]) -> String {
    let mut sorted: Vec<(String, f64)> = values.iter().filter(|v| v.1.is_finite()).cloned().collect();
    sorted.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    sorted.truncate(15);
    horizontal_bars(&sorted, WIDTH + 80, 130, 20)
}

/// One bar per value, top to bottom, from 0 (green when positive, red when negative).
fn horizontal_bars(values: &[(String, f64)], width: u32, label_area: u32, label_chars: usize) -> String {
    let mut svg = String::new();
    if values.is_empty() {
        return svg;
    }
    let n = values.len();
    {
        let root = SVGBackend::with_string(&mut svg, (width, (22 * n as u32 + 34).max(80))).into_drawing_area();
        let finite = values.iter().map(|v| v.1).filter(|v| v.is_finite());
        let lo = finite.clone().fold(0.0, f64::min);
        let hi = finite.fold(0.0, f64::max);
        let pad = ((hi - lo) * 0.08).max(1e-12);
        let low_end = if lo < 0.0 { lo - pad } else { 0.0 };
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let mut chart = ChartBuilder::on(&root)
                .margin(6)
                .x_label_area_size(20)
                .y_label_area_size(label_area)
                .build_cartesian_2d(low_end..(hi + pad), (0..n).into_segmented())?;
            let labels: Vec<String> = values.iter().map(|v| truncate(&v.0, label_chars)).collect();
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(INK.mix(0.15))
                .bold_line_style(INK.mix(0.3))
                .axis_style(INK)
                .x_labels(5)
                .y_labels(n)
                .label_style(("sans-serif", 11).into_font().color(&INK))
                .x_label_formatter(&|x| short(*x))
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .draw()?;
            chart.draw_series(values.iter().enumerate().filter(|(_, (_, v))| v.is_finite()).map(|(i, (_, v))| {
                let colour = if *v >= 0.0 { BAR } else { RGBColor(180, 35, 24) };
                let (a, b) = if *v >= 0.0 { (0.0, *v) } else { (*v, 0.0) };
                Rectangle::new([(a, SegmentValue::Exact(i)), (b, SegmentValue::Exact(i + 1))], colour.mix(0.8).filled())
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

/// Colours for overlaid series (readable on light and dark pages).
const SERIES: [RGBColor; 8] = [
    RGBColor(47, 111, 79),
    RGBColor(37, 99, 235),
    RGBColor(217, 119, 6),
    RGBColor(190, 24, 93),
    RGBColor(124, 58, 237),
    RGBColor(8, 145, 178),
    RGBColor(101, 163, 13),
    RGBColor(120, 113, 108),
];

/// Points drawn per series at most: longer series keep each bucket's first, lowest and highest
/// point, so spikes stay visible.
const MAX_POINTS: usize = 2000;

fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let per = points.len().div_ceil(MAX_POINTS / 3);
    let mut out = Vec::with_capacity(MAX_POINTS);
    for chunk in points.chunks(per) {
        let lo = chunk.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        let hi = chunk.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        let mut three = [chunk[0], lo, hi];
        three.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.extend(three);
    }
    out
}

/// TensorBoard's smoothing: an exponential moving average with weight `w` in [0, 1), debiased
/// so the first points are not pulled towards zero. Non-finite values pass through unsmoothed.
pub fn smooth(points: &[(f64, f64)], w: f64) -> Vec<(f64, f64)> {
    if w <= 0.0 {
        return points.to_vec();
    }
    let w = w.min(0.999);
    let (mut last, mut n) = (0.0, 0i32);
    points
        .iter()
        .map(|&(x, y)| {
            if !y.is_finite() {
                return (x, y);
            }
            last = last * w + (1.0 - w) * y;
            n += 1;
            (x, last / (1.0 - w.powi(n)))
        })
        .collect()
}

/// The grid, axes and labels of a numeric x/y chart.
fn draw_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>,
    x_label: &str,
    y_label: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_mesh()
        .light_line_style(INK.mix(0.12))
        .bold_line_style(INK.mix(0.25))
        .axis_style(INK)
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(6)
        .y_labels(5)
        .label_style(("sans-serif", 11).into_font().color(&INK))
        .x_label_formatter(&|x| short(*x))
        .y_label_formatter(&|y| short(*y))
        .draw()
}

/// Lines of (x, y) points, one per named series, with a legend when there are several.
/// Non-finite values are left out.
pub fn lines_svg(series: &[(String, Vec<(f64, f64)>)], x_label: &str) -> String {
    lines_svg_smoothed(series, x_label, 0.0)
}

/// Like [`lines_svg`]; with `smoothing` > 0 each series is drawn faint as logged and strong as
/// smoothed (see [`smooth`]).
pub fn lines_svg_smoothed(series: &[(String, Vec<(f64, f64)>)], x_label: &str, smoothing: f64) -> String {
    let mut svg = String::new();
    // (name, the points as logged, the smoothed line): smoothed over every point, then both
    // thinned for drawing.
    type Line = (String, Vec<(f64, f64)>, Option<Vec<(f64, f64)>>);
    let series: Vec<Line> = series
        .iter()
        .filter_map(|(name, points)| {
            let finite: Vec<(f64, f64)> = points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
            if finite.is_empty() {
                return None;
            }
            let smoothed = (smoothing > 0.0).then(|| thin(&smooth(&finite, smoothing)));
            Some((name.clone(), thin(&finite), smoothed))
        })
        .collect();
    if series.is_empty() {
        return svg;
    }
    let all = series.iter().flat_map(|(_, p, _)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = if y1 > y0 { (y1 - y0) * 0.05 } else { y0.abs().max(1.0) * 0.05 };
    let (y0, y1) = (y0 - pad, y1 + pad);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH * 2, HEIGHT + 40)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let mut chart = ChartBuilder::on(&root)
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(x0..x1, y0..y1)?;
            draw_mesh(&mut chart, x_label, "")?;
            for (i, (name, points, smoothed)) in series.iter().enumerate() {
                let colour = SERIES[i % SERIES.len()];
                let drawn = match smoothed {
                    Some(smoothed) => {
                        chart.draw_series(LineSeries::new(points.iter().copied(), colour.mix(0.25).stroke_width(1)))?;
                        chart.draw_series(LineSeries::new(smoothed.iter().copied(), colour.stroke_width(2)))?
                    }
                    None => chart.draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?,
                };
                if series.len() > 1 {
                    drawn.label(truncate(name, 24)).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(3)));
                }
                if points.len() == 1 {
                    chart.draw_series(std::iter::once(Circle::new(points[0], 3, colour.filled())))?;
                }
            }
            if series.len() > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.7))
                    .border_style(INK.mix(0.3))
                    .label_font(("sans-serif", 11).into_font().color(&INK))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()?;
            }
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
        // Three significant digits for small numbers, so that close ticks stay apart.
        let places = (2 - a.log10().floor() as i32).clamp(2, 12) as usize;
        let s = format!("{x:.places$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Points of a scatter that are named on the chart, at most (more would overlap).
pub const MAX_LABELLED_POINTS: usize = 40;

/// Labelled points (x, y): one dot per run, with its label beside it while there are at most
/// [`MAX_LABELLED_POINTS`]. Non-finite points are left out.
pub fn scatter_svg(points: &[(String, f64, f64)], x_label: &str, y_label: &str) -> String {
    let mut svg = String::new();
    let points: Vec<&(String, f64, f64)> = points.iter().filter(|p| p.1.is_finite() && p.2.is_finite()).collect();
    if points.is_empty() {
        return svg;
    }
    let span = |v: Vec<f64>| {
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
        let pad = if hi > lo { (hi - lo) * 0.08 } else { lo.abs().max(1.0) * 0.08 };
        (lo - pad, hi + pad)
    };
    let (x0, x1) = span(points.iter().map(|p| p.1).collect());
    let (y0, y1) = span(points.iter().map(|p| p.2).collect());
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH * 2, HEIGHT + 60)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let mut chart = ChartBuilder::on(&root)
                .margin(10)
                .x_label_area_size(34)
                .y_label_area_size(54)
                .build_cartesian_2d(x0..x1, y0..y1)?;
            draw_mesh(&mut chart, x_label, y_label)?;
            chart.draw_series(points.iter().map(|p| Circle::new((p.1, p.2), 4, SERIES[0].filled())))?;
            // Names only while they can be read.
            let labelled = if points.len() <= MAX_LABELLED_POINTS { points.as_slice() } else { &[] };
            chart.draw_series(labelled.iter().map(|p| {
                Text::new(truncate(&p.0, 20), (p.1, p.2), ("sans-serif", 10).into_font().color(&INK).pos(Pos::new(HPos::Left, VPos::Bottom)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_labelled_points() {
        let svg = scatter_svg(&[("a".into(), 0.1, 0.9), ("b".into(), 0.01, 0.7), ("bad".into(), f64::NAN, 1.0)], "lr", "acc");
        assert_eq!(svg.matches("<circle").count(), 2);
        let label = |l: &str| svg.contains(&format!("\n{l}\n</text>"));
        assert!(label("a") && label("b") && !label("bad"), "{svg}");
        assert!(scatter_svg(&[], "x", "y").is_empty());
        // Many points are drawn without their names.
        let many: Vec<(String, f64, f64)> = (0..500).map(|i| (format!("run-{i}"), i as f64, (i % 7) as f64)).collect();
        let svg = scatter_svg(&many, "lr", "acc");
        assert_eq!(svg.matches("<circle").count(), 500);
        assert!(!svg.contains("run-1\n"));
    }

    #[test]
    fn tick_labels_keep_close_small_numbers_apart() {
        let labels: Vec<String> = [0.01, 0.015, 0.02, 2.5, 12.25, 0.000123, 150.0, 25_000.0, -0.5].into_iter().map(short).collect();
        assert_eq!(labels, ["0.01", "0.015", "0.02", "2.5", "12.25", "0.000123", "150", "25k", "-0.5"]);
    }

    #[test]
    fn smoothing_is_a_debiased_moving_average() {
        let pts: Vec<(f64, f64)> = (0..4).map(|i| (i as f64, [1.0, 3.0, 3.0, 3.0][i])).collect();
        let s = smooth(&pts, 0.5);
        // First point unchanged; then (0.5*0.5 + 0.5*3) / (1 - 0.25) = 1.75 / 0.75.
        assert_eq!(s[0], (0.0, 1.0));
        assert!((s[1].1 - 1.75 / 0.75).abs() < 1e-12);
        assert!(s[3].1 < 3.0 && s[3].1 > s[2].1);
        assert_eq!(smooth(&pts, 0.0), pts);
    }

    #[test]
    fn draws_lines_readably_at_any_length() {
        let long: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, (i as f64 / 500.0).sin())).collect();
        let series: Vec<(String, Vec<(f64, f64)>)> = (0..20).map(|r| (format!("run {r}"), long.iter().map(|(x, y)| (*x, y + r as f64)).collect())).collect();
        let svg = lines_svg(&series, "step");
        assert!(svg.starts_with("<svg"));
        assert!(svg.len() < 2_000_000, "20 runs × 10,000 points stay a reasonable page ({} bytes)", svg.len());
        assert!(svg.contains("run 19"), "a legend names the runs");
        assert!(lines_svg(&[("nan".into(), vec![(0.0, f64::NAN)])], "step").is_empty());
        let one = lines_svg(&[("x".into(), vec![(3.0, 1.0)])], "step");
        assert!(one.contains("<circle"), "a single point is shown");
    }

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
