//! VNN-LIB 1.0 properties in the VNN-COMP dialect.
//!
//! `(declare-const X_i Real)` / `(declare-const Y_i Real)` declare inputs and outputs; `(assert F)`
//! with F built from `and`, `or`, `<=`, `>=`, `<`, `>` over linear terms (`+`, `-`, `*` by a
//! constant). The conjunction of all assertions describes the UNSAFE set: "sat" means an input in
//! the box whose output meets it exists. The formula is brought into disjunctive normal form; each
//! term must bound every input (a box) and constrain only outputs otherwise.

use std::collections::BTreeMap;

use crate::crown::InputBox;
use crate::error::{codes, BoundsError, Result, Span};

/// At most this many DNF terms (VNN-COMP properties have a handful; this stops blow-ups).
pub const MAX_TERMS: usize = 100_000;
const MAX_DEPTH: usize = 200;

/// `sum coeffs[j] * Y_j <= rhs` (or `<` when `strict`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutputConstraint {
    pub coeffs: Vec<f64>,
    pub rhs: f64,
    pub strict: bool,
}

impl OutputConstraint {
    /// `coeffs . y - rhs`: the constraint holds iff this is <= 0 (< 0 when strict).
    pub fn slack(&self, y: &[f64]) -> f64 {
        self.coeffs.iter().zip(y).map(|(c, v)| c * v).sum::<f64>() - self.rhs
    }
    pub fn holds(&self, y: &[f64]) -> bool {
        let s = self.slack(y);
        if self.strict {
            s < 0.0
        } else {
            s <= 0.0
        }
    }
}

/// An input box and the unsafe output region on it: a disjunction of conjunctions.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Case {
    pub input: InputBox,
    pub disjuncts: Vec<Vec<OutputConstraint>>,
}

/// A parsed property: unsafe iff some case has an input in its box meeting one of its disjuncts.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Property {
    pub n_inputs: usize,
    pub n_outputs: usize,
    pub cases: Vec<Case>,
}

#[derive(Debug)]
enum Sexp {
    Atom(String, Span),
    List(Vec<Sexp>, Span),
}

impl Sexp {
    fn span(&self) -> Span {
        match self {
            Sexp::Atom(_, s) | Sexp::List(_, s) => *s,
        }
    }
}

fn syntax(span: Span, msg: impl Into<String>) -> BoundsError {
    BoundsError::at(codes::VNNLIB_SYNTAX, span, msg)
}

fn tokenize(text: &str) -> Result<Vec<(String, Span)>> {
    let mut out = Vec::new();
    let (mut line, mut col) = (1usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut cur = String::new();
    let mut cur_span = Span { line, col };
    let flush = |cur: &mut String, span: Span, out: &mut Vec<(String, Span)>| {
        if !cur.is_empty() {
            out.push((std::mem::take(cur), span));
        }
    };
    while let Some(c) = chars.next() {
        let here = Span { line, col };
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        match c {
            ';' => {
                flush(&mut cur, cur_span, &mut out);
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    chars.next();
                    col += 1;
                }
            }
            '(' | ')' => {
                flush(&mut cur, cur_span, &mut out);
                out.push((c.to_string(), here));
            }
            c if c.is_whitespace() => flush(&mut cur, cur_span, &mut out),
            c if c.is_ascii_graphic() => {
                if cur.is_empty() {
                    cur_span = here;
                }
                cur.push(c);
            }
            c => return Err(syntax(here, format!("unexpected character {c:?}"))),
        }
    }
    flush(&mut cur, cur_span, &mut out);
    Ok(out)
}

fn parse_sexps(tokens: &[(String, Span)]) -> Result<Vec<Sexp>> {
    let mut stack: Vec<(Vec<Sexp>, Span)> = vec![(Vec::new(), Span { line: 1, col: 1 })];
    for (t, span) in tokens {
        match t.as_str() {
            "(" => {
                if stack.len() > MAX_DEPTH {
                    return Err(syntax(*span, "expressions nest too deeply"));
                }
                stack.push((Vec::new(), *span));
            }
            ")" => {
                if stack.len() == 1 {
                    return Err(syntax(*span, "unbalanced ')'"));
                }
                let (items, open) = stack.pop().expect("non-empty");
                stack.last_mut().unwrap().0.push(Sexp::List(items, open));
            }
            _ => stack
                .last_mut()
                .unwrap()
                .0
                .push(Sexp::Atom(t.clone(), *span)),
        }
    }
    if stack.len() > 1 {
        let open = stack.last().unwrap().1;
        return Err(syntax(open, "'(' is never closed"));
    }
    Ok(stack.pop().unwrap().0)
}

