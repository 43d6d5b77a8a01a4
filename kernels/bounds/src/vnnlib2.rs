//! VNN-LIB 2.0 queries (the VNNLIB-Standard's query language, chapter 3): typed tensor
//! declarations inside `(declare-network ...)`, indexed variables `X[i,j]`, several inputs,
//! outputs and networks, `declare-hidden` nodes by ONNX name, `equal-to` / `isomorphic-to`, and
//! assertions built from `and`, `or` and comparisons of arithmetic terms.
//!
//! [`parse`] reads the whole language into a [`Query`] (every node keeps its byte span) and checks
//! scoping and typing: names declared once and before use, inputs before hidden nodes before
//! outputs, indices inside the declared shape, comparisons between variables of one element type.
//! [`Query::to_property`] lowers the part tl's verifier decides (one network, one input, one
//! output, linear constraints: bounds on inputs and linear constraints on outputs) to the same
//! [`Property`] the 1.0 reader produces; the rest is refused with TL0663, never approximated.
//! [`write`] prints a query; [`from_property`] states a 1.0 property in 2.0.

use std::collections::HashMap;
use std::fmt::Write as _;

use logos::Logos;

use crate::error::{BoundsError, Result, Span};
use crate::vnnlib::{self, Atom, Dnf, Lin, Property, MAX_TERMS};

/// Diagnostic codes of the 2.0 reader and the `tl-vnnlib` interface (docs/diagnostics.md).
pub mod codes {
    /// Not well-formed: a token, a parenthesis or a construct out of the grammar.
    pub const SYNTAX: &str = "TL0660";
    /// A name used before (or without) its declaration, declared twice, or out of order.
    pub const SCOPE: &str = "TL0661";
    /// Element types or shapes do not fit: unknown type, wrong index count, index out of range,
    /// a comparison between variables of different element types.
    pub const TYPE: &str = "TL0662";
    /// Well-formed, but outside what tl's verifier decides (several networks, hidden nodes,
    /// non-linear terms, constraints mixing inputs and outputs).
    pub const UNSUPPORTED: &str = "TL0663";
    /// A `vnnlib-version` this reader does not implement.
    pub const VERSION: &str = "TL0664";
    /// A model file does not match the network's declarations (counts, shapes, ONNX names).
    pub const MODEL_MISMATCH: &str = "TL0665";
    /// An element type of the model differs from the one the query declares.
    pub const ELEMENT_TYPE_MISMATCH: &str = "TL0666";
    /// An element type over which tl's analysis is not sound.
    pub const UNSOUND_TYPE: &str = "TL0667";
    /// A command-line use of `tl-vnnlib` that cannot be carried out (a `--network` naming no
    /// declared network, a declared network without `--network`, a bad `--timeout`).
    pub const USAGE: &str = "TL0668";
}

/// A byte range of the query text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    pub start: usize,
    pub end: usize,
}

/// Element types: ONNX's (IR.md names) and the standard's `Real`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElemType {
    Real,
    Float16,
    Float32,
    Float64,
    BFloat16,
    Float8E4M3FN,
    Float8E5M2,
    Float8E4M3FNUZ,
    Float8E5M2FNUZ,
    Float4E2M1,
    Int4,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt4,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Complex64,
    Complex128,
    Bool,
    String,
}

const ELEM_NAMES: &[(ElemType, &str)] = &[
    (ElemType::Real, "Real"),
    (ElemType::Float16, "float16"),
    (ElemType::Float32, "float32"),
    (ElemType::Float64, "float64"),
    (ElemType::BFloat16, "bfloat16"),
    (ElemType::Float8E4M3FN, "float8e4m3fn"),
    (ElemType::Float8E5M2, "float8e5m2"),
    (ElemType::Float8E4M3FNUZ, "float8e4m3fnuz"),
    (ElemType::Float8E5M2FNUZ, "float8e5m2fnuz"),
    (ElemType::Float4E2M1, "float4e2m1"),
    (ElemType::Int4, "int4"),
    (ElemType::Int8, "int8"),
    (ElemType::Int16, "int16"),
    (ElemType::Int32, "int32"),
    (ElemType::Int64, "int64"),
    (ElemType::UInt4, "uint4"),
    (ElemType::UInt8, "uint8"),
    (ElemType::UInt16, "uint16"),
    (ElemType::UInt32, "uint32"),
    (ElemType::UInt64, "uint64"),
    (ElemType::Complex64, "complex64"),
    (ElemType::Complex128, "complex128"),
    (ElemType::Bool, "bool"),
    (ElemType::String, "string"),
];

impl ElemType {
    /// Reads a type name; `real` is accepted for `Real` (the standard's CLI chapter spells it so).
    pub fn from_name(s: &str) -> Option<ElemType> {
        if s == "real" {
            return Some(ElemType::Real);
        }
        ELEM_NAMES.iter().find(|(_, n)| *n == s).map(|(t, _)| *t)
    }
    pub fn name(self) -> &'static str {
        ELEM_NAMES.iter().find(|(t, _)| *t == self).unwrap().1
    }
    /// Every element type, `Real` first.
    pub fn all() -> impl Iterator<Item = ElemType> {
        ELEM_NAMES.iter().map(|(t, _)| *t)
    }
}

/// Inputs, hidden nodes, outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclKind {
    Input,
    Hidden,
    Output,
}

impl DeclKind {
    fn keyword(self) -> &'static str {
        match self {
            DeclKind::Input => "declare-input",
            DeclKind::Hidden => "declare-hidden",
            DeclKind::Output => "declare-output",
        }
    }
}

/// `(declare-input X float32 [1,10])` and its kin.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDecl {
    pub kind: DeclKind,
    pub name: String,
    pub elem: ElemType,
    pub shape: Vec<usize>,
    /// The ONNX node (output) name: mandatory for hidden nodes, optional otherwise.
    pub onnx_name: Option<String>,
    pub loc: Loc,
}

impl TensorDecl {
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
    /// Row-major offset of an index inside the shape.
    pub fn offset(&self, index: &[usize]) -> usize {
        index
            .iter()
            .zip(&self.shape)
            .fold(0, |acc, (i, d)| acc * d + i)
    }
    /// The index at a row-major offset.
    pub fn index_of(&self, mut offset: usize) -> Vec<usize> {
        let mut idx = vec![0; self.shape.len()];
        for (k, d) in self.shape.iter().enumerate().rev() {
            idx[k] = offset % d;
            offset /= d;
        }
        idx
    }
}

/// `(equal-to f)`: same structure and weights; `(isomorphic-to f)`: same structure.
#[derive(Clone, Debug, PartialEq)]
pub enum Equivalence {
    EqualTo(String, Loc),
    IsomorphicTo(String, Loc),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub name: String,
    pub equivalence: Vec<Equivalence>,
    pub inputs: Vec<TensorDecl>,
    pub hidden: Vec<TensorDecl>,
    pub outputs: Vec<TensorDecl>,
    pub loc: Loc,
}

impl Network {
    /// Declarations in order: inputs, hidden nodes, outputs.
    pub fn decls(&self) -> impl Iterator<Item = &TensorDecl> {
        self.inputs.iter().chain(&self.hidden).chain(&self.outputs)
    }
}

