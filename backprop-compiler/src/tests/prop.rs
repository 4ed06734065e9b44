//! Random well-shaped models, differentiated symbolically, evaluated by the reference
//! interpreter and compared with central finite differences in f64.

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{compile, run};
use crate::ast::Role;
use crate::derivation::Derivation;
use crate::ir::NodeId;
use crate::lower::Lowered;
use crate::ops::function::{self, Domain, Func, Param};
use crate::ops::{Loss, Op};

const MODELS: usize = 500;

/// Writes a model's source with the shapes of all its tensors.
struct Gen {
    rng: ChaCha8Rng,
    n: usize,
    d0: usize,
    /// The columns of the second input, `x2`.
    d1: usize,
    declare: bool,
    params: Vec<(String, Vec<usize>)>,
    hidden: Option<usize>,
    /// Whether the model picks rows by the indices `i1: [n]` and `i2: [n, 2]`.
    indices: [bool; 2],
}

/// The rows of the tables that indices pick from.
const VOCAB: usize = 4;

impl Gen {
    fn param(&mut self, shape: Vec<usize>) -> String {
        let name = format!("p{}", self.params.len());
        self.params.push((name.clone(), shape));
        name
    }

    fn dim(&mut self) -> usize {
        self.rng.random_range(1..=3)
    }

    /// An expression of shape `[n, c]`.
    fn matrix(&mut self, c: usize, depth: usize) -> String {
        if depth == 0 {
            return match (self.rng.random_range(0..4), self.hidden) {
                (0, Some(h)) if h == c => "h".into(),
                (1, _) if c == self.d0 => "x".into(),
                (2, _) => {
                    let w = self.param(vec![self.d1, c]);
                    format!("(x2 @ {w})")
                }
                _ => {
                    let w = self.param(vec![self.d0, c]);
                    format!("(x @ {w})")
                }
            };
        }
        let d = depth - 1;
        let choice = self.rng.random_range(0..23);
        match choice {
            0 => {
                let m = self.dim();
                let a = self.matrix(m, d);
                let w = self.param(vec![m, c]);
                format!("({a} @ {w})")
            }
            1 => {
                let m = self.dim();
                let a = self.matrix(m, d);
                let w = self.param(vec![c, m]);
                format!("({a} @ {w}.T)")
            }
            2 | 7 | 18 => {
                let a = self.matrix(c, d);
                self.function(a)
            }
            3 => {
                let a = self.matrix(c, d);
                let b = self.param(vec![c]);
                format!("({a} + {b})")
            }
            4 => {
                let (a, b) = (self.matrix(c, d), self.matrix(c, d));
                format!("({a} * {b})")
            }
            5 => {
                let (a, b) = (self.matrix(c, d), self.matrix(c, d));
                format!("({a} - {b})")
            }
            6 => {
                let (a, b) = (self.matrix(c, d), self.matrix(c, d));
                format!("({a} / ({b} * {b} + 1))")
            }
            8 => {
                let a = self.matrix(c, d);
                if self.rng.random_bool(0.5) {
                    format!("{a}.pow(3)")
                } else {
                    format!("({a} ** 2)")
                }
            }
            9 => {
                let a = self.matrix(c, d);
                ["-{a}", "(2 * {a})", "({a} / 2)", "(1 - {a})"][self.rng.random_range(0..4)]
                    .replace("{a}", &a)
            }
            10 => {
                let (a, v) = (self.matrix(c, d), self.vector(c, d));
                format!("({a} * {v})")
            }
            11 => {
                let m = self.dim();
                let a = self.matrix(m, d);
                let w = self.param(vec![c, m]);
                format!("({w} @ {a}.T).T")
            }
            12 => {
                let (a, v) = (self.matrix(c, d), self.vector(c, d));
                format!("({a} + {v})")
            }
            13 if self.declare => {
                let (a, k) = (self.matrix(c, d), self.matrix(1, d));
                format!("({a} * {k})")
            }
            14 => {
                let a = self.matrix(c, d);
                let s = self.matrix(self.n.min(3), d);
                let reduce = if self.rng.random_bool(0.5) {
                    "sum"
                } else {
                    "mean"
                };
                format!("({a} * {s}.{reduce}())")
            }
            15 => {
                let a = self.matrix(c, d);
                match self.rng.random_range(0..4) {
                    0 => format!("softmax({a}, 1)"),
                    1 => format!("log_softmax({a}, 1)"),
                    2 => format!("softmax({a}, 0)"),
                    _ => format!("{a}.log_softmax(-1)"),
                }
            }
            16 => {
                // The stability rewrites, on the op and through a transpose.
                let a = self.matrix(c, d);
                match self.rng.random_range(0..4) {
                    0 => format!("log(sigmoid({a}))"),
                    1 => format!("log(1 - sigmoid({a}))"),
                    2 => format!("log(softmax({a}, 1))"),
                    _ => format!("log(sigmoid({a}.T)).T"),
                }
            }
            17 => {
                // A scalar parameter, inferred from its use or declared `[]`.
                let a = self.matrix(c, d);
                let s = self.param(Vec::new());
                format!("({s} * {a})")
            }
            20 => {
                // Reductions that keep their axis, broadcast back as NumPy does.
                let (a, b) = (self.matrix(c, d), self.matrix(c, d));
                match self.rng.random_range(0..9) {
                    // The normalisations, whose gradient is their closed form.
                    7 | 8 => {
                        let (gain, bias) = (self.param(vec![c]), self.param(vec![c]));
                        let f = ["batch_norm", "layer_norm"][self.rng.random_range(0..2)];
                        format!("({a} * {f}({b}, {gain}, {bias}, 0.1))")
                    }
                    0 => format!("({a} - {b}.mean(0, keepdim=True))"),
                    1 => format!("({a} / (({b} * {b}).sum(1, keepdim=True) + 1))"),
                    2 => format!("({a} * {b}.sum(dim=-1, keepdims=True))"),
                    3 => format!("({a} + {b}.mean(keepdim=True))"),
                    // The largest and smallest along an axis.
                    4 => format!("({a} - {b}.max(1, keepdim=True).values)"),
                    5 => format!("({a} / ({b}.var(0, keepdim=True, unbiased=False) + 1))"),
                    _ => format!("({a} * {b}.amin(0, keepdim=True))"),
                }
            }
            21 => {
                // The rows of a table at integer indices (an embedding), of rank 2 or 3.
                match self.rng.random_range(0..4) {
                    0 => {
                        self.indices[0] = true;
                        let t = self.param(vec![VOCAB, c]);
                        format!("{t}[i1]")
                    }
                    1 => {
                        self.indices[1] = true;
                        let t = self.param(vec![VOCAB, c]);
                        format!("{t}[i2].sum(1)")
                    }
                    2 if c.is_multiple_of(2) => {
                        self.indices[1] = true;
                        let t = self.param(vec![VOCAB, c / 2]);
                        format!("{t}[i2].view({}, -1)", self.n)
                    }
                    _ => {
                        self.indices[1] = true;
                        let t = self.param(vec![VOCAB, 2 * c]);
                        let a = self.matrix(c, d);
                        format!("({a} * {t}[i2].reshape(i2.shape[0], 2, 2, {c}).mean(1).amax(1))")
                    }
                }
            }
            22 => {
                // The same elements in another shape, back and forth.
                let (a, n) = (self.matrix(c, d), self.n);
                match self.rng.random_range(0..3) {
                    0 => format!("{a}.view(-1).view({n}, {c})"),
                    1 => format!("{a}.reshape({c}, -1).T"),
                    _ => format!("{a}.view(x.shape[0], 1, {c}).sum(1)"),
                }
            }
            _ => {
                let a = self.matrix(c, d);
                format!("{a}.T.T")
            }
        }
    }

