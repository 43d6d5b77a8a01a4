//! Graph and block analysis: names, ops, attributes, shapes and dtypes, node by node.
//!
//! [`graph_signature`] reads only a graph's header, so graphs that instantiate a block do not
//! re-run when the block's body changes but its signature does not. [`analyze_graph`] checks one
//! body against the op table (the same shape rules the executors use) and block signatures.

use std::collections::{BTreeMap, HashMap};

use tl_ir::{AttrKind, AttrValue, Attrs, DType, Dim, Op, OpInfo, Shape};
use tl_syntax::ast::{self, Expr, GraphKind, Stmt};
use tl_syntax::TextRange;

use crate::db::Db;
use crate::diagnostics::{Diagnostic, Span};
use crate::items::{graph_ast, name_span, DefKind, ItemSource};
use crate::scope::{lookup, suggest};

/// A tensor type as declared or inferred; `dtype` is `None` when the declared name is unknown.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct TensorType {
    pub dtype: Option<DType>,
    pub shape: Shape,
}

impl std::fmt::Display for TensorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.dtype {
            Some(d) => write!(f, "{d}{}", self.shape),
            None => write!(f, "?{}", self.shape),
        }
    }
}

/// An input or output of a graph signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Port {
    pub name: String,
    pub ty: TensorType,
    /// The span of the name (item-relative).
    pub span: TextRange,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Signature {
    pub kind: GraphKind,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    pub tolerance: Option<String>,
}

/// The signature of a graph or block item.
#[salsa::tracked(returns(ref))]
pub fn graph_signature<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<Signature> {
    let g = graph_ast(db, item)?;
    let port = |b: &ast::Binding| Port {
        name: b.name.text.clone(),
        ty: type_of(&b.ty),
        span: b.name.span,
    };
    Some(Signature {
        kind: g.kind,
        inputs: g.inputs.iter().map(port).collect(),
        outputs: g.outputs.iter().map(port).collect(),
        tolerance: g.tolerance.as_ref().map(|t| t.text.clone()),
    })
}

/// The blocks a graph body instantiates (block calls and `repeat`), read from the syntax alone,
/// so that cycle detection never analyses a body (and so never recurses through a cycle).
#[salsa::tracked(returns(ref))]
pub fn instantiated_blocks<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Vec<ItemSource<'db>> {
    fn walk<'db>(
        db: &'db dyn Db,
        file: crate::db::SourceFile,
        e: &Expr,
        out: &mut Vec<ItemSource<'db>>,
    ) {
        let named = |path: &ast::Path, out: &mut Vec<ItemSource<'db>>| {
            let segs: Vec<&str> = path.segments.iter().map(|s| s.text.as_str()).collect();
            if let Some(def) = lookup(db, file, &segs).filter(|d| d.kind == DefKind::Block) {
                if !out.contains(&def.item) {
                    out.push(def.item);
                }
            }
        };
        match e {
            Expr::Call { callee, args, .. } => {
                if callee.text() == "repeat" {
                    if let Some(Expr::Name(p)) =
                        args.iter().find(|a| a.name.is_none()).map(|a| &a.value)
                    {
                        named(p, out);
                    }
                } else if tl_ir::lookup(&callee.text()).is_none() {
                    named(callee, out);
                }
                for a in args {
                    walk(db, file, &a.value, out);
                }
            }
            Expr::List { items, .. } | Expr::Paren { items, .. } => {
                for i in items {
                    walk(db, file, i, out);
                }
            }
            Expr::Index { base, indices, .. } => {
                walk(db, file, base, out);
                for i in indices {
                    walk(db, file, i, out);
                }
            }
            Expr::Unary { operand, .. } => walk(db, file, operand, out),
            Expr::Binary { lhs, rhs, .. } => {
                walk(db, file, lhs, out);
                walk(db, file, rhs, out);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(g) = graph_ast(db, item) {
        let file = item.file(db);
        for stmt in &g.body {
            if let Stmt::Node(n) = stmt {
                walk(db, file, &n.value, &mut out);
            }
        }
    }
    out
}

/// The chain of block names from `from` back to `to` through instances (`from -> ... -> to`),
/// when `to` is reachable from `from`; a breadth-first search over [`instantiated_blocks`], so
/// any cycle costs one visit per block.
pub fn instantiation_cycle<'db>(
    db: &'db dyn Db,
    from: ItemSource<'db>,
    to: ItemSource<'db>,
) -> Option<Vec<String>> {
    let name = |i: ItemSource<'db>| i.name(db).clone().unwrap_or_else(|| "?".into());
    let mut parent: HashMap<ItemSource<'db>, Option<ItemSource<'db>>> = HashMap::new();
    parent.insert(from, None);
    let mut queue = std::collections::VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut chain = vec![name(at)];
            let mut cur = at;
            while let Some(Some(p)) = parent.get(&cur) {
                chain.push(name(*p));
                cur = *p;
            }
            chain.reverse();
            chain.insert(0, name(to));
            return Some(chain);
        }
        for &next in instantiated_blocks(db, at) {
            if !parent.contains_key(&next) {
                parent.insert(next, Some(at));
                queue.push_back(next);
            }
        }
    }
    None
}

/// The declared type of a type expression (unknown dtype names give `dtype: None`).
pub fn type_of(t: &ast::TypeExpr) -> TensorType {
    TensorType {
        dtype: DType::from_name(&t.dtype.text),
        shape: Shape(
            t.dims
                .iter()
                .flatten()
                .map(|d| match d {
                    ast::DimExpr::Const { value, .. } => Dim::Known(*value),
                    ast::DimExpr::Sym(id) => Dim::Sym(id.text.clone()),
                })
                .collect(),
        ),
    }
}

