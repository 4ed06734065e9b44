//! The expansion function on random and mutated input: token soup, and valid models
//! truncated, shuffled and edited token by token. Whatever it is given, `expand` returns
//! without panicking, and what it returns is Rust that parses: the model's items, or
//! `compile_error!`s (each from a `syn::Error`) beside stub items. And its output grows
//! with the model, not with the model's square, however the model is made long.
//!
//! CI runs 20,000 inputs; for a longer run,
//! `BACKPROP_FUZZ_CASES=1000000 BACKPROP_FUZZ_SEED=7 cargo test --release -p backprop-compiler fuzz`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use proc_macro2::TokenStream;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::expand::expand;

const CASES: usize = 20_000;

/// Valid models that between them use every construct of the language.
const CORPUS: &[&str] = &[
    "pub struct Mlp; relu(x @ w1 + b1) @ w2 + b2; loss mse",
    "pub struct Nugues; input x: [n, 3]; target y: [n, 1]; param fc1: [4, 3], fc2: [2, 4], fc3: [1, 2]; let z1 = x @ fc1.T; let z2 = z1 @ fc2.T; let z3 = z2 @ fc3.T; sigmoid(z3); loss bce",
    "relu(x @ w) @ w.T; loss mse(out, x)",
    "x @ w + b; loss (out[:, 0] - y).pow(2).mean()",
    "w4 @ w3 @ w2 @ w1 @ x; loss 0.5 * ((y - out) ** 2).sum()",
    "input x: [n, 784]; target y: [n]; param w1: [784, 128], b1: [128], w2: [128, 10], b2: [10]; let h = leaky_relu(x @ w1 + b1, 0.1); h @ w2 + b2; loss cross_entropy",
    "input x: [n, d]; param s: []; let p = softmax(x * s, 1); log(p); loss -(out * y).sum(1).mean()",
    "/// Doc.\n#[derive(Default)] struct M; tanh(x @ w) * s + exp(-x @ v) / 2; loss l1",
    "input x: [n, 2]; target t: [n, 1]; sigmoid(x @ w); loss 0.01 * (w * w).sum() + bce(out, t)",
    "let a = x @ w1; let b = softplus(a).sqrt(); abs(b - log_softmax(a)) @ w2; loss sse",
    "input x: [n, 3], x2: [n, 2]; let h = relu(x @ w1 + x2 @ w2 + b); h @ w3 + h.mean(1).sum(); loss bce_logits",
    "input x: [n, 4]; target y: [n]; let h = gelu(x @ w1 + b1); elu(silu(h) @ w2, 0.5) + log_sigmoid(h @ v); loss cross_entropy",
    "input x: [n, 3]; let m = x.mean(0, keepdim=True); relu((x - m) @ w) * x.sum(dim=1, keepdims=True); loss mse",
    "input x: [n, 3]; target yb; let l = x @ w; let p = exp(l - l.max(1, keepdim=True).values); log(p / p.sum(1, keepdims=True)); loss -out[range(n), yb].mean() + nll(out, yb)",
];

/// Identifiers, keywords, losses and punctuation that models are made of, and some they
/// must refuse; with [`word`], every name the registry calls too.
const VOCABULARY: &[&str] = &[
    "x",
    "y",
    "w",
    "w1",
    "b1",
    "out",
    "loss",
    "let",
    "param",
    "input",
    "target",
    "struct",
    "pub",
    "relu",
    "sigmoid",
    "softmax",
    "log_softmax",
    "leaky_relu",
    "mse",
    "bce",
    "cross_entropy",
    "sse",
    "T",
    "pow",
    "sum",
    "mean",
    "keepdim",
    "True",
    "max",
    "values",
    "range",
    "shape",
    "__h",
    "r#type",
    "self",
    "crate",
    "fn",
    "n",
    "@",
    "+",
    "-",
    "*",
    "/",
    "**",
    ".",
    ",",
    ":",
    ";",
    "=",
    "#",
    "!",
    "&",
    "?",
    "0",
    "1",
    "2.5",
    "-1",
    "784",
    "1e308",
    "1e-320",
    "0x10",
    "18446744073709551616",
    "\"s\"",
    "'c'",
    "true",
    "[]",
    "()",
    "[n, 3]",
    "[:, 0]",
    "(x)",
    "{}",
];