    /// One of the language's functions, drawn from the registry, applied to `a`: an
    /// argument its domain takes, its number drawn or left to its default, and the call or
    /// the method form.
    fn function(&mut self, a: String) -> String {
        let all: Vec<Func> = function::spelled().collect();
        let f = all[self.rng.random_range(0..all.len())].def();
        let a = match f.domain {
            Domain::Real => a,
            Domain::Positive => format!("({a} * {a} + 1)"),
        };
        let number = match f.param {
            Param::Number { default, .. } if default.is_none() || self.rng.random_bool(0.5) => {
                format!(", {:.2}", self.rng.random_range(-0.5..0.5))
            }
            Param::Number { .. } | Param::None => String::new(),
        };
        let name = f.name;
        if self.rng.random_bool(0.5) {
            format!("{name}({a}{number})")
        } else {
            format!("{a}.{name}({})", number.trim_start_matches(", "))
        }
    }

    /// An expression of shape `[c]`.
    fn vector(&mut self, c: usize, depth: usize) -> String {
        let d = depth.saturating_sub(1);
        match self.rng.random_range(0..4) {
            0 => format!("{}.sum(0)", self.matrix(c, d)),
            1 => format!("{}.mean(0)", self.matrix(c, d)),
            2 if c == self.n => {
                let m = self.dim();
                let k = self.rng.random_range(0..m);
                format!("{}[:, {k}]", self.matrix(m, d))
            }
            2 if c == self.n => format!("{}.sum(1)", self.matrix(self.d0, d)),
            _ => format!("tanh({})", self.matrix(c, d)),
        }
    }
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

fn random_array(rng: &mut ChaCha8Rng, shape: &[usize], lo: f64, hi: f64) -> ArrayD<f64> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.random_range(lo..hi))
}

