//! THE op registry. The primitives every model lowers to, and one `match` per concern over
//! them, each in its own file: `shape` (shape rule), `vjp` (vector-Jacobian product),
//! `emit` (forward code) and, for tests, `eval` (a reference interpreter). No `match` on
//! `Op` has a `_ =>` arm, so a new op fails to compile until every part of it exists.
//!
//! Sugar (`a - b`, `a / b`, `mean`, the named losses) is lowered to these in `lower.rs`.

pub mod emit;
#[cfg(test)]
pub mod eval;
pub mod shape;
pub mod vjp;

/// An `f64` that can be hashed and compared bitwise, for hash-consing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct F64(u64);

impl F64 {
    pub fn new(v: f64) -> Self {
        // -0.0 and 0.0 are one constant.
        Self(if v == 0.0 { 0 } else { v.to_bits() })
    }

    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// The model's `index`-th tensor (input, target or parameter).
    Var(usize),
    /// A scalar constant.
    Const(F64),
    /// The number of elements of the argument (along `axis`), a scalar that depends on
    /// the shape only.
    Count(Option<u8>),
    Neg,
    Pow(F64),
    Exp,
    Log,
    Sqrt,
    Abs,
    /// The derivative of `abs`: -1, 0 or 1.
    Sign,
    Relu,
    /// The derivative of `relu`: 1 where the argument is positive, else 0.
    Step,
    Sigmoid,
    Tanh,
    Softplus,
    LeakyRelu(F64),
    /// The derivative of `leaky_relu`: 1 where positive, else the slope.
    LeakyStep(F64),
    ClampMin(F64),
    /// The derivative of `clamp_min`: 1 above the bound, else 0.
    ClampMinStep(F64),
    /// Elementwise sum with NumPy broadcasting.
    Add,
    /// Elementwise product with NumPy broadcasting.
    Mul,
    /// Matrix product; vectors on either side as NumPy's `@`.
    Matmul,
    /// Outer product of two vectors (the adjoint of matrix-vector products).
    Outer,
    Transpose,
    /// Sum over all axes (`None`) or one; `keep` keeps it with length 1.
    Sum {
        axis: Option<u8>,
        keep: bool,
    },
    /// The adjoint of `Sum`: the first argument spread over the shape of the second.
    Unsum {
        axis: Option<u8>,
        keep: bool,
    },
    /// Column `k` of a matrix.
    Column(usize),
    /// The adjoint of `Column`: zeros shaped as the second argument, column `k` the first.
    ColumnScatter(usize),
    /// Binary cross-entropy of probabilities against targets, mean, logs clamped at -100.
    Bce,
    /// Binary cross-entropy of logits against targets, mean.
    BceLogits,
    /// Softmax along an axis.
    Softmax(u8),
    /// Log-softmax along an axis.
    LogSoftmax(u8),
    /// Cross-entropy of logits `[n, classes]` against integer labels `[n]`, mean over rows.
    CrossEntropy,
    /// Integer labels as rows of zeros with a one at the label, shaped as the second argument.
    OneHot,
}

impl Op {
    /// Whether the op is a layer's activation, whose argument the derivation names `z1`.
    pub fn is_activation(&self) -> bool {
        matches!(
            self,
            Op::Relu
                | Op::Sigmoid
                | Op::Tanh
                | Op::Softplus
                | Op::LeakyRelu(_)
                | Op::Softmax(_)
                | Op::LogSoftmax(_)
        )
    }

