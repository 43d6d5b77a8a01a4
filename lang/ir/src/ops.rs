//! The operator table: one entry per op, the single source of truth for names, inputs, attributes,
//! families, dtype rules and documentation. Shape rules live in `shape_rules.rs`, keyed by [`Op`].

use crate::attrs::{AttrKind, AttrSpec};

/// Every operator tl knows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    // activations
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Gelu,
    Softplus,
    Silu,
    Elu,
    Selu,
    HardSigmoid,
    HardSwish,
    Prelu,
    // constants
    Constant,
    // elementwise
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Exp,
    Log,
    Sqrt,
    Pow,
    Abs,
    Erf,
    Clamp,
    Maximum,
    Minimum,
    Where,
    // linear algebra
    Linear,
    Matmul,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    // normalization
    LayerNorm,
    BatchNorm,
    RmsNorm,
    Lrn,
    // pooling
    MaxPool2d,
    AvgPool2d,
    GlobalAvgPool,
    // permutation
    Transpose,
    Permute,
    // random (identity in eval)
    Dropout,
    Identity,
    // reductions
    Sum,
    Mean,
    Max,
    Argmax,
    Softmax,
    LogSoftmax,
    // structural
    Reshape,
    Flatten,
    Concat,
    Slice,
    Unsqueeze,
    Squeeze,
    Embedding,
    Gather,
    Pad,
    Resize,
    Trilu,
    // attention
    AttentionWeights,
    ScaledDotProductAttention,
    // losses
    MseLoss,
    CrossEntropy,
}

/// Op families, as in the seed's IR (`Correctness/Ops/*`): coverage and catalog entries are
/// often stated per family.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Activation,
    Constant,
    Elementwise,
    LinearAlgebra,
    Normalization,
    Pooling,
    Permutation,
    Random,
    Reduction,
    Structural,
    Attention,
    Loss,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Activation => "activation",
            Family::Constant => "constant",
            Family::Elementwise => "elementwise",
            Family::LinearAlgebra => "linear algebra",
            Family::Normalization => "normalization",
            Family::Pooling => "pooling",
            Family::Permutation => "permutation",
            Family::Random => "random",
            Family::Reduction => "reduction",
            Family::Structural => "structural",
            Family::Attention => "attention",
            Family::Loss => "loss",
        }
    }
}

/// How the output dtype follows from the inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DTypeRule {
    /// Float inputs of one dtype; the output has it.
    SameFloat,
    /// Like `SameFloat`, but integer inputs are allowed too (structural ops move any data).
    SameAny,
    /// The output is `i64` (indices).
    Index,
    /// Input 0 holds integer indices; the output has the dtype of input 1 (the table).
    IndexedBy,
    /// Input 0 holds the data (any dtype), input 1 integer indices; output has input 0's dtype.
    GatherLike,
    /// Input 0 is float logits, input 1 integer class labels; the output has input 0's dtype.
    LogitsLabels,
    /// The dtype given by the `dtype` attribute (default `f32`).
    FromAttr,
    /// Input 0 is a condition of any dtype (nonzero = true); inputs 1 and 2 share a float dtype,
    /// which the output has.
    Select,
}

/// One tensor input of an op.
#[derive(Clone, Copy, Debug)]
pub struct InputSpec {
    pub name: &'static str,
    pub optional: bool,
    /// Takes any number (at least one) of tensors; only the last input may be variadic.
    pub variadic: bool,
}

const fn req(name: &'static str) -> InputSpec {
    InputSpec {
        name,
        optional: false,
        variadic: false,
    }
}
const fn opt(name: &'static str) -> InputSpec {
    InputSpec {
        name,
        optional: true,
        variadic: false,
    }
}
const fn many(name: &'static str) -> InputSpec {
    InputSpec {
        name,
        optional: false,
        variadic: true,
    }
}
const fn attr(
    name: &'static str,
    kind: AttrKind,
    default: Option<&'static str>,
    doc: &'static str,
) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        default,
        doc,
    }
}

/// One row of the operator table.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    pub op: Op,
    /// The spelling in `.tl` files.
    pub name: &'static str,
    pub family: Family,
    pub inputs: &'static [InputSpec],
    pub attrs: &'static [AttrSpec],
    pub dtype_rule: DTypeRule,
    /// The shape rule in words (the code is in `shape_rules.rs`).
    pub shape_rule: &'static str,
    /// The reference semantics in one or two sentences (hover text, docs/language.md).
    pub semantics: &'static str,
    /// ONNX ops that import to this op.
    pub onnx: &'static [&'static str],
}

