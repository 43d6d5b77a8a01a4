//! RL transition records (Gymnasium step API) checked against a boundary contract (#19).
//!
//! A JSONL file holds one record per line: `obs`, `action`, `reward`, `next_obs`, `terminated`,
//! `truncated` and an optional `episode` id. The simulator that wrote them stays an assumption;
//! the finite set of records is checked here, each failure named by its line (TL0480-TL0489).
//! Reading happens at verify time only (`check_file`); `check_text` is the pure core.

use std::io::{BufRead, BufReader, Read};

/// A record line longer than this is refused (TL0481) before it is parsed.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The action space of the environment boundary.
#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub enum ActionSpace {
    /// `Discrete(n)`: an integer in `0..n`.
    Discrete(i64),
    /// `Box(lower, upper)`: a flat vector of `lower.len()` finite numbers, element-wise inside.
    Box { lower: Vec<f64>, upper: Vec<f64> },
}

/// The number type every observation element (and the reward) must be representable in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum ObsDtype {
    /// A finite f32: |x| <= f32::MAX (what a network with f32 inputs can read without overflow).
    F32,
    /// A finite f64 (every JSON number serde_json accepts).
    F64,
    /// An integer value (exactly integral, within +-2^53 so the f64 reading is exact).
    I64,
}

impl ObsDtype {
    pub const ALL: &'static [ObsDtype] = &[ObsDtype::F32, ObsDtype::F64, ObsDtype::I64];

    pub fn name(self) -> &'static str {
        match self {
            ObsDtype::F32 => "f32",
            ObsDtype::F64 => "f64",
            ObsDtype::I64 => "i64",
        }
    }

    pub fn parse(s: &str) -> Option<ObsDtype> {
        ObsDtype::ALL.iter().copied().find(|d| d.name() == s)
    }

    /// Whether `x` is a value of this dtype.
    pub fn holds(self, x: f64) -> bool {
        match self {
            ObsDtype::F32 => x.is_finite() && x.abs() <= f32::MAX as f64,
            ObsDtype::F64 => x.is_finite(),
            ObsDtype::I64 => x.is_finite() && x.fract() == 0.0 && x.abs() <= 9007199254740992.0,
        }
    }
}

/// What every record must satisfy.
#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub struct TransitionContract {
    pub obs_shape: Vec<usize>,
    /// The dtype of `obs` and `next_obs` elements (TL0476 when one is not representable).
    pub obs_dtype: ObsDtype,
    pub action: ActionSpace,
    /// Inclusive reward range.
    pub reward: (f64, f64),
}

/// One failing record (or an unreadable file, line 0): a stable code, the line and why.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordError {
    pub code: u16,
    pub line: usize,
    pub message: String,
}

/// The result over the whole file: how many records were read and every failure.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TransitionReport {
    pub records: usize,
    pub errors: Vec<RecordError>,
}

impl TransitionReport {
    pub fn holds(&self) -> bool {
        self.errors.is_empty() && self.records > 0
    }
}

/// Reads and checks a JSONL file (verify time only; never called from a salsa query).
pub fn check_file(path: &std::path::Path, contract: &TransitionContract) -> TransitionReport {
    match std::fs::File::open(path) {
        Ok(f) => check_reader(BufReader::new(f), contract),
        Err(e) => TransitionReport {
            records: 0,
            errors: vec![RecordError {
                code: 480,
                line: 0,
                message: format!("cannot read transitions file {}: {e}", path.display()),
            }],
        },
    }
}

/// How many failing records a verdict's detail names one by one (all are counted).
pub const NAMED_FAILURES: usize = 20;

/// The verify verdict of `check_file`: holds when every record meets the boundary; violated
/// when a record does not (the counterexample is the first failing record's observation, the
/// detail names every failing record by line and code); an error (TL0480) when the file cannot
/// be read or holds no records. Never claims more than the records in the file.
pub fn verdict(
    path: &std::path::Path,
    contract: &TransitionContract,
) -> (crate::outcome::Verdict, String) {
    use crate::outcome::{Counterexample, Verdict};
    let report = check_file(path, contract);
    let file = path.display();
    if report.holds() {
        return (
            Verdict::Holds,
            format!(
                "all {} records of {file} meet the boundary (the simulator beyond them is not claimed)",
                report.records
            ),
        );
    }
    if let Some(e) = report.errors.iter().find(|e| e.line == 0) {
        return (
            Verdict::Error {
                code: format!("TL{:04}", e.code),
                message: e.message.clone(),
            },
            String::new(),
        );
    }
    let mut failing: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
    failing.dedup();
    let named: Vec<String> = report
        .errors
        .iter()
        .take(NAMED_FAILURES)
        .map(|e| format!("line {}: TL{:04} {}", e.line, e.code, e.message))
        .collect();
    let more = report.errors.len().saturating_sub(NAMED_FAILURES);
    let first = &report.errors[0];
    let detail = format!(
        "{} of {} records of {file} break the boundary: {}{}",
        failing.len(),
        report.records,
        named.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    );
    let cex = Counterexample {
        inputs: vec![("record_line".into(), vec![1], vec![first.line as f64])],
        outputs: vec![],
        confirmed_on: format!(
            "line {} of {file} (TL{:04}: {})",
            first.line, first.code, first.message
        ),
    };
    (
        Verdict::Violated {
            counterexample: cex,
        },
        detail,
    )
}

