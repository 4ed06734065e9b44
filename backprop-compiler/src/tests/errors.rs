//! Mistakes give `syn::Error`s with actionable messages, never a panic.

use super::errors;

fn first(src: &str) -> String {
    errors(src).remove(0)
}

#[test]
fn unknown_names_suggest_the_nearest() {
    assert_eq!(
        first("relux(x @ w); loss mse"),
        "unknown function `relux` (did you mean `relu`?); the functions are listed in the documentation of `backprop`"
    );
    assert_eq!(
        first("x @ w; loss msee"),
        "unknown loss `msee` (did you mean `mse`?); the losses are listed in the documentation of `backprop`"
    );
    // A name far from every function gets no guess.
    assert_eq!(
        first("frobnicate(x @ w); loss mse"),
        "unknown function `frobnicate`; the functions are listed in the documentation of `backprop`"
    );
    // Every name the registry spells is a call the language takes.
    for name in crate::ops::spellings() {
        assert!(crate::ops::callable(name).is_some(), "`{name}`");
    }
}

#[test]
fn a_name_only_in_the_loss_must_be_declared() {
    assert_eq!(
        first("target y: [n, 1]; sigmoid(x @ w); loss bce(out, t)"),
        "cannot find `t` in this model (did you mean `y`?); a name used only in the loss must be declared, as in `target t;`"
    );
    assert_eq!(
        first("let h1 = relu(x @ w1); h1 @ w2; loss mse(out, h2)"),
        "cannot find `h2` in this model (did you mean `h1`?); a name used only in the loss must be declared, as in `target h2;`"
    );
    // Declared, it is what it says; the input as a target is an autoencoder.
    super::compile("target t; sigmoid(x @ w); loss bce(out, t)");
    super::compile("relu(x @ w) @ w.T; loss mse(out, x)");
}

#[test]
fn shapes_that_cannot_fit() {
    assert_eq!(
        first("input x: [n, 784]; param w1: [785, 10]; x @ w1; loss mse"),
        "inner dimensions of `x @ w1` differ: `x` [n, 784] has 784 columns, `w1` [785, 10] has 785 rows"
    );
    assert_eq!(
        first("input x: [n, 3]; param b: [4]; x + b; loss mse"),
        "cannot broadcast `x` [n, 3] with `b` [4] in `x + b`"
    );
    assert_eq!(
        first("input x: [n, 3]; x[:, 3]; loss out.sum()"),
        "`x[:, 3]` selects column 3, but there are 3 columns"
    );
    assert!(first("x @ w; loss out").starts_with("the loss must be a scalar"));
}

#[test]
fn reduction_arguments_as_pytorch_spells_them() {
    assert_eq!(
        first("input x: [n, 3]; x.sum(1, keepdim=Maybe); loss out.sum()"),
        "expected `True` or `False`"
    );
    assert_eq!(
        first("input x: [n, 3]; x.sum(1, keep=True); loss out.sum()"),
        "unknown argument `keep`; a reduction takes an axis (`dim=`) and `keepdim=`"
    );
    assert_eq!(
        first("input x: [n, 3]; x.sum(dim=1, dim=0); loss out.sum()"),
        "`dim` is given twice"
    );
    assert_eq!(
        first("input x: [n, 3]; x.sum(0, 1); loss out.sum()"),
        "expected `keepdim=True`; a reduction takes one axis"
    );
    assert_eq!(
        first("input x: [n, 3]; x.mean(0.5, keepdim=True); loss out.sum()"),
        "an axis is an integer"
    );
    assert_eq!(
        first("input x: [n, 3]; x.var(0, unbiased=True, correction=0); loss out.sum()"),
        "the correction is given twice (`unbiased=` or `correction=`)"
    );
    assert_eq!(
        first("input x: [n, 3]; x.std(0, correction=0.5); loss out.sum()"),
        "a correction is a whole number"
    );
    assert_eq!(
        first("input x: [n, 3]; x.mean(0, unbiased=True); loss out.sum()"),
        "unknown argument `unbiased`; a reduction takes an axis (`dim=`) and `keepdim=`"
    );
    assert_eq!(
        first("input x: [n, 3]; x - x.max(); loss out.sum()"),
        "`x.max()` needs an axis, as in `x.max(1)`; the largest or smallest of all elements is not supported"
    );
    assert_eq!(
        first("input x: [n, 3]; x.amax(2); loss out.sum()"),
        "axis 2 is out of range for `x`, which has rank 2"
    );
}