impl OpInfo {
    pub fn attr(&self, name: &str) -> Option<&'static AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }
    /// Minimum and maximum number of tensor inputs (`None` = unbounded).
    pub fn arity(&self) -> (usize, Option<usize>) {
        let min = self.inputs.iter().filter(|i| !i.optional).count();
        let max = if self.inputs.iter().any(|i| i.variadic) {
            None
        } else {
            Some(self.inputs.len())
        };
        (min, max)
    }
    /// `linear(x, weight, bias?, ...)`-style signature for hovers and signature help.
    pub fn signature(&self) -> String {
        let mut parts: Vec<String> = self
            .inputs
            .iter()
            .map(|i| {
                if i.variadic {
                    format!("{}...", i.name)
                } else if i.optional {
                    format!("{}?", i.name)
                } else {
                    i.name.to_string()
                }
            })
            .collect();
        for a in self.attrs {
            parts.push(match a.default {
                Some(d) => format!("{} = {}", a.name, d),
                None => format!("{}: {}", a.name, a.kind),
            });
        }
        format!("{}({})", self.name, parts.join(", "))
    }
}

impl OpInfo {
    /// An attribute's table default as a value, when it is a literal (`0.01`, `-1`, `false`,
    /// `"none"`, `-inf`); `None` for required attributes and for defaults stated in words
    /// (`kernel_size`, `1/sqrt(E)`, `all`). The executors, the importers and the exporters read
    /// defaults through this, so each is written once, in the table.
    pub fn default_value(&self, name: &str) -> Option<crate::AttrValue> {
        parse_default(self.attr(name)?.default?)
    }
}

fn parse_default(text: &str) -> Option<crate::AttrValue> {
    use crate::AttrValue;
    match text {
        "true" => return Some(AttrValue::Bool(true)),
        "false" => return Some(AttrValue::Bool(false)),
        "inf" => return Some(AttrValue::Float(f64::INFINITY)),
        "-inf" => return Some(AttrValue::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return Some(AttrValue::Str(inner.to_string()));
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(AttrValue::Int(i));
    }
    text.parse::<f64>().ok().map(AttrValue::Float)
}

impl crate::Attrs {
    /// The float attribute `name` of a node of `op`, or the table's default.
    pub fn float_or_default(&self, op: Op, name: &str) -> f64 {
        self.get(name)
            .and_then(crate::AttrValue::as_f64)
            .or_else(|| {
                op.info()
                    .default_value(name)
                    .as_ref()
                    .and_then(crate::AttrValue::as_f64)
            })
            .unwrap_or_else(|| panic!("{}.{name} has a numeric table default (tested)", op.name()))
    }
    /// The bool attribute `name` of a node of `op`, or the table's default.
    pub fn bool_or_default(&self, op: Op, name: &str) -> bool {
        self.get(name)
            .and_then(crate::AttrValue::as_bool)
            .or_else(|| {
                op.info()
                    .default_value(name)
                    .as_ref()
                    .and_then(crate::AttrValue::as_bool)
            })
            .unwrap_or_else(|| panic!("{}.{name} has a boolean table default (tested)", op.name()))
    }
    /// The int attribute `name` of a node of `op`, or the table's default.
    pub fn int_or_default(&self, op: Op, name: &str) -> i64 {
        self.get(name)
            .and_then(crate::AttrValue::as_i64)
            .or_else(|| {
                op.info()
                    .default_value(name)
                    .as_ref()
                    .and_then(crate::AttrValue::as_i64)
            })
            .unwrap_or_else(|| panic!("{}.{name} has an integer table default (tested)", op.name()))
    }
}

/// Finds an op by its `.tl` spelling.
pub fn lookup(name: &str) -> Option<&'static OpInfo> {
    OPS.iter().find(|o| o.name == name)
}

impl Op {
    /// Whether the op, with these attributes, only moves data: every output element is one
    /// input element (or a constant fill) at a position fixed by the shapes and attributes
    /// alone, never by the values. Such a node's kernel can be validated by running it once on
    /// distinct values (the ledger's index-map check, docs/trust.md). Gather and embedding read
    /// their positions from a tensor, and a linear resize mixes elements: not index maps.
    pub fn is_index_map(self, attrs: &crate::Attrs) -> bool {
        match self {
            Op::Reshape
            | Op::Flatten
            | Op::Transpose
            | Op::Permute
            | Op::Concat
            | Op::Slice
            | Op::Unsqueeze
            | Op::Squeeze
            | Op::Pad
            | Op::Trilu
            | Op::Identity
            | Op::Dropout => true,
            Op::Resize => attrs
                .get("mode")
                .and_then(|m| m.as_str())
                .is_none_or(|m| m == "nearest"),
            _ => false,
        }
    }

    /// Whether the op's f32 kernel calls a transcendental function (exp, log, tanh, erf, pow)
    /// of the platform libm or the `libm` crate. Its rounding is then that function's accuracy,
    /// not IEEE's half ulp, so a float result that relies on it rests on the libm assumption
    /// (the ledger names it). sqrt and division are IEEE operations: the normalizations that
    /// use only those are not listed.
    pub fn calls_libm(self) -> bool {
        matches!(
            self,
            Op::Sigmoid
                | Op::Tanh
                | Op::Gelu
                | Op::Softplus
                | Op::Silu
                | Op::Elu
                | Op::Selu
                | Op::Exp
                | Op::Log
                | Op::Pow
                | Op::Erf
                | Op::Lrn
                | Op::Softmax
                | Op::LogSoftmax
                | Op::AttentionWeights
                | Op::ScaledDotProductAttention
                | Op::CrossEntropy
        )
    }

