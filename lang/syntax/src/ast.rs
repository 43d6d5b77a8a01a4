//! The abstract syntax of one `.tl` item.
//!
//! Spans are byte offsets *relative to the start of the item* (see [`crate::split`]): an edit in one
//! item leaves every other item's tree equal, so the salsa queries above it are not re-run.
//! Nothing here knows about files, salsa or the LSP.

use crate::TextRange;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub text: String,
    pub span: TextRange,
}

/// A dotted name: `x`, `fc1.weight`, `layers.0.attn.q_proj.weight`.
/// Numeric segments are allowed after the first (PyTorch state-dict style).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: TextRange,
}

impl Path {
    /// The path as written, segments joined by `.`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            s.push_str(&seg.text);
        }
        s
    }
    /// `Some(name)` when the path is a single identifier.
    pub fn as_single(&self) -> Option<&Ident> {
        match self.segments.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

/// A string literal; `value` has its escapes resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StringLit {
    pub value: String,
    pub span: TextRange,
}

/// One top-level item. `Error` covers text that could not be parsed as any item.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Import(Import),
    Graph(Graph),
    Contract(Contract),
    Tolerance(Tolerance),
    Assume(Assume),
    Error(TextRange),
}

impl Item {
    pub fn span(&self) -> TextRange {
        match self {
            Item::Import(i) => i.span,
            Item::Graph(g) => g.span,
            Item::Contract(c) => c.span,
            Item::Tolerance(t) => t.span,
            Item::Assume(a) => a.span,
            Item::Error(s) => *s,
        }
    }
    pub fn name(&self) -> Option<&Ident> {
        match self {
            Item::Import(i) => i.alias.as_ref(),
            Item::Graph(g) => Some(&g.name),
            Item::Contract(c) => Some(&c.name),
            Item::Tolerance(t) => Some(&t.name),
            Item::Assume(a) => Some(&a.name),
            Item::Error(_) => None,
        }
    }
}

/// `import "other.tl"`, `import "blocks.tl" as blocks`, `import onnx "net.onnx" as net`.
/// `format` is the word between `import` and the path (`onnx`, `torchlean`, `vnnlib`); `None` for `.tl`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Import {
    pub doc: Option<String>,
    pub format: Option<Ident>,
    pub path: StringLit,
    pub alias: Option<Ident>,
    pub span: TextRange,
}

/// `graph` (an entry point) or `block` (a reusable sub-graph that graphs instantiate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GraphKind {
    Graph,
    Block,
}

/// `graph name(x: f32[B, 784]) -> logits: f32[B, 10] within fp32 { ... }`
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Graph {
    pub doc: Option<String>,
    pub kind: GraphKind,
    pub name: Ident,
    pub inputs: Vec<Binding>,
    pub outputs: Vec<Binding>,
    /// `within TOL` after the signature: the graph's default error budget.
    pub tolerance: Option<Ident>,
    pub body: Vec<Stmt>,
    pub span: TextRange,
}

/// `name: type`, an input or output of a graph.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: TextRange,
}

/// `f32[B, 784]`, `i64[N]`, `f64` (a scalar).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TypeExpr {
    pub dtype: Ident,
    /// `None` for a scalar written without brackets.
    pub dims: Option<Vec<DimExpr>>,
    pub span: TextRange,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DimExpr {
    /// A fixed extent, `784`.
    Const { value: u64, span: TextRange },
    /// A symbolic extent, `B`: equal wherever the same name appears in one signature.
    Sym(Ident),
}

impl DimExpr {
    pub fn span(&self) -> TextRange {
        match self {
            DimExpr::Const { span, .. } => *span,
            DimExpr::Sym(id) => id.span,
        }
    }
}