/// A linear expression over inputs and outputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lin {
    pub(crate) x: BTreeMap<usize, f64>,
    pub(crate) y: BTreeMap<usize, f64>,
    pub(crate) c: f64,
}

impl Lin {
    pub(crate) fn scale(mut self, k: f64) -> Lin {
        self.x.values_mut().for_each(|v| *v *= k);
        self.y.values_mut().for_each(|v| *v *= k);
        self.c *= k;
        self
    }
    pub(crate) fn add(mut self, o: Lin) -> Lin {
        for (k, v) in o.x {
            *self.x.entry(k).or_default() += v;
        }
        for (k, v) in o.y {
            *self.y.entry(k).or_default() += v;
        }
        self.c += o.c;
        self
    }
    pub(crate) fn is_const(&self) -> bool {
        self.x.values().all(|v| *v == 0.0) && self.y.values().all(|v| *v == 0.0)
    }
}

/// `lin <= 0` (or `< 0`).
#[derive(Clone, Debug)]
pub(crate) struct Atom {
    pub(crate) lin: Lin,
    pub(crate) strict: bool,
    pub(crate) span: Span,
}

pub(crate) type Dnf = Vec<Vec<Atom>>;

/// The conjunction of two DNFs. A single-term side (a bound, a comparison: the common case) is
/// appended in place, so a property of n bounds costs O(n), not O(n^2) copies.
pub(crate) fn dnf_and(mut a: Dnf, b: Dnf) -> Dnf {
    if b.len() == 1 {
        let u = b.into_iter().next().unwrap();
        if a.len() == 1 {
            a[0].extend(u);
        } else {
            for t in &mut a {
                t.extend(u.iter().cloned());
            }
        }
        return a;
    }
    a.iter()
        .flat_map(|t| {
            b.iter().map(move |u| {
                let mut v = t.clone();
                v.extend(u.iter().cloned());
                v
            })
        })
        .collect()
}

struct Ctx {
    xs: Vec<bool>,
    ys: Vec<bool>,
}

fn var_index(name: &str, prefix: &str) -> Option<usize> {
    name.strip_prefix(prefix)
        .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
}