    pub fn info(self) -> &'static OpInfo {
        OPS.iter()
            .find(|o| o.op == self)
            .expect("every Op has a table row (tested)")
    }
    pub fn name(self) -> &'static str {
        self.info().name
    }
}

const X: &[InputSpec] = &[req("x")];
const AB: &[InputSpec] = &[req("a"), req("b")];
const REDUCE_ATTRS: &[AttrSpec] = &[
    attr(
        "axes",
        AttrKind::Ints,
        Some("all"),
        "axes to reduce; negative counts from the end",
    ),
    attr(
        "keepdim",
        AttrKind::Bool,
        Some("false"),
        "keep reduced axes with extent 1",
    ),
];
const CONV_ATTRS: &[AttrSpec] = &[
    attr(
        "stride",
        AttrKind::Ints,
        Some("1"),
        "step between windows, per spatial axis",
    ),
    attr(
        "padding",
        AttrKind::Ints,
        Some("0"),
        "zero padding on both sides, per spatial axis",
    ),
    attr(
        "dilation",
        AttrKind::Ints,
        Some("1"),
        "spacing between kernel taps, per spatial axis",
    ),
    attr(
        "groups",
        AttrKind::Int,
        Some("1"),
        "input and output channels are split into this many groups",
    ),
];
const REDUCTION_CHOICE: AttrKind = AttrKind::Choice(&["mean", "sum", "none"]);