/// A statement in a graph or block body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Stmt {
    /// `param fc1.weight: f32[128, 784]` or `param b: f32[2] = [0.5, -1.0]` or `= load("w.npy")`.
    Param(ParamDecl),
    /// `params from "weights.safetensors"`: payload for every declared param without an initialiser,
    /// keyed by its dotted name.
    ParamsFrom {
        source: Expr,
        span: TextRange,
    },
    /// `h1 = linear(x, fc1.weight, fc1.bias)`, optionally `within TOL`.
    Node(NodeDef),
    Error(TextRange),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParamDecl {
    pub doc: Option<String>,
    pub path: Path,
    pub ty: TypeExpr,
    pub init: Option<Expr>,
    pub span: TextRange,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeDef {
    pub doc: Option<String>,
    pub name: Ident,
    /// Normally a [`Expr::Call`] of an op or a block; `repeat(block, x, times = 6)` instantiates a block N times.
    pub value: Expr,
    pub tolerance: Option<Ident>,
    pub span: TextRange,
}

/// `contract name on graph within TOL { clauses }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Contract {
    pub doc: Option<String>,
    pub name: Ident,
    /// The graph the contract is about (may be an imported alias, e.g. `net`).
    pub target: Path,
    pub tolerance: Option<Ident>,
    pub clauses: Vec<Clause>,
    pub span: TextRange,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Clause {
    /// `given x in linf_ball(load("digit7.npy"), eps = 0.02)`; `given property vnnlib("p.vnnlib")`
    /// is written `given vnnlib("p.vnnlib")` with `var = None`.
    Given {
        var: Option<Ident>,
        set: Expr,
        span: TextRange,
    },
    /// `ensure argmax(logits) == 7`, `ensure compiled ~= reference within fp32`.
    Ensure {
        claim: Expr,
        within: Option<Ident>,
        span: TextRange,
    },
    /// `check by crown then bab(timeout = 60s)`: methods tried in order.
    CheckBy {
        methods: Vec<Method>,
        span: TextRange,
    },
    /// `rests on cublas_sgemm, cudnn_conv`.
    RestsOn {
        assumptions: Vec<Ident>,
        span: TextRange,
    },
    /// `execute on cuda` (or `cpu`).
    ExecuteOn {
        target: Ident,
        span: TextRange,
    },
    /// `expect falsified`: the contract is a known-buggy variant, meant to be falsified (an
    /// expected failure, as test runners mark xfail).
    Expect {
        outcome: Ident,
        span: TextRange,
    },
    /// `card KVCache`: the contract states the property of a TorchLean BugZoo card (its name as
    /// in `NN/Examples/BugZoo/<Card>.lean`); the ledger sets what TorchLean proves beside what
    /// tl checked.
    Card {
        name: Ident,
        span: TextRange,
    },
    Error(TextRange),
}

/// A check method: `crown`, `bab(timeout = 60s, splits = "input")`, `sampling(1000, seed = 0)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Method {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: TextRange,
}

/// `tolerance fp32_run = abs 1e-5, rel 1e-4, ulp 4`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tolerance {
    pub doc: Option<String>,
    pub name: Ident,
    pub components: Vec<ToleranceComponent>,
    pub span: TextRange,
}

/// One bound of a tolerance: `kind` is `abs`, `rel` or `ulp` (validated by analysis).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ToleranceComponent {
    pub kind: Ident,
    pub value: Number,
    pub span: TextRange,
}

/// `assume kernel cublas_sgemm: "cuBLAS SGEMM is IEEE binary32 within fp32_run"`.
/// `kind` is one of `kernel`, `solver`, `environment`, `float`, `certificate` (validated by analysis).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assume {
    pub doc: Option<String>,
    pub kind: Ident,
    pub name: Ident,
    pub justification: StringLit,
    pub span: TextRange,
}

/// A numeric literal, kept as written so the formatter is lossless; analysis parses it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number {
    pub text: String,
    pub span: TextRange,
}

impl Number {
    pub fn as_f64(&self) -> Option<f64> {
        self.text.parse().ok()
    }
    /// `Some` when the literal is written as an integer (no `.`, no exponent).
    pub fn as_i64(&self) -> Option<i64> {
        if self.text.contains(['.', 'e', 'E']) {
            None
        } else {
            self.text.parse().ok()
        }
    }
}

/// `60s`, `500ms`, `2m`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Duration {
    pub text: String,
    pub millis: u64,
    pub span: TextRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `~=` or `≈`: approximately equal, read with an `ensure ... within TOL`.
    Approx,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

/// A call argument, positional or `name = value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: TextRange,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    Number(Number),
    String(StringLit),
    Bool {
        value: bool,
        span: TextRange,
    },
    Duration(Duration),
    /// A reference: a node, input, param, graph, tolerance or assumption.
    Name(Path),
    /// `[1, 2, 3]` or nested `[[1, 2], [3, 4]]`.
    List {
        items: Vec<Expr>,
        span: TextRange,
    },
    /// `op(args)`, `block(args)`, `load("w.npy")`, `linf_ball(c, eps = 0.1)`.
    Call {
        callee: Path,
        args: Vec<Arg>,
        span: TextRange,
    },
    /// `y[0]`, `y[0, 3]`.
    Index {
        base: Box<Expr>,
        indices: Vec<Expr>,
        span: TextRange,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
        span: TextRange,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: TextRange,
    },
    /// `(a, b)` in a claim, or a parenthesised expression (`items.len() == 1` keeps the parentheses
    /// for the formatter).
    Paren {
        items: Vec<Expr>,
        span: TextRange,
    },
    Error(TextRange),
}

impl Expr {
    pub fn span(&self) -> TextRange {
        match self {
            Expr::Number(n) => n.span,
            Expr::String(s) => s.span,
            Expr::Duration(d) => d.span,
            Expr::Name(p) => p.span,
            Expr::Bool { span, .. }
            | Expr::List { span, .. }
            | Expr::Call { span, .. }
            | Expr::Index { span, .. }
            | Expr::Unary { span, .. }
            | Expr::Binary { span, .. }
            | Expr::Paren { span, .. } => *span,
            Expr::Error(span) => *span,
        }
    }
}