/// Checks records from any reader, with lines capped at `MAX_LINE_BYTES` so a huge line never
/// allocates more than the cap.
pub fn check_reader(reader: impl BufRead, contract: &TransitionContract) -> TransitionReport {
    let mut state = Checker::new(contract);
    let mut reader = reader;
    let mut line_no = 0;
    loop {
        line_no += 1;
        let mut buf = Vec::new();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf);
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                state.fail(480, line_no, format!("cannot read the file: {e}"));
                break;
            }
        }
        if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            state.fail(
                481,
                line_no,
                format!("record line is longer than {MAX_LINE_BYTES} bytes"),
            );
            // Skip the rest of the over-long line without keeping it.
            let mut sink = Vec::new();
            loop {
                sink.clear();
                match (&mut reader).take(1 << 16).read_until(b'\n', &mut sink) {
                    Ok(0) => break,
                    Ok(_) if sink.last() == Some(&b'\n') => break,
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
            continue;
        }
        match std::str::from_utf8(&buf) {
            Ok(text) => state.line(line_no, text),
            Err(_) => state.fail(482, line_no, "record is not UTF-8 text".into()),
        }
    }
    state.finish()
}

/// Checks records held in memory (tests and hosts that already loaded the file).
pub fn check_text(text: &str, contract: &TransitionContract) -> TransitionReport {
    check_reader(text.as_bytes(), contract)
}

/// Episode bookkeeping across lines.
struct Checker<'a> {
    contract: &'a TransitionContract,
    report: TransitionReport,
    /// The previous record of the current episode: its episode id, whether it ended the episode,
    /// its `next_obs` (flattened) and its line.
    previous: Option<(Option<i64>, bool, Vec<f64>, usize)>,
}

impl<'a> Checker<'a> {
    fn new(contract: &'a TransitionContract) -> Self {
        Checker {
            contract,
            report: TransitionReport::default(),
            previous: None,
        }
    }

    fn fail(&mut self, code: u16, line: usize, message: String) {
        self.report.errors.push(RecordError {
            code,
            line,
            message,
        });
    }

    fn finish(mut self) -> TransitionReport {
        if self.report.records == 0 && self.report.errors.is_empty() {
            self.fail(480, 0, "transitions file holds no records".into());
        }
        self.report
    }

