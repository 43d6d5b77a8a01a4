//! What running a contract's checks produced: the evidence the trust ledger composes.
//!
//! The verify engine fills these in; the ledger reads them. A method's evidence grants a status
//! only when its verdict is `Holds`: sampling grants **tested**, a sound bound grants **checked**,
//! a catalog theorem with checked side conditions grants **proved**. A confirmed counterexample
//! makes the contract **falsified** whatever else holds.

use std::path::{Path, PathBuf};

pub use crate::catalog::Status;

/// The verdict of one method on one contract.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The claim held under this method (for sampling: on every sample).
    Holds,
    /// A counterexample, re-computed and confirmed (on the compiled executor unless the
    /// counterexample's `confirmed_on` says otherwise).
    Violated { counterexample: Counterexample },
    /// The method could not decide (bounds too loose, node limit reached).
    Unknown { reason: String },
    /// The method ran out of time.
    Timeout,
    /// The method could not run (missing payload, unsupported op): a coded error.
    Error { code: String, message: String },
}

/// Concrete inputs that violate a claim, with the outputs they produce.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counterexample {
    /// Input name -> (shape, row-major values).
    #[serde(with = "tensor_values")]
    pub inputs: Vec<(String, Vec<usize>, Vec<f64>)>,
    /// Output name -> (shape, row-major values) from the engine named by `confirmed_on`; a
    /// falsifying output may be infinite or NaN (log(0), 0/0).
    #[serde(with = "tensor_values")]
    pub outputs: Vec<(String, Vec<usize>, Vec<f64>)>,
    /// Where the violation was re-computed and confirmed, for reports: "the compiled f32
    /// executor" for bounds and sampling, the f64 reference semantics for gradient checks.
    #[serde(default = "Counterexample::compiled_executor")]
    pub confirmed_on: String,
}

/// JSON has no infinities or NaN (serde_json writes them as `null`, which does not read back):
/// non-finite values travel as the strings `"inf"`, `"-inf"` and `"nan"`.
mod tensor_values {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(f64),
        Text(String),
        /// Written by versions before the strings; its value is lost.
        Null(()),
    }

    type Named = Vec<(String, Vec<usize>, Vec<f64>)>;

    pub fn serialize<S: Serializer>(v: &Named, s: S) -> Result<S::Ok, S::Error> {
        let out: Vec<(&String, &Vec<usize>, Vec<Value>)> = v
            .iter()
            .map(|(name, shape, xs)| {
                let vals = xs
                    .iter()
                    .map(|&x| match x {
                        x if x.is_finite() => Value::Number(x),
                        x if x.is_nan() => Value::Text("nan".into()),
                        x if x > 0.0 => Value::Text("inf".into()),
                        _ => Value::Text("-inf".into()),
                    })
                    .collect();
                (name, shape, vals)
            })
            .collect();
        out.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Named, D::Error> {
        let raw: Vec<(String, Vec<usize>, Vec<Value>)> = Vec::deserialize(d)?;
        raw.into_iter()
            .map(|(name, shape, vals)| {
                let xs = vals
                    .into_iter()
                    .map(|v| match v {
                        Value::Number(x) => Ok(x),
                        Value::Null(()) => Ok(f64::NAN),
                        Value::Text(t) => match t.as_str() {
                            "inf" => Ok(f64::INFINITY),
                            "-inf" => Ok(f64::NEG_INFINITY),
                            "nan" => Ok(f64::NAN),
                            other => Err(serde::de::Error::custom(format!(
                                "a tensor value must be a number, \"inf\", \"-inf\" or \"nan\", not {other:?}"
                            ))),
                        },
                    })
                    .collect::<Result<Vec<f64>, D::Error>>()?;
                Ok((name, shape, xs))
            })
            .collect()
    }
}

impl Counterexample {
    pub fn compiled_executor() -> String {
        "the compiled f32 executor".into()
    }
}

/// One method's run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodOutcome {
    /// The method as written (`crown`, `bab`, `sampling`, ...).
    pub method: String,
    pub verdict: Verdict,
    /// The status this evidence grants when the verdict is `Holds`.
    pub grants: Status,
    pub millis: u64,
    /// One line a reviewer reads: "1000 samples, worst error 3.1e-7 at node h1 [0, 3]".
    pub detail: String,
}

/// All methods run for one contract, in the order the contract names them (a method after one
/// that already decided the claim is not run).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContractOutcome {
    pub contract: String,
    /// The `.tl` file that defines the contract (normalised): with `contract` it is the item's
    /// identity, so two files that each define `contract c` never share evidence.
    #[serde(default)]
    pub file: PathBuf,
    pub methods: Vec<MethodOutcome>,
    /// The index-map checks of the target graph's data-movement nodes that no compiled-semantics
    /// theorem covers (`tl_kernels::exec::check_index_map`); the ledger's semantics link reads
    /// them (docs/trust.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub index_maps: Vec<IndexMapCheck>,
}

