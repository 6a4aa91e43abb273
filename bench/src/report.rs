//! What a benchmark reports: latency summaries, result rows with their goals, the machine's
//! load, and the output (a markdown table on stdout, JSON under `bench/results/`).

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

/// Percentiles of a set of latency samples, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Latency {
    /// Summarizes samples given in microseconds (sorts them).
    pub fn from_micros(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i] as f64 / 1000.0
        };
        Latency {
            count: samples.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: samples[samples.len() - 1] as f64 / 1000.0,
        }
    }
}

/// The median of durations, in milliseconds.
pub fn median_ms(samples: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() { 0.0 } else { ms[ms.len() / 2] }
}

/// How a measured value is judged against its goal.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum Goal {
    /// The value must be at least this.
    AtLeast(f64),
    /// The value must be at most this.
    AtMost(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtLeast(g) => value >= g,
            Goal::AtMost(g) => value <= g,
        }
    }

    fn describe(self) -> String {
        match self {
            Goal::AtLeast(g) => format!(">= {}", number(g)),
            Goal::AtMost(g) => format!("<= {}", number(g)),
        }
    }
}

/// One line of the results table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The scenario (`create`, `watch`, `list`, `memory`).
    pub scenario: String,
    /// What was measured (`apiserver/sqlite`, `raw etcd`, ...).
    pub subject: String,
    /// The quantity.
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// The goal, when the issue sets one.
    pub goal: Option<Goal>,
    /// Whether the goal was met.
    pub met: Option<bool>,
}

impl Row {
    /// A row without a goal.
    pub fn new(scenario: &str, subject: &str, metric: &str, value: f64, unit: &str) -> Self {
        Row {
            scenario: scenario.into(),
            subject: subject.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            goal: None,
            met: None,
        }
    }

    /// The same row judged against `goal`.
    pub fn goal(mut self, goal: Goal) -> Self {
        self.met = Some(goal.met(self.value));
        self.goal = Some(goal);
        self
    }
}

/// The result of one scenario: its rows and everything else worth keeping (as JSON).
pub struct Outcome {
    /// The scenario name (also the JSON file's name).
    pub scenario: &'static str,
    /// The table rows.
    pub rows: Vec<Row>,
    /// Parameters and raw measurements.
    pub details: Value,
}

/// `/proc/loadavg`'s three load averages.
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(f64::NAN));
    [
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
        it.next().unwrap_or(f64::NAN),
    ]
}

/// Formats a number for the table: integers plainly, small values with 2-3 decimals.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Prints the markdown table of `rows`.
pub fn print_table(rows: &[Row]) {
    println!("| scenario | subject | metric | value | unit | goal | met |");
    println!("|---|---|---|---:|---|---|---|");
    for r in rows {
        let goal = r.goal.map(Goal::describe).unwrap_or_default();
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.subject,
            r.metric,
            number(r.value),
            r.unit,
            goal,
            met
        );
    }
}

/// Writes `<dir>/<scenario>.json` with the rows, the details and the machine's state.
pub fn write_json(
    dir: &Path,
    outcome: &Outcome,
    load_before: [f64; 3],
    load_after: [f64; 3],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let doc = json!({
        "scenario": outcome.scenario,
        "finished": jiff::Timestamp::now().to_string(),
        "machine": {
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "rows": outcome.rows,
        "details": outcome.details,
    });
    let path = dir.join(format!("{}.json", outcome.scenario));
    std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)?;
    Ok(())
}
