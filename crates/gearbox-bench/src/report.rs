//! Results: the one-line JSON record each run prints, and the `report` command that reads
//! those lines back (from every round against every server) and prints the markdown table of
//! medians and ratios that `scripts/bench` shows.
//!
//! The records are flat objects of strings, numbers and booleans, so both directions are a few
//! dozen lines here rather than a serialisation dependency. By convention a metric whose name
//! ends in `_per_s` is better when higher and every other metric is better when lower; keys
//! starting with `gen_` describe the load generator and stay out of the table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

/// A value in a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text (scenario, server, parameters, error).
    Str(String),
    /// A measurement.
    Num(f64),
    /// A flag (`ok`).
    Bool(bool),
}

/// One run's result, in field order.
#[derive(Debug, Clone, Default)]
pub struct Record {
    fields: Vec<(String, Value)>,
}

impl Record {
    /// Add a text field.
    pub fn text(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.fields.push((key.to_owned(), Value::Str(value.into())));
        self
    }

    /// Add a measurement.
    pub fn num(&mut self, key: &str, value: f64) -> &mut Self {
        self.fields.push((key.to_owned(), Value::Num(value)));
        self
    }

    /// Add a flag.
    pub fn flag(&mut self, key: &str, value: bool) -> &mut Self {
        self.fields.push((key.to_owned(), Value::Bool(value)));
        self
    }

    /// Append another record's fields.
    pub fn extend(&mut self, other: Record) -> &mut Self {
        self.fields.extend(other.fields);
        self
    }

    /// A field by name.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn text_of(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The record as one JSON line.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(&mut out, k);
            out.push(':');
            match v {
                Value::Str(s) => push_json_str(&mut out, s),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Num(n) if !n.is_finite() => out.push_str("null"),
                Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                    let _ = write!(out, "{}", *n as i64);
                }
                Value::Num(n) => {
                    let _ = write!(out, "{n:.3}");
                }
            }
        }
        out.push('}');
        out
    }

    /// The measurements in a short human line.
    pub fn human(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.fields {
            if matches!(k.as_str(), "params") {
                continue;
            }
            if !out.is_empty() {
                out.push_str("  ");
            }
            match v {
                Value::Str(s) => {
                    let _ = write!(out, "{k}={s}");
                }
                Value::Num(n) => {
                    let _ = write!(out, "{k}={}", fmt_num(*n));
                }
                Value::Bool(b) => {
                    let _ = write!(out, "{k}={b}");
                }
            }
        }
        out
    }

    /// Parse a line written by [`Record::to_json`].
    pub fn parse(line: &str) -> Result<Record> {
        let mut p = Parser {
            s: line.trim().as_bytes(),
            i: 0,
        };
        p.expect(b'{')?;
        let mut rec = Record::default();
        p.ws();
        if p.peek() == Some(b'}') {
            return Ok(rec);
        }
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            let value = p.value()?;
            rec.fields.push((key, value));
            p.ws();
            match p.next() {
                Some(b',') => continue,
                Some(b'}') => return Ok(rec),
                _ => bail!("expected , or }} at byte {}", p.i),
            }
        }
    }
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.i += 1;
        c
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.next() != Some(c) {
            bail!("expected {:?} at byte {}", c as char, self.i - 1);
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next() {
                None => bail!("unterminated string"),
                Some(b'"') => return Ok(String::from_utf8_lossy(&out).into_owned()),
                Some(b'\\') => match self.next() {
                    Some(b'n') => out.push(b'\n'),
                    Some(b'u') => {
                        let hex = self.s.get(self.i..self.i + 4).context("short \\u escape")?;
                        let code = u32::from_str_radix(std::str::from_utf8(hex)?, 16)?;
                        self.i += 4;
                        let c = char::from_u32(code).unwrap_or('?');
                        out.extend_from_slice(c.to_string().as_bytes());
                    }
                    Some(c) => out.push(c),
                    None => bail!("unterminated escape"),
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn value(&mut self) -> Result<Value> {
        match self.peek() {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Value::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Value::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Value::Num(f64::NAN))
            }
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(&c))
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i])?;
                Ok(Value::Num(text.parse().with_context(|| {
                    format!("bad number {text:?} at byte {start}")
                })?))
            }
        }
    }
}