/// An arithmetic term.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64, Loc),
    /// A variable: `X` (a scalar, shape `[]`) or `X[i,j]`.
    Var(String, Vec<usize>, Loc),
    Neg(Box<Expr>, Loc),
    Add(Vec<Expr>, Loc),
    /// Left-associative: `(- a b c)` is `a - b - c`.
    Sub(Vec<Expr>, Loc),
    Mul(Vec<Expr>, Loc),
}

impl Expr {
    pub fn loc(&self) -> Loc {
        match self {
            Expr::Num(_, l)
            | Expr::Var(_, _, l)
            | Expr::Neg(_, l)
            | Expr::Add(_, l)
            | Expr::Sub(_, l)
            | Expr::Mul(_, l) => *l,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
    Ne,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Le => "<=",
            CmpOp::Lt => "<",
            CmpOp::Ge => ">=",
            CmpOp::Gt => ">",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum BoolExpr {
    Cmp(CmpOp, Expr, Expr, Loc),
    And(Vec<BoolExpr>, Loc),
    Or(Vec<BoolExpr>, Loc),
}

/// A parsed, well-scoped and well-typed query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `(vnnlib-version <2.0>)` when given.
    pub version: Option<(u32, u32)>,
    pub networks: Vec<Network>,
    pub assertions: Vec<BoolExpr>,
    /// Line starts of the text, for positions in messages.
    line_starts: Vec<usize>,
}

const MAX_DEPTH: usize = 256;
/// At most this many elements in one declared tensor (the verifier's boxes are dense).
pub const MAX_ELEMENTS: usize = 1 << 26;

#[derive(Logos, Clone, Copy, Debug, PartialEq)]
#[logos(skip r"[ \t\r\n\f\u{FEFF}]+")]
#[logos(skip(r";[^\n]*", allow_greedy = true))]
enum Tok<'a> {
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[regex(r"<[0-9]+\.[0-9]+>", |l| l.slice())]
    Version(&'a str),
    #[regex(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", |l| l.slice())]
    Number(&'a str),
    #[regex(r#""([^"\\]|\\["\\nt])*""#, |l| l.slice())]
    Str(&'a str),
    #[regex(r"[A-Za-z][A-Za-z0-9_]*", |l| l.slice())]
    Ident(&'a str),
    #[regex(r"[a-z]+(-[a-z]+)+", |l| l.slice())]
    Keyword(&'a str),
    #[regex(r"<=|>=|<|>|==|!=|=|\+|-|\*", |l| l.slice())]
    Op(&'a str),
}

struct Parser<'a> {
    toks: Vec<(Tok<'a>, Loc)>,
    pos: usize,
    depth: usize,
    line_starts: Vec<usize>,
    end: usize,
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn position(line_starts: &[usize], text_offset: usize) -> Span {
    let line = line_starts.partition_point(|&s| s <= text_offset).max(1);
    Span {
        line,
        col: text_offset - line_starts[line - 1] + 1,
    }
}

impl Query {
    /// The 1-based line and column of a byte offset of the parsed text.
    pub fn position(&self, offset: usize) -> Span {
        position(&self.line_starts, offset)
    }
    fn err(&self, code: &'static str, loc: Loc, msg: impl Into<String>) -> BoundsError {
        BoundsError::at(code, self.position(loc.start), msg)
    }
    /// The declaration of a variable name, with its network.
    pub fn lookup(&self, name: &str) -> Option<(&Network, &TensorDecl)> {
        self.networks
            .iter()
            .find_map(|n| n.decls().find(|d| d.name == name).map(|d| (n, d)))
    }
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Parser<'a>> {
        let ls = line_starts(text);
        let mut toks = Vec::new();
        let mut lex = Tok::lexer(text);
        while let Some(t) = lex.next() {
            let r = lex.span();
            let loc = Loc {
                start: r.start,
                end: r.end,
            };
            match t {
                Ok(t) => toks.push((t, loc)),
                Err(()) => {
                    return Err(BoundsError::at(
                        codes::SYNTAX,
                        position(&ls, r.start),
                        format!("unexpected text {:?}", lex.slice()),
                    ))
                }
            }
        }
        Ok(Parser {
            toks,
            pos: 0,
            depth: 0,
            line_starts: ls,
            end: text.len(),
        })
    }

    fn err(&self, code: &'static str, loc: Loc, msg: impl Into<String>) -> BoundsError {
        BoundsError::at(code, position(&self.line_starts, loc.start), msg)
    }
    fn here(&self) -> Loc {
        self.toks.get(self.pos).map(|t| t.1).unwrap_or(Loc {
            start: self.end,
            end: self.end,
        })
    }
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).map(|t| t.0)
    }
    fn peek2(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos + 1).map(|t| t.0)
    }
    fn bump(&mut self) -> Option<(Tok<'a>, Loc)> {
        let t = self.toks.get(self.pos).copied();
        self.pos += 1;
        t
    }
    fn describe(t: Option<Tok<'_>>) -> String {
        match t {
            None => "the end of the text".into(),
            Some(Tok::LParen) => "'('".into(),
            Some(Tok::RParen) => "')'".into(),
            Some(Tok::LBracket) => "'['".into(),
            Some(Tok::RBracket) => "']'".into(),
            Some(Tok::Comma) => "','".into(),
            Some(
                Tok::Version(s)
                | Tok::Number(s)
                | Tok::Str(s)
                | Tok::Ident(s)
                | Tok::Keyword(s)
                | Tok::Op(s),
            ) => format!("`{s}`"),
        }
    }
    fn expected(&self, what: &str) -> BoundsError {
        let loc = self.here();
        if self.peek().is_none() {
            // Point at the innermost open parenthesis would need a stack; the end is honest.
            return self.err(
                codes::SYNTAX,
                loc,
                format!("expected {what}, found the end of the text (a '(' is never closed?)"),
            );
        }
        self.err(
            codes::SYNTAX,
            loc,
            format!("expected {what}, found {}", Self::describe(self.peek())),
        )
    }
    fn expect(&mut self, t: Tok<'_>, what: &str) -> Result<Loc> {
        if self.peek() == Some(t) {
            Ok(self.bump().unwrap().1)
        } else {
            Err(self.expected(what))
        }
    }
    fn ident(&mut self, what: &str) -> Result<(String, Loc)> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let l = self.bump().unwrap().1;
                Ok((s.to_string(), l))
            }
            _ => Err(self.expected(what)),
        }
    }
    fn open(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                codes::SYNTAX,
                self.here(),
                format!("expressions nest deeper than {MAX_DEPTH}"),
            ));
        }
        Ok(())
    }
    fn close(&mut self, open: Loc) -> Result<Loc> {
        self.depth -= 1;
        match self.peek() {
            Some(Tok::RParen) => {
                let l = self.bump().unwrap().1;
                Ok(Loc {
                    start: open.start,
                    end: l.end,
                })
            }
            _ => Err(self.expected("')'")),
        }
    }
    /// `(` followed by a keyword or identifier head.
    fn head(&self) -> Option<&'a str> {
        match (self.peek(), self.peek2()) {
            (Some(Tok::LParen), Some(Tok::Keyword(k) | Tok::Ident(k) | Tok::Op(k))) => Some(k),
            _ => None,
        }
    }

    fn number(&self, s: &str, loc: Loc) -> Result<f64> {
        let v: f64 = s
            .parse()
            .map_err(|_| self.err(codes::SYNTAX, loc, format!("{s} is not a number")))?;
        if !v.is_finite() {
            return Err(self.err(codes::SYNTAX, loc, format!("{s} is not a finite number")));
        }
        Ok(v)
    }
    fn natural(&mut self, what: &str) -> Result<usize> {
        match self.peek() {
            Some(Tok::Number(s)) => {
                let loc = self.bump().unwrap().1;
                s.parse::<usize>().map_err(|_| {
                    self.err(
                        codes::SYNTAX,
                        loc,
                        format!("{what} must be a natural number, got {s}"),
                    )
                })
            }
            _ => Err(self.expected(what)),
        }
    }
    /// `[d, d, ...]` (possibly empty).
    fn dims(&mut self, what: &str) -> Result<Vec<usize>> {
        self.expect(Tok::LBracket, "'['")?;
        let mut out = Vec::new();
        if self.peek() == Some(Tok::RBracket) {
            self.bump();
            return Ok(out);
        }
        loop {
            out.push(self.natural(what)?);
            match self.peek() {
                Some(Tok::Comma) => {
                    self.bump();
                }
                Some(Tok::RBracket) => {
                    self.bump();
                    return Ok(out);
                }
                _ => return Err(self.expected("',' or ']'")),
            }
        }
    }

    fn query(&mut self) -> Result<Query> {
        let mut version = None;
        if self.head() == Some("vnnlib-version") {
            let open = self.bump().unwrap().1;
            self.bump();
            match self.peek() {
                Some(Tok::Version(v)) => {
                    let loc = self.bump().unwrap().1;
                    let (a, b) = v[1..v.len() - 1].split_once('.').unwrap();
                    let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else {
                        return Err(self.err(
                            codes::VERSION,
                            loc,
                            format!("version {v} is out of range"),
                        ));
                    };
                    if a != 2 {
                        return Err(self.err(
                            codes::VERSION,
                            loc,
                            format!("VNN-LIB version {a}.{b}: this reader implements 2.x (and 1.0 without a version command)"),
                        ));
                    }
                    version = Some((a, b));
                }
                _ => return Err(self.expected("a version such as <2.0>")),
            }
            self.depth += 1;
            self.close(open)?;
        }
        let mut networks = Vec::new();
        while self.head() == Some("declare-network") {
            networks.push(self.network()?);
        }
        if networks.is_empty() {
            return Err(self.expected("(declare-network NAME ...)"));
        }
        let mut assertions = Vec::new();
        while self.peek().is_some() {
            match self.head() {
                Some("assert") => {
                    let open = self.bump().unwrap().1;
                    self.bump();
                    self.open()?;
                    let b = self.bool_expr()?;
                    self.close(open)?;
                    assertions.push(b);
                }
                Some("declare-network") => {
                    return Err(self.err(
                        codes::SYNTAX,
                        self.here(),
                        "network declarations come before every assertion (the standard does not interleave them)",
                    ))
                }
                _ => return Err(self.expected("(assert ...)")),
            }
        }
        if assertions.is_empty() {
            return Err(self.expected("(assert ...)"));
        }
        Ok(Query {
            version,
            networks,
            assertions,
            line_starts: std::mem::take(&mut self.line_starts),
        })
    }

    fn network(&mut self) -> Result<Network> {
        let open = self.bump().unwrap().1;
        self.bump();
        self.open()?;
        let (name, _) = self.ident("a network name")?;
        let mut net = Network {
            name,
            equivalence: Vec::new(),
            inputs: Vec::new(),
            hidden: Vec::new(),
            outputs: Vec::new(),
            loc: open,
        };
        loop {
            match self.head() {
                Some(k @ ("equal-to" | "isomorphic-to")) => {
                    let o = self.bump().unwrap().1;
                    self.bump();
                    self.open()?;
                    let (other, l) = self.ident("a network name")?;
                    self.close(o)?;
                    net.equivalence.push(if k == "equal-to" {
                        Equivalence::EqualTo(other, l)
                    } else {
                        Equivalence::IsomorphicTo(other, l)
                    });
                }
                Some(k @ ("declare-input" | "declare-hidden" | "declare-output")) => {
                    let kind = match k {
                        "declare-input" => DeclKind::Input,
                        "declare-hidden" => DeclKind::Hidden,
                        _ => DeclKind::Output,
                    };
                    let d = self.decl(kind)?;
                    let later = match kind {
                        DeclKind::Input => !net.hidden.is_empty() || !net.outputs.is_empty(),
                        DeclKind::Hidden => !net.outputs.is_empty(),
                        DeclKind::Output => false,
                    };
                    if later {
                        return Err(self.err(
                            codes::SCOPE,
                            d.loc,
                            format!("`{}`: inputs come before hidden nodes, and hidden nodes before outputs", d.name),
                        ));
                    }
                    match kind {
                        DeclKind::Input => net.inputs.push(d),
                        DeclKind::Hidden => net.hidden.push(d),
                        DeclKind::Output => net.outputs.push(d),
                    }
                }
                _ => break,
            }
        }
        let loc = self.close(open)?;
        net.loc = loc;
        if net.inputs.is_empty() || net.outputs.is_empty() {
            return Err(self.err(
                codes::SYNTAX,
                loc,
                format!(
                    "network `{}` needs at least one declare-input and one declare-output",
                    net.name
                ),
            ));
        }
        Ok(net)
    }

    fn decl(&mut self, kind: DeclKind) -> Result<TensorDecl> {
        let open = self.bump().unwrap().1;
        self.bump();
        self.open()?;
        let (name, _) = self.ident("a variable name")?;
        let (ty, tloc) = self.ident("an element type (Real, float32, ...)")?;
        let elem = ElemType::from_name(&ty).ok_or_else(|| {
            self.err(
                codes::TYPE,
                tloc,
                format!("`{ty}` is not an element type (Real or an ONNX type such as float32)"),
            )
        })?;
        let shape_loc = self.here();
        let shape = self.dims("a dimension")?;
        let size = shape
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(*d))
            .filter(|s| *s <= MAX_ELEMENTS);
        if size.is_none() {
            return Err(self.err(
                codes::TYPE,
                shape_loc,
                format!("`{name}` has more than {MAX_ELEMENTS} elements"),
            ));
        }
        let mut onnx_name = None;
        if let Some(Tok::Str(s)) = self.peek() {
            self.bump();
            onnx_name = Some(unescape(&s[1..s.len() - 1]));
        }
        if kind == DeclKind::Input && self.peek() == Some(Tok::Ident("initialized")) {
            let l = self.here();
            return Err(self.err(
                codes::UNSUPPORTED,
                l,
                "`initialized` inputs are not supported",
            ));
        }
        let loc = self.close(open)?;
        if kind == DeclKind::Hidden && onnx_name.is_none() {
            return Err(self.err(
                codes::SYNTAX,
                loc,
                format!("hidden node `{name}` needs its ONNX node name: (declare-hidden {name} TYPE [..] \"node\")"),
            ));
        }
        Ok(TensorDecl {
            kind,
            name,
            elem,
            shape,
            onnx_name,
            loc,
        })
    }

    fn expr(&mut self) -> Result<Expr> {
        match self.peek() {
            Some(Tok::Number(s)) => {
                let loc = self.bump().unwrap().1;
                Ok(Expr::Num(self.number(s, loc)?, loc))
            }
            Some(Tok::Ident(s)) => {
                let loc = self.bump().unwrap().1;
                let mut idx = Vec::new();
                let mut end = loc.end;
                if self.peek() == Some(Tok::LBracket) {
                    idx = self.dims("an index")?;
                    end = self.toks[self.pos - 1].1.end;
                }
                Ok(Expr::Var(
                    s.to_string(),
                    idx,
                    Loc {
                        start: loc.start,
                        end,
                    },
                ))
            }
            Some(Tok::LParen) => {
                let open = self.bump().unwrap().1;
                self.open()?;
                let op = match self.peek() {
                    Some(Tok::Op(o @ ("+" | "-" | "*"))) => {
                        self.bump();
                        o
                    }
                    _ => return Err(self.expected("an arithmetic operator (+, -, *)")),
                };
                let mut args = Vec::new();
                while self.peek() != Some(Tok::RParen) && self.peek().is_some() {
                    args.push(self.expr()?);
                }
                let loc = self.close(open)?;
                if args.is_empty() {
                    return Err(self.err(codes::SYNTAX, loc, format!("({op}) needs arguments")));
                }
                Ok(match op {
                    "-" if args.len() == 1 => Expr::Neg(Box::new(args.pop().unwrap()), loc),
                    "-" => Expr::Sub(args, loc),
                    "+" => Expr::Add(args, loc),
                    _ => Expr::Mul(args, loc),
                })
            }
            _ => Err(self.expected("a number, a variable or (op ...)")),
        }
    }

    fn bool_expr(&mut self) -> Result<BoolExpr> {
        let open = self.expect(Tok::LParen, "'(' of a comparison, (and ...) or (or ...)")?;
        self.open()?;
        match self.peek() {
            Some(Tok::Ident(c @ ("and" | "or"))) => {
                self.bump();
                let mut args = Vec::new();
                while self.peek() != Some(Tok::RParen) && self.peek().is_some() {
                    args.push(self.bool_expr()?);
                }
                let loc = self.close(open)?;
                if args.is_empty() {
                    return Err(self.err(codes::SYNTAX, loc, format!("({c}) needs arguments")));
                }
                Ok(if c == "and" {
                    BoolExpr::And(args, loc)
                } else {
                    BoolExpr::Or(args, loc)
                })
            }
            Some(Tok::Op(o @ ("<=" | ">=" | "<" | ">" | "==" | "=" | "!="))) => {
                self.bump();
                let op = match o {
                    "<=" => CmpOp::Le,
                    ">=" => CmpOp::Ge,
                    "<" => CmpOp::Lt,
                    ">" => CmpOp::Gt,
                    "!=" => CmpOp::Ne,
                    _ => CmpOp::Eq,
                };
                let a = self.expr()?;
                let b = self.expr()?;
                let loc = self.close(open)?;
                Ok(BoolExpr::Cmp(op, a, b, loc))
            }
            _ => Err(self.expected("and, or or a comparison (<=, >=, <, >, ==, !=)")),
        }
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

/// Parses and checks a VNN-LIB 2.0 query.
pub fn parse(text: &str) -> Result<Query> {
    let mut p = Parser::new(text)?;
    let q = p.query()?;
    check(&q)?;
    Ok(q)
}

/// Scoping and typing (chapter 3.2).
fn check(q: &Query) -> Result<()> {
    let mut names: HashMap<&str, Loc> = HashMap::new();
    let mut nets: HashMap<&str, usize> = HashMap::new();
    for (k, n) in q.networks.iter().enumerate() {
        if nets.insert(&n.name, k).is_some() {
            return Err(q.err(
                codes::SCOPE,
                n.loc,
                format!("network `{}` is declared twice", n.name),
            ));
        }
        for e in &n.equivalence {
            let (Equivalence::EqualTo(o, l) | Equivalence::IsomorphicTo(o, l)) = e;
            match nets.get(o.as_str()) {
                Some(&j) if j != k => {
                    let other = &q.networks[j];
                    let sig = |n: &Network| {
                        n.decls()
                            .map(|d| (d.kind, d.shape.clone()))
                            .collect::<Vec<_>>()
                    };
                    if sig(other) != sig(n) {
                        return Err(q.err(
                            codes::TYPE,
                            *l,
                            format!(
                                "`{}` is declared equal or isomorphic to `{o}` but their inputs, hidden nodes and outputs differ in number or shape",
                                n.name
                            ),
                        ));
                    }
                }
                _ => {
                    return Err(q.err(
                        codes::SCOPE,
                        *l,
                        format!("`{o}` is not a network declared before `{}`", n.name),
                    ))
                }
            }
        }
        for d in n.decls() {
            if let Some(prev) = names.insert(&d.name, d.loc) {
                let at = q.position(prev.start);
                return Err(q.err(
                    codes::SCOPE,
                    d.loc,
                    format!("`{}` is declared twice (first at {at})", d.name),
                ));
            }
        }
    }
    for a in &q.assertions {
        check_bool(q, a, 0)?;
    }
    Ok(())
}

fn check_bool(q: &Query, b: &BoolExpr, depth: usize) -> Result<()> {
    match b {
        BoolExpr::And(xs, _) | BoolExpr::Or(xs, _) => {
            xs.iter().try_for_each(|x| check_bool(q, x, depth + 1))
        }
        BoolExpr::Cmp(_, a, c, loc) => {
            let ta = check_expr(q, a)?;
            let tc = check_expr(q, c)?;
            if let (Some(x), Some(y)) = (ta, tc) {
                if x != y {
                    return Err(q.err(
                        codes::TYPE,
                        *loc,
                        format!(
                            "this comparison relates a {} variable to a {} one (variables are strictly typed)",
                            x.name(),
                            y.name()
                        ),
                    ));
                }
            }
            Ok(())
        }
    }
}

/// The element type of a term (None for constants only).
fn check_expr(q: &Query, e: &Expr) -> Result<Option<ElemType>> {
    match e {
        Expr::Num(..) => Ok(None),
        Expr::Var(name, idx, loc) => {
            let Some((_, d)) = q.lookup(name) else {
                return Err(q.err(codes::SCOPE, *loc, format!("`{name}` is not declared")));
            };
            if idx.len() != d.shape.len() {
                return Err(q.err(
                    codes::TYPE,
                    *loc,
                    format!(
                        "`{name}` has {} dimensions {:?}; give exactly {} indices",
                        d.shape.len(),
                        d.shape,
                        d.shape.len()
                    ),
                ));
            }
            if let Some((k, (i, n))) = idx
                .iter()
                .zip(&d.shape)
                .enumerate()
                .find(|(_, (i, n))| i >= n)
            {
                return Err(q.err(
                    codes::TYPE,
                    *loc,
                    format!("index {i} of dimension {k} of `{name}` is out of range (size {n})"),
                ));
            }
            Ok(Some(d.elem))
        }
        Expr::Neg(x, _) => check_expr(q, x),
        Expr::Add(xs, loc) | Expr::Sub(xs, loc) | Expr::Mul(xs, loc) => {
            let mut ty: Option<ElemType> = None;
            for x in xs {
                if let Some(t) = check_expr(q, x)? {
                    if ty.is_some_and(|u| u != t) {
                        return Err(q.err(
                            codes::TYPE,
                            *loc,
                            format!(
                                "this term mixes {} and {} variables (variables are strictly typed)",
                                ty.unwrap().name(),
                                t.name()
                            ),
                        ));
                    }
                    ty = Some(t);
                }
            }
            Ok(ty)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lowering to the verifier's property.

impl Query {
    /// The single network, input and output tl's verifier decides, or TL0663 naming what is
    /// outside.
    pub fn single(&self) -> Result<(&Network, &TensorDecl, &TensorDecl)> {
        if self.networks.len() != 1 {
            return Err(self.err(
                codes::UNSUPPORTED,
                self.networks[1].loc,
                format!(
                    "the query declares {} networks; tl's verifier decides queries over one network",
                    self.networks.len()
                ),
            ));
        }
        let n = &self.networks[0];
        if let Some(h) = n.hidden.first() {
            return Err(self.err(
                codes::UNSUPPORTED,
                h.loc,
                "hidden-node declarations are not supported by tl's verifier",
            ));
        }
        if n.inputs.len() != 1 || n.outputs.len() != 1 {
            let d = n.inputs.get(1).or(n.outputs.get(1)).unwrap();
            return Err(self.err(
                codes::UNSUPPORTED,
                d.loc,
                "tl's verifier decides networks with one input and one output",
            ));
        }
        Ok((n, &n.inputs[0], &n.outputs[0]))
    }

    /// The element type the query asks the answer to hold for (the input's; chapter 4's
    /// `Real` means "any internal numeric representation").
    pub fn semantics(&self) -> Result<ElemType> {
        let (n, x, _) = self.single()?;
        for d in n.decls() {
            if d.elem != x.elem {
                return Err(self.err(
                    codes::UNSUPPORTED,
                    d.loc,
                    format!(
                        "`{}` is {} while `{}` is {}: networks that convert between element types are not supported",
                        d.name,
                        d.elem.name(),
                        x.name,
                        x.elem.name()
                    ),
                ));
            }
        }
        Ok(x.elem)
    }

    /// Lowers the query to a [`Property`] over the flattened (row-major) input and output.
    pub fn to_property(&self) -> Result<Property> {
        let (_, x, y) = self.single()?;
        let (nx, ny) = (x.size(), y.size());
        if nx == 0 || ny == 0 {
            return Err(self.err(
                codes::UNSUPPORTED,
                if nx == 0 { x.loc } else { y.loc },
                "a tensor with no elements cannot be verified",
            ));
        }
        let slot = |d: &TensorDecl, k: usize| {
            if d.name == x.name {
                Some(Slot::Input(k))
            } else if d.name == y.name {
                Some(Slot::Output(k))
            } else {
                None
            }
        };
        self.to_property_with(nx, ny, &slot, &|_| false, &|i| {
            let idx = x.index_of(i);
            format!("{}{:?}", x.name, idx)
        })
    }

    /// Every assertion's top-level conjuncts (nested `and`s flattened): the constraints that
    /// hold in every case of the query.
    pub fn top_conjuncts(&self) -> Vec<&BoolExpr> {
        fn walk<'a>(b: &'a BoolExpr, out: &mut Vec<&'a BoolExpr>) {
            match b {
                BoolExpr::And(xs, _) => xs.iter().for_each(|x| walk(x, out)),
                b => out.push(b),
            }
        }
        let mut out = Vec::new();
        self.assertions.iter().for_each(|a| walk(a, &mut out));
        out
    }

    /// Lowers the query to a [`Property`] over `n_in` input and `n_out` output elements of a
    /// composed network: `slot(decl, k)` says where element `k` (row-major) of a declared
    /// variable lives, `None` for a variable outside the composition. Top-level conjuncts for
    /// which `skip` holds are left out (the caller has accounted for them, e.g. by sharing the
    /// elements two equal inputs name). `input_name(i)` names input element `i` in messages.
    pub fn to_property_with(
        &self,
        n_in: usize,
        n_out: usize,
        slot: &dyn Fn(&TensorDecl, usize) -> Option<Slot>,
        skip: &dyn Fn(&BoolExpr) -> bool,
        input_name: &dyn Fn(usize) -> String,
    ) -> Result<Property> {
        let var = |name: &str, idx: &[usize], loc: Loc| -> Result<Lin> {
            let Some((_, d)) = self.lookup(name) else {
                return Err(self.err(codes::SCOPE, loc, format!("`{name}` is not declared")));
            };
            let mut l = Lin::default();
            match slot(d, d.offset(idx)) {
                Some(Slot::Input(i)) if i < n_in => {
                    l.x.insert(i, 1.0);
                }
                Some(Slot::Output(j)) if j < n_out => {
                    l.y.insert(j, 1.0);
                }
                _ => {
                    return Err(self.err(
                        codes::UNSUPPORTED,
                        loc,
                        format!("`{name}` is outside the network tl verifies"),
                    ))
                }
            }
            Ok(l)
        };
        let mut formula: Dnf = vec![Vec::new()];
        for a in self.top_conjuncts() {
            if skip(a) {
                continue;
            }
            let f = self.dnf(a, &var)?;
            if formula.len().saturating_mul(f.len()) > MAX_TERMS {
                return Err(self.err(
                    crate::error::codes::VNNLIB_BAD_PROPERTY,
                    bool_loc(a),
                    format!("the query expands to more than {MAX_TERMS} cases"),
                ));
            }
            formula = vnnlib::dnf_and(formula, f);
        }
        vnnlib::property_from_dnf(n_in, n_out, formula, input_name)
    }

    fn lin(&self, e: &Expr, var: &Resolver) -> Result<Lin> {
        Ok(match e {
            Expr::Num(v, _) => Lin {
                c: *v,
                ..Lin::default()
            },
            Expr::Var(name, idx, loc) => var(name, idx, *loc)?,
            Expr::Neg(a, _) => self.lin(a, var)?.scale(-1.0),
            Expr::Add(xs, _) => {
                let mut acc = Lin::default();
                for a in xs {
                    acc = acc.add(self.lin(a, var)?);
                }
                acc
            }
            Expr::Sub(xs, _) => {
                let mut it = xs.iter();
                let mut acc = self.lin(it.next().unwrap(), var)?;
                for a in it {
                    acc = acc.add(self.lin(a, var)?.scale(-1.0));
                }
                acc
            }
            Expr::Mul(xs, loc) => {
                let mut acc: Option<Lin> = None;
                let mut k = 1.0;
                for a in xs {
                    let t = self.lin(a, var)?;
                    if t.is_const() {
                        k *= t.c;
                    } else if acc.is_none() {
                        acc = Some(t);
                    } else {
                        return Err(self.err(
                            codes::UNSUPPORTED,
                            *loc,
                            "a product of two variables is not linear (tl's verifier decides linear queries)",
                        ));
                    }
                }
                match acc {
                    Some(t) => t.scale(k),
                    None => Lin {
                        c: k,
                        ..Lin::default()
                    },
                }
            }
        })
    }

    fn dnf(&self, b: &BoolExpr, var: &Resolver) -> Result<Dnf> {
        match b {
            BoolExpr::And(xs, loc) => {
                let mut acc: Dnf = vec![Vec::new()];
                for a in xs {
                    let f = self.dnf(a, var)?;
                    if acc.len().saturating_mul(f.len()) > MAX_TERMS {
                        return Err(self.err(
                            crate::error::codes::VNNLIB_BAD_PROPERTY,
                            *loc,
                            format!("the query expands to more than {MAX_TERMS} cases"),
                        ));
                    }
                    acc = vnnlib::dnf_and(acc, f);
                }
                Ok(acc)
            }
            BoolExpr::Or(xs, loc) => {
                let mut acc = Vec::new();
                for a in xs {
                    acc.extend(self.dnf(a, var)?);
                    if acc.len() > MAX_TERMS {
                        return Err(self.err(
                            crate::error::codes::VNNLIB_BAD_PROPERTY,
                            *loc,
                            format!("the query expands to more than {MAX_TERMS} cases"),
                        ));
                    }
                }
                Ok(acc)
            }
            BoolExpr::Cmp(op, a, c, loc) => {
                let (a, c) = (self.lin(a, var)?, self.lin(c, var)?);
                let span = self.position(loc.start);
                let le = |l: Lin, strict| Atom {
                    lin: l,
                    strict,
                    span,
                };
                let a_minus_c = a.clone().add(c.clone().scale(-1.0));
                let c_minus_a = c.add(a.scale(-1.0));
                Ok(match op {
                    CmpOp::Le => vec![vec![le(a_minus_c, false)]],
                    CmpOp::Lt => vec![vec![le(a_minus_c, true)]],
                    CmpOp::Ge => vec![vec![le(c_minus_a, false)]],
                    CmpOp::Gt => vec![vec![le(c_minus_a, true)]],
                    CmpOp::Eq => vec![vec![le(a_minus_c, false), le(c_minus_a, false)]],
                    CmpOp::Ne => vec![vec![le(a_minus_c, true)], vec![le(c_minus_a, true)]],
                })
            }
        }
    }
}

/// Where an element of a declared variable lives in the verified (composed) network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Element of the network input.
    Input(usize),
    /// Element of the network output.
    Output(usize),
}

type Resolver<'a> = dyn Fn(&str, &[usize], Loc) -> Result<Lin> + 'a;

// ---------------------------------------------------------------------------------------------
// Evaluating a query at an assignment (the replay of a counterexample).

impl Query {
    /// Whether every assertion holds when each declared variable's elements (row-major) are
    /// `val(decl, offset)`. Arithmetic is f64, comparisons exact on the computed values.
    pub fn holds(&self, val: &dyn Fn(&TensorDecl, usize) -> f64) -> bool {
        self.assertions.iter().all(|a| self.holds_bool(a, val))
    }

    fn term(&self, e: &Expr, val: &dyn Fn(&TensorDecl, usize) -> f64) -> f64 {
        match e {
            Expr::Num(v, _) => *v,
            Expr::Var(name, idx, _) => match self.lookup(name) {
                Some((_, d)) => val(d, d.offset(idx)),
                None => f64::NAN,
            },
            Expr::Neg(a, _) => -self.term(a, val),
            Expr::Add(xs, _) => xs.iter().map(|x| self.term(x, val)).sum(),
            Expr::Sub(xs, _) => {
                let mut it = xs.iter();
                let first = it.next().map_or(0.0, |x| self.term(x, val));
                it.fold(first, |acc, x| acc - self.term(x, val))
            }
            Expr::Mul(xs, _) => xs.iter().map(|x| self.term(x, val)).product(),
        }
    }

    fn holds_bool(&self, b: &BoolExpr, val: &dyn Fn(&TensorDecl, usize) -> f64) -> bool {
        match b {
            BoolExpr::And(xs, _) => xs.iter().all(|x| self.holds_bool(x, val)),
            BoolExpr::Or(xs, _) => xs.iter().any(|x| self.holds_bool(x, val)),
            BoolExpr::Cmp(op, a, c, _) => {
                let (a, c) = (self.term(a, val), self.term(c, val));
                match op {
                    CmpOp::Le => a <= c,
                    CmpOp::Lt => a < c,
                    CmpOp::Ge => a >= c,
                    CmpOp::Gt => a > c,
                    CmpOp::Eq => a == c,
                    CmpOp::Ne => a != c && !a.is_nan() && !c.is_nan(),
                }
            }
        }
    }
}

fn bool_loc(b: &BoolExpr) -> Loc {
    match b {
        BoolExpr::Cmp(_, _, _, l) | BoolExpr::And(_, l) | BoolExpr::Or(_, l) => *l,
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

fn num(v: f64) -> String {
    // Rust prints the shortest text that reads back to the same f64, never with an exponent,
    // which is the standard's Number syntax (`-? digit+ ('.' digit+)?`).
    let s = format!("{v}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn write_index(out: &mut String, idx: &[usize]) {
    out.push('[');
    for (k, i) in idx.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(out, "{i}");
    }
    out.push(']');
}

fn write_expr(out: &mut String, e: &Expr) {
    match e {
        Expr::Num(v, _) => out.push_str(&num(*v)),
        Expr::Var(n, idx, _) => {
            out.push_str(n);
            if !idx.is_empty() {
                write_index(out, idx);
            }
        }
        Expr::Neg(a, _) => {
            out.push_str("(- ");
            write_expr(out, a);
            out.push(')');
        }
        Expr::Add(xs, _) | Expr::Sub(xs, _) | Expr::Mul(xs, _) => {
            out.push('(');
            out.push_str(match e {
                Expr::Add(..) => "+",
                Expr::Sub(..) => "-",
                _ => "*",
            });
            for x in xs {
                out.push(' ');
                write_expr(out, x);
            }
            out.push(')');
        }
    }
}

fn write_bool(out: &mut String, b: &BoolExpr, indent: usize) {
    match b {
        BoolExpr::Cmp(op, a, c, _) => {
            let _ = write!(out, "({} ", op.symbol());
            write_expr(out, a);
            out.push(' ');
            write_expr(out, c);
            out.push(')');
        }
        BoolExpr::And(xs, _) | BoolExpr::Or(xs, _) => {
            out.push_str(if matches!(b, BoolExpr::And(..)) {
                "(and"
            } else {
                "(or"
            });
            let flat = xs.iter().all(|x| matches!(x, BoolExpr::Cmp(..)));
            for x in xs {
                if flat {
                    out.push(' ');
                } else {
                    out.push('\n');
                    out.push_str(&"  ".repeat(indent + 1));
                }
                write_bool(out, x, indent + 1);
            }
            out.push(')');
        }
    }
}

/// Prints a query in the standard's syntax (`parse(&write(q))` gives `q` back, spans aside).
pub fn write(q: &Query) -> String {
    let mut out = String::new();
    let (a, b) = q.version.unwrap_or((2, 0));
    let _ = writeln!(out, "(vnnlib-version <{a}.{b}>)\n");
    for n in &q.networks {
        let _ = writeln!(out, "(declare-network {}", n.name);
        for e in &n.equivalence {
            match e {
                Equivalence::EqualTo(o, _) => {
                    let _ = writeln!(out, "  (equal-to {o})");
                }
                Equivalence::IsomorphicTo(o, _) => {
                    let _ = writeln!(out, "  (isomorphic-to {o})");
                }
            }
        }
        for d in n.decls() {
            let _ = write!(out, "  ({} {} {} ", d.kind.keyword(), d.name, d.elem.name());
            write_index(&mut out, &d.shape);
            if let Some(o) = &d.onnx_name {
                let _ = write!(out, " \"{}\"", escape(o));
            }
            out.push_str(")\n");
        }
        out.push_str(")\n\n");
    }
    for a in &q.assertions {
        out.push_str("(assert ");
        write_bool(&mut out, a, 0);
        out.push_str(")\n");
    }
    out
}

/// States a 1.0 property in 2.0: one network `N` with input `X` and output `Y` (flat, `Real`:
/// 1.0 has no element types), one assertion per case.
pub fn from_property(p: &Property) -> Query {
    let none = Loc { start: 0, end: 0 };
    let decl = |kind, name: &str, n| TensorDecl {
        kind,
        name: name.into(),
        elem: ElemType::Real,
        shape: vec![n],
        onnx_name: None,
        loc: none,
    };
    let x = |i: usize| Expr::Var("X".into(), vec![i], none);
    let y = |i: usize| Expr::Var("Y".into(), vec![i], none);
    let mut cases = Vec::new();
    for case in &p.cases {
        let mut conj = Vec::new();
        for i in 0..p.n_inputs {
            conj.push(BoolExpr::Cmp(
                CmpOp::Ge,
                x(i),
                Expr::Num(case.input.lower[i], none),
                none,
            ));
            conj.push(BoolExpr::Cmp(
                CmpOp::Le,
                x(i),
                Expr::Num(case.input.upper[i], none),
                none,
            ));
        }
        let mut disj = Vec::new();
        for d in &case.disjuncts {
            let mut atoms = Vec::new();
            for c in d {
                let terms: Vec<Expr> = c
                    .coeffs
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(j, v)| {
                        if *v == 1.0 {
                            y(j)
                        } else {
                            Expr::Mul(vec![Expr::Num(*v, none), y(j)], none)
                        }
                    })
                    .collect();
                let lhs = match terms.len() {
                    0 => Expr::Num(0.0, none),
                    1 => terms.into_iter().next().unwrap(),
                    _ => Expr::Add(terms, none),
                };
                let op = if c.strict { CmpOp::Lt } else { CmpOp::Le };
                atoms.push(BoolExpr::Cmp(op, lhs, Expr::Num(c.rhs, none), none));
            }
            if atoms.is_empty() {
                // An empty conjunction is true.
                atoms.push(BoolExpr::Cmp(
                    CmpOp::Le,
                    Expr::Num(0.0, none),
                    Expr::Num(0.0, none),
                    none,
                ));
            }
            disj.push(BoolExpr::And(atoms, none));
        }
        if disj.is_empty() {
            // No disjunct: the case is unreachable; state it as false.
            disj.push(BoolExpr::Cmp(
                CmpOp::Lt,
                Expr::Num(0.0, none),
                Expr::Num(0.0, none),
                none,
            ));
        }
        conj.push(BoolExpr::Or(disj, none));
        cases.push(BoolExpr::And(conj, none));
    }
    let assertion = if cases.is_empty() {
        BoolExpr::Cmp(CmpOp::Lt, Expr::Num(0.0, none), Expr::Num(0.0, none), none)
    } else {
        BoolExpr::Or(cases, none)
    };
    Query {
        version: Some((2, 0)),
        networks: vec![Network {
            name: "N".into(),
            equivalence: Vec::new(),
            inputs: vec![decl(DeclKind::Input, "X", p.n_inputs)],
            hidden: Vec::new(),
            outputs: vec![decl(DeclKind::Output, "Y", p.n_outputs)],
            loc: none,
        }],
        assertions: vec![assertion],
        line_starts: vec![0],
    }
}

/// Gives the one network of a query made by [`from_property`] its element type and the shapes
/// of its input and output (row-major: flat index `i` becomes the index of offset `i`). The
/// shapes must hold the property's element counts.
pub fn shape_single(q: &mut Query, elem: ElemType, x_shape: &[usize], y_shape: &[usize]) {
    let n = &mut q.networks[0];
    n.inputs[0].elem = elem;
    n.outputs[0].elem = elem;
    n.inputs[0].shape = x_shape.to_vec();
    n.outputs[0].shape = y_shape.to_vec();
    let (x, y) = (n.inputs[0].clone(), n.outputs[0].clone());
    fn expr(e: &mut Expr, x: &TensorDecl, y: &TensorDecl) {
        match e {
            Expr::Num(..) => {}
            Expr::Var(name, idx, _) => {
                let d = if *name == x.name { x } else { y };
                *idx = d.index_of(idx[0]);
            }
            Expr::Neg(a, _) => expr(a, x, y),
            Expr::Add(xs, _) | Expr::Sub(xs, _) | Expr::Mul(xs, _) => {
                xs.iter_mut().for_each(|a| expr(a, x, y))
            }
        }
    }
    fn walk(b: &mut BoolExpr, x: &TensorDecl, y: &TensorDecl) {
        match b {
            BoolExpr::Cmp(_, a, c, _) => {
                expr(a, x, y);
                expr(c, x, y);
            }
            BoolExpr::And(xs, _) | BoolExpr::Or(xs, _) => xs.iter_mut().for_each(|a| walk(a, x, y)),
        }
    }
    for a in &mut q.assertions {
        walk(a, &x, &y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::codes as bcodes;

    const Q: &str = "; a query\n(vnnlib-version <2.0>)\n(declare-network f\n  (declare-input X float32 [1,2])\n  (declare-output Y float32 [2])\n)\n(assert (and (>= X[0,0] -1) (<= X[0,0] 1.5) (>= X[0,1] 0) (<= X[0,1] 0.5)))\n(assert (or (<= Y[1] Y[0]) (>= (+ Y[0] (* 2 Y[1])) 3) (== (- Y[0] Y[1] 1) 0)))\n";

    #[test]
    fn parses_typed_tensors_and_lowers_row_major() {
        let q = parse(Q).unwrap();
        assert_eq!(q.version, Some((2, 0)));
        let (n, x, y) = q.single().unwrap();
        assert_eq!(n.name, "f");
        assert_eq!((x.elem, x.shape.clone()), (ElemType::Float32, vec![1, 2]));
        assert_eq!(y.shape, vec![2]);
        assert_eq!(q.semantics().unwrap(), ElemType::Float32);
        let p = q.to_property().unwrap();
        assert_eq!((p.n_inputs, p.n_outputs), (2, 2));
        assert_eq!(p.cases.len(), 1);
        let c = &p.cases[0];
        assert_eq!(c.input.lower, vec![-1.0, 0.0]);
        assert_eq!(c.input.upper, vec![1.5, 0.5]);
        assert_eq!(c.disjuncts.len(), 3);
        assert_eq!(c.disjuncts[0][0].coeffs, vec![-1.0, 1.0]);
        assert_eq!(c.disjuncts[1][0].coeffs, vec![-1.0, -2.0]);
        assert_eq!(c.disjuncts[1][0].rhs, -3.0);
        // == is two inequalities: y0 - y1 - 1 <= 0 and >= 0.
        assert_eq!(c.disjuncts[2].len(), 2);
        assert!(c.disjuncts[2].iter().all(|k| k.holds(&[3.0, 2.0])));
        assert!(!c.disjuncts[2].iter().all(|k| k.holds(&[3.0, 1.0])));
        // The same constraint set through the 1.0 dispatch.
        assert_eq!(vnnlib::parse(Q).unwrap(), p);
    }

    #[test]
    fn writes_and_reads_back() {
        let q = parse(Q).unwrap();
        let t = write(&q);
        let q2 = parse(&t).unwrap();
        assert_eq!(write(&q2), t);
        assert_eq!(q2.to_property().unwrap(), q.to_property().unwrap());
        // 2.0 -> property -> 1.0 -> property.
        let p = q.to_property().unwrap();
        assert_eq!(vnnlib::parse_v1(&vnnlib::write_v1(&p)).unwrap(), p);
        // property -> 2.0 -> property.
        assert_eq!(
            parse(&write(&from_property(&p)))
                .unwrap()
                .to_property()
                .unwrap(),
            p
        );
    }

    #[test]
    fn reads_the_whole_language() {
        let t = "(declare-network teacher\n (declare-input tX Real [1,3] \"input\")\n (declare-hidden tH Real [4] \"relu_1\")\n (declare-output tY Real [2] \"out\"))\n\
                 (declare-network student (isomorphic-to teacher)\n (declare-input sX Real [1,3])\n (declare-hidden sH Real [4] \"h\")\n (declare-output sY Real [2]))\n\
                 (declare-network again (equal-to teacher) (declare-input aX Real [1,3]) (declare-hidden aH Real [4] \"relu_1\") (declare-output aY Real [2]))\n\
                 (assert (== tX[0,0] sX[0,0]))\n(assert (!= (- tY[0]) sY[0]))\n(assert (or (> tH[3] 0) (< (* 0.5 tH[0]) 1e-3)))\n";
        let q = parse(t).unwrap();
        assert_eq!(q.networks.len(), 3);
        assert_eq!(
            q.networks[1].equivalence,
            vec![Equivalence::IsomorphicTo(
                "teacher".into(),
                q.networks[1]
                    .equivalence
                    .iter()
                    .map(|e| match e {
                        Equivalence::IsomorphicTo(_, l) | Equivalence::EqualTo(_, l) => *l,
                    })
                    .next()
                    .unwrap()
            )]
        );
        assert_eq!(q.networks[0].hidden[0].onnx_name.as_deref(), Some("relu_1"));
        let w = write(&q);
        assert_eq!(write(&parse(&w).unwrap()), w);
        // Outside the verifier's fragment: refused, with the reason's position.
        let e = q.to_property().unwrap_err();
        assert_eq!(e.code, codes::UNSUPPORTED);
        assert_eq!(e.span.unwrap().line, 5);
    }

    fn code(t: &str) -> (&'static str, Span) {
        let e = parse(t).and_then(|q| q.to_property()).unwrap_err();
        (e.code, e.span.unwrap_or(Span { line: 0, col: 0 }))
    }

    #[test]
    fn bad_queries_get_coded_errors_with_positions() {
        let net = "(declare-network f (declare-input X Real [2]) (declare-output Y Real [1]))\n";
        let cases: &[(&str, &str, usize, usize)] = &[
            ("(assert (<= X[0] 1)", codes::SYNTAX, 2, 20),
            ("(assert (<= Z[0] 1))", codes::SCOPE, 2, 13),
            ("(assert (<= X[2] 1))", codes::TYPE, 2, 13),
            ("(assert (<= X[0,0] 1))", codes::TYPE, 2, 13),
            ("(assert (<= X 1))", codes::TYPE, 2, 13),
            ("(assert (<= (* X[0] X[1]) 1))", codes::UNSUPPORTED, 2, 13),
            ("(assert (<= (+ X[0] Y[0]) 1))", bcodes::VNNLIB_UNSUPPORTED, 2, 9),
            ("(assert (<= X[0] 1 2))", codes::SYNTAX, 2, 20),
            ("(assert (xor (<= X[0] 1)))", codes::SYNTAX, 2, 10),
            ("(assert (<= X[0] 1e999))", codes::SYNTAX, 2, 18),
            ("(assert (<= X[0] 1)) \u{e9}", codes::SYNTAX, 2, 22),
            ("(declare-network g (declare-input A Real [1]) (declare-output B Real [1]))(assert (<= X[0] 1))", codes::UNSUPPORTED, 2, 1),
        ];
        for (tail, want, line, col) in cases {
            let (c, s) = code(&format!("{net}{tail}"));
            assert_eq!((c, s.line, s.col), (*want, *line, *col), "{tail}");
        }
        let (c, _) = code("(declare-network f (declare-input X Real [2]) (declare-output X Real [1]))(assert (<= X[0] 1))");
        assert_eq!(c, codes::SCOPE);
        let (c, _) = code("(declare-network f (declare-output Y Real [1]) (declare-input X Real [2]))(assert (<= X[0] 1))");
        assert_eq!(c, codes::SCOPE);
        let (c, _) = code("(declare-network f (declare-input X real32 [2]) (declare-output Y Real [1]))(assert (<= X[0] 1))");
        assert_eq!(c, codes::TYPE);
        let (c, _) = code("(declare-network f (declare-input X float32 [2]) (declare-output Y float64 [1]))(assert (<= X[0] Y[0]))");
        assert_eq!(c, codes::TYPE);
        let (c, _) = code("(declare-network f (declare-input X Real [2]) (declare-hidden H Real [1]) (declare-output Y Real [1]))(assert (<= X[0] 1))");
        assert_eq!(c, codes::SYNTAX);
        let (c, _) = code("(declare-network f (equal-to g) (declare-input X Real [2]) (declare-output Y Real [1]))(assert (<= X[0] 1))");
        assert_eq!(c, codes::SCOPE);
        let (c, _) = code("(vnnlib-version <3.0>)(declare-network f (declare-input X Real [2]) (declare-output Y Real [1]))(assert (<= X[0] 1))");
        assert_eq!(c, codes::VERSION);
        let (c, _) = code("(declare-network f (declare-input X Real [100000,100000]) (declare-output Y Real [1]))(assert (<= X[0,0] 1))");
        assert_eq!(c, codes::TYPE);
        let (c, _) = code(&format!("{net}(assert (<= X[0] 1))"));
        assert_eq!(c, bcodes::VNNLIB_BAD_PROPERTY, "X[1] has no bounds");
        let deep = format!("{net}(assert {}", "(and ".repeat(100_000));
        assert_eq!(code(&deep).0, codes::SYNTAX);
        assert_eq!(code("").0, codes::SYNTAX);
        assert_eq!(code(net).0, codes::SYNTAX, "no assertion");
    }

    #[test]
    fn random_mutations_never_panic() {
        // Deterministic byte-level mutations of a valid query: every outcome is Ok or a coded error.
        let base = Q.as_bytes();
        let mut s: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let alphabet = b"()[],;-+*<=>!. 0123456789XYfa\"\n";
        for _ in 0..3000 {
            let mut b = base.to_vec();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % b.len();
                match next() % 3 {
                    0 => {
                        b.remove(i);
                    }
                    1 => b.insert(i, alphabet[(next() as usize) % alphabet.len()]),
                    _ => b[i] = alphabet[(next() as usize) % alphabet.len()],
                }
            }
            let t = String::from_utf8_lossy(&b);
            if let Ok(q) = parse(&t) {
                let _ = q.to_property();
                let w = write(&q);
                assert_eq!(write(&parse(&w).unwrap()), w, "{t}");
            }
        }
    }
}