/// Where a node's value comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum NodeOrigin<'db> {
    Input,
    /// A declared param; `init` says where its payload comes from.
    Param {
        init: ParamInit,
    },
    Op(Op),
    /// An instance of a block (its params are prefixed with the node's name).
    Block(ItemSource<'db>),
    /// `repeat(block, x, times = n)`: n chained instances, params prefixed `name.0.`, `name.1.`, ...
    Repeat(ItemSource<'db>, u32),
}

/// Where a param's payload comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum ParamInit {
    /// `params from "..."` in the graph (or the instantiating graph, for a block).
    FromGraphSource,
    /// `= load("w.npy")` or `= load("w.safetensors", key = "fc.weight")`.
    Load { path: String, key: Option<String> },
    /// `= [ ... ]`: literal values, row-major (bit patterns, so the type is `Eq`).
    Literal(Vec<u64>),
}

/// One node of an analysed graph: inputs, params and op nodes alike.
#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub struct NodeInfo<'db> {
    pub name: String,
    pub origin: NodeOrigin<'db>,
    pub name_span: TextRange,
    /// The whole statement (or binding).
    pub span: TextRange,
    /// `None` when an error upstream left the type unknown.
    pub ty: Option<TensorType>,
    /// Tensor inputs, as indices into the graph's node list.
    pub args: Vec<usize>,
    pub attrs: Attrs,
    pub tolerance: Option<String>,
    pub doc: Option<String>,
}

/// What a name occurrence in a graph body refers to (for hover, go-to-definition, references).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum Resolution<'db> {
    Node(usize),
    Op(Op),
    Attr(Op, String),
    Def(ItemSource<'db>, DefKind),
}

/// One resolved name occurrence (item-relative range).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Use<'db> {
    pub range: TextRange,
    pub resolution: Resolution<'db>,
}

#[derive(Clone, Debug, PartialEq, salsa::SalsaValue)]
pub struct GraphAnalysis<'db> {
    pub nodes: Vec<NodeInfo<'db>>,
    /// Output name and node index, in signature order (missing outputs are left out).
    pub outputs: Vec<(String, usize)>,
    /// Every resolved name occurrence: (item-relative range, what it is).
    pub uses: Vec<Use<'db>>,
    /// `params from` sources, item-relative spans.
    pub param_sources: Vec<(String, TextRange)>,
    pub diagnostics: Vec<Diagnostic<'db>>,
}

impl<'db> GraphAnalysis<'db> {
    pub fn node(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == crate::diagnostics::Severity::Error)
    }
}

/// Analyses one graph or block body.
#[salsa::tracked(returns(ref))]
pub fn analyze_graph<'db>(db: &'db dyn Db, item: ItemSource<'db>) -> Option<GraphAnalysis<'db>> {
    let g = graph_ast(db, item)?;
    let mut cx = GraphCx {
        db,
        item,
        nodes: Vec::new(),
        by_name: HashMap::new(),
        later: HashMap::new(),
        uses: Vec::new(),
        diags: Vec::new(),
        symbols: BTreeMap::new(),
        param_sources: Vec::new(),
        current: String::new(),
        nested: 0,
    };
    cx.run(g);
    let outputs = cx.outputs(g);
    cx.unused(&outputs);
    cx.ambiguous_broadcasts();
    Some(GraphAnalysis {
        nodes: cx.nodes,
        outputs,
        uses: cx.uses,
        param_sources: cx.param_sources,
        diagnostics: cx.diags,
    })
}

struct GraphCx<'db> {
    db: &'db dyn Db,
    item: ItemSource<'db>,
    nodes: Vec<NodeInfo<'db>>,
    by_name: HashMap<String, usize>,
    /// Node names defined further down, to tell "used before defined" from "unknown".
    later: HashMap<String, TextRange>,
    uses: Vec<Use<'db>>,
    diags: Vec<Diagnostic<'db>>,
    /// Symbolic dims bound by the signature's inputs, with the first place each appears.
    symbols: BTreeMap<String, TextRange>,
    param_sources: Vec<(String, TextRange)>,
    /// The node being defined, and how many nested calls it has, to name them `h#0`, `h#1`, ...
    current: String,
    nested: usize,
}

/// The value an argument expression denotes.
enum ArgValue {
    Node(usize),
    Scalar(f64),
    Invalid,
}

