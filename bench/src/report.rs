//! The one table, and the JSON file.

use serde_json::{json, Value};

use crate::stats::{fmt_secs, Stats};

/// How a row's figures are shown.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Seconds,
    PerSecond,
    MiB,
}

/// One line of the table (and one entry of the JSON file).
#[derive(Debug, Clone)]
pub struct Row {
    pub section: u8,
    pub measure: String,
    pub subject: String,
    /// Stable key for tracking, e.g. `start/ours`.
    pub key: String,
    pub unit: Unit,
    pub median: f64,
    pub p99: Option<f64>,
    pub n: usize,
    pub ratio: String,
    pub target: String,
    pub met: Option<bool>,
    pub extra: Value,
}

impl Row {
    pub fn new(
        section: u8,
        measure: &str,
        subject: &str,
        key: String,
        unit: Unit,
        median: f64,
    ) -> Self {
        Self {
            section,
            measure: measure.into(),
            subject: subject.into(),
            key,
            unit,
            median,
            p99: None,
            n: 1,
            ratio: String::new(),
            target: String::new(),
            met: None,
            extra: Value::Null,
        }
    }

    pub fn timing(section: u8, measure: &str, subject: &str, key: String, s: &Stats) -> Self {
        let mut row = Self::new(section, measure, subject, key, Unit::Seconds, s.median);
        row.p99 = Some(s.p99);
        row.n = s.n;
        row.extra = s.json();
        row
    }

    pub fn missing(section: u8, measure: &str, subject: &str, key: String, why: &str) -> Self {
        let mut row = Self::new(section, measure, subject, key, Unit::Seconds, f64::NAN);
        row.n = 0;
        row.ratio = format!("missing: {why}");
        row
    }

    fn show(&self, v: f64) -> String {
        if v.is_nan() {
            return "-".into();
        }
        match self.unit {
            Unit::Seconds => fmt_secs(v),
            Unit::PerSecond => format!("{v:.0}/s"),
            Unit::MiB => format!("{v:.1} MiB"),
        }
    }

    fn json(&self) -> Value {
        let unit = match self.unit {
            Unit::Seconds => "s",
            Unit::PerSecond => "1/s",
            Unit::MiB => "MiB",
        };
        let num = |v: f64| if v.is_nan() { Value::Null } else { json!(v) };
        json!({
            "section": self.section,
            "key": self.key,
            "measure": self.measure,
            "subject": self.subject,
            "unit": unit,
            "median": num(self.median),
            "p99": self.p99.map(num),
            "n": self.n,
            "ratio": self.ratio,
            "target": self.target,
            "target_met": self.met,
            "detail": self.extra,
        })
    }
}

/// `a / b` as "0.12×", or "-" when undefined.
pub fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        "-".into()
    } else {
        format!("{:.2}×", a / b)
    }
}

pub fn print_table(rows: &[Row]) -> String {
    let header = [
        "#", "measure", "subject", "median", "p99", "n", "ratio", "target",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let target = match r.met {
                Some(true) => format!("{} MET", r.target),
                Some(false) => format!("{} MISSED", r.target),
                None => r.target.clone(),
            };
            [
                r.section.to_string(),
                r.measure.clone(),
                r.subject.clone(),
                r.show(r.median),
                r.p99.map(|v| r.show(v)).unwrap_or_else(|| "".into()),
                r.n.to_string(),
                r.ratio.clone(),
                target,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count().max(3));
    for c in &cells {
        for (w, s) in widths.iter_mut().zip(c.iter()) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: &[String]| {
        let mut s = String::from("|");
        for (i, cell) in c.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            // Numbers right-aligned, text left-aligned.
            if (3..=5).contains(&i) {
                s.push_str(&format!(" {}{} |", " ".repeat(pad), cell));
            } else {
                s.push_str(&format!(" {}{} |", cell, " ".repeat(pad)));
            }
        }
        s
    };
    let mut out = String::new();
    out.push_str(&line(&header.map(String::from)));
    out.push('\n');
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        let dashes = "-".repeat(*w);
        if (3..=5).contains(&i) {
            out.push_str(&format!(" {}: |", &dashes[1..]));
        } else {
            out.push_str(&format!(" {dashes} |"));
        }
    }
    out.push('\n');
    for c in &cells {
        out.push_str(&line(c));
        out.push('\n');
    }
    out
}

pub fn to_json(meta: Value, rows: &[Row]) -> Value {
    json!({
        "meta": meta,
        "results": rows.iter().map(Row::json).collect::<Vec<_>>(),
    })
}
