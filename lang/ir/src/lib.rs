//! tl IR: the operator table, dtypes, shapes, the one shape rule per op, and the IR graph.
//!
//! Every consumer reads the same table: analysis infers shapes with [`infer_shape`], the executors
//! instantiate the same rule on concrete shapes, the bound verifier and the ledger key their
//! coverage by [`Op`]. There is no second copy of a shape rule that could drift.

mod attrs;
mod docs;
mod dtype;
mod graph;
mod ops;
mod shape;
mod shape_rules;

pub use attrs::{AttrKind, AttrSpec, AttrValue, Attrs};
pub use docs::op_reference_markdown;
pub use dtype::DType;
pub use graph::{Graph, GraphError, Node, NodeId, NodeKind};
pub use ops::{lookup, DTypeRule, Family, InputSpec, Op, OpInfo, OPS};
pub use shape::{Dim, Shape};
pub use shape_rules::{infer_dtype, infer_shape, ShapeError};