/// The table. Adding an op: add a variant, a row here, a shape rule, a kernel, and the test that
/// checks every variant has a row fails until you do.
pub static OPS: &[OpInfo] = &[
    // ---- activations
    OpInfo { op: Op::Relu, name: "relu", family: Family::Activation, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "max(x, 0) elementwise", onnx: &["Relu"] },
    OpInfo { op: Op::LeakyRelu, name: "leaky_relu", family: Family::Activation, inputs: X,
        attrs: &[attr("alpha", AttrKind::Float, Some("0.01"), "slope for x < 0")], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "x if x >= 0 else alpha * x", onnx: &["LeakyRelu"] },
    OpInfo { op: Op::Sigmoid, name: "sigmoid", family: Family::Activation, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "1 / (1 + exp(-x))", onnx: &["Sigmoid"] },
    OpInfo { op: Op::Tanh, name: "tanh", family: Family::Activation, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "hyperbolic tangent", onnx: &["Tanh"] },
    OpInfo { op: Op::Gelu, name: "gelu", family: Family::Activation, inputs: X,
        attrs: &[attr("approximate", AttrKind::Choice(&["none", "tanh"]), Some("\"none\""), "exact erf form or the tanh approximation")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x",
        semantics: "x * Phi(x) with Phi the standard normal CDF (erf form), or the tanh approximation", onnx: &["Gelu"] },
    OpInfo { op: Op::Softplus, name: "softplus", family: Family::Activation, inputs: X,
        attrs: &[attr("beta", AttrKind::Float, Some("1.0"), "sharpness"),
                 attr("threshold", AttrKind::Float, Some("20.0"), "above beta * x > threshold the op is linear")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x", semantics: "log(1 + exp(beta * x)) / beta", onnx: &["Softplus"] },
    OpInfo { op: Op::Silu, name: "silu", family: Family::Activation, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "x * sigmoid(x)", onnx: &[] },
    OpInfo { op: Op::Elu, name: "elu", family: Family::Activation, inputs: X,
        attrs: &[attr("alpha", AttrKind::Float, Some("1.0"), "scale of the negative branch")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x", semantics: "x if x > 0 else alpha * (exp(x) - 1)", onnx: &["Elu"] },
    OpInfo { op: Op::Selu, name: "selu", family: Family::Activation, inputs: X,
        attrs: &[attr("alpha", AttrKind::Float, Some("1.6732632423543772"), "scale of the negative branch"),
                 attr("gamma", AttrKind::Float, Some("1.0507009873554805"), "scale of the whole output")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x",
        semantics: "gamma * (x if x > 0 else alpha * (exp(x) - 1)) (defaults: ONNX's and PyTorch's)", onnx: &["Selu"] },
    OpInfo { op: Op::HardSigmoid, name: "hard_sigmoid", family: Family::Activation, inputs: X,
        attrs: &[attr("alpha", AttrKind::Float, Some("0.2"), "slope (PyTorch's nn.Hardsigmoid exports 1/6)"),
                 attr("beta", AttrKind::Float, Some("0.5"), "offset")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x", semantics: "max(0, min(1, alpha * x + beta)) (defaults: ONNX's)",
        onnx: &["HardSigmoid"] },
    OpInfo { op: Op::HardSwish, name: "hard_swish", family: Family::Activation, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "x * max(0, min(1, x / 6 + 1/2)) (MobileNetV3's h-swish)", onnx: &["HardSwish"] },
    OpInfo { op: Op::Prelu, name: "prelu", family: Family::Activation, inputs: &[req("x"), req("slope")], attrs: &[],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x; slope broadcasts to x (numpy rules, one way)",
        semantics: "x if x >= 0 else slope * x, slope broadcast to x (a learned leaky relu)", onnx: &["PRelu"] },
    // ---- constants
    OpInfo { op: Op::Constant, name: "constant", family: Family::Constant, inputs: &[],
        attrs: &[attr("value", AttrKind::Tensor, None, "the literal: a number or nested list"),
                 attr("dtype", AttrKind::Choice(&["f32", "f64", "i64", "i32", "bool"]), Some("\"f32\""), "element type")],
        dtype_rule: DTypeRule::FromAttr, shape_rule: "the nesting of value", semantics: "a literal tensor", onnx: &["Constant"] },
    // ---- elementwise
    OpInfo { op: Op::Add, name: "add", family: Family::Elementwise, inputs: AB, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "numpy broadcast of a and b", semantics: "a + b (ONNX Sum of n inputs is a chain of adds, Mean the chain divided by n)", onnx: &["Add", "Sum", "Mean"] },
    OpInfo { op: Op::Sub, name: "sub", family: Family::Elementwise, inputs: AB, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "numpy broadcast of a and b", semantics: "a - b", onnx: &["Sub"] },
    OpInfo { op: Op::Mul, name: "mul", family: Family::Elementwise, inputs: AB, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "numpy broadcast of a and b", semantics: "a * b elementwise", onnx: &["Mul"] },
    OpInfo { op: Op::Div, name: "div", family: Family::Elementwise, inputs: AB, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "numpy broadcast of a and b", semantics: "a / b elementwise (IEEE: x/0 is inf or nan)", onnx: &["Div"] },
    OpInfo { op: Op::Neg, name: "neg", family: Family::Elementwise, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "-x", onnx: &["Neg"] },
    OpInfo { op: Op::Exp, name: "exp", family: Family::Elementwise, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "e^x", onnx: &["Exp"] },
    OpInfo { op: Op::Log, name: "log", family: Family::Elementwise, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "natural logarithm (domain x > 0)", onnx: &["Log"] },
    OpInfo { op: Op::Sqrt, name: "sqrt", family: Family::Elementwise, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "square root (domain x >= 0)", onnx: &["Sqrt"] },
    OpInfo { op: Op::Pow, name: "pow", family: Family::Elementwise, inputs: &[req("x"), req("exponent")], attrs: &[],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "numpy broadcast of x and exponent", semantics: "x ^ exponent", onnx: &["Pow"] },
    OpInfo { op: Op::Abs, name: "abs", family: Family::Elementwise, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "|x|", onnx: &["Abs"] },
    OpInfo { op: Op::Erf, name: "erf", family: Family::Elementwise, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "same as x", semantics: "the Gauss error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt (exact GELU exports as x * (1 + erf(x / sqrt 2)) / 2)", onnx: &["Erf"] },
    OpInfo { op: Op::Clamp, name: "clamp", family: Family::Elementwise, inputs: X,
        attrs: &[attr("min", AttrKind::Float, Some("-inf"), "lower bound"), attr("max", AttrKind::Float, Some("inf"), "upper bound")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x", semantics: "min(max(x, min), max)", onnx: &["Clip"] },
    OpInfo { op: Op::Maximum, name: "maximum", family: Family::Elementwise, inputs: AB, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "numpy broadcast of a and b", semantics: "the larger of a and b elementwise (NaN propagates); ONNX Max of n inputs is a chain",
        onnx: &["Max"] },
    OpInfo { op: Op::Minimum, name: "minimum", family: Family::Elementwise, inputs: AB, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "numpy broadcast of a and b", semantics: "the smaller of a and b elementwise (NaN propagates); ONNX Min of n inputs is a chain",
        onnx: &["Min"] },
    OpInfo { op: Op::Where, name: "where", family: Family::Elementwise, inputs: &[req("cond"), req("a"), req("b")], attrs: &[],
        dtype_rule: DTypeRule::Select, shape_rule: "numpy broadcast of cond, a and b",
        semantics: "a where cond is nonzero (true), else b, elementwise with broadcasting (ONNX Where; Hugging Face causal masks: where(mask, scores, finfo.min))",
        onnx: &["Where"] },
    // ---- linear algebra
    OpInfo { op: Op::Linear, name: "linear", family: Family::LinearAlgebra, inputs: &[req("x"), req("weight"), opt("bias")], attrs: &[],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "x[..., in], weight[out, in], bias[out] -> [..., out]",
        semantics: "x @ weight^T + bias (PyTorch nn.Linear)", onnx: &["Gemm"] },
    OpInfo { op: Op::Matmul, name: "matmul", family: Family::LinearAlgebra, inputs: AB, attrs: &[], dtype_rule: DTypeRule::SameFloat,
        shape_rule: "numpy matmul: a[..., n, k] @ b[..., k, m] -> [broadcast(...), n, m]; 1-D operands are promoted and the added axis removed",
        semantics: "matrix product with batch broadcasting", onnx: &["MatMul"] },
    OpInfo { op: Op::Conv1d, name: "conv1d", family: Family::LinearAlgebra, inputs: &[req("x"), req("weight"), opt("bias")], attrs: CONV_ATTRS,
        dtype_rule: DTypeRule::SameFloat, shape_rule: "x[N, C, L], weight[O, C/groups, K] -> [N, O, floor((L + 2p - d(K-1) - 1)/s) + 1]",
        semantics: "1-D cross-correlation (PyTorch Conv1d)", onnx: &["Conv"] },
    OpInfo { op: Op::Conv2d, name: "conv2d", family: Family::LinearAlgebra, inputs: &[req("x"), req("weight"), opt("bias")], attrs: CONV_ATTRS,
        dtype_rule: DTypeRule::SameFloat, shape_rule: "x[N, C, H, W], weight[O, C/groups, KH, KW] -> [N, O, H', W'] with H' = floor((H + 2p - d(KH-1) - 1)/s) + 1",
        semantics: "2-D cross-correlation, NCHW (PyTorch Conv2d)", onnx: &["Conv"] },
    OpInfo { op: Op::ConvTranspose2d, name: "conv_transpose2d", family: Family::LinearAlgebra, inputs: &[req("x"), req("weight"), opt("bias")],
        attrs: &[attr("stride", AttrKind::Ints, Some("1"), "step between the input's positions in the output, per spatial axis"),
                 attr("padding", AttrKind::Ints, Some("0"), "cropped from both sides of the output, per spatial axis"),
                 attr("output_padding", AttrKind::Ints, Some("0"), "added to the output's trailing side, per spatial axis (below stride or dilation)"),
                 attr("dilation", AttrKind::Ints, Some("1"), "spacing between kernel taps, per spatial axis"),
                 attr("groups", AttrKind::Int, Some("1"), "input and output channels are split into this many groups")],
        dtype_rule: DTypeRule::SameFloat,
        shape_rule: "x[N, C, H, W], weight[C, O/groups, KH, KW] -> [N, O, H', W'] with H' = (H - 1)s - 2p + d(KH - 1) + output_padding + 1",
        semantics: "the transpose (adjoint) of conv2d with the same parameters: every input element scatters weight-scaled taps into the output (PyTorch ConvTranspose2d)",
        onnx: &["ConvTranspose"] },
    // ---- normalization
    OpInfo { op: Op::LayerNorm, name: "layer_norm", family: Family::Normalization, inputs: &[req("x"), opt("weight"), opt("bias")],
        attrs: &[attr("normalized_shape", AttrKind::Ints, Some("weight's shape, else the last axis"), "trailing axes normalised together"),
                 attr("eps", AttrKind::Float, Some("1e-5"), "added to the variance inside the square root")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x; weight and bias have normalized_shape",
        semantics: "(x - mean) / sqrt(var + eps) * weight + bias over the trailing axes (biased variance)", onnx: &["LayerNormalization"] },
    OpInfo { op: Op::BatchNorm, name: "batch_norm", family: Family::Normalization,
        inputs: &[req("x"), req("weight"), req("bias"), req("running_mean"), req("running_var")],
        attrs: &[attr("eps", AttrKind::Float, Some("1e-5"), "added to running_var inside the square root")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x[N, C, ...]; the four vectors have shape [C]",
        semantics: "eval mode: (x - running_mean) / sqrt(running_var + eps) * weight + bias per channel", onnx: &["BatchNormalization"] },
    OpInfo { op: Op::RmsNorm, name: "rms_norm", family: Family::Normalization, inputs: &[req("x"), opt("weight")],
        attrs: &[attr("eps", AttrKind::Float, Some("1e-6"), "added to the mean square inside the square root")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x; weight has the last axis' extent",
        semantics: "x / sqrt(mean(x^2, last axis) + eps) * weight", onnx: &[] },
    OpInfo { op: Op::Lrn, name: "lrn", family: Family::Normalization, inputs: X,
        attrs: &[attr("size", AttrKind::Int, None, "channels in the window"),
                 attr("alpha", AttrKind::Float, Some("0.0001"), "scale of the sum of squares"),
                 attr("beta", AttrKind::Float, Some("0.75"), "exponent"),
                 attr("bias", AttrKind::Float, Some("1.0"), "offset")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x[N, C, ...]",
        semantics: "x_c / (bias + alpha / size * sum of x_j^2 over channels j in [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta (ONNX LRN, AlexNet)",
        onnx: &["LRN"] },
    // ---- pooling
    OpInfo { op: Op::MaxPool2d, name: "max_pool2d", family: Family::Pooling, inputs: X,
        attrs: &[attr("kernel_size", AttrKind::Ints, None, "window extent per spatial axis"),
                 attr("stride", AttrKind::Ints, Some("kernel_size"), "step between windows"),
                 attr("padding", AttrKind::Ints, Some("0"), "implicit -inf padding"),
                 attr("dilation", AttrKind::Ints, Some("1"), "spacing between window taps"),
                 attr("ceil_mode", AttrKind::Bool, Some("false"), "round the output extent up")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "x[N, C, H, W] -> [N, C, H', W'] (as conv2d, rounding per ceil_mode)",
        semantics: "maximum over each window", onnx: &["MaxPool"] },
    OpInfo { op: Op::AvgPool2d, name: "avg_pool2d", family: Family::Pooling, inputs: X,
        attrs: &[attr("kernel_size", AttrKind::Ints, None, "window extent per spatial axis"),
                 attr("stride", AttrKind::Ints, Some("kernel_size"), "step between windows"),
                 attr("padding", AttrKind::Ints, Some("0"), "implicit zero padding"),
                 attr("ceil_mode", AttrKind::Bool, Some("false"), "round the output extent up"),
                 attr("count_include_pad", AttrKind::Bool, Some("true"), "divide by the full window, padding included")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "x[N, C, H, W] -> [N, C, H', W']",
        semantics: "mean over each window", onnx: &["AveragePool"] },
    OpInfo { op: Op::GlobalAvgPool, name: "global_avg_pool", family: Family::Pooling, inputs: X, attrs: &[],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "x[N, C, ...] -> [N, C, 1, ...]", semantics: "mean over all spatial axes",
        onnx: &["GlobalAveragePool"] },
    // ---- permutation
    OpInfo { op: Op::Transpose, name: "transpose", family: Family::Permutation, inputs: X,
        attrs: &[attr("dim0", AttrKind::Int, Some("-2"), "first axis"), attr("dim1", AttrKind::Int, Some("-1"), "second axis")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "x with axes dim0 and dim1 swapped", semantics: "swaps two axes", onnx: &[] },
    OpInfo { op: Op::Permute, name: "permute", family: Family::Permutation, inputs: X,
        attrs: &[attr("dims", AttrKind::Ints, None, "a permutation of the axes")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "out[i] = x[dims[i]]", semantics: "reorders axes", onnx: &["Transpose"] },
    // ---- random
    OpInfo { op: Op::Dropout, name: "dropout", family: Family::Random, inputs: X,
        attrs: &[attr("p", AttrKind::Float, Some("0.5"), "drop probability in training (unused in eval)")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x", semantics: "identity (eval mode)", onnx: &["Dropout"] },
    OpInfo { op: Op::Identity, name: "identity", family: Family::Random, inputs: X, attrs: &[], dtype_rule: DTypeRule::SameAny,
        shape_rule: "same as x", semantics: "x", onnx: &["Identity"] },
    // ---- reductions
    OpInfo { op: Op::Sum, name: "sum", family: Family::Reduction, inputs: X, attrs: REDUCE_ATTRS, dtype_rule: DTypeRule::SameFloat,
        shape_rule: "x without the reduced axes (or with extent 1 when keepdim)", semantics: "sum over axes", onnx: &["ReduceSum"] },
    OpInfo { op: Op::Mean, name: "mean", family: Family::Reduction, inputs: X, attrs: REDUCE_ATTRS, dtype_rule: DTypeRule::SameFloat,
        shape_rule: "x without the reduced axes (or with extent 1 when keepdim)", semantics: "arithmetic mean over axes", onnx: &["ReduceMean"] },
    OpInfo { op: Op::Max, name: "max", family: Family::Reduction, inputs: X, attrs: REDUCE_ATTRS, dtype_rule: DTypeRule::SameFloat,
        shape_rule: "x without the reduced axes (or with extent 1 when keepdim)", semantics: "maximum over axes (ONNX GlobalMaxPool: over every spatial axis, kept)", onnx: &["ReduceMax", "GlobalMaxPool"] },
    OpInfo { op: Op::Argmax, name: "argmax", family: Family::Reduction, inputs: X,
        attrs: &[attr("axis", AttrKind::Int, Some("-1"), "axis to search"), attr("keepdim", AttrKind::Bool, Some("false"), "keep the axis with extent 1")],
        dtype_rule: DTypeRule::Index, shape_rule: "x without axis", semantics: "index of the first maximum along axis", onnx: &["ArgMax"] },
    OpInfo { op: Op::Softmax, name: "softmax", family: Family::Reduction, inputs: X,
        attrs: &[attr("axis", AttrKind::Int, Some("-1"), "normalised axis")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x", semantics: "exp(x - max) / sum(exp(x - max)) along axis", onnx: &["Softmax"] },
    OpInfo { op: Op::LogSoftmax, name: "log_softmax", family: Family::Reduction, inputs: X,
        attrs: &[attr("axis", AttrKind::Int, Some("-1"), "normalised axis")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "same as x", semantics: "x - max - log(sum(exp(x - max))) along axis", onnx: &["LogSoftmax"] },
    // ---- structural
    OpInfo { op: Op::Reshape, name: "reshape", family: Family::Structural, inputs: X,
        attrs: &[attr("shape", AttrKind::Ints, None, "target extents; one may be -1 (inferred), 0 copies the input extent")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "shape, with -1 inferred so the element count is kept",
        semantics: "same elements in row-major order, new shape", onnx: &["Reshape"] },
    OpInfo { op: Op::Flatten, name: "flatten", family: Family::Structural, inputs: X,
        attrs: &[attr("start_dim", AttrKind::Int, Some("1"), "first axis merged"), attr("end_dim", AttrKind::Int, Some("-1"), "last axis merged")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "axes start_dim..=end_dim merged into one", semantics: "reshape that merges a run of axes", onnx: &["Flatten"] },
    OpInfo { op: Op::Concat, name: "concat", family: Family::Structural, inputs: &[many("xs")],
        attrs: &[attr("axis", AttrKind::Int, Some("0"), "axis to join along")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "inputs equal except along axis, whose extents add", semantics: "joins tensors along axis", onnx: &["Concat"] },
    OpInfo { op: Op::Slice, name: "slice", family: Family::Structural, inputs: X,
        attrs: &[attr("axis", AttrKind::Int, Some("0"), "axis to slice"), attr("start", AttrKind::Int, Some("0"), "first index (negative counts from the end)"),
                 attr("end", AttrKind::Int, Some("the axis' extent"), "one past the last index (clamped)"), attr("step", AttrKind::Int, Some("1"), "stride, >= 1")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "axis gets ceil((end - start) / step) after clamping", semantics: "x[..., start:end:step, ...] along axis", onnx: &["Slice"] },
    OpInfo { op: Op::Unsqueeze, name: "unsqueeze", family: Family::Structural, inputs: X,
        attrs: &[attr("axes", AttrKind::Ints, None, "positions of the new axes in the output")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "x with extent-1 axes inserted", semantics: "adds axes of extent 1", onnx: &["Unsqueeze"] },
    OpInfo { op: Op::Squeeze, name: "squeeze", family: Family::Structural, inputs: X,
        attrs: &[attr("axes", AttrKind::Ints, Some("every extent-1 axis"), "axes to remove; each must have extent 1")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "x without the given extent-1 axes", semantics: "removes axes of extent 1", onnx: &["Squeeze"] },
    OpInfo { op: Op::Embedding, name: "embedding", family: Family::Structural, inputs: &[req("indices"), req("weight")], attrs: &[],
        dtype_rule: DTypeRule::IndexedBy, shape_rule: "indices[...], weight[V, D] -> [..., D]",
        semantics: "rows of weight selected by integer indices in [0, V)", onnx: &[] },
    OpInfo { op: Op::Gather, name: "gather", family: Family::Structural, inputs: &[req("x"), req("indices")],
        attrs: &[attr("axis", AttrKind::Int, Some("0"), "axis indexed")],
        dtype_rule: DTypeRule::GatherLike, shape_rule: "x.shape[:axis] + indices.shape + x.shape[axis+1:]",
        semantics: "ONNX Gather: take along axis (negative indices count from the end)", onnx: &["Gather"] },
    OpInfo { op: Op::Pad, name: "pad", family: Family::Structural, inputs: X,
        attrs: &[attr("pads", AttrKind::Ints, None, "ONNX layout: every axis' leading count, then every axis' trailing count (>= 0)"),
                 attr("mode", AttrKind::Choice(&["constant", "reflect", "edge"]), Some("\"constant\""), "what the new elements hold"),
                 attr("value", AttrKind::Float, Some("0.0"), "the fill of constant mode")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "axis i grows by pads[i] + pads[rank + i]; reflect needs pads below the extent, edge a non-empty axis",
        semantics: "x surrounded by value (constant), its mirror image without the edge (reflect) or its edge repeated (edge)", onnx: &["Pad"] },
    OpInfo { op: Op::Resize, name: "resize", family: Family::Structural, inputs: X,
        attrs: &[attr("shape", AttrKind::Ints, None, "the output's extents (every axis)"),
                 attr("mode", AttrKind::Choice(&["nearest", "linear"]), Some("\"nearest\""), "nearest neighbour, or n-linear over the resized axes"),
                 attr("coordinate_transformation_mode", AttrKind::Choice(&["half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners"]),
                      Some("\"half_pixel\""), "how an output index maps to an input coordinate (ONNX's names)"),
                 attr("nearest_mode", AttrKind::Choice(&["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]),
                      Some("\"round_prefer_floor\""), "how nearest mode rounds the coordinate")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "shape, which has x's rank; unresized axes keep x's extent",
        semantics: "ONNX Resize with scale = shape / x.shape per axis: nearest picks a source element, linear interpolates between the two nearest (coordinate clamped to the axis)",
        onnx: &["Resize", "Upsample"] },
    OpInfo { op: Op::Trilu, name: "trilu", family: Family::Structural, inputs: X,
        attrs: &[attr("upper", AttrKind::Bool, Some("true"), "keep the upper triangle (else the lower)"),
                 attr("k", AttrKind::Int, Some("0"), "diagonal offset: 0 the main diagonal, > 0 above it, < 0 below it")],
        dtype_rule: DTypeRule::SameAny, shape_rule: "same as x (rank >= 2)",
        semantics: "x with the elements off the kept triangle of the last two axes set to 0: upper keeps j - i >= k, lower keeps j - i <= k (ONNX Trilu, torch.triu/tril)",
        onnx: &["Trilu"] },
    // ---- attention
    OpInfo { op: Op::AttentionWeights, name: "attention_weights", family: Family::Attention, inputs: &[req("q"), req("k"), opt("mask")],
        attrs: &[attr("causal", AttrKind::Bool, Some("false"), "mask future positions (j > i)"),
                 attr("scale", AttrKind::Float, Some("1/sqrt(E)"), "multiplies q @ k^T")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "q[..., L, E], k[..., S, E] -> [..., L, S]; mask broadcasts to [..., L, S]",
        semantics: "hard-masked softmax(scale * q @ k^T): masked positions are exactly 0 (mask: nonzero = keep)", onnx: &[] },
    OpInfo { op: Op::ScaledDotProductAttention, name: "scaled_dot_product_attention", family: Family::Attention,
        inputs: &[req("q"), req("k"), req("v"), opt("mask")],
        attrs: &[attr("causal", AttrKind::Bool, Some("false"), "mask future positions (j > i)"),
                 attr("scale", AttrKind::Float, Some("1/sqrt(E)"), "multiplies q @ k^T")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "q[..., L, E], k[..., S, E], v[..., S, Ev] -> [..., L, Ev]",
        semantics: "attention_weights(q, k, mask) @ v", onnx: &[] },
    // ---- losses
    OpInfo { op: Op::MseLoss, name: "mse_loss", family: Family::Loss, inputs: &[req("input"), req("target")],
        attrs: &[attr("reduction", REDUCTION_CHOICE, Some("\"mean\""), "how per-element losses combine")],
        dtype_rule: DTypeRule::SameFloat, shape_rule: "input and target equal; scalar unless reduction = \"none\"",
        semantics: "(input - target)^2, reduced", onnx: &[] },
    OpInfo { op: Op::CrossEntropy, name: "cross_entropy", family: Family::Loss, inputs: &[req("logits"), req("labels")],
        attrs: &[attr("ignore_index", AttrKind::Int, Some("-100"), "labels equal to it contribute exactly zero"),
                 attr("reduction", REDUCTION_CHOICE, Some("\"mean\""), "mean over non-ignored labels, sum, or per-sample")],
        dtype_rule: DTypeRule::LogitsLabels, shape_rule: "logits[N, C], labels[N] -> scalar (or [N] when reduction = \"none\")",
        semantics: "-log_softmax(logits)[label], ignored labels contribute 0; mean over non-ignored labels (0 when all are ignored)",
        onnx: &[] },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_lookup_round_trips() {
        let mut seen = HashSet::new();
        for row in OPS {
            assert!(seen.insert(row.name), "duplicate op name {}", row.name);
            assert_eq!(lookup(row.name).unwrap().op, row.op);
            assert_eq!(row.op.info().name, row.name);
        }
    }

    #[test]
    fn every_op_variant_has_exactly_one_row() {
        // The enum has 65 variants (count them when adding one); each appears once in the table.
        let ops: HashSet<Op> = OPS.iter().map(|o| o.op).collect();
        assert_eq!(ops.len(), OPS.len());
        assert_eq!(OPS.len(), 65);
    }

    #[test]
    fn only_the_last_input_is_variadic_and_optional_inputs_trail() {
        for row in OPS {
            let n = row.inputs.len();
            for (i, input) in row.inputs.iter().enumerate() {
                assert!(
                    !input.variadic || i + 1 == n,
                    "{}: variadic input must be last",
                    row.name
                );
                if input.optional {
                    assert!(
                        row.inputs[i..].iter().all(|j| j.optional),
                        "{}: optional inputs must trail",
                        row.name
                    );
                }
            }
        }
    }

    #[test]
    fn literal_defaults_parse_and_fit_their_kind() {
        // Defaults stated in words rather than as literals (read by the op's own rule).
        let worded = [
            "weight's shape, else the last axis",
            "kernel_size",
            "all",
            "the axis' extent",
            "every extent-1 axis",
            "1/sqrt(E)",
        ];
        for row in OPS {
            for a in row.attrs {
                let Some(text) = a.default else { continue };
                match row.default_value(a.name) {
                    Some(v) => {
                        let fits = v.fits(a.kind)
                            || (a.kind == AttrKind::Ints && matches!(v, crate::AttrValue::Int(_)));
                        assert!(
                            fits,
                            "{}.{}: default {text} does not fit {}",
                            row.name, a.name, a.kind
                        )
                    }
                    None => assert!(
                        worded.contains(&text),
                        "{}.{}: default {text:?} does not parse",
                        row.name,
                        a.name
                    ),
                }
            }
        }
        assert_eq!(
            crate::Attrs::new().float_or_default(Op::LeakyRelu, "alpha"),
            0.01
        );
        assert_eq!(crate::Attrs::new().int_or_default(Op::Softmax, "axis"), -1);
    }

    #[test]
    fn every_family_of_the_seed_ir_is_covered() {
        let families: HashSet<Family> = OPS.iter().map(|o| o.family).collect();
        assert_eq!(families.len(), 12);
    }
}