    fn line(&mut self, line: usize, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.report.records += 1;
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                // Python's json.dumps writes NaN/Infinity, which JSON has no word for.
                let (code, why) = if ["NaN", "Infinity"].iter().any(|w| text.contains(w)) {
                    (484, "a non-finite number (NaN or Infinity)".to_string())
                } else {
                    (482, format!("not a JSON record ({e})"))
                };
                self.fail(code, line, why);
                return;
            }
        };
        let Some(obj) = value.as_object() else {
            self.fail(482, line, "record is not a JSON object".into());
            return;
        };
        let errors_before = self.report.errors.len();
        let obs = self.tensor(obj, "obs", line);
        let next_obs = self.tensor(obj, "next_obs", line);
        let terminated = self.flag(obj, "terminated", line);
        let truncated = self.flag(obj, "truncated", line);
        self.action(obj.get("action"), line);
        match obj.get("reward").and_then(|r| r.as_f64()) {
            Some(r) => {
                let (lo, hi) = self.contract.reward;
                if !(lo..=hi).contains(&r) {
                    self.fail(
                        486,
                        line,
                        format!("reward {r} is outside the declared range [{lo}, {hi}]"),
                    );
                }
            }
            None => self.fail(482, line, "`reward` is missing or not a number".into()),
        }
        let episode = match obj.get("episode") {
            None => None,
            Some(e) => match e.as_i64() {
                Some(e) => Some(e),
                None => {
                    self.fail(482, line, "`episode` is not an integer".into());
                    None
                }
            },
        };
        if let (Some(true), Some(true)) = (terminated, truncated) {
            self.fail(
                487,
                line,
                "`terminated` and `truncated` are both true; a step ends for one reason".into(),
            );
        }
        if self.report.errors.len() > errors_before {
            // A malformed record cannot anchor the episode checks of the next one.
            self.previous = None;
            return;
        }
        let (Some(obs), Some(next_obs), Some(terminated), Some(truncated)) =
            (obs, next_obs, terminated, truncated)
        else {
            return;
        };
        if let Some((prev_episode, ended, prev_next, prev_line)) = &self.previous {
            let same_episode = episode.is_none() || *prev_episode == episode;
            if same_episode && *ended {
                self.fail(
                    488,
                    line,
                    format!("record after the terminal record on line {prev_line} in the same episode, without a reset"),
                );
            } else if same_episode && *prev_next != obs {
                self.fail(
                    489,
                    line,
                    format!("`obs` is not the `next_obs` of line {prev_line} in the same episode"),
                );
            }
        }
        self.previous = Some((episode, terminated || truncated, next_obs, line));
    }

    fn flag(
        &mut self,
        obj: &serde_json::Map<String, serde_json::Value>,
        key: &str,
        line: usize,
    ) -> Option<bool> {
        let b = obj.get(key).and_then(|v| v.as_bool());
        if b.is_none() {
            self.fail(482, line, format!("`{key}` is missing or not true/false"));
        }
        b
    }

    /// A nested array of numbers of the contract's observation shape, flattened.
    fn tensor(
        &mut self,
        obj: &serde_json::Map<String, serde_json::Value>,
        key: &str,
        line: usize,
    ) -> Option<Vec<f64>> {
        let Some(v) = obj.get(key) else {
            self.fail(482, line, format!("`{key}` is missing"));
            return None;
        };
        let mut shape = Vec::new();
        let mut flat = Vec::new();
        if let Err(why) = flatten(v, 0, &mut shape, &mut flat) {
            self.fail(482, line, format!("`{key}` {why}"));
            return None;
        }
        if shape != self.contract.obs_shape {
            self.fail(
                483,
                line,
                format!(
                    "`{key}` has shape {:?}, the boundary declares {:?}",
                    shape, self.contract.obs_shape
                ),
            );
            return None;
        }
        let dtype = self.contract.obs_dtype;
        if let Some(i) = flat.iter().position(|&x| !dtype.holds(x)) {
            self.fail(
                476,
                line,
                format!(
                    "`{key}`[{i}] = {} is not a {} value (the boundary's observation dtype)",
                    flat[i],
                    dtype.name()
                ),
            );
            return None;
        }
        Some(flat)
    }

    fn action(&mut self, action: Option<&serde_json::Value>, line: usize) {
        let Some(a) = action else {
            self.fail(482, line, "`action` is missing".into());
            return;
        };
        match &self.contract.action {
            ActionSpace::Discrete(n) => {
                let n = *n;
                match a.as_i64() {
                    Some(k) if (0..n).contains(&k) => {}
                    Some(k) => self.fail(
                        485,
                        line,
                        format!("action {k} is outside Discrete({n}) (0..{n})"),
                    ),
                    None => self.fail(
                        482,
                        line,
                        format!("`action` is not an integer (Discrete({n}))"),
                    ),
                }
            }
            ActionSpace::Box { lower, upper } => {
                let (lower, upper) = (lower.clone(), upper.clone());
                let mut shape = Vec::new();
                let mut flat = Vec::new();
                if let Err(why) = flatten(a, 0, &mut shape, &mut flat) {
                    self.fail(482, line, format!("`action` {why}"));
                } else if shape != [lower.len()] {
                    self.fail(
                        483,
                        line,
                        format!(
                            "`action` has shape {:?}, the box is [{}]",
                            shape,
                            lower.len()
                        ),
                    );
                } else if let Some(i) =
                    (0..flat.len()).find(|&i| !(lower[i]..=upper[i]).contains(&flat[i]))
                {
                    self.fail(
                        485,
                        line,
                        format!(
                            "action[{i}] = {} is outside the box [{}, {}]",
                            flat[i], lower[i], upper[i]
                        ),
                    );
                }
            }
        }
    }
}

/// Flattens a rectangular nested array of numbers; `shape` is filled on the first path down.
fn flatten(
    v: &serde_json::Value,
    depth: usize,
    shape: &mut Vec<usize>,
    flat: &mut Vec<f64>,
) -> Result<(), String> {
    match v {
        serde_json::Value::Number(n) => {
            if depth != shape.len() {
                return Err("is not rectangular".into());
            }
            // serde_json numbers are always finite; NaN/Infinity fail at parse (TL0484).
            flat.push(n.as_f64().ok_or("holds a number out of f64 range")?);
            Ok(())
        }
        serde_json::Value::Array(items) => {
            if depth == shape.len() && flat.is_empty() {
                shape.push(items.len());
            } else if shape.get(depth) != Some(&items.len()) {
                return Err("is not rectangular".into());
            }
            for item in items {
                flatten(item, depth + 1, shape, flat)?;
            }
            Ok(())
        }
        _ => Err("is not an array of numbers".into()),
    }
}

#[cfg(test)]
#[path = "transitions_tests.rs"]
mod tests;