impl Ctx {
    fn term(&self, e: &Sexp) -> Result<Lin> {
        match e {
            Sexp::Atom(a, span) => {
                if let Some(i) = var_index(a, "X_") {
                    if !self.xs.get(i).copied().unwrap_or(false) {
                        return Err(BoundsError::at(
                            codes::VNNLIB_UNKNOWN_VAR,
                            *span,
                            format!("{a} is not declared"),
                        ));
                    }
                    let mut l = Lin::default();
                    l.x.insert(i, 1.0);
                    return Ok(l);
                }
                if let Some(i) = var_index(a, "Y_") {
                    if !self.ys.get(i).copied().unwrap_or(false) {
                        return Err(BoundsError::at(
                            codes::VNNLIB_UNKNOWN_VAR,
                            *span,
                            format!("{a} is not declared"),
                        ));
                    }
                    let mut l = Lin::default();
                    l.y.insert(i, 1.0);
                    return Ok(l);
                }
                let v: f64 = a.parse().map_err(|_| {
                    BoundsError::at(
                        codes::VNNLIB_UNKNOWN_VAR,
                        *span,
                        format!("{a} is neither a number nor a declared X_i / Y_i"),
                    )
                })?;
                if !v.is_finite() {
                    return Err(syntax(*span, format!("{a} is not a finite number")));
                }
                Ok(Lin {
                    c: v,
                    ..Lin::default()
                })
            }
            Sexp::List(items, span) => {
                let (head, args) = match items.split_first() {
                    Some((Sexp::Atom(h, _), args)) => (h.as_str(), args),
                    _ => return Err(syntax(*span, "expected (op args...)")),
                };
                let terms = args
                    .iter()
                    .map(|a| self.term(a))
                    .collect::<Result<Vec<_>>>()?;
                match (head, terms.len()) {
                    ("+", n) if n >= 1 => Ok(terms.into_iter().reduce(Lin::add).unwrap()),
                    ("-", 1) => Ok(terms.into_iter().next().unwrap().scale(-1.0)),
                    ("-", n) if n >= 2 => {
                        let mut it = terms.into_iter();
                        let first = it.next().unwrap();
                        Ok(it.fold(first, |acc, t| acc.add(t.scale(-1.0))))
                    }
                    ("*", n) if n >= 1 => {
                        let mut acc: Option<Lin> = None;
                        let mut k = 1.0;
                        for t in terms {
                            if t.is_const() {
                                k *= t.c;
                            } else if acc.is_none() {
                                acc = Some(t);
                            } else {
                                return Err(BoundsError::at(
                                    codes::VNNLIB_UNSUPPORTED,
                                    *span,
                                    "product of two variables is not linear",
                                ));
                            }
                        }
                        Ok(match acc {
                            Some(t) => t.scale(k),
                            None => Lin {
                                c: k,
                                ..Lin::default()
                            },
                        })
                    }
                    _ => Err(BoundsError::at(
                        codes::VNNLIB_UNSUPPORTED,
                        *span,
                        format!(
                            "unsupported term ({head} ...) with {} arguments",
                            args.len()
                        ),
                    )),
                }
            }
        }
    }

    fn formula(&self, e: &Sexp) -> Result<Dnf> {
        let Sexp::List(items, span) = e else {
            return Err(BoundsError::at(
                codes::VNNLIB_UNSUPPORTED,
                e.span(),
                "expected a comparison, (and ...) or (or ...)",
            ));
        };
        let head = match items.first() {
            Some(Sexp::Atom(h, _)) => h.as_str(),
            _ => return Err(syntax(*span, "expected (op args...)")),
        };
        let args = &items[1..];
        match head {
            "and" => {
                let mut acc: Dnf = vec![Vec::new()];
                for a in args {
                    let f = self.formula(a)?;
                    if acc.len().saturating_mul(f.len()) > MAX_TERMS {
                        return Err(BoundsError::at(
                            codes::VNNLIB_BAD_PROPERTY,
                            *span,
                            format!("the property expands to more than {MAX_TERMS} cases"),
                        ));
                    }
                    acc = dnf_and(acc, f);
                }
                Ok(acc)
            }
            "or" => {
                let mut acc = Vec::new();
                for a in args {
                    acc.extend(self.formula(a)?);
                    if acc.len() > MAX_TERMS {
                        return Err(BoundsError::at(
                            codes::VNNLIB_BAD_PROPERTY,
                            *span,
                            format!("the property expands to more than {MAX_TERMS} cases"),
                        ));
                    }
                }
                Ok(acc)
            }
            "<=" | ">=" | "<" | ">" => {
                if args.len() != 2 {
                    return Err(BoundsError::at(
                        codes::VNNLIB_UNSUPPORTED,
                        *span,
                        format!("{head} takes two arguments"),
                    ));
                }
                let (a, b) = (self.term(&args[0])?, self.term(&args[1])?);
                let lin = if head.starts_with('<') {
                    a.add(b.scale(-1.0))
                } else {
                    b.add(a.scale(-1.0))
                };
                Ok(vec![vec![Atom {
                    lin,
                    strict: head.len() == 1,
                    span: *span,
                }]])
            }
            other => Err(BoundsError::at(
                codes::VNNLIB_UNSUPPORTED,
                *span,
                format!("unsupported connective or comparison {other:?}"),
            )),
        }
    }
}