impl<'db> GraphCx<'db> {
    fn span(&self, range: TextRange) -> Span<'db> {
        Span::Item(self.item, range)
    }

    fn error(
        &mut self,
        code: u16,
        range: TextRange,
        message: impl Into<String>,
    ) -> &mut Diagnostic<'db> {
        let d = Diagnostic::error(code, self.span(range), message);
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    fn run(&mut self, g: &ast::Graph) {
        for stmt in &g.body {
            if let Stmt::Node(n) = stmt {
                self.later.entry(n.name.text.clone()).or_insert(n.name.span);
            }
        }
        if let Some(tol) = &g.tolerance {
            self.tolerance_ref(tol);
        }
        for b in &g.inputs {
            let ty = self.declared_type(&b.ty, true);
            self.define(NodeInfo {
                name: b.name.text.clone(),
                origin: NodeOrigin::Input,
                name_span: b.name.span,
                span: b.span,
                ty: Some(ty),
                args: vec![],
                attrs: Attrs::new(),
                tolerance: None,
                doc: None,
            });
        }
        for b in &g.outputs {
            self.declared_type(&b.ty, false);
        }
        let has_source = g.body.iter().any(|s| matches!(s, Stmt::ParamsFrom { .. }));
        for stmt in &g.body {
            match stmt {
                Stmt::Param(p) => self.param(p, has_source || g.kind == GraphKind::Block),
                Stmt::ParamsFrom { source, span } => self.params_from(source, *span),
                Stmt::Node(n) => {
                    self.later.remove(&n.name.text);
                    self.node(n);
                }
                Stmt::Error(_) => {}
            }
        }
    }

    /// Checks a declared type; `binds` lets its symbols bind (signature inputs).
    fn declared_type(&mut self, t: &ast::TypeExpr, binds: bool) -> TensorType {
        let ty = type_of(t);
        if ty.dtype.is_none() {
            let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
            let hint = suggest(&t.dtype.text, names.iter().copied());
            let d = self.error(
                210,
                t.dtype.span,
                format!("unknown dtype `{}`", t.dtype.text),
            );
            *d = d.clone().with_note(format!("dtypes: {}", names.join(", ")));
            if let Some(h) = hint {
                d.help = Some(format!("did you mean `{h}`?"));
            }
        }
        for dim in t.dims.iter().flatten() {
            match dim {
                ast::DimExpr::Sym(id) if binds => {
                    self.symbols.entry(id.text.clone()).or_insert(id.span);
                }
                ast::DimExpr::Sym(id) if !self.symbols.contains_key(&id.text) => {
                    let d = self.error(
                        211,
                        id.span,
                        format!("symbolic extent `{}` is not bound by any input", id.text),
                    );
                    d.help = Some("a symbol takes its value from the inputs; use a number or a symbol that an input declares".into());
                }
                ast::DimExpr::Const { value: 0, span } => {
                    self.error(
                        212,
                        *span,
                        "an extent of 0 makes an empty tensor; tl requires extents >= 1",
                    );
                }
                _ => {}
            }
        }
        ty
    }

    fn define(&mut self, info: NodeInfo<'db>) -> usize {
        if let Some(&prev) = self.by_name.get(&info.name) {
            let prev_span = self.nodes[prev].name_span;
            let name = info.name.clone();
            let span = self.span(prev_span);
            let d = self.error(
                106,
                info.name_span,
                format!("`{name}` is already defined in this graph"),
            );
            *d = d
                .clone()
                .with_related(span, "first defined here")
                .with_help("node, input and param names must be unique within a graph");
        }
        let idx = self.nodes.len();
        self.by_name.insert(info.name.clone(), idx);
        self.uses.push(Use {
            range: info.name_span,
            resolution: Resolution::Node(idx),
        });
        self.nodes.push(info);
        idx
    }

    fn tolerance_ref(&mut self, id: &ast::Ident) {
        let file = self.item.file(self.db);
        match lookup(self.db, file, &[id.text.as_str()]) {
            Some(def) if def.kind == DefKind::Tolerance => self.uses.push(Use {
                range: id.span,
                resolution: Resolution::Def(def.item, def.kind),
            }),
            Some(def) => {
                let k = def.kind.describe();
                self.error(
                    401,
                    id.span,
                    format!("`{}` is a {k}, not a tolerance", id.text),
                );
            }
            None => {
                let d = self.error(401, id.span, format!("unknown tolerance `{}`", id.text));
                d.help = Some(format!(
                    "declare it: `tolerance {} = abs 1e-5, rel 1e-4`",
                    id.text
                ));
            }
        }
    }

    fn param(&mut self, p: &ast::ParamDecl, has_source: bool) {
        let ty = self.declared_type(&p.ty, false);
        let init = match &p.init {
            None => {
                if !has_source {
                    let d = self.error(
                        395,
                        p.path.span,
                        format!("param `{}` has no payload", p.path.text()),
                    );
                    d.help = Some(format!(
                        "add `params from \"weights.safetensors\"` to the graph, or `param {}: ... = load(\"{}.npy\")`",
                        p.path.text(),
                        p.path.text()
                    ));
                }
                ParamInit::FromGraphSource
            }
            Some(Expr::Call { callee, args, .. }) if callee.text() == "load" => {
                self.load_args(args, callee.span)
            }
            Some(e @ (Expr::List { .. } | Expr::Number(_) | Expr::Unary { .. })) => {
                match literal_tensor(e) {
                    Ok((shape, data)) => {
                        if let Some(known) = ty.shape.as_known() {
                            if known != shape {
                                let d = self.error(
                                    393,
                                    e.span(),
                                    format!(
                                        "literal has shape {} but `{}` is declared {}",
                                        Shape::known(&shape),
                                        p.path.text(),
                                        ty.shape
                                    ),
                                );
                                d.label = "literal values".into();
                            }
                        } else {
                            self.error(
                                393,
                                p.ty.span,
                                "a param with literal values needs a fully known shape",
                            );
                        }
                        ParamInit::Literal(data.iter().map(|x| x.to_bits()).collect())
                    }
                    Err((range, msg)) => {
                        self.error(394, range, msg);
                        ParamInit::Literal(vec![])
                    }
                }
            }
            Some(other) => {
                let d = self.error(
                    394,
                    other.span(),
                    "a param's payload is `load(\"file\")` or a literal list",
                );
                d.help = Some("for example `= load(\"w.npy\")` or `= [0.5, -1.0]`".into());
                ParamInit::FromGraphSource
            }
        };
        self.define(NodeInfo {
            name: p.path.text(),
            origin: NodeOrigin::Param { init },
            name_span: p.path.span,
            span: p.span,
            ty: Some(ty),
            args: vec![],
            attrs: Attrs::new(),
            tolerance: None,
            doc: p.doc.clone(),
        });
    }

    fn load_args(&mut self, args: &[ast::Arg], at: TextRange) -> ParamInit {
        let mut path = None;
        let mut key = None;
        for a in args {
            match (a.name.as_ref().map(|n| n.text.as_str()), &a.value) {
                (None, Expr::String(s)) if path.is_none() => path = Some(s.value.clone()),
                (Some("key"), Expr::String(s)) => key = Some(s.value.clone()),
                _ => {
                    self.error(
                        394,
                        a.span,
                        "load takes a file path and an optional `key = \"name\"`",
                    );
                }
            }
        }
        match path {
            Some(path) => ParamInit::Load { path, key },
            None => {
                self.error(394, at, "load needs a file path: `load(\"w.npy\")`");
                ParamInit::FromGraphSource
            }
        }
    }

    fn params_from(&mut self, source: &Expr, span: TextRange) {
        match source {
            Expr::String(s) => self.param_sources.push((s.value.clone(), s.span)),
            Expr::Call { callee, args, .. } if callee.text() == "load" => {
                if let ParamInit::Load { path, .. } = self.load_args(args, callee.span) {
                    self.param_sources.push((path, source.span()));
                }
            }
            _ => {
                self.error(
                    394,
                    span,
                    "`params from` takes a file path: `params from \"weights.safetensors\"`",
                );
            }
        }
    }

    fn node(&mut self, n: &ast::NodeDef) {
        self.current = n.name.text.clone();
        self.nested = 0;
        if let Some(t) = &n.tolerance {
            self.tolerance_ref(t);
        }
        let base = NodeInfo {
            name: n.name.text.clone(),
            origin: NodeOrigin::Op(Op::Identity),
            name_span: n.name.span,
            span: n.span,
            ty: None,
            args: vec![],
            attrs: Attrs::new(),
            tolerance: n.tolerance.as_ref().map(|t| t.text.clone()),
            doc: n.doc.clone(),
        };
        let info = match &n.value {
            Expr::Call { callee, args, span } => self.call(base, callee, args, *span),
            e @ (Expr::Number(_) | Expr::List { .. } | Expr::Unary { .. }) => {
                match literal_tensor(e) {
                    Ok((shape, data)) => {
                        let value = if shape.is_empty() {
                            AttrValue::Float(data[0])
                        } else {
                            AttrValue::Tensor {
                                shape: shape.clone(),
                                data,
                            }
                        };
                        NodeInfo {
                            origin: NodeOrigin::Op(Op::Constant),
                            ty: Some(TensorType {
                                dtype: Some(DType::F32),
                                shape: Shape::known(&shape),
                            }),
                            attrs: Attrs::new().with("value", value),
                            ..base
                        }
                    }
                    Err((range, msg)) => {
                        self.error(394, range, msg);
                        base
                    }
                }
            }
            Expr::Error(_) => base,
            other => {
                let d = self.error(
                    200,
                    other.span(),
                    "a node is an op or block call, e.g. `h = relu(x)`",
                );
                d.help = Some("to give a node a second name, write `y = identity(x)`".into());
                base
            }
        };
        self.define(info);
    }

    fn call(
        &mut self,
        base: NodeInfo<'db>,
        callee: &ast::Path,
        args: &[ast::Arg],
        span: TextRange,
    ) -> NodeInfo<'db> {
        let name = callee.text();
        if let Some(info) = tl_ir::lookup(&name) {
            self.uses.push(Use {
                range: callee.span,
                resolution: Resolution::Op(info.op),
            });
            return self.op_call(base, info, args, span);
        }
        if name == "repeat" {
            return self.repeat_call(base, callee, args);
        }
        let segments: Vec<&str> = callee.segments.iter().map(|s| s.text.as_str()).collect();
        let file = self.item.file(self.db);
        match lookup(self.db, file, &segments) {
            Some(def) if def.kind == DefKind::Block => {
                self.uses.push(Use {
                    range: callee.span,
                    resolution: Resolution::Def(def.item, def.kind),
                });
                self.block_call(base, def.item, callee, args, 1)
            }
            Some(def) => {
                let what = def.kind.describe();
                let d = self.error(
                    200,
                    callee.span,
                    format!("`{name}` is a {what}; only ops and blocks can be called in a graph"),
                );
                if def.kind == DefKind::Graph {
                    d.help = Some(format!(
                        "declare it with `block {name}(...)` to reuse it inside other graphs"
                    ));
                }
                base
            }
            None => {
                let ops = tl_ir::OPS.iter().map(|o| o.name);
                let hint = suggest(&name, ops);
                let d = self.error(200, callee.span, format!("unknown op or block `{name}`"));
                d.label = "not in the op table or in scope".into();
                d.help = Some(match hint {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => "see docs/language.md for the op table".into(),
                });
                base
            }
        }
    }

    /// Evaluates a positional argument to a node or a scalar.
    fn arg_value(&mut self, e: &Expr) -> ArgValue {
        match e {
            Expr::Name(path) => {
                let text = path.text();
                if let Some(&idx) = self.by_name.get(&text) {
                    self.uses.push(Use {
                        range: path.span,
                        resolution: Resolution::Node(idx),
                    });
                    return ArgValue::Node(idx);
                }
                if let Some(&def_at) = self.later.get(&text) {
                    let span = self.span(def_at);
                    let d = self.error(
                        103,
                        path.span,
                        format!("`{text}` is used before it is defined"),
                    );
                    *d = d
                        .clone()
                        .with_related(span, "defined here, later")
                        .with_note(
                        "graphs are acyclic: a node may only use inputs, params and earlier nodes",
                    );
                    return ArgValue::Invalid;
                }
                let hint =
                    suggest(&text, self.by_name.keys().map(String::as_str)).map(str::to_string);
                let d = self.error(102, path.span, format!("unknown name `{text}`"));
                d.label = "not an input, param or earlier node of this graph".into();
                if let Some(h) = hint {
                    d.help = Some(format!("did you mean `{h}`?"));
                } else if path.segments.len() > 1 {
                    d.help = Some(format!("declare it: `param {text}: f32[...]`"));
                }
                ArgValue::Invalid
            }
            Expr::Call { callee, args, span } => {
                // A nested call is an anonymous node: `relu(linear(x, w, b))`.
                let name = format!("{}#{}", self.current, self.nested);
                self.nested += 1;
                let base = NodeInfo {
                    name,
                    origin: NodeOrigin::Op(Op::Identity),
                    name_span: *span,
                    span: *span,
                    ty: None,
                    args: vec![],
                    attrs: Attrs::new(),
                    tolerance: None,
                    doc: None,
                };
                let info = self.call(base, callee, args, *span);
                if info.ty.is_none() {
                    return ArgValue::Invalid;
                }
                let idx = self.nodes.len();
                self.nodes.push(info);
                ArgValue::Node(idx)
            }
            e => match literal_tensor(e) {
                Ok((shape, data)) if shape.is_empty() => ArgValue::Scalar(data[0]),
                _ => {
                    self.error(203, e.span(), "expected a tensor name or a number here");
                    ArgValue::Invalid
                }
            },
        }
    }

    /// Where a node's type came from, for "x has shape ... (from here)" labels.
    fn origin_label(&self, idx: usize) -> (Span<'db>, String) {
        let n = &self.nodes[idx];
        let ty =
            n.ty.as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "?".into());
        let what = match n.origin {
            NodeOrigin::Input => "input",
            NodeOrigin::Param { .. } => "param",
            _ => "node",
        };
        (
            self.span(n.name_span),
            format!("{what} `{}` is {ty}", n.name),
        )
    }

    fn op_call(
        &mut self,
        base: NodeInfo<'db>,
        info: &'static OpInfo,
        args: &[ast::Arg],
        span: TextRange,
    ) -> NodeInfo<'db> {
        let mut inputs: Vec<(usize, TextRange)> = Vec::new();
        let mut scalar_inputs: Vec<(usize, f64)> = Vec::new();
        let mut attrs = Attrs::new();
        let mut failed = false;
        for a in args {
            match &a.name {
                None => match self.arg_value(&a.value) {
                    ArgValue::Node(i) => inputs.push((i, a.span)),
                    ArgValue::Scalar(x) => {
                        scalar_inputs.push((inputs.len(), x));
                        inputs.push((usize::MAX, a.span));
                    }
                    ArgValue::Invalid => failed = true,
                },
                Some(name) => {
                    if let Some(value) = self.attr(info, name, &a.value) {
                        if attrs.get(&name.text).is_some() {
                            self.error(
                                206,
                                name.span,
                                format!("attribute `{}` is given twice", name.text),
                            );
                        }
                        attrs.0.insert(name.text.clone(), value);
                    } else {
                        failed = true;
                    }
                }
            }
        }
        for spec in info.attrs {
            if spec.default.is_none() && attrs.get(spec.name).is_none() {
                let d = self.error(
                    207,
                    span,
                    format!("`{}` needs the attribute `{}`", info.name, spec.name),
                );
                d.help = Some(format!("signature: {}", info.signature()));
                failed = true;
            }
        }
        let (min, max) = info.arity();
        if !failed && (inputs.len() < min || max.is_some_and(|m| inputs.len() > m)) {
            let expected = match max {
                Some(m) if m == min => format!("{min}"),
                Some(m) => format!("{min} to {m}"),
                None => format!("at least {min}"),
            };
            let d = self.error(
                208,
                span,
                format!(
                    "`{}` takes {expected} tensor inputs, got {}",
                    info.name,
                    inputs.len()
                ),
            );
            d.help = Some(format!(
                "signature: {}; attributes are passed by name",
                info.signature()
            ));
            failed = true;
        }
        let mut node = NodeInfo {
            origin: NodeOrigin::Op(info.op),
            attrs: attrs.clone(),
            ..base
        };
        if failed
            || inputs
                .iter()
                .any(|&(i, _)| i != usize::MAX && self.nodes[i].ty.is_none())
        {
            node.args = inputs
                .iter()
                .filter(|(i, _)| *i != usize::MAX)
                .map(|(i, _)| *i)
                .collect();
            return node;
        }
        // Scalar literals become constants of the float dtype of the other inputs.
        let float = inputs
            .iter()
            .filter(|(i, _)| *i != usize::MAX)
            .find_map(|&(i, _)| {
                self.nodes[i]
                    .ty
                    .as_ref()
                    .and_then(|t| t.dtype)
                    .filter(|d| d.is_float())
            })
            .unwrap_or(DType::F32);
        for &(pos, x) in &scalar_inputs {
            // `#` cannot appear in a written name, so generated names never collide.
            let cname = format!("{}#c{pos}", node.name);
            let idx = self.nodes.len();
            self.nodes.push(NodeInfo {
                name: cname,
                origin: NodeOrigin::Op(Op::Constant),
                name_span: inputs[pos].1,
                span: inputs[pos].1,
                ty: Some(TensorType {
                    dtype: Some(float),
                    shape: Shape::scalar(),
                }),
                args: vec![],
                attrs: Attrs::new()
                    .with("value", AttrValue::Float(x))
                    .with("dtype", AttrValue::Str(float.name().into())),
                tolerance: None,
                doc: None,
            });
            inputs[pos].0 = idx;
        }
        node.args = inputs.iter().map(|(i, _)| *i).collect();
        let shapes: Vec<Shape> = node
            .args
            .iter()
            .map(|&i| self.nodes[i].ty.as_ref().expect("checked").shape.clone())
            .collect();
        let dtypes: Vec<Option<DType>> = node
            .args
            .iter()
            .map(|&i| self.nodes[i].ty.as_ref().expect("checked").dtype)
            .collect();
        let shape = match tl_ir::infer_shape(info.op, &shapes, &attrs) {
            Ok(s) => s,
            Err(e) => {
                self.shape_error(201, info, &e, &inputs, args, span, &node.args);
                return node;
            }
        };
        let dtype = if dtypes.iter().all(Option::is_some) {
            let ds: Vec<DType> = dtypes.into_iter().flatten().collect();
            match tl_ir::infer_dtype(info.op, &ds, &attrs) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.shape_error(202, info, &e, &inputs, args, span, &node.args);
                    return node;
                }
            }
        } else {
            None
        };
        node.ty = Some(TensorType { dtype, shape });
        node
    }

    #[allow(clippy::too_many_arguments)]
    fn shape_error(
        &mut self,
        code: u16,
        info: &OpInfo,
        e: &tl_ir::ShapeError,
        inputs: &[(usize, TextRange)],
        args: &[ast::Arg],
        span: TextRange,
        arg_nodes: &[usize],
    ) {
        let primary = match (e.input, e.attr) {
            (Some(i), _) if i < inputs.len() => inputs[i].1,
            (_, Some(attr)) => args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.text == attr))
                .map(|a| a.span)
                .unwrap_or(span),
            _ => span,
        };
        let related: Vec<(Span<'db>, String)> =
            arg_nodes.iter().map(|&i| self.origin_label(i)).collect();
        let mut d = Diagnostic::error(
            code,
            self.span(primary),
            format!("{}: {}", info.name, e.message),
        )
        .with_note(format!("rule: {}", info.shape_rule));
        for (s, m) in related {
            d = d.with_related(s, m);
        }
        self.diags.push(d);
    }

    /// Converts a named argument to an attribute value, checking it against the op table.
    fn attr(
        &mut self,
        info: &'static OpInfo,
        name: &ast::Ident,
        value: &Expr,
    ) -> Option<AttrValue> {
        let Some(spec) = info.attr(&name.text) else {
            let known: Vec<&str> = info.attrs.iter().map(|a| a.name).collect();
            let hint = suggest(&name.text, known.iter().copied());
            let d = self.error(
                204,
                name.span,
                format!("`{}` has no attribute `{}`", info.name, name.text),
            );
            d.help = Some(match (hint, known.is_empty()) {
                (Some(h), _) => format!("did you mean `{h}`?"),
                (None, true) => format!("`{}` takes no attributes", info.name),
                (None, false) => format!("attributes: {}", known.join(", ")),
            });
            return None;
        };
        self.uses.push(Use {
            range: name.span,
            resolution: Resolution::Attr(info.op, spec.name.to_string()),
        });
        let v = attr_value(value);
        match v {
            Some(v) if v.fits(spec.kind) => Some(match (spec.kind, v) {
                (AttrKind::Float, AttrValue::Int(i)) => AttrValue::Float(i as f64),
                (_, v) => v,
            }),
            _ => {
                let d = self.error(
                    205,
                    value.span(),
                    format!("`{}` expects {}", spec.name, spec.kind),
                );
                d.help = Some(format!("{}: {}", spec.name, spec.doc));
                None
            }
        }
    }

    fn repeat_call(
        &mut self,
        base: NodeInfo<'db>,
        callee: &ast::Path,
        args: &[ast::Arg],
    ) -> NodeInfo<'db> {
        let mut times = None;
        let mut positional = Vec::new();
        for a in args {
            match a.name.as_ref().map(|n| n.text.as_str()) {
                Some("times") => {
                    times = attr_value(&a.value)
                        .and_then(|v| v.as_i64())
                        .filter(|&n| n >= 1)
                }
                Some(other) => {
                    self.error(
                        204,
                        a.span,
                        format!("`repeat` has no attribute `{other}`; it takes `times = N`"),
                    );
                }
                None => positional.push(a.clone()),
            }
        }
        let Some(first) = positional.first() else {
            self.error(
                208,
                callee.span,
                "repeat needs a block: `repeat(layer, x, times = 6)`",
            );
            return base;
        };
        let Expr::Name(block_path) = &first.value else {
            self.error(203, first.span, "repeat's first argument is a block name");
            return base;
        };
        let segs: Vec<&str> = block_path
            .segments
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        let file = self.item.file(self.db);
        let Some(def) = lookup(self.db, file, &segs).filter(|d| d.kind == DefKind::Block) else {
            self.error(
                200,
                block_path.span,
                format!("`{}` is not a block in scope", block_path.text()),
            );
            return base;
        };
        self.uses.push(Use {
            range: block_path.span,
            resolution: Resolution::Def(def.item, def.kind),
        });
        let Some(n) = times else {
            self.error(207, callee.span, "repeat needs `times = N` with N >= 1");
            return base;
        };
        let sig = graph_signature(self.db, def.item).clone();
        if let Some(sig) = &sig {
            if sig.inputs.len() != 1
                || sig.outputs.len() != 1
                || sig.inputs[0].ty != sig.outputs[0].ty
            {
                let span = name_span(self.db, def.item);
                let d = self.error(
                    213,
                    block_path.span,
                    "repeat needs a block with one input and one output of the same type",
                );
                *d = d.clone().with_related(span, "block declared here");
                return base;
            }
        }
        self.block_call(base, def.item, callee, &positional[1..], n as u32)
    }

    fn block_call(
        &mut self,
        base: NodeInfo<'db>,
        block: ItemSource<'db>,
        callee: &ast::Path,
        args: &[ast::Arg],
        times: u32,
    ) -> NodeInfo<'db> {
        let origin = if times == 1 && callee.text() != "repeat" {
            NodeOrigin::Block(block)
        } else {
            NodeOrigin::Repeat(block, times)
        };
        if let Some(cycle) = instantiation_cycle(self.db, block, self.item) {
            let d = self.error(130, callee.span, "instantiation cycle");
            d.label = "this block instance contains the graph it is in".into();
            *d = d
                .clone()
                .with_note(format!("cycle: {}", cycle.join(" -> ")));
            d.help = Some(
                "a block cannot instantiate itself, directly or through other blocks; \
                 chain instances with `repeat(block, x, times = N)` in the graph that uses it"
                    .into(),
            );
            return base;
        }
        let mut node = NodeInfo { origin, ..base };
        let Some(sig) = graph_signature(self.db, block).clone() else {
            return node;
        };
        let decl = name_span(self.db, block);
        let mut arg_nodes = Vec::new();
        for a in args {
            if let Some(n) = &a.name {
                self.error(
                    204,
                    n.span,
                    "blocks take their inputs by position; attributes belong to ops",
                );
                return node;
            }
            match self.arg_value(&a.value) {
                ArgValue::Node(i) => arg_nodes.push((i, a.span)),
                ArgValue::Scalar(_) => {
                    self.error(203, a.span, "a block input must be a tensor name");
                    return node;
                }
                ArgValue::Invalid => return node,
            }
        }
        node.args = arg_nodes.iter().map(|a| a.0).collect();
        if arg_nodes.len() != sig.inputs.len() {
            let d = self.error(
                208,
                callee.span,
                format!(
                    "block `{}` takes {} inputs, got {}",
                    callee.text(),
                    sig.inputs.len(),
                    arg_nodes.len()
                ),
            );
            *d = d.clone().with_related(decl, "block declared here");
            return node;
        }
        if sig.outputs.len() != 1 {
            let d = self.error(
                214,
                callee.span,
                "a node can only bind a block with exactly one output",
            );
            *d = d.clone().with_related(decl, "block declared here");
            return node;
        }
        let mut bind: BTreeMap<String, Dim> = BTreeMap::new();
        for (port, &(i, span)) in sig.inputs.iter().zip(&arg_nodes) {
            let Some(actual) = self.nodes[i].ty.clone() else {
                return node;
            };
            if let Err(msg) = unify(&port.ty, &actual, &mut bind) {
                let related = self.origin_label(i);
                let d = self.error(
                    201,
                    span,
                    format!("block `{}` input `{}`: {msg}", callee.text(), port.name),
                );
                *d = d.clone().with_related(related.0, related.1).with_related(
                    Span::Item(block, port.span),
                    format!("declared {}", port.ty),
                );
                return node;
            }
        }
        let out = &sig.outputs[0].ty;
        node.ty = Some(TensorType {
            dtype: out.dtype,
            shape: Shape(
                out.shape
                    .0
                    .iter()
                    .map(|d| match d {
                        Dim::Sym(s) => bind.get(s).cloned().unwrap_or_else(|| d.clone()),
                        k => k.clone(),
                    })
                    .collect(),
            ),
        });
        node
    }

    fn outputs(&mut self, g: &ast::Graph) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for b in &g.outputs {
            let declared = type_of(&b.ty);
            let Some(&idx) = self.by_name.get(&b.name.text) else {
                let d = self.error(
                    105,
                    b.name.span,
                    format!("output `{}` is never defined", b.name.text),
                );
                d.help = Some(format!("add a node `{} = ...` to the body", b.name.text));
                continue;
            };
            self.uses.push(Use {
                range: b.name.span,
                resolution: Resolution::Node(idx),
            });
            out.push((b.name.text.clone(), idx));
            let Some(actual) = self.nodes[idx].ty.clone() else {
                continue;
            };
            let shape_ok = actual.shape == declared.shape;
            let dtype_ok = declared.dtype.is_none()
                || actual.dtype.is_none()
                || actual.dtype == declared.dtype;
            if !shape_ok || !dtype_ok {
                let related = self.origin_label(idx);
                let d = self.error(
                    209,
                    b.ty.span,
                    format!(
                        "output `{}` is declared {declared} but computes {actual}",
                        b.name.text
                    ),
                );
                *d = d.clone().with_related(related.0, related.1);
            }
        }
        out
    }

    /// Warns where an elementwise op broadcasts an operand whose shape fits the output in more
    /// than one way (`[3]` onto `[3, 3]`): numpy aligns it with the last axes, which is a silent
    /// bug when the operand is a reduction that dropped the axis it should stretch along
    /// (BugZoo ShapeAndBroadcast). Concrete extents only: a symbol (a batch size) could repeat
    /// any extent, and warning on every bias add over `[B, D]` would be noise.
    fn ambiguous_broadcasts(&mut self) {
        let mut found = Vec::new();
        for n in &self.nodes {
            let NodeOrigin::Op(op) = n.origin else {
                continue;
            };
            if op.info().family != tl_ir::Family::Elementwise || n.args.len() < 2 {
                continue;
            }
            let Some(out) = n.ty.as_ref().map(|t| &t.shape) else {
                continue;
            };
            let concrete = |s: &tl_ir::Shape| s.0.iter().all(|d| d.known().is_some());
            for &a in &n.args {
                let arg = &self.nodes[a];
                let Some(shape) = arg.ty.as_ref().map(|t| &t.shape) else {
                    continue;
                };
                if shape == out || !concrete(shape) || !concrete(out) {
                    continue;
                }
                if shape.broadcast_alignments(out) > 1 {
                    let reduced = matches!(arg.origin, NodeOrigin::Op(Op::Sum | Op::Mean))
                        && !arg
                            .attrs
                            .get("keepdim")
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false);
                    let shown = if arg.name.contains('#') {
                        "an operand".to_string()
                    } else {
                        format!("`{}`", arg.name)
                    };
                    found.push((n.span, format!(
                        "{shown} of shape {shape} broadcasts onto {out} along the last axes (numpy), but its shape fits other axes of {out} too{}",
                        if reduced { ": it is a reduction that dropped its axis" } else { "" }
                    )));
                }
            }
        }
        for (span, message) in found {
            let d = Diagnostic::warning(215, self.span(span), message).with_help(
                "keep the reduced axis (`keepdim = true`) or reshape the operand, so the axes it stretches along are explicit",
            );
            self.diags.push(d);
        }
    }

    /// Warns about nodes no output depends on (they cost time and are never checked).
    fn unused(&mut self, outputs: &[(String, usize)]) {
        // After an error the dependency edges are incomplete: warnings would only be noise.
        if self
            .diags
            .iter()
            .any(|d| d.severity == crate::diagnostics::Severity::Error)
        {
            return;
        }
        let mut live = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = outputs.iter().map(|o| o.1).collect();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut live[i], true) {
                stack.extend(self.nodes[i].args.iter().copied());
            }
        }
        let dead: Vec<(TextRange, String, &str)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| !live[*i] && !n.name.contains('#'))
            .map(|(_, n)| {
                let what = match n.origin {
                    NodeOrigin::Input => "input",
                    NodeOrigin::Param { .. } => "param",
                    _ => "node",
                };
                (n.name_span, n.name.clone(), what)
            })
            .collect();
        for (span, name, what) in dead {
            let d = Diagnostic::warning(
                107,
                self.span(span),
                format!("{what} `{name}` does not reach any output"),
            )
            .unnecessary()
            .with_help("remove it, or add it to the graph's outputs");
            self.diags.push(d);
        }
    }
}