#[test]
fn named_dims_are_numbers() {
    // `n` is the batch, read from `x`, in the body and in the loss alone.
    crate::tests::compile("input x: [n, 3]; 1/(n-1) * (x @ w); loss (out * out).sum() / n");
    // And `x.shape[k]` as PyTorch writes it, declared or not.
    crate::tests::compile("x @ w / x.shape[0]; loss out.sum() / (x.shape[1] - 1)");
    assert_eq!(
        first("input x: [n, 3]; x / x.shape[2]; loss out.sum()"),
        "`x` has rank 2, so it has no axis 2"
    );
    // A dim name that is also a tensor's stays the tensor.
    crate::tests::compile("input x: [n, 3]; param n: []; n * (x @ w); loss mse");
}

#[test]
fn ranks_that_cannot_be_inferred() {
    assert_eq!(
        first("relu(x).sum(1); loss mse"),
        "cannot infer the rank of `x`; declare it, as in `input x: [n, d];` for a batch of rows, or `input x: [n];` for a number per example"
    );
    // `b` scales `a`, so once `a` is declared `b` is a scalar: only `a` needs a declaration.
    assert_eq!(
        errors("relu(x @ w1) @ w2 * (a * b).sum(); loss mse"),
        ["cannot infer the rank of `a`; declare it, as in `param a: [];` for a scalar or `param a: [d];` for a vector"]
    );
    // Two names that nothing relates each need one.
    let both = errors("relu(x @ w1) * a.mean() * b.sum(); loss mse");
    assert_eq!(both.len(), 2, "{both:?}");
    // Following a hint compiles the model.
    crate::tests::compile("param a: []; relu(x @ w1) @ w2 * (a * b).sum(); loss mse");
}

#[test]
fn structural_mistakes_are_reported_together() {
    let all = errors("let a = b2 + x @ w; let a = x; target y; param y; a; loss mse");
    assert!(all.iter().any(|e| e == "`y` is declared twice"), "{all:?}");
    assert!(all.iter().any(|e| e == "`a` is bound twice"), "{all:?}");
    assert_eq!(
        first("let h = z @ w; let z = x @ v; h; loss mse"),
        "`z` is used before its `let`"
    );
    assert!(first("x @ w + y; loss mse").contains("targets may appear only in the loss"));
    assert!(first("").starts_with("the model is empty"));
    assert!(first("x @ w").starts_with("the model has no loss"));
    assert!(first("loss mse").starts_with("the model has no output"));
    let out = errors("target y: [n, 2]; out @ w; loss mse");
    assert!(
        out.iter()
            .any(|e| e.starts_with("`out` is the model's output")),
        "{out:?}"
    );
}

#[test]
fn grammar_errors() {
    assert!(first("x @ ; loss mse").starts_with("expected"));
    assert_eq!(
        first("x @ w; loss mse; loss sse"),
        "the model has two losses"
    );
    assert!(first("x @ w; x @ v; loss mse").starts_with("the model has two output expressions"));
    assert_eq!(
        first("x.pow(y); loss mse"),
        "expected a number as an exponent"
    );
    assert_eq!(
        first("(x @ w) * 1e400; loss mse"),
        "this number is larger than the largest `f64` (about 1.8e308)"
    );
    assert!(first("x[0, :]; loss mse")
        .starts_with("expected `]`; the indexing supported is rows at indices `C[X]`"));
    assert!(first("x[:, y]; loss mse").starts_with("expected integer literal"));
    assert_eq!(
        first("\"a\" * x; loss mse"),
        "expected a number; literals in a model are numeric"
    );
}

#[test]
fn reserved_and_unusual_names() {
    assert_eq!(
        first("let h = relu(x @ w); let d_h = h * 2; d_h; loss mse"),
        "`d_h` is the name of the trace's gradient of `h`; name this binding otherwise"
    );
    assert_eq!(
        first("let d_out = x @ w; d_out; loss mse"),
        "`d_out` is the name of the trace's gradient of `out`; name this binding otherwise"
    );
    assert_eq!(
        first("x @ __w; loss mse"),
        "`__w` is reserved: names starting with `__` are the generated code's"
    );
    assert_eq!(
        first("let grads = x @ w; grads; loss mse"),
        "`grads` is reserved; name this binding otherwise"
    );
    // A parameter may be called `seed` and a raw identifier is a name like any other.
    let c = super::compile("relu(x @ seed + r#type) @ w2; loss mse");
    assert_eq!(c.lowered.graph.vars.len(), 5);
    for src in [
        "self @ w; loss mse",
        "x @ Self; loss mse",
        "x @ _; loss mse",
        "x @ crate; loss mse",
    ] {
        let tokens: proc_macro2::TokenStream = src.parse().unwrap();
        let _ = crate::expand::expand(tokens);
    }
}