/// Which VNN-LIB version a text is written in: 2 when its first command is `vnnlib-version` or
/// `declare-network`, 1 otherwise.
pub fn detect_version(text: &str) -> u8 {
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(';') {
            rest = r.split_once('\n').map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let Some(r) = rest.strip_prefix('(') else {
        return 1;
    };
    let word: String = r
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if word == "vnnlib-version" || word == "declare-network" {
        2
    } else {
        1
    }
}

/// Parses VNN-LIB text (1.0, or 2.0 through [`crate::vnnlib2`]) into a [`Property`].
pub fn parse(text: &str) -> Result<Property> {
    if detect_version(text) == 2 {
        return crate::vnnlib2::parse(text)?.to_property();
    }
    parse_v1(text)
}

/// Parses VNN-LIB 1.0 text into a [`Property`].
pub fn parse_v1(text: &str) -> Result<Property> {
    let sexps = parse_sexps(&tokenize(text)?)?;
    let mut ctx = Ctx {
        xs: Vec::new(),
        ys: Vec::new(),
    };
    let mut formula: Dnf = vec![Vec::new()];
    for s in &sexps {
        let Sexp::List(items, span) = s else {
            return Err(syntax(s.span(), "expected a command in parentheses"));
        };
        match items.first() {
            Some(Sexp::Atom(h, _)) if h == "declare-const" => {
                let (name, nspan, ty) = match &items[1..] {
                    [Sexp::Atom(n, ns), Sexp::Atom(t, _)] => (n, *ns, t),
                    _ => return Err(syntax(*span, "expected (declare-const NAME Real)")),
                };
                if ty != "Real" {
                    return Err(BoundsError::at(
                        codes::VNNLIB_UNSUPPORTED,
                        *span,
                        format!("only Real constants are supported, got {ty}"),
                    ));
                }
                let (vec, i) = if let Some(i) = var_index(name, "X_") {
                    (&mut ctx.xs, i)
                } else if let Some(i) = var_index(name, "Y_") {
                    (&mut ctx.ys, i)
                } else {
                    return Err(BoundsError::at(
                        codes::VNNLIB_UNKNOWN_VAR,
                        nspan,
                        format!("{name}: variables must be named X_i (inputs) or Y_i (outputs)"),
                    ));
                };
                if i >= 1 << 24 {
                    return Err(BoundsError::at(
                        codes::VNNLIB_BAD_PROPERTY,
                        nspan,
                        format!("{name}: index too large"),
                    ));
                }
                if vec.len() <= i {
                    vec.resize(i + 1, false);
                }
                vec[i] = true;
            }
            Some(Sexp::Atom(h, _)) if h == "assert" => {
                let [f] = &items[1..] else {
                    return Err(syntax(*span, "expected (assert FORMULA)"));
                };
                let f = ctx.formula(f)?;
                if formula.len().saturating_mul(f.len()) > MAX_TERMS {
                    return Err(BoundsError::at(
                        codes::VNNLIB_BAD_PROPERTY,
                        *span,
                        format!("the property expands to more than {MAX_TERMS} cases"),
                    ));
                }
                formula = dnf_and(formula, f);
            }
            _ => {
                return Err(BoundsError::at(
                    codes::VNNLIB_UNSUPPORTED,
                    *span,
                    "expected declare-const or assert",
                ))
            }
        }
    }
    for (name, v) in [("X", &ctx.xs), ("Y", &ctx.ys)] {
        if let Some(i) = v.iter().position(|d| !d) {
            return Err(BoundsError::new(
                codes::VNNLIB_BAD_PROPERTY,
                format!("{name}_{i} is missing while a later {name}_ index is declared"),
            ));
        }
    }
    let (nx, ny) = (ctx.xs.len(), ctx.ys.len());
    if nx == 0 || ny == 0 {
        return Err(BoundsError::new(
            codes::VNNLIB_BAD_PROPERTY,
            "the property declares no inputs or no outputs",
        ));
    }
    property_from_dnf(nx, ny, formula, |i| format!("X_{i}"))
}

/// Brings a DNF over `nx` inputs and `ny` outputs into boxes with output disjuncts.
/// `input_name` names input `i` in messages.
pub(crate) fn property_from_dnf(
    nx: usize,
    ny: usize,
    formula: Dnf,
    input_name: impl Fn(usize) -> String,
) -> Result<Property> {
    let mut cases: Vec<Case> = Vec::new();
    'terms: for term in formula {
        let mut lo = vec![f64::NEG_INFINITY; nx];
        let mut hi = vec![f64::INFINITY; nx];
        let mut outs = Vec::new();
        for atom in term {
            let xs: Vec<(usize, f64)> = atom
                .lin
                .x
                .iter()
                .filter(|(_, v)| **v != 0.0)
                .map(|(k, v)| (*k, *v))
                .collect();
            let has_y = atom.lin.y.values().any(|v| *v != 0.0);
            match (xs.as_slice(), has_y) {
                ([], false) => {
                    let ok = if atom.strict {
                        atom.lin.c < 0.0
                    } else {
                        atom.lin.c <= 0.0
                    };
                    if !ok {
                        continue 'terms;
                    }
                }
                ([], true) => {
                    let mut coeffs = vec![0.0; ny];
                    for (k, v) in &atom.lin.y {
                        coeffs[*k] = *v;
                    }
                    outs.push(OutputConstraint {
                        coeffs,
                        rhs: -atom.lin.c,
                        strict: atom.strict,
                    });
                }
                ([(i, k)], false) => {
                    // k x + c <= 0: a bound on x. Divisions round outward (a larger box).
                    let b = -atom.lin.c / k;
                    let exact = (b * k) == -atom.lin.c;
                    if *k > 0.0 {
                        hi[*i] = hi[*i].min(if exact { b } else { b.next_up() });
                    } else {
                        lo[*i] = lo[*i].max(if exact { b } else { b.next_down() });
                    }
                }
                _ => {
                    return Err(BoundsError::at(
                        codes::VNNLIB_UNSUPPORTED,
                        atom.span,
                        "only bounds on single inputs and linear constraints on outputs are supported (no mixed or multi-input constraints)",
                    ))
                }
            }
        }
        if let Some(i) = (0..nx).find(|&i| !lo[i].is_finite() || !hi[i].is_finite()) {
            return Err(BoundsError::new(
                codes::VNNLIB_BAD_PROPERTY,
                format!(
                    "{} has no lower or upper bound in one of the property's cases",
                    input_name(i)
                ),
            ));
        }
        if (0..nx).any(|i| lo[i] > hi[i]) {
            continue; // an empty box has no counterexample
        }
        let input = InputBox {
            lower: lo,
            upper: hi,
        };
        match cases.iter_mut().find(|c| c.input == input) {
            Some(c) => c.disjuncts.push(outs),
            None => cases.push(Case {
                input,
                disjuncts: vec![outs],
            }),
        }
    }
    Ok(Property {
        n_inputs: nx,
        n_outputs: ny,
        cases,
    })
}

