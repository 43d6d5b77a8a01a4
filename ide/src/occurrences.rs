//! Occurrences: every name in a file that refers to something, with what it refers to. Hover,
//! navigation, rename and semantic tokens all read this one list, so they cannot disagree.
//!
//! Graph bodies and contract headers come from the analysis (`uses`); this module adds what the
//! analysis resolves without recording a use: item names at their definitions, names in contract
//! claims and `given` clauses (nodes of the target graph) and check methods.

use tl_ir::Op;
use tl_syntax::ast::{self, Clause, Expr, Item};
use tl_syntax::TextRange;

use tl_analysis::contracts::{analyze_contract, Target, METHODS};
use tl_analysis::db::{Db, SourceFile};
use tl_analysis::graphs::{analyze_graph, Resolution};
use tl_analysis::items::{def_kind, file_items, parse_item, DefKind, ItemSource};

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Symbol<'db> {
    /// An input, param or node: the graph item and the index into its analysed node list.
    Node {
        graph: ItemSource<'db>,
        index: usize,
    },
    /// A top-level definition.
    Def {
        item: ItemSource<'db>,
        kind: DefKind,
    },
    Op(Op),
    /// An attribute of an op, by name.
    Attr(Op, String),
    /// A check method, as named in [`METHODS`].
    Method(&'static str),
}

/// One name in a file: its absolute range, what it refers to, and whether this is where it is
/// defined.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Occurrence<'db> {
    pub range: TextRange,
    pub symbol: Symbol<'db>,
    pub is_definition: bool,
}

/// Every occurrence in a file, sorted by position.
pub fn file_occurrences<'db>(db: &'db dyn Db, file: SourceFile) -> Vec<Occurrence<'db>> {
    let mut out = Vec::new();
    for &item in file_items(db, file) {
        item_occurrences(db, item, &mut out);
    }
    out.sort_by_key(|o| (o.range.start, o.range.end));
    out.dedup();
    out
}

/// The occurrence under `offset` (the innermost, when a path and its segments both match).
pub fn occurrence_at<'db>(
    db: &'db dyn Db,
    file: SourceFile,
    offset: u32,
) -> Option<Occurrence<'db>> {
    let item = super::item_at(db, file, offset)?;
    let mut found = Vec::new();
    item_occurrences(db, item, &mut found);
    found
        .into_iter()
        .filter(|o| o.range.contains_inclusive(offset))
        .min_by_key(|o| o.range.len())
}

/// Appends the occurrences of one item (absolute ranges).
pub(crate) fn item_occurrences<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
    out: &mut Vec<Occurrence<'db>>,
) {
    let base = item.offset(db);
    let parsed = &parse_item(db, item).item;
    if let (Some(name), Some(kind)) = (parsed.name(), def_kind(item.keyword(db))) {
        out.push(Occurrence {
            range: name.span.shift(base),
            symbol: Symbol::Def { item, kind },
            is_definition: true,
        });
    }
    match parsed {
        Item::Graph(_) => {
            let Some(a) = analyze_graph(db, item) else {
                return;
            };
            for u in &a.uses {
                let (symbol, is_definition) = match &u.resolution {
                    Resolution::Node(i) => (
                        Symbol::Node {
                            graph: item,
                            index: *i,
                        },
                        a.nodes[*i].name_span == u.range,
                    ),
                    Resolution::Op(op) => (Symbol::Op(*op), false),
                    Resolution::Attr(op, name) => (Symbol::Attr(*op, name.clone()), false),
                    Resolution::Def(target, kind) => (
                        Symbol::Def {
                            item: *target,
                            kind: *kind,
                        },
                        false,
                    ),
                };
                out.push(Occurrence {
                    range: u.range.shift(base),
                    symbol,
                    is_definition,
                });
            }
        }
        Item::Contract(c) => contract_occurrences(db, item, c, out),
        _ => {}
    }
}

fn contract_occurrences<'db>(
    db: &'db dyn Db,
    item: ItemSource<'db>,
    c: &ast::Contract,
    out: &mut Vec<Occurrence<'db>>,
) {
    let base = item.offset(db);
    let Some(a) = analyze_contract(db, item) else {
        return;
    };
    for u in &a.uses {
        if let Resolution::Def(target, kind) = &u.resolution {
            out.push(Occurrence {
                range: u.range.shift(base),
                symbol: Symbol::Def {
                    item: *target,
                    kind: *kind,
                },
                is_definition: false,
            });
        }
    }
    let graph = match a.target {
        Some(Target::Graph(g)) => Some(g),
        _ => None,
    };
    let node = |name: &str, range: TextRange| -> Option<Occurrence<'db>> {
        let g = graph?;
        let index = analyze_graph(db, g).as_ref()?.node(name)?;
        Some(Occurrence {
            range: range.shift(base),
            symbol: Symbol::Node { graph: g, index },
            is_definition: false,
        })
    };
    for clause in &c.clauses {
        match clause {
            Clause::Given { var: Some(v), .. } => out.extend(node(&v.text, v.span)),
            Clause::Ensure { claim, .. } => {
                let mut names = Vec::new();
                claim_names(claim, &mut names);
                for p in names {
                    out.extend(node(&p.text(), p.span));
                }
            }
            Clause::CheckBy { methods, .. } => {
                for m in methods {
                    if let Some((name, _, _)) = METHODS.iter().find(|(n, _, _)| *n == m.name.text) {
                        out.push(Occurrence {
                            range: m.name.span.shift(base),
                            symbol: Symbol::Method(name),
                            is_definition: false,
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

/// The names a claim reads (callees such as `argmax` are not names of values).
fn claim_names<'a>(e: &'a Expr, out: &mut Vec<&'a ast::Path>) {
    match e {
        Expr::Name(p) => out.push(p),
        Expr::Call { args, .. } => args.iter().for_each(|a| claim_names(&a.value, out)),
        Expr::Index { base, indices, .. } => {
            claim_names(base, out);
            indices.iter().for_each(|i| claim_names(i, out));
        }
        Expr::Unary { operand, .. } => claim_names(operand, out),
        Expr::Binary { lhs, rhs, .. } => {
            claim_names(lhs, out);
            claim_names(rhs, out);
        }
        Expr::Paren { items, .. } | Expr::List { items, .. } => {
            items.iter().for_each(|i| claim_names(i, out))
        }
        _ => {}
    }
}