/// One data-movement node's compiled kernel run on distinct values against the reference.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexMapCheck {
    pub node: String,
    pub op: String,
    /// Output elements whose source position the run confirmed (0 when it did not hold).
    pub elements: usize,
    /// Why the check did not hold or could not run (symbolic extents, a mismatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl ContractOutcome {
    /// Whether this is the outcome of the contract `name` defined in `file`.
    pub fn is_of(&self, file: &Path, name: &str) -> bool {
        self.contract == name && self.file == file
    }
}

impl ContractOutcome {
    /// The status the evidence alone supports (before assumptions and bridges): falsified if any
    /// method found a counterexample, else the strongest status a holding method grants, else
    /// uncovered.
    pub fn evidence_status(&self) -> Status {
        if self
            .methods
            .iter()
            .any(|m| matches!(m.verdict, Verdict::Violated { .. }))
        {
            return Status::Falsified;
        }
        self.methods
            .iter()
            .filter(|m| m.verdict == Verdict::Holds)
            .map(|m| m.grants)
            .min_by_key(|s| strength(*s))
            .unwrap_or(Status::Uncovered)
    }
}

/// Lower is stronger: proved, checked, tested, assumed, uncovered.
fn strength(s: Status) -> u8 {
    match s {
        Status::Proved => 0,
        Status::Checked => 1,
        Status::Tested => 2,
        Status::Assumed => 3,
        Status::Uncovered => 4,
        Status::Falsified => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(verdict: Verdict, grants: Status) -> MethodOutcome {
        MethodOutcome {
            method: "x".into(),
            verdict,
            grants,
            millis: 0,
            detail: String::new(),
        }
    }

    #[test]
    fn strongest_holding_method_decides_and_counterexamples_override() {
        let unknown = m(
            Verdict::Unknown {
                reason: "loose".into(),
            },
            Status::Checked,
        );
        let tested = m(Verdict::Holds, Status::Tested);
        let checked = m(Verdict::Holds, Status::Checked);
        let o = ContractOutcome {
            contract: "c".into(),
            file: Default::default(),
            methods: vec![unknown.clone(), tested.clone()],
            index_maps: Vec::new(),
        };
        assert_eq!(o.evidence_status(), Status::Tested);
        let o = ContractOutcome {
            contract: "c".into(),
            file: Default::default(),
            methods: vec![tested.clone(), checked],
            index_maps: Vec::new(),
        };
        assert_eq!(o.evidence_status(), Status::Checked);
        let cex = Counterexample {
            inputs: vec![],
            outputs: vec![],
            confirmed_on: Counterexample::compiled_executor(),
        };
        let o = ContractOutcome {
            contract: "c".into(),
            file: Default::default(),
            methods: vec![
                tested,
                m(
                    Verdict::Violated {
                        counterexample: cex,
                    },
                    Status::Tested,
                ),
            ],
            index_maps: Vec::new(),
        };
        assert_eq!(o.evidence_status(), Status::Falsified);
        let o = ContractOutcome {
            contract: "c".into(),
            file: Default::default(),
            methods: vec![unknown],
            index_maps: Vec::new(),
        };
        assert_eq!(o.evidence_status(), Status::Uncovered);
    }
}

#[cfg(test)]
mod counterexample_json_tests {
    use super::Counterexample;

    #[test]
    fn non_finite_values_round_trip_through_json() {
        let c = Counterexample {
            inputs: vec![("x".into(), vec![2], vec![0.0, -1.5])],
            outputs: vec![(
                "y".into(),
                vec![3],
                vec![f64::NEG_INFINITY, f64::INFINITY, 2.0],
            )],
            confirmed_on: Counterexample::compiled_executor(),
        };
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains("\"-inf\""), "{text}");
        let back: Counterexample = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
        let nan = Counterexample {
            outputs: vec![("y".into(), vec![1], vec![f64::NAN])],
            ..c.clone()
        };
        let back: Counterexample =
            serde_json::from_str(&serde_json::to_string(&nan).unwrap()).unwrap();
        assert!(back.outputs[0].2[0].is_nan());
        let old = text.replace("\"-inf\"", "null");
        let back: Counterexample = serde_json::from_str(&old).unwrap();
        assert!(back.outputs[0].2[0].is_nan());
        assert!(
            serde_json::from_str::<Counterexample>(&text.replace("\"-inf\"", "\"big\"")).is_err()
        );
    }
}
