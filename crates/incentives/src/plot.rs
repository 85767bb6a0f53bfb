//! Each miner's share of the weights over the tempos, as a PNG.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::Error;
use crate::sim::Run;

/// Width and height of the image, in pixels.
const SIZE: (u32, u32) = (1000, 560);
/// Width of the legend column at the right, in pixels.
const LEGEND_WIDTH: u32 = 250;
/// The font family every text is drawn in: DejaVu Sans, embedded, so drawing needs no
/// font installed on the machine.
const FONT: &str = "sans-serif";

/// Line colours, one per miner (Tableau 10: told apart on screen and in print).
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn register_font() -> Result<(), Error> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if registered { Ok(()) } else { Err(Error::Font) }
}

/// Draws every miner's share per tempo of `run` to the PNG file `path`: one line and
/// one legend entry per miner, in the scenario's order.
pub fn plot_shares(run: &Run, path: &Path) -> Result<(), Error> {
    register_font()?;
    draw(run, path).map_err(|message| Error::Plot {
        path: path.to_owned(),
        message,
    })
}

fn draw(run: &Run, path: &Path) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let title = format!("{}: share of the weights per tempo", run.scenario);
    let body = root
        .titled(&title, (FONT, 26).into_font())
        .map_err(|e| text(&e))?;
    let (plot, legend) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);

    let last = run.config.tempos.saturating_sub(1).max(1);
    let highest = run
        .miners
        .iter()
        .flat_map(|m| m.shares.iter().copied())
        .fold(0.0, f64::max);
    let top = (highest * 1.1).clamp(0.05, 1.0);
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0u32..last, 0.0..top)
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .x_desc("tempo")
        .y_desc("share of the weights")
        .y_label_formatter(&|share| format!("{:.0}%", 100.0 * share))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| text(&e))?;
    for (i, miner) in run.miners.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points = miner
            .shares
            .iter()
            .enumerate()
            .skip(miner.joins_at as usize)
            .map(|(tempo, &share)| (tempo as u32, share));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(|e| text(&e))?;
        let y = 60 + 28 * i as i32;
        legend
            .draw(&PathElement::new(
                vec![(10, y), (40, y)],
                colour.stroke_width(3),
            ))
            .map_err(|e| text(&e))?;
        let label = if miner.hotkeys > 1 {
            format!("{} ({} hotkeys)", miner.name, miner.hotkeys)
        } else {
            miner.name.clone()
        };
        legend
            .draw(&Text::new(
                label,
                (48, y - 9),
                (FONT, 16).into_font().color(&BLACK),
            ))
            .map_err(|e| text(&e))?;
    }
    root.present().map_err(|e| text(&e))
}