/// Token soup and cut-up models: every outcome is a model or an error, never a panic.
#[test]
fn no_input_panics() {
    let valid = [
        "pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse",
        "input x: [n, 3]; target y: [n, 1]; param fc1: [4, 3], fc2: [2, 4], fc3: [1, 2]; let z1 = x @ fc1.T; let z2 = z1 @ fc2.T; let z3 = z2 @ fc3.T; sigmoid(z3); loss bce",
        "relu(x @ w) @ w.T; loss mse(out, x)",
        "x @ w + b; loss (out[:, 0] - y).pow(2).mean()",
        "w4 @ w3 @ w2 @ w1 @ x; loss 0.5 * ((y - out) ** 2).sum()",
    ];
    for src in valid {
        let tokens: Vec<String> = src
            .split_inclusive(|c: char| !c.is_alphanumeric() && c != '_')
            .map(String::from)
            .collect();
        for cut in 0..tokens.len() {
            let truncated: String = tokens[..cut].concat();
            let dropped: String = tokens
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != cut)
                .map(|(_, t)| t.as_str())
                .collect();
            for text in [truncated, dropped] {
                if let Ok(ts) = text.parse::<proc_macro2::TokenStream>() {
                    let _ = crate::expand::expand(ts);
                }
            }
        }
    }
}

#[test]
fn run_time_sites_stay_short_however_deep_the_model() {
    let mut e = String::from("x");
    for i in 1..=6 {
        e = format!("relu({e} @ w{i} + b{i})");
    }
    let c = super::compile(&format!("input x: [n, 8]; {e} @ w7; loss mse"));
    let site = |name: &str| {
        let vars = &c.lowered.graph.vars;
        vars.iter().find(|v| v.name == name).unwrap().site.clone()
    };
    assert_eq!(site("w1"), "x @ w1");
    assert_eq!(site("b2"), "relu(x @ w1 + b1) @ w2 + b2");
    assert_eq!(site("w7"), "relu(relu(relu(…) @ w5 + b5) @ w6 + b6) @ w7");
}

#[test]
fn a_bare_loss_followed_by_more_says_how_to_write_it() {
    assert_eq!(
        first("relu(x @ w1) @ w2; loss mse + 0.01 * (w1 * w1).sum()"),
        "`mse` alone is a whole loss; in an expression call it with the output and the target, as in `mse(out, y)`"
    );
    assert_eq!(
        first("target labels; x @ w; loss 0.1 * (w * w).sum() + cross_entropy"),
        "`cross_entropy` alone is a whole loss; in an expression call it with the output and the target, as in `cross_entropy(out, labels)`"
    );
}

/// Nesting deeper than `MAX_DEPTH` is an error at the token where it goes too deep, not a
/// stack overflow; nesting `MAX_DEPTH` deep expands. Both on the 8 MiB of stack rustc runs
/// the macro on.
#[test]
fn nesting_is_limited_before_the_stack_is() {
    use crate::parse::MAX_DEPTH;
    let deep = |n: usize, open: &str, close: &str| {
        format!(
            "input x: [n, 8]; target y: [n, 1]; param w: [8, 1]; {}x @ w{}; loss mse",
            open.repeat(n),
            close.repeat(n)
        )
    };
    let message = format!(
        "this expression nests more than {MAX_DEPTH} deep; name an inner part with `let` to nest less"
    );
    let on_rustcs_stack = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            for (open, close) in [("(", ")"), ("relu(", ")"), ("-", "")] {
                let err = syn::parse_str::<crate::ast::Model>(&deep(10_000, open, close))
                    .err()
                    .expect("refused");
                assert_eq!(err.to_string(), message);
                // The output expression is one level itself.
                let src = deep(MAX_DEPTH - 1, open, close);
                let tokens: proc_macro2::TokenStream = src.parse().expect("tokens");
                let expanded = crate::expand(tokens).to_string();
                assert!(
                    !expanded.contains("compile_error"),
                    "{open}: {expanded:.300}"
                );
            }
        })
        .expect("a thread")
        .join();
    assert!(on_rustcs_stack.is_ok(), "nesting {MAX_DEPTH} deep fails");
}