/// Prints a property as VNN-LIB 1.0 (`X_i`, `Y_j`; one assertion: the disjunction of the cases).
/// `parse(&write_v1(p)) == p` for properties whose cases have distinct boxes.
pub fn write_v1(p: &Property) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for i in 0..p.n_inputs {
        let _ = writeln!(out, "(declare-const X_{i} Real)");
    }
    for j in 0..p.n_outputs {
        let _ = writeln!(out, "(declare-const Y_{j} Real)");
    }
    let num = |v: f64| {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    };
    out.push_str("(assert (or");
    if p.cases.is_empty() {
        out.push_str(" (and (< 0.0 0.0))");
    }
    for case in &p.cases {
        out.push_str("\n  (and");
        for i in 0..p.n_inputs {
            let _ = write!(
                out,
                " (>= X_{i} {}) (<= X_{i} {})",
                num(case.input.lower[i]),
                num(case.input.upper[i])
            );
        }
        out.push_str("\n    (or");
        if case.disjuncts.is_empty() {
            out.push_str(" (and (< 0.0 0.0))");
        }
        for d in &case.disjuncts {
            out.push_str("\n      (and");
            if d.is_empty() {
                out.push_str(" (<= 0.0 0.0)");
            }
            for c in d {
                out.push_str(if c.strict { " (< (+" } else { " (<= (+" });
                let mut any = false;
                for (j, v) in c.coeffs.iter().enumerate().filter(|(_, v)| **v != 0.0) {
                    let _ = write!(out, " (* {} Y_{j})", num(*v));
                    any = true;
                }
                if !any {
                    out.push_str(" 0.0");
                }
                let _ = write!(out, ") {})", num(c.rhs));
            }
            out.push(')');
        }
        out.push_str("))");
    }
    out.push_str("))\n");
    out
}

