//! The table of the language's elementwise functions: one entry each, everything about
//! the function in it. A new function is an entry here and its scalar function in
//! `backprop-scalar`.

use super::{Derivative, Domain, Form, Func, Function, Param, Scalar};
use crate::ir::Symbol;

/// The functions of the language, and the ones its derivatives use.
pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "relu",
        param: Param::None,
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("relu"),
        form: Form::Call,
        value: scalar!(relu),
        derivative: Derivative::Own {
            value: scalar!(step),
            form: Form::Template {
                code: "($x > 0)",
                text: "[$x > 0]",
                latex: "[$x > 0]",
            },
        },
    },
    Function {
        name: "sigmoid",
        param: Param::None,
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::new("σ", r"\sigma"),
        form: Form::Call,
        value: scalar!(sigmoid),
        // σ' = σ (1 − σ)
        derivative: Derivative::Ir(|g, _, s, _| {
            let one = g.cst(1.0);
            let rest = g.sub(one, s)?;
            g.mul(s, rest)
        }),
    },
    Function {
        name: "tanh",
        param: Param::None,
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::new("tanh", r"\tanh"),
        form: Form::Call,
        value: scalar!(tanh),
        // tanh' = 1 − tanh²
        derivative: Derivative::Ir(|g, _, t, _| {
            let one = g.cst(1.0);
            let sq = g.pow(t, 2.0)?;
            g.sub(one, sq)
        }),
    },
    Function {
        name: "exp",
        param: Param::None,
        domain: Domain::Real,
        activation: false,
        symbol: Symbol::new("exp", r"\exp"),
        form: Form::Call,
        value: scalar!(exp),
        // exp' = exp
        derivative: Derivative::Ir(|_, _, e, _| Ok(e)),
    },
    Function {
        name: "log",
        param: Param::None,
        domain: Domain::Positive,
        activation: false,
        symbol: Symbol::new("log", r"\log"),
        form: Form::Call,
        value: scalar!(ln),
        // log' a = 1 / a
        derivative: Derivative::Ir(|g, a, _, _| g.pow(a, -1.0)),
    },
    Function {
        name: "sqrt",
        param: Param::None,
        domain: Domain::Positive,
        activation: false,
        symbol: Symbol::new("√", r"\sqrt"),
        form: Form::Template {
            code: "sqrt($x)",
            text: "√($x)",
            latex: r"\sqrt{$x}",
        },
        value: scalar!(sqrt),
        // sqrt' a = 0.5 / sqrt(a)
        derivative: Derivative::Ir(|g, _, r, _| {
            let inverse = g.pow(r, -1.0)?;
            let half = g.cst(0.5);
            g.mul(half, inverse)
        }),
    },
    Function {
        name: "abs",
        param: Param::None,
        domain: Domain::Real,
        activation: false,
        symbol: Symbol::same("abs"),
        form: Form::Template {
            code: "abs($x)",
            text: "|$x|",
            latex: r"\left\lvert $x \right\rvert",
        },
        value: scalar!(abs),
        derivative: Derivative::Own {
            value: scalar!(sign),
            form: Form::Template {
                code: "sign($x)",
                text: "sign($x)",
                latex: r"\operatorname{sign}\left($x\right)",
            },
        },
    },
    Function {
        name: "softplus",
        param: Param::None,
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("softplus"),
        form: Form::Call,
        value: scalar!(softplus),
        // softplus' = σ
        derivative: Derivative::Ir(|g, a, _, _| g.map(SIGMOID, a)),
    },
    Function {
        name: "leaky_relu",
        param: Param::Number {
            what: "slope",
            default: Some(0.01),
        },
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("leaky_relu"),
        form: Form::Call,
        value: scalar!(leaky_relu, param),
        derivative: Derivative::Own {
            value: scalar!(leaky_step, param),
            form: Form::Template {
                code: "leaky_step($x, $k)",
                text: "leaky_step($x, $k)",
                latex: r"\operatorname{leaky\_step}\left($x, $k\right)",
            },
        },
    },
    Function {
        name: "clamp_min",
        param: Param::Number {
            what: "bound",
            default: None,
        },
        domain: Domain::Real,
        activation: false,
        symbol: Symbol::same("max"),
        form: Form::Template {
            code: "clamp_min($x, $k)",
            text: "max($x, $k)",
            latex: r"\operatorname{max}\left($x, $k\right)",
        },
        value: scalar!(clamp_min, param),
        derivative: Derivative::Own {
            value: scalar!(clamp_min_step, param),
            form: Form::Template {
                code: "($x > $k)",
                text: "[$x > $k]",
                latex: "[$x > $k]",
            },
        },
    },
    Function {
        name: "silu",
        param: Param::None,
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("silu"),
        form: Form::Call,
        value: scalar!(silu),
        derivative: Derivative::Own {
            value: scalar!(silu_grad),
            form: Form::Call,
        },
    },
    Function {
        name: "gelu",
        param: Param::None,
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("gelu"),
        form: Form::Call,
        value: scalar!(gelu),
        derivative: Derivative::Own {
            value: scalar!(gelu_grad),
            form: Form::Call,
        },
    },
    Function {
        name: "gelu_tanh",
        param: Param::None,
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("gelu_tanh"),
        form: Form::Call,
        value: scalar!(gelu_tanh),
        derivative: Derivative::Own {
            value: scalar!(gelu_tanh_grad),
            form: Form::Call,
        },
    },
    Function {
        name: "elu",
        param: Param::Number {
            what: "alpha",
            default: Some(1.0),
        },
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("elu"),
        form: Form::Call,
        value: scalar!(elu, param),
        derivative: Derivative::Own {
            value: scalar!(elu_grad, param),
            form: Form::Call,
        },
    },
    Function {
        name: "log_sigmoid",
        param: Param::None,
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("log_sigmoid"),
        form: Form::Call,
        value: scalar!(log_sigmoid),
        // log_sigmoid' = σ(−a)
        derivative: Derivative::Ir(|g, a, _, _| {
            let minus = g.neg(a)?;
            g.map(SIGMOID, minus)
        }),
    },
];

/// The entries the compiler builds by itself: the derivative of `softplus`, the stable
/// forms of `log(sigmoid(z))`, the floor of `bce`'s derivative.
pub const SIGMOID: Func = Func::named("sigmoid");
pub const SOFTPLUS: Func = Func::named("softplus");
pub const LOG: Func = Func::named("log");
pub const ABS: Func = Func::named("abs");
pub const CLAMP_MIN: Func = Func::named("clamp_min");