/// Binds a block port's symbolic extents to an actual type; fails on a mismatch.
fn unify(
    port: &TensorType,
    actual: &TensorType,
    bind: &mut BTreeMap<String, Dim>,
) -> Result<(), String> {
    if let (Some(p), Some(a)) = (port.dtype, actual.dtype) {
        if p != a {
            return Err(format!("expects dtype {p}, got {a}"));
        }
    }
    if port.shape.rank() != actual.shape.rank() {
        return Err(format!("expects {}, got {}", port.shape, actual.shape));
    }
    for (p, a) in port.shape.0.iter().zip(&actual.shape.0) {
        match p {
            Dim::Known(_) if p != a => {
                return Err(format!("expects {}, got {}", port.shape, actual.shape))
            }
            Dim::Sym(s) => match bind.get(s) {
                Some(prev) if prev != a => {
                    return Err(format!(
                        "`{s}` would be both {prev} and {a} (expects {}, got {})",
                        port.shape, actual.shape
                    ))
                }
                _ => {
                    bind.insert(s.clone(), a.clone());
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// An attribute value written as an expression.
pub fn attr_value(e: &Expr) -> Option<AttrValue> {
    match e {
        Expr::Number(n) => n
            .as_i64()
            .map(AttrValue::Int)
            .or_else(|| n.as_f64().map(AttrValue::Float)),
        Expr::Unary {
            op: ast::UnaryOp::Neg,
            operand,
            ..
        } => match attr_value(operand)? {
            AttrValue::Int(i) => Some(AttrValue::Int(-i)),
            AttrValue::Float(x) => Some(AttrValue::Float(-x)),
            _ => None,
        },
        Expr::Bool { value, .. } => Some(AttrValue::Bool(*value)),
        Expr::String(s) => Some(AttrValue::Str(s.value.clone())),
        Expr::Name(p) if p.text() == "inf" => Some(AttrValue::Float(f64::INFINITY)),
        Expr::List { items, .. } => {
            let ints: Option<Vec<i64>> = items
                .iter()
                .map(|i| attr_value(i).and_then(|v| v.as_i64()))
                .collect();
            match ints {
                Some(v) => Some(AttrValue::Ints(v)),
                None => literal_tensor(e)
                    .ok()
                    .map(|(shape, data)| AttrValue::Tensor { shape, data }),
            }
        }
        _ => None,
    }
}

/// A number or a rectangular nested list of numbers: its shape and row-major data.
pub fn literal_tensor(e: &Expr) -> Result<(Vec<u64>, Vec<f64>), (TextRange, String)> {
    fn walk(
        e: &Expr,
        depth: usize,
        shape: &mut Vec<u64>,
        data: &mut Vec<f64>,
    ) -> Result<(), (TextRange, String)> {
        match e {
            Expr::List { items, span } => {
                if depth == shape.len() {
                    shape.push(items.len() as u64);
                } else if shape.get(depth) != Some(&(items.len() as u64)) || depth > shape.len() {
                    return Err((*span, "ragged literal: rows must have equal lengths".into()));
                }
                if items.is_empty() {
                    return Err((*span, "empty literal list".into()));
                }
                for i in items {
                    walk(i, depth + 1, shape, data)?;
                }
                Ok(())
            }
            other => {
                if depth != shape.len() && !shape.is_empty() {
                    return Err((
                        other.span(),
                        "ragged literal: numbers and lists mixed at one level".into(),
                    ));
                }
                match attr_value(other).and_then(|v| v.as_f64()) {
                    Some(x) if x.is_finite() => {
                        data.push(x);
                        Ok(())
                    }
                    Some(_) => Err((other.span(), "literal values must be finite".into())),
                    None => Err((other.span(), "expected a number".into())),
                }
            }
        }
    }
    let mut shape = Vec::new();
    let mut data = Vec::new();
    walk(e, 0, &mut shape, &mut data)?;
    let expected: u64 = shape.iter().product();
    if expected != data.len() as u64 {
        return Err((
            e.span(),
            "ragged literal: rows must have equal lengths".into(),
        ));
    }
    Ok((shape, data))
}

/// Finds a node by its dotted path as seen from a graph: `h1` in the graph itself, or
/// `attn.weights` for node `weights` inside the block instance `attn` (any depth; a repeated
/// block's instances are `layers.0.x`, `layers.1.x`). Returns the item that defines the node and
/// its index there.
pub fn resolve_node_path<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
    path: &[&str],
) -> Option<(ItemSource<'db>, usize)> {
    let analysis = analyze_graph(db, item).as_ref()?;
    let joined = path.join(".");
    if let Some(i) = analysis.node(&joined) {
        return Some((item, i));
    }
    let (first, rest) = path.split_first()?;
    let i = analysis.node(first)?;
    match &analysis.nodes[i].origin {
        NodeOrigin::Block(block) => resolve_node_path(db, *block, rest),
        NodeOrigin::Repeat(block, n) => {
            let (index, rest) = rest.split_first()?;
            let k: u32 = index.parse().ok()?;
            if k >= *n {
                return None;
            }
            resolve_node_path(db, *block, rest)
        }
        _ => None,
    }
}