/// A number for people: integers above 100, two decimals above 1, three significant digits
/// below.
pub fn fmt_num(n: f64) -> String {
    if !n.is_finite() {
        "–".to_owned()
    } else if n.abs() >= 100.0 || n.fract() == 0.0 {
        format!("{n:.0}")
    } else if n.abs() >= 1.0 {
        format!("{n:.2}")
    } else {
        format!("{n:.3}")
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Read JSON result lines from `files` (other lines are ignored) and print the markdown table:
/// one row per scenario and metric, one column per server with the median of its successful
/// runs, and one column per ratio `A/B` asked for (default: first server / second server).
/// Returns false if any run failed.
pub fn report(files: &[PathBuf], servers: Option<&str>, ratios: &[String]) -> Result<bool> {
    let mut records = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        for line in text.lines().filter(|l| l.starts_with('{')) {
            records.push(
                Record::parse(line)
                    .with_context(|| format!("parsing a line of {}", f.display()))?,
            );
        }
    }
    let mut pairs = Vec::new();
    for r in ratios {
        let Some((a, b)) = r.split_once('/') else {
            bail!("--ratio takes SERVER/SERVER, not {r:?}");
        };
        pairs.push((a.to_owned(), b.to_owned()));
    }
    let (table, ok) = render(&records, servers, &pairs);
    print!("{table}");
    Ok(ok)
}

/// The table for a set of records; the flag is false if any run failed.
pub fn render(
    records: &[Record],
    servers: Option<&str>,
    ratios: &[(String, String)],
) -> (String, bool) {
    // Scenario, server and metric orders are those of first appearance, so the table follows
    // the order the script ran things in.
    let mut scenarios: Vec<String> = Vec::new();
    let mut server_names: Vec<String> = match servers {
        Some(list) => list.split(',').map(str::to_owned).collect(),
        None => Vec::new(),
    };
    let mut metrics: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut params: BTreeMap<&str, String> = BTreeMap::new();
    let mut values: BTreeMap<(&str, &str, &str), Vec<f64>> = BTreeMap::new();
    let mut runs: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    let mut other_load: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut irq_load: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut failures = Vec::new();
    for r in records {
        let scenario = r.text_of("scenario").unwrap_or("?");
        let server = r.text_of("server").unwrap_or("?");
        if !scenarios.iter().any(|s| s == scenario) {
            scenarios.push(scenario.to_owned());
        }
        if !server_names.iter().any(|s| s == server) {
            server_names.push(server.to_owned());
        }
        if let Some(p) = r.text_of("params") {
            params.entry(scenario).or_insert_with(|| p.to_owned());
        }
        if let Some(Value::Num(load)) = r.get("gen_other_load_cores") {
            other_load.entry(scenario).or_default().push(*load);
        }
        if let Some(Value::Num(load)) = r.get("gen_irq_cores") {
            irq_load.entry(scenario).or_default().push(*load);
        }
        let ok = matches!(r.get("ok"), Some(Value::Bool(true)));
        let count = runs.entry((scenario, server)).or_default();
        if !ok {
            count.1 += 1;
            failures.push(format!(
                "{scenario} on {server}: {}",
                r.text_of("error").unwrap_or("failed")
            ));
            continue;
        }
        count.0 += 1;
        let names = metrics.entry(scenario).or_default();
        for (k, v) in &r.fields {
            let Value::Num(n) = v else { continue };
            if k.starts_with("gen_") {
                continue;
            }
            if !names.iter().any(|m| m == k) {
                names.push(k.clone());
            }
            values.entry((scenario, server, k)).or_default().push(*n);
        }
    }
    let default_ratio;
    let ratios = if ratios.is_empty() && server_names.len() >= 2 {
        default_ratio = [(server_names[0].clone(), server_names[1].clone())];
        &default_ratio[..]
    } else {
        ratios
    };

    let mut out = String::from("| scenario | metric | better |");
    for s in &server_names {
        let _ = write!(out, " {s} |");
    }
    for (a, b) in ratios {
        let _ = write!(out, " {a}/{b} |");
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---:|".repeat(server_names.len() + ratios.len()));
    out.push('\n');
    for scenario in &scenarios {
        let Some(names) = metrics.get(scenario.as_str()) else {
            continue;
        };
        for m in names {
            let med = |server: &str| {
                values
                    .get(&(scenario.as_str(), server, m.as_str()))
                    .map(|v| median(&mut v.clone()))
                    .unwrap_or(f64::NAN)
            };
            let better = if m.ends_with("_per_s") {
                "higher"
            } else {
                "lower"
            };
            let _ = write!(out, "| {scenario} | {m} | {better} |");
            for s in &server_names {
                let _ = write!(out, " {} |", fmt_num(med(s)));
            }
            for (a, b) in ratios {
                let (va, vb) = (med(a), med(b));
                if vb != 0.0 && va.is_finite() && vb.is_finite() {
                    let _ = write!(out, " {:.2} |", va / vb);
                } else {
                    out.push_str(" – |");
                }
            }
            out.push('\n');
        }
    }
    out.push('\n');
    for scenario in &scenarios {
        let counts: Vec<String> = server_names
            .iter()
            .filter_map(|s| {
                let (ok, bad) = runs.get(&(scenario.as_str(), s.as_str())).copied()?;
                Some(if bad > 0 {
                    format!("{s} {ok} ok, {bad} FAILED")
                } else {
                    format!("{s} {ok} runs")
                })
            })
            .collect();
        let mut load = match other_load.get_mut(scenario.as_str()) {
            Some(v) if !v.is_empty() => {
                let max = v.iter().copied().fold(0.0, f64::max);
                format!(
                    "; other processes on the machine: median {:.2} cores, max {max:.2}",
                    median(v)
                )
            }
            _ => String::new(),
        };
        if let Some(v) = irq_load
            .get_mut(scenario.as_str())
            .filter(|v| !v.is_empty())
        {
            let _ = write!(load, "; irq+softirq median {:.2} cores", median(v));
        }
        let _ = writeln!(
            out,
            "- {scenario}: {}; {}{load}",
            params.get(scenario.as_str()).map_or("", String::as_str),
            counts.join(", ")
        );
    }
    if !failures.is_empty() {
        out.push_str("\nFailed runs:\n");
        for f in &failures {
            let _ = writeln!(out, "- {f}");
        }
    }
    (out, failures.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let mut r = Record::default();
        r.text("scenario", "bg")
            .text("error", "a \"quoted\"\nline\\")
            .flag("ok", true)
            .num("rate_per_s", 12345.0)
            .num("cpu", 0.125)
            .num("nan", f64::NAN);
        let line = r.to_json();
        assert_eq!(
            line,
            "{\"scenario\":\"bg\",\"error\":\"a \\\"quoted\\\"\\nline\\\\\",\"ok\":true,\
             \"rate_per_s\":12345,\"cpu\":0.125,\"nan\":null}"
        );
        let back = Record::parse(&line).unwrap();
        assert_eq!(back.get("error"), r.get("error"));
        assert_eq!(back.get("rate_per_s"), Some(&Value::Num(12345.0)));
        assert_eq!(back.get("ok"), Some(&Value::Bool(true)));
    }

    #[test]
    fn table_takes_medians_and_ratios() {
        let mut recs = Vec::new();
        for (server, rate) in [
            ("a", 10.0),
            ("b", 4.0),
            ("a", 30.0),
            ("b", 5.0),
            ("a", 20.0),
        ] {
            let mut r = Record::default();
            r.text("scenario", "bg")
                .text("server", server)
                .flag("ok", true)
                .num("x_per_s", rate)
                .num("gen_cpu_ms", 1.0);
            recs.push(r);
        }
        let (table, ok) = render(&recs, Some("a,b"), &[]);
        assert!(ok);
        assert!(
            table.contains("| bg | x_per_s | higher | 20 | 4.50 | 4.44 |"),
            "{table}"
        );
        assert!(!table.contains("gen_cpu_ms"));
    }

    #[test]
    fn failed_runs_are_listed() {
        let mut r = Record::default();
        r.text("scenario", "bg")
            .text("server", "a")
            .flag("ok", false)
            .text("error", "lost jobs");
        let (table, ok) = render(&[r], None, &[]);
        assert!(!ok);
        assert!(table.contains("bg on a: lost jobs"));
    }
}