/// One random model: its source, and the value of every tensor it takes by name.
fn model(seed: u64) -> (String, Vec<(String, ArrayD<f64>)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, d0, d1) = (
        rng.random_range(1..=3),
        rng.random_range(1..=3),
        rng.random_range(1..=3),
    );
    let declare = rng.random_bool(0.5);
    let depth = rng.random_range(1..=6);
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
        n,
        d0,
        d1,
        declare,
        params: Vec::new(),
        hidden: None,
        indices: [false; 2],
    };
    let mut lets = String::new();
    if rng.random_bool(0.5) {
        let h = g.dim();
        let value = g.matrix(h, depth / 2);
        lets = format!("let h = {value};");
        g.hidden = Some(h);
    }
    let c = g.dim();
    let (output, loss, y_shape, y_range) = match rng.random_range(0..7) {
        0 => (g.matrix(c, depth), "loss mse", vec![n, c], (-1.0, 1.0)),
        1 => (g.matrix(c, depth), "loss sse", vec![n, c], (-1.0, 1.0)),
        2 => (g.matrix(c, depth), "loss l1", vec![n, c], (-1.0, 1.0)),
        3 => (
            format!("sigmoid({})", g.matrix(c, depth)),
            "loss bce",
            vec![n, c],
            (0.05, 0.95),
        ),
        4 => (
            g.matrix(c, depth),
            "loss bce_logits",
            vec![n, c],
            (0.05, 0.95),
        ),
        // Integer labels in 0..c, held as floats by the interpreter.
        // Or picked by them, as a notebook writes the cross-entropy.
        5 => (
            g.matrix(c, depth),
            [
                "loss cross_entropy",
                "loss -log_softmax(out)[range(n), y].mean()",
                "loss nll(log_softmax(out, 1), y)",
                "loss -log_softmax(out).gather(1, y.view(-1, 1)).mean()",
            ][rng.random_range(0..4)],
            vec![n],
            (0.0, c as f64),
        ),
        _ => (
            g.matrix(c, depth),
            "loss (out[:, 0] - y).pow(2).mean()",
            vec![n],
            (-1.0, 1.0),
        ),
    };
    let labels = ["cross_entropy", "[range(n), y]", "nll(", ".gather(1, y"]
        .iter()
        .any(|l| loss.contains(l));
    let mut decls = format!(
        "input x: {}, x2: {}; target y: {};",
        shape_text(&[n, d0]),
        shape_text(&[n, d1]),
        shape_text(&y_shape)
    );
    // Indices are inputs when declared, and when not (`i1`), from their use.
    for (used, (name, shape)) in g.indices.iter().zip([("i1", vec![n]), ("i2", vec![n, 2])]) {
        if *used && (declare || name == "i2" || rng.random_bool(0.5)) {
            decls += &format!(" input {name}: {};", shape_text(&shape));
        }
    }
    if declare && !g.params.is_empty() {
        let ps: Vec<String> = g
            .params
            .iter()
            .map(|(p, s)| format!("{p}: {}", shape_text(s)))
            .collect();
        decls += &format!(" param {};", ps.join(", "));
    }
    let src = format!("{decls} {lets} {output}; {loss}");
    let mut y = random_array(&mut rng, &y_shape, y_range.0, y_range.1);
    if labels {
        y.mapv_inplace(f64::floor);
    }
    let mut values = vec![
        ("x".to_string(), random_array(&mut rng, &[n, d0], -1.0, 1.0)),
        (
            "x2".to_string(),
            random_array(&mut rng, &[n, d1], -1.0, 1.0),
        ),
        ("y".to_string(), y),
    ];
    for (p, s) in &g.params {
        values.push((p.clone(), random_array(&mut rng, s, -1.0, 1.0)));
    }
    for (name, shape) in [("i1", vec![n]), ("i2", vec![n, 2])] {
        let mut i = random_array(&mut rng, &shape, 0.0, VOCAB as f64);
        i.mapv_inplace(f64::floor);
        values.push((name.to_string(), i));
    }
    (src, values)
}

