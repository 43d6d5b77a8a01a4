//! Reverse-mode automatic differentiation over tl-ir graphs.
//!
//! The forward pass is the reference evaluator ([`crate::denote`], f64), which keeps every node's
//! value; [`backward`] then walks the nodes in reverse topological order and applies each op's
//! vector-Jacobian product (the rules in `rules/`, one per kernel op, reached through the same
//! lowering table the engines use), summing the contributions of values used several times and
//! summing broadcast axes back out. [`gradients`] returns the gradient of one output (of the sum of
//! its elements when it is not a scalar) with respect to every float input and param.
//!
//! Forward mode ([`jvp`], [`forward_tangents`]) pushes tangents of the inputs and params through
//! the same values with each op's JVP rule (beside its VJP rule); [`graph_adjoint`] checks the
//! adjoint law `<J u, v> = <u, J^T v>` between the two modes with a derived rounding budget.
//!
//! [`Objective`] is the same output as a plain function of those coordinates, for central finite
//! differences: tl *tests* its reverse mode against them (status "tested"), it does not prove it.
//!
//! Non-differentiable points follow PyTorch's conventions: relu'(0) = 0, leaky_relu'(0) = alpha,
//! abs'(0) = 0, clamp passes the gradient on its closed interval, max reductions split the
//! gradient evenly between tied maxima, max pooling gives it to the first maximal tap of a window.
//! Attention is hard-masked: masked keys and query rows that attend to nothing (their forward
//! value is a constant zero) get exactly zero gradient; masks, being selectors, get none.
//! Ops without a rule (argmax, cast) are refused with TL0560 naming the node, never given a
//! silent zero.

mod adjoint;
mod backward;
mod enclosure;
mod error;
mod forward;
mod kinks;
mod objective;
mod rules;

pub use adjoint::{gamma, graph_adjoint, node_adjoints, AdjointCheck, NodeAdjoint};
pub use backward::{backward, backward_from, backward_to_inputs, gradients, Gradients};
pub use enclosure::{jacobian_enclosure, jacobian_enclosure_with, JacobianEnclosure, ValueHints};
pub use error::{AutogradError, AutogradResult};
pub use forward::{forward_tangents, jvp, Jvp, Seeds};
pub use kinks::{kinks, Kink};
pub use objective::{Objective, Wrt};

#[cfg(test)]
mod tests;