/// The corpus the mutations start from is valid: each model expands without an error.
#[test]
fn the_corpus_compiles() {
    for model in CORPUS {
        let tokens: TokenStream = model.parse().expect("the model lexes");
        let file: syn::File = syn::parse2(expand(tokens)).expect("the expansion parses");
        assert!(
            !file.items.iter().any(is_compile_error),
            "`{model}` does not compile"
        );
    }
}

#[test]
fn expand_never_panics_and_always_returns_rust() {
    let cases = env_usize("BACKPROP_FUZZ_CASES").unwrap_or(CASES);
    let seed = env_usize("BACKPROP_FUZZ_SEED").unwrap_or(0) as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ran, mut failed, mut kinds) = (0, 0, [0usize; 3]);
    let mut panics: Vec<String> = Vec::new();
    while ran < cases {
        let kind = rng.random_range(0..3);
        let text = match kind {
            0 => soup(&mut rng, 3),
            1 => mutate(&mut rng),
            _ => shuffle(&mut rng),
        };
        // rustc lexes the input before the macro sees it; text that does not lex is
        // never an input.
        let Ok(tokens) = text.parse::<TokenStream>() else {
            continue;
        };
        ran += 1;
        kinds[kind] += 1;
        match catch_unwind(AssertUnwindSafe(|| expand(tokens))) {
            Err(_) => panics.push(text),
            Ok(out) => match syn::parse2::<syn::File>(out) {
                Ok(file) => failed += usize::from(file.items.iter().any(is_compile_error)),
                Err(e) => panics.push(format!(
                    "{text}\n  expands to Rust that does not parse: {e}"
                )),
            },
        }
    }
    for p in panics.iter().take(8) {
        eprintln!("---- {p}");
    }
    assert!(
        panics.is_empty(),
        "{} of {ran} inputs panicked or expanded to invalid Rust, first: {}",
        panics.len(),
        panics[0]
    );
    // Each generator contributed, and the inputs exercised both outcomes.
    assert!(kinds.iter().all(|&k| k > cases / 5), "{kinds:?}");
    assert!(
        failed > cases / 2 && failed < ran,
        "{failed} of {ran} failed"
    );
}

/// A token of the vocabulary or a name the registry calls.
fn word(rng: &mut ChaCha8Rng) -> String {
    let names = crate::ops::spellings();
    let all = VOCABULARY.len() + names.len();
    let i = rng.random_range(0..all);
    VOCABULARY
        .get(i)
        .or_else(|| names.get(i - VOCABULARY.len()))
        .map_or(String::new(), |w| w.to_string())
}