#[test]
fn random_models_match_finite_differences() {
    let mut checked = 0;
    let features = [
        "softmax",
        "log_softmax",
        "log(sigmoid",
        "log(1 - sigmoid",
        "cross_entropy",
        "bce_logits",
        "x2",
        ": []",
        "[:, ",
        ".sum(0)",
        ".mean()",
        "keepdim=True",
        "keepdims=True",
        "[range(n), y]",
        "nll(",
        ".gather(1, y",
        ".max(1",
        ".var(0",
        ".amin(0",
        "batch_norm(",
        "layer_norm(",
        "[i1]",
        "[i2]",
        ".view(",
        ".reshape(",
        "let h",
    ];
    let mut functions = vec![0; function::FUNCTIONS.len()];
    let mut seen = vec![0; features.len()];
    let mut bce_of_sigmoid = 0;
    for seed in 0..MODELS as u64 {
        let (src, values) = model(seed);
        for (count, feature) in seen.iter_mut().zip(features) {
            *count += usize::from(src.contains(feature));
        }
        bce_of_sigmoid += usize::from(src.ends_with("loss bce"));
        for (count, f) in functions.iter_mut().zip(function::FUNCTIONS) {
            *count += usize::from(calls(&src, f.name));
        }
        let c = compile(&src);
        // Its derivation has a line for each parameter's gradient.
        let derivation = Derivation::new(&c.lowered, &c.adjoint);
        let (text, latex) = (derivation.text(), derivation.latex());
        for v in c
            .lowered
            .graph
            .vars
            .iter()
            .filter(|v| v.role == Role::Param)
        {
            if c.adjoint[v.node.0].is_some() {
                let line = format!("\n  ∂L/∂{} = ", v.name);
                assert!(text.contains(&line), "seed {seed}: `{src}`\n{text}");
            }
        }
        assert!(latex.ends_with("\\end{aligned}\n"), "seed {seed}");
        // The stable graph the methods use, and the model as written that `trace` follows.
        for (lowered, adjoint) in [(&c.lowered, &c.adjoint), (&c.traced, &c.traced_adjoint)] {
            checked += check(seed, &src, &values, lowered, adjoint);
        }
    }
    assert!(
        checked > 10 * MODELS,
        "only {checked} gradient elements checked"
    );
    for (count, feature) in seen.iter().zip(features) {
        assert!(*count >= 10, "only {count} models use `{feature}`");
    }
    for (count, f) in functions.iter().zip(function::FUNCTIONS) {
        assert!(*count >= 10, "only {count} models use `{}`", f.name);
    }
    assert!(
        bce_of_sigmoid >= 10,
        "only {bce_of_sigmoid} models use `loss bce`"
    );
}

/// Whether `src` calls the function `name` (as `name(` or `.name(`, not as the end of a
/// longer name).
fn calls(src: &str, name: &str) -> bool {
    src.match_indices(&format!("{name}(")).any(|(i, _)| {
        !src[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Compares every gradient element of one lowering of a model with finite differences;
/// returns how many it compared.
fn check(
    seed: u64,
    src: &str,
    values: &[(String, ArrayD<f64>)],
    lowered: &Lowered,
    adjoint: &[Option<NodeId>],
) -> usize {
    let graph = &lowered.graph;
    let vars: Vec<ArrayD<f64>> = graph
        .vars
        .iter()
        .map(|v| {
            values
                .iter()
                .find(|(n, _)| *n == v.name)
                .map(|(_, a)| a.clone())
                .unwrap_or_else(|| panic!("{src}: no value for `{}`", v.name))
        })
        .collect();
    let all = run(graph, &vars, NodeId(graph.nodes.len() - 1));
    let loss_at = |vars: &[ArrayD<f64>]| run(graph, vars, lowered.loss)[lowered.loss.0][[]];
    let loss = all[lowered.loss.0][[]];
    assert!(loss.is_finite(), "{src}: loss {loss}");
    // `bce` of probabilities within 1e-6 of 0 or 1, as the model is written (`trace`):
    // `ln(1 - p)` of a `p` rounded near 1 moves by more than the step of the differences
    // (and below 1e-12 the gradient is PyTorch's clamped one), so differences say nothing.
    let saturated = graph.nodes.iter().any(|n| {
        n.op == Op::Loss(Loss::Bce) && all[n.args[0].0].iter().any(|&p| p * (1.0 - p) < 1e-6)
    });
    if saturated {
        return 0;
    }
    let mut checked = 0;
    for (k, var) in graph.vars.iter().enumerate() {
        if var.role == Role::Target || var.labels {
            continue;
        }
        let symbolic = match adjoint[var.node.0] {
            Some(d) => all[d.0].clone(),
            None => ArrayD::zeros(vars[k].raw_dim()),
        };
        assert_eq!(
            symbolic.shape(),
            vars[k].shape(),
            "{src}: shape of d_{}",
            var.name
        );
        for i in 0..vars[k].len() {
            let at = |delta: f64| {
                let mut moved = vars.to_vec();
                if let Some(e) = moved[k].iter_mut().nth(i) {
                    *e += delta;
                }
                loss_at(&moved)
            };
            let h = 1e-6;
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            let analytic = symbolic.iter().nth(i).copied().unwrap_or(f64::NAN);
            let tol = 1e-5 * analytic.abs().max(numeric.abs()) + 1e-6 * loss.abs().max(1.0);
            assert!(
                (analytic - numeric).abs() <= tol,
                "model {seed}: `{src}`\nd_{}[{i}]: symbolic {analytic:e}, finite differences {numeric:e}",
                var.name
            );
            checked += 1;
        }
    }
    checked
}