/// Reads and parses a VNN-LIB file.
pub fn load(path: &std::path::Path) -> Result<Property> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BoundsError::new(codes::IO, format!("cannot read {}: {e}", path.display())))?;
    parse(&text).map_err(|mut e| {
        e.message = format!("{}: {}", path.display(), e.message);
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROP: &str = "; comment\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(assert (<= X_0 1))\n(assert (>= X_0 -1))\n(assert (and (<= X_1 0.5) (>= X_1 0)))\n(assert (or (and (<= Y_1 Y_0)) (and (>= (+ Y_0 (* 2 Y_1)) 3))))\n";

    #[test]
    fn parses_boxes_and_disjunctions() {
        let p = parse(PROP).unwrap();
        assert_eq!((p.n_inputs, p.n_outputs), (2, 2));
        assert_eq!(p.cases.len(), 1);
        let c = &p.cases[0];
        assert_eq!(c.input.lower, vec![-1.0, 0.0]);
        assert_eq!(c.input.upper, vec![1.0, 0.5]);
        assert_eq!(c.disjuncts.len(), 2);
        // Y_1 - Y_0 <= 0
        assert_eq!(c.disjuncts[0][0].coeffs, vec![-1.0, 1.0]);
        assert_eq!(c.disjuncts[0][0].rhs, 0.0);
        // 3 - Y_0 - 2 Y_1 <= 0
        assert_eq!(c.disjuncts[1][0].coeffs, vec![-1.0, -2.0]);
        assert_eq!(c.disjuncts[1][0].rhs, -3.0);
        assert!(c.disjuncts[1][0].holds(&[1.0, 1.0]));
        assert!(!c.disjuncts[1][0].holds(&[0.0, 1.0]));
    }

    #[test]
    fn errors_are_coded_with_positions() {
        let e = parse("(declare-const X_0 Real)\n(assert (<= X_0 1)").unwrap_err();
        assert_eq!(e.code, codes::VNNLIB_SYNTAX);
        assert_eq!(e.span, Some(Span { line: 2, col: 1 }));
        let e = parse("(declare-const X_0 Real)\n(assert (<= X_1 1))").unwrap_err();
        assert_eq!(e.code, codes::VNNLIB_UNKNOWN_VAR);
        assert_eq!(e.span, Some(Span { line: 2, col: 13 }));
        let e =
            parse("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= (* X_0 Y_0) 1))")
                .unwrap_err();
        assert_eq!(e.code, codes::VNNLIB_UNSUPPORTED);
        let e = parse("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 Y_0))")
            .unwrap_err();
        assert_eq!(e.code, codes::VNNLIB_UNSUPPORTED);
        let e = parse("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= Y_0 1))")
            .unwrap_err();
        assert_eq!(e.code, codes::VNNLIB_BAD_PROPERTY);
        let e = parse("(declare-const X_0 Real) \u{e9}").unwrap_err();
        assert_eq!(e.code, codes::VNNLIB_SYNTAX);
        let deep = "(".repeat(10_000);
        assert_eq!(parse(&deep).unwrap_err().code, codes::VNNLIB_SYNTAX);
    }

    #[test]
    fn parses_every_acas_property_when_present() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/acasxu");
        if !dir.exists() {
            eprintln!("skipping: {} is absent", dir.display());
            return;
        }
        for i in 1..=10 {
            let p = load(&dir.join(format!("prop_{i}.vnnlib"))).unwrap();
            assert_eq!((p.n_inputs, p.n_outputs), (5, 5), "prop_{i}");
            assert!(!p.cases.is_empty());
        }
        let p6 = load(&dir.join("prop_6.vnnlib")).unwrap();
        assert_eq!(p6.cases.len(), 2);
        assert_eq!(p6.cases[0].disjuncts.len(), 4);
    }
}
