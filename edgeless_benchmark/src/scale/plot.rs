//! The plots of a scale run, drawn from its CSV files: start latency
//! against workflow size, and the orchestrator's CPU against node count.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// Fonts looked for, in order (text in PNGs needs one).
const FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Makes a font of this machine the plots' `sans-serif`.
fn register_font() -> anyhow::Result<()> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = FONTS
                .iter()
                .find_map(|path| std::fs::read(path).ok())
                .ok_or_else(|| {
                    format!(
                        "no font for the plots' text (looked for {}); install fonts-dejavu-core",
                        FONTS.join(", ")
                    )
                })?;
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes.leak())
                .map_err(|_| "the font could not be read".to_string())
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Rows of a CSV file written by [`super::write_csv`] (header skipped).
fn read_rows(path: &Path) -> anyhow::Result<Vec<Vec<f64>>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            line.split(',')
                .map(|f| f.trim().parse::<f64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("{}: {line:?}: {e}", path.display()))
        })
        .collect()
}

/// A named series of points (x, y) and its colour.
type Line<'a> = (&'a str, Vec<(f64, f64)>, RGBColor);

/// One line chart of `lines` with log-scaled x.
fn chart(
    out: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    lines: &[Line],
    target: Option<(&str, Vec<(f64, f64)>)>,
) -> anyhow::Result<()> {
    let all = lines.iter().flat_map(|(_, p, _)| p.iter());
    let (mut x_max, mut y_max) = (1.0f64, 0.0f64);
    for (x, y) in all.clone().chain(target.iter().flat_map(|(_, p)| p.iter())) {
        x_max = x_max.max(*x);
        y_max = y_max.max(*y);
    }
    let x_min = all
        .map(|(x, _)| *x)
        .fold(f64::INFINITY, f64::min)
        .clamp(1.0, x_max);
    let root = BitMapBackend::new(out, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (x_min..x_max * 1.1).log_scale(),
            0.0..(y_max * 1.15).max(1.0),
        )?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 15))
        .draw()?;
    for (name, points, color) in lines {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    if let Some((name, points)) = target {
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Cross::new(*p, 7, RED.stroke_width(2))),
            )?
            .label(name)
            .legend(|(x, y)| Cross::new((x + 10, y), 6, RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()?;
    Ok(())
}

/// Draws `<prefix>scale_start.png` and `<prefix>scale_nodes.png` from the
/// CSV files of the same prefix; returns the files written.
pub fn draw(prefix: &str) -> anyhow::Result<Vec<PathBuf>> {
    register_font()?;
    let start = read_rows(Path::new(&format!("{prefix}scale_start.csv")))?;
    let start_png = PathBuf::from(format!("{prefix}scale_start.png"));
    let medians = start
        .iter()
        .filter_map(|r| Some((*r.first()?, *r.get(1)?)))
        .collect();
    let p99s = start
        .iter()
        .filter_map(|r| Some((*r.first()?, *r.get(2)?)))
        .collect();
    chart(
        &start_png,
        "workflow start (edgeless_cli process), 3 nodes",
        ("functions in the workflow", "milliseconds"),
        &[
            ("median", medians, BLUE),
            ("p99", p99s, RGBColor(120, 120, 120)),
        ],
        Some(("target", vec![(100.0, 30.0), (1000.0, 300.0)])),
    )?;
    let nodes = read_rows(Path::new(&format!("{prefix}scale_nodes.csv")))?;
    let nodes_png = PathBuf::from(format!("{prefix}scale_nodes.png"));
    let cpu = nodes
        .iter()
        .filter_map(|r| Some((*r.first()?, *r.get(1)?)))
        .collect();
    let ceiling = nodes
        .iter()
        .filter_map(|r| Some((*r.first()?, 25.0)))
        .collect();
    chart(
        &nodes_png,
        "orchestrator CPU in steady state (nodes refreshing every 2 s)",
        ("registered nodes", "% of one core"),
        &[("orchestrator CPU", cpu, BLUE)],
        Some(("target (≤ 25 %)", ceiling)),
    )?;
    Ok(vec![start_png, nodes_png])
}