    /// The name of the function the op applies, whose derivative a derivation names
    /// (`relu'`), for the ops that are functions of their arguments' values.
    pub fn function(&self) -> Option<&'static str> {
        Some(match self {
            Op::Relu => "relu",
            Op::Sigmoid => "σ",
            Op::Tanh => "tanh",
            Op::Softplus => "softplus",
            Op::LeakyRelu(_) => "leaky_relu",
            Op::ClampMin(_) => "max",
            Op::Exp => "exp",
            Op::Log => "log",
            Op::Sqrt => "sqrt",
            Op::Abs => "abs",
            Op::Softmax(_) => "softmax",
            Op::LogSoftmax(_) => "log_softmax",
            Op::Bce => "bce",
            Op::BceLogits => "bce_logits",
            _ => return None,
        })
    }

    /// Whether the op maps elements one to one (with broadcasting for two arguments).
    pub fn is_elementwise(&self) -> bool {
        match self {
            Op::Neg
            | Op::Pow(_)
            | Op::Exp
            | Op::Log
            | Op::Sqrt
            | Op::Abs
            | Op::Sign
            | Op::Relu
            | Op::Step
            | Op::Sigmoid
            | Op::Tanh
            | Op::Softplus
            | Op::LeakyRelu(_)
            | Op::LeakyStep(_)
            | Op::ClampMin(_)
            | Op::ClampMinStep(_)
            | Op::Add
            | Op::Mul => true,
            Op::Var(_)
            | Op::Const(_)
            | Op::Count(_)
            | Op::Matmul
            | Op::Outer
            | Op::Transpose
            | Op::Sum { .. }
            | Op::Unsum { .. }
            | Op::Column(_)
            | Op::ColumnScatter(_)
            | Op::Bce
            | Op::BceLogits
            | Op::Softmax(_)
            | Op::LogSoftmax(_)
            | Op::CrossEntropy
            | Op::OneHot => false,
        }
    }

    /// The arguments whose values the op reads; the others give it only a shape (the
    /// count of a tensor, the adjoints that are spread over or scattered into a shape).
    pub fn value_args<'a, T>(&self, args: &'a [T]) -> &'a [T] {
        match self {
            Op::Count(_) => &[],
            Op::Unsum { .. } | Op::ColumnScatter(_) | Op::OneHot => args.get(..1).unwrap_or(args),
            Op::Var(_)
            | Op::Const(_)
            | Op::Neg
            | Op::Pow(_)
            | Op::Exp
            | Op::Log
            | Op::Sqrt
            | Op::Abs
            | Op::Sign
            | Op::Relu
            | Op::Step
            | Op::Sigmoid
            | Op::Tanh
            | Op::Softplus
            | Op::LeakyRelu(_)
            | Op::LeakyStep(_)
            | Op::ClampMin(_)
            | Op::ClampMinStep(_)
            | Op::Add
            | Op::Mul
            | Op::Matmul
            | Op::Outer
            | Op::Transpose
            | Op::Sum { .. }
            | Op::Column(_)
            | Op::Bce
            | Op::BceLogits
            | Op::Softmax(_)
            | Op::LogSoftmax(_)
            | Op::CrossEntropy => args,
        }
    }

    /// Whether a gradient flows through the op; the others are piecewise constant or
    /// depend on shapes only.
    pub fn is_differentiable(&self) -> bool {
        match self {
            Op::Const(_)
            | Op::Count(_)
            | Op::Sign
            | Op::Step
            | Op::LeakyStep(_)
            | Op::ClampMinStep(_)
            | Op::OneHot => false,
            Op::Var(_)
            | Op::Neg
            | Op::Pow(_)
            | Op::Exp
            | Op::Log
            | Op::Sqrt
            | Op::Abs
            | Op::Relu
            | Op::Sigmoid
            | Op::Tanh
            | Op::Softplus
            | Op::LeakyRelu(_)
            | Op::ClampMin(_)
            | Op::Add
            | Op::Mul
            | Op::Matmul
            | Op::Outer
            | Op::Transpose
            | Op::Sum { .. }
            | Op::Unsum { .. }
            | Op::Column(_)
            | Op::ColumnScatter(_)
            | Op::Bce
            | Op::BceLogits
            | Op::Softmax(_)
            | Op::LogSoftmax(_)
            | Op::CrossEntropy => true,
        }
    }

    /// The op's value on scalars, for elementwise ops: used for constant folding and by
    /// the reference interpreter, through the runtime's own scalar functions.
    pub fn scalar(&self, args: &[f64]) -> Option<f64> {
        use backprop_scalar as s;
        let a = args.first().copied().unwrap_or(0.0);
        let b = args.get(1).copied().unwrap_or(0.0);
        Some(match self {
            Op::Neg => -a,
            Op::Pow(k) => s::pow(a, k.get()),
            Op::Exp => s::exp(a),
            Op::Log => s::ln(a),
            Op::Sqrt => s::sqrt(a),
            Op::Abs => s::abs(a),
            Op::Sign => s::sign(a),
            Op::Relu => s::relu(a),
            Op::Step => s::step(a),
            Op::Sigmoid => s::sigmoid(a),
            Op::Tanh => s::tanh(a),
            Op::Softplus => s::softplus(a),
            Op::LeakyRelu(k) => s::leaky_relu(a, k.get()),
            Op::LeakyStep(k) => s::leaky_step(a, k.get()),
            Op::ClampMin(lo) => s::clamp_min(a, lo.get()),
            Op::ClampMinStep(lo) => s::clamp_min_step(a, lo.get()),
            Op::Add => a + b,
            Op::Mul => a * b,
            Op::Var(_)
            | Op::Const(_)
            | Op::Count(_)
            | Op::Matmul
            | Op::Outer
            | Op::Transpose
            | Op::Sum { .. }
            | Op::Unsum { .. }
            | Op::Column(_)
            | Op::ColumnScatter(_)
            | Op::Bce
            | Op::BceLogits
            | Op::Softmax(_)
            | Op::LogSoftmax(_)
            | Op::CrossEntropy
            | Op::OneHot => return None,
        })
    }
}
