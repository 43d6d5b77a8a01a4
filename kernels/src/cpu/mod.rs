//! CPU kernels over ndarray, generic over the element type (f32 and f64 for float ops).
//! Each kernel validates its operands and returns a coded [`crate::KernelError`]; none panics on
//! bad input.

pub mod attention;
pub mod conv;
pub mod conv_transpose;
pub mod elementwise;
pub mod gemm;
pub mod linalg;
pub mod loss;
pub mod lrn;
pub mod norm;
pub mod pad;
pub mod pool;
pub mod reduce;
pub mod resize;
pub mod select;
pub mod shape_ops;

pub use attention::{scaled_dot_product_attention, AttentionMask, AttentionOutput};
pub use conv::{conv1d, conv2d, Conv1dParams, Conv2dParams, PackedConv2d};
pub use conv_transpose::{conv_transpose2d, conv_transpose2d_backward, ConvTranspose2dParams};
pub use elementwise::{
    binary, binary_into, unary, unary_chain_in_place, unary_into, BinaryOp, UnaryOp,
};
pub use gemm::{gemm_packed_into, Epilogue, MatrixStrides, PackedMatrix, PANEL};
pub use linalg::{linear, linear_into, matmul};
pub use loss::{cross_entropy, mse_loss, Reduction};
pub use lrn::{lrn, lrn_backward, lrn_jvp, LrnParams};
pub use norm::{batch_norm, layer_norm, rms_norm};
pub use pad::{pad, pad_axis_map, pad_backward, PadMode};
pub use pool::{
    avg_pool2d, avg_pool2d_into, global_avg_pool, max_pool2d, max_pool2d_into, Pool2dParams,
};
pub use reduce::{argmax, log_softmax, reduce, softmax, ReduceOp};
pub use resize::{
    resize, resize_backward, resize_taps, CoordinateMode, NearestMode, ResizeMode, ResizeParams,
};
pub use select::{trilu, trilu_keeps, where_select};
pub use shape_ops::{
    concat, embedding, flatten, gather, permute, reshape, resolve_shape, slice, slice_indices,
    squeeze, transpose, unsqueeze,
};