/// A `compile_error!` item, or the stub type that holds the first error in its array
/// length (`type Mlp<A = f32> = <[A; compile_error!{..}] as Deref>::Target;`).
fn is_compile_error(item: &syn::Item) -> bool {
    let is_error = |mac: &syn::Macro| {
        mac.path
            .segments
            .last()
            .is_some_and(|s| s.ident == "compile_error")
    };
    match item {
        syn::Item::Macro(m) => is_error(&m.mac),
        syn::Item::Type(t) => match &*t.ty {
            syn::Type::Path(p) => match p.qself.as_ref().map(|q| &*q.ty) {
                Some(syn::Type::Array(a)) => {
                    matches!(&a.len, syn::Expr::Macro(m) if is_error(&m.mac))
                }
                _ => false,
            },
            _ => false,
        },
        _ => false,
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

/// Random tokens, in groups nested up to `depth` deep.
fn soup(rng: &mut ChaCha8Rng, depth: usize) -> String {
    let len = rng.random_range(0..24);
    let mut parts = Vec::with_capacity(len);
    for _ in 0..len {
        if depth > 0 && rng.random_bool(0.15) {
            let (open, close) = *[("(", ")"), ("[", "]"), ("{", "}")].choose(rng).unwrap();
            parts.push(format!("{open}{}{close}", soup(rng, depth - 1)));
        } else {
            parts.push(word(rng));
        }
    }
    parts.join(" ")
}

/// A valid model's tokens, edited one to four times: truncated, a token dropped,
/// duplicated, swapped with another or replaced from the vocabulary.
fn mutate(rng: &mut ChaCha8Rng) -> String {
    let mut tokens = lex(CORPUS.choose(rng).unwrap());
    for _ in 0..rng.random_range(1..=4) {
        if tokens.is_empty() {
            break;
        }
        let i = rng.random_range(0..tokens.len());
        match rng.random_range(0..5) {
            0 => tokens.truncate(i),
            1 => drop(tokens.remove(i)),
            2 => tokens.insert(i, tokens[i].clone()),
            3 => {
                let j = rng.random_range(0..tokens.len());
                tokens.swap(i, j);
            }
            _ => tokens[i] = word(rng),
        }
    }
    tokens.join(" ")
}

/// A valid model's statements in another order, some of them repeated or left out.
fn shuffle(rng: &mut ChaCha8Rng) -> String {
    let model = CORPUS.choose(rng).unwrap();
    let mut statements: Vec<&str> = model.split(';').collect();
    statements.shuffle(rng);
    if rng.random_bool(0.3) {
        let i = rng.random_range(0..statements.len());
        statements.push(statements[i]);
    }
    if rng.random_bool(0.3) {
        statements.truncate(rng.random_range(0..=statements.len()));
    }
    statements.join(";")
}

/// Splits source text into tokens: words and numbers, string literals, and single
/// punctuation characters.
fn lex(src: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut token = c.to_string();
        if c.is_alphanumeric()
            || c == '_'
            || c == '.' && chars.peek().is_some_and(char::is_ascii_digit)
        {
            while let Some(&d) = chars.peek() {
                if !(d.is_alphanumeric()
                    || d == '_'
                    || d == '.' && token.chars().all(|t| t.is_ascii_digit()))
                {
                    break;
                }
                token.push(d);
                chars.next();
            }
        }
        tokens.push(token);
    }
    tokens
}

/// The expansion grows with the model, not with its square, for every way of making it
/// long: nested activations, a chain of `let`s, one long sum.
#[test]
fn expansion_is_linear_in_the_layers() {
    let unary = |n: usize| {
        let mut e = String::from("x @ w");
        for i in 0..n {
            e = format!("{}({e})", ["tanh", "relu", "sigmoid"][i % 3]);
        }
        e
    };
    let lets = |n: usize| {
        let mut s = String::from("let h0 = x @ w; ");
        for i in 1..=n {
            s += &format!("let h{i} = tanh(h{}); ", i - 1);
        }
        s + &format!("h{n}")
    };
    let sum = |n: usize| format!("x @ w{}", " + b".repeat(n));
    for (form, body) in [
        ("nested", &unary as &dyn Fn(usize) -> String),
        ("lets", &lets),
        ("sum", &sum),
    ] {
        let size = |n: usize| {
            let src = format!(
                "input x: [n, 8]; target y: [n, 1]; param w: [8, 1], b: [1]; {}; loss mse",
                body(n)
            );
            let out = crate::expand(src.parse().expect("tokens")).to_string();
            assert!(!out.contains("compile_error"), "{form} {n}: {out:.300}");
            out.len() as f64 / n as f64
        };
        let (short, long) = (size(100), size(1000));
        assert!(
            long < 2.0 * short,
            "{form}: {short:.0} bytes a layer at 100, {long:.0} at 1000"
        );
    }
}
