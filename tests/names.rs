//! Every name a model may be given, in every role it can play: the model compiles and
//! computes what the same model with ordinary names computes, or the macro refuses the
//! name at its token and says why. The names tried are Rust's keywords, the prelude, the
//! primitive types, the built-in macros and derives, and every identifier the generated
//! code itself contains (read from `CODE`, so the list follows the code generator).
//!
//! Each name in each role is expanded through the compiler in this process; a sample of
//! the accepted ones, packed several to a model, is compiled by rustc and run.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::str::FromStr;

use ndarray::{array, Array2};
use proc_macro2::{LineColumn, TokenStream, TokenTree};

backprop::model! {
    pub struct Reference;
    input x: [n, 3];
    target y: [n, 2];
    param w1: [3, nh], w2: [nh, 2], b1: [nh], b2: [2];
    let z = x @ w1 + b1;
    let h = relu(z);
    h @ w2 + b2;
    loss mse
}

backprop::model! {
    pub struct Embedding;
    target labels;
    param table: [27, 2], w: [4, 27];
    table[ix].view(-1, 4) @ w;
    loss cross_entropy(out, labels)
}

/// Rust's strict, reserved and weak keywords.
const KEYWORDS: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "Self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "union",
    "macro_rules",
    "default",
    "auto",
    "safe",
    "raw",
    "r#type",
    "r#match",
    "r#fn",
    "r#union",
];

/// The items of the 2021 prelude.
const PRELUDE: &[&str] = &[
    "Copy",
    "Send",
    "Sized",
    "Sync",
    "Unpin",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "drop",
    "Box",
    "ToOwned",
    "Clone",
    "PartialEq",
    "PartialOrd",
    "Eq",
    "Ord",
    "AsRef",
    "AsMut",
    "Into",
    "From",
    "Default",
    "Iterator",
    "Extend",
    "IntoIterator",
    "DoubleEndedIterator",
    "ExactSizeIterator",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "String",
    "ToString",
    "Vec",
    "TryFrom",
    "TryInto",
    "FromIterator",
    "core",
    "std",
    "alloc",
];

/// The primitive types.
const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64",
    "u128", "usize", "f16", "f32", "f64", "f128",
];

/// Built-in macros, attributes and derives.
const BUILTINS: &[&str] = &[
    "vec",
    "format",
    "println",
    "print",
    "assert",
    "assert_eq",
    "panic",
    "matches",
    "write",
    "compile_error",
    "concat",
    "stringify",
    "include",
    "env",
    "todo",
    "unreachable",
    "derive",
    "Debug",
    "Hash",
    "cfg",
    "test",
    "allow",
    "doc",
    "deny",
    "inline",
    "must_use",
];

/// A role a name plays, and the slot of the template it fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Struct,
    Input,
    Target,
    Param,
    Let,
    Dim,
}

/// The template's slots: each role, and the name the slot has when it is not tried.
const SLOTS: &[(Role, &str)] = &[
    (Role::Struct, "Qnet"),
    (Role::Input, "q_in"),
    (Role::Target, "q_tgt"),
    (Role::Param, "q_wa"),
    (Role::Param, "q_wb"),
    (Role::Param, "q_ba"),
    (Role::Param, "q_bb"),
    (Role::Let, "q_z"),
    (Role::Let, "q_h"),
    (Role::Dim, "q_rows"),
    (Role::Dim, "q_hid"),
];

/// `Reference` with the slots' names.
fn model(names: &[&str]) -> String {
    let [s, x, y, w1, w2, b1, b2, z, h, n, nh] = names else {
        unreachable!("one name per slot")
    };
    format!(
        "pub struct {s}; input {x}: [{n}, 3]; target {y}: [{n}, 2]; \
         param {w1}: [3, {nh}], {w2}: [{nh}, 2], {b1}: [{nh}], {b2}: [2]; \
         let {z} = {x} @ {w1} + {b1}; let {h} = relu({z}); {h} @ {w2} + {b2}; loss mse"
    )
}

/// Every identifier in `code`'s tokens.
fn identifiers(code: &str, into: &mut BTreeSet<String>) {
    fn walk(tokens: TokenStream, into: &mut BTreeSet<String>) {
        for t in tokens {
            match t {
                TokenTree::Ident(i) => {
                    into.insert(i.to_string());
                }
                TokenTree::Group(g) => walk(g.stream(), into),
                _ => {}
            }
        }
    }
    walk(TokenStream::from_str(code).expect("CODE tokenizes"), into);
}

/// The identifiers of the generated code.
fn generated() -> BTreeSet<String> {
    let mut generated = BTreeSet::new();
    identifiers(Reference::CODE, &mut generated);
    identifiers(Embedding::CODE, &mut generated);
    generated
}

/// The names tried: the lists above, then the generated code's own identifiers.
fn candidates() -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for n in KEYWORDS
        .iter()
        .chain(PRELUDE)
        .chain(PRIMITIVES)
        .chain(BUILTINS)
        .map(|n| n.to_string())
        .chain(generated())
    {
        if !all.contains(&n) && !SLOTS.iter().any(|(_, filler)| *filler == n) {
            all.push(n);
        }
    }
    all
}

/// What the compiler makes of `src`: the items, or each error's message and position.
fn expand(src: &str) -> Result<TokenStream, Vec<(String, LineColumn)>> {
    let tokens = TokenStream::from_str(src).expect("the model tokenizes");
    let out = backprop_compiler::expand(tokens);
    let mut errors = Vec::new();
    fn find(tokens: TokenStream, errors: &mut Vec<(String, LineColumn)>) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, t) in tokens.iter().enumerate() {
            match t {
                TokenTree::Ident(id) if id == "compile_error" => {
                    if let Some(TokenTree::Group(g)) = tokens.get(i + 2) {
                        if let Some(TokenTree::Literal(l)) = g.stream().into_iter().next() {
                            let text: String = syn::parse_str::<syn::LitStr>(&l.to_string())
                                .expect("a string")
                                .value();
                            errors.push((text, l.span().start()));
                        }
                    }
                }
                TokenTree::Group(g) => find(g.stream(), errors),
                _ => {}
            }
        }
    }
    find(out.clone(), &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.sort_by_key(|(m, p)| (p.line, p.column, m.clone()));
        errors.dedup();
        Err(errors)
    }
}

/// Where `name` stands in `src` (one line), as columns.
fn columns_of(src: &str, name: &str) -> Vec<usize> {
    let mut at = Vec::new();
    let bytes = src.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'#';
    for (i, _) in src.match_indices(name) {
        let before = i == 0 || !word(bytes[i - 1]);
        let end = i + name.len();
        let after = end == src.len() || !word(bytes[end]);
        if before && after {
            at.push(i);
        }
    }
    at
}

/// `name` in `role`'s first slot, the others ordinary.
fn single(role: Role, name: &str) -> String {
    let slot = SLOTS.iter().position(|(r, _)| *r == role).unwrap();
    let mut names: Vec<&str> = SLOTS.iter().map(|(_, n)| *n).collect();
    names[slot] = name;
    model(&names)
}

/// A refusal stands at one of the names' tokens and says why: the grammar expected
/// something else there (a keyword), or the message names the name and gives a reason.
fn assert_refused_at(src: &str, names: &[&str], errors: &[(String, LineColumn)]) {
    for (message, at) in errors {
        assert_eq!(at.line, 1, "`{src}`: {message}");
        let Some(name) = names
            .iter()
            .find(|n| columns_of(src, n).contains(&at.column))
        else {
            panic!(
                "`{src}`: the error is at column {}, at none of {names:?}: {message}",
                at.column
            );
        };
        let plain = name.trim_start_matches("r#");
        let named =
            message.contains(&format!("`{name}`")) || message.contains(&format!("`{plain}`"));
        assert!(
            message.starts_with("expected") || (named && message.len() > name.len() + 20),
            "`{src}`: the refusal of `{name}` gives no reason: {message}"
        );
    }
}

const ROLES: [Role; 6] = [
    Role::Struct,
    Role::Input,
    Role::Target,
    Role::Param,
    Role::Let,
    Role::Dim,
];

/// Names that `syn` does not take as identifiers are refused by the grammar at their
/// token; every other name is accepted or refused with its reason, in every role.
#[test]
fn every_name_in_every_role_is_accepted_or_refused_at_its_token() {
    let names = candidates();
    assert!(names.len() > 250, "{} names", names.len());
    let mut refused: Vec<(Role, String, String)> = Vec::new();
    let mut accepted = 0;
    for role in ROLES {
        for name in &names {
            let src = single(role, name);
            match expand(&src) {
                Ok(_) => accepted += 1,
                Err(errors) => {
                    assert_refused_at(&src, &[name], &errors);
                    refused.push((role, name.clone(), errors[0].0.clone()));
                }
            }
        }
    }
    // The reasons given, as a reader sees them.
    let reason = |role: Role, name: &str| {
        refused
            .iter()
            .find(|(r, n, _)| *r == role && n == name)
            .map(|(_, _, m)| m.as_str())
            .unwrap_or("accepted")
    };
    assert!(reason(Role::Param, "fn").contains("expected"));
    assert!(reason(Role::Input, "None").contains("prelude"));
    assert!(reason(Role::Let, "Some").contains("prelude"));
    assert!(reason(Role::Dim, "Ok").contains("prelude"));
    assert!(reason(Role::Struct, "A").contains("element type"));
    assert!(reason(Role::Struct, "f32").contains("primitive"));
    assert!(reason(Role::Struct, "rt").contains("runtime"));
    assert!(reason(Role::Target, "out").contains("output"));
    assert_eq!(reason(Role::Input, "ws"), "accepted");
    assert_eq!(reason(Role::Input, "lr"), "accepted");
    assert_eq!(reason(Role::Param, "A"), "accepted");
    assert!(accepted > 1200, "{accepted} accepted");
}

/// The accepted names, several to a model, through rustc: each model computes the loss and
/// gradients `Reference` computes, bit for bit.
#[test]
fn accepted_names_compile_and_compute_the_same() {
    let names = candidates();
    let generated = generated();
    let pools: Vec<(Role, Vec<String>)> = ROLES
        .iter()
        .map(|&role| {
            let ok = names
                .iter()
                .filter(|n| expand(&single(role, n)).is_ok())
                .cloned()
                .collect();
            (role, ok)
        })
        .collect();
    let x = array![
        [0.5, -1.0, 2.0],
        [1.5, 0.25, -0.75],
        [-2.0, 1.0, 0.5],
        [0.1, 0.2, 0.3],
        [1.0, -0.5, -1.5]
    ];
    let y = array![[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 1.0], [0.0, 0.0]];
    let reference = Reference::<f64>::init(7, ReferenceDims { nh: 4 }).unwrap();
    let (loss, grads) = reference.grad(&x, &y).unwrap();

    let mut file = String::from(
        "#![deny(warnings)]\n#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]\n",
    );
    let _ = writeln!(file, "{}", rust_array("X", &x));
    let _ = writeln!(file, "{}", rust_array("Y", &y));
    let _ = writeln!(file, "const LOSS: u64 = {:#x};", loss.to_bits());
    for (name, g) in [("W1", &grads.w1), ("W2", &grads.w2)] {
        let _ = writeln!(file, "{}", rust_array(name, g));
    }
    let mut main = String::from("fn main() {\n");
    let mut cursor = vec![0usize; pools.len()];
    let mut models = 0;
    // Until each listed name has been compiled in every role it is accepted in, and each
    // name of the generated code in one.
    let listed: Vec<usize> = pools
        .iter()
        .map(|(_, pool)| pool.iter().filter(|n| !generated.contains(*n)).count())
        .collect();
    let mut unused: BTreeSet<String> = pools.iter().flat_map(|(_, pool)| pool.clone()).collect();
    while !unused.is_empty() || cursor.iter().zip(&listed).any(|(c, l)| c < l) {
        let mut slot_names: Vec<String> = Vec::new();
        for (role, _) in SLOTS {
            let k = ROLES.iter().position(|r| r == role).unwrap();
            let pool = &pools[k].1;
            let mut pick = None;
            for _ in 0..pool.len() {
                let n = pool[cursor[k] % pool.len()].clone();
                cursor[k] += 1;
                if !slot_names.contains(&n) {
                    pick = Some(n);
                    break;
                }
            }
            slot_names.push(pick.expect("a name for every slot"));
        }
        for n in &slot_names {
            unused.remove(n);
        }
        let refs: Vec<&str> = slot_names.iter().map(String::as_str).collect();
        let src = model(&refs);
        if let Err(errors) = expand(&src) {
            // Two names that each stand alone may not stand together (`h` and `d_h`).
            assert_refused_at(&src, &refs, &errors);
            continue;
        }
        let [s, _, _, w1, w2, _, _, _, _, _, nh] = refs[..] else {
            unreachable!()
        };
        let _ = writeln!(
            file,
            "mod m{models} {{\n    ::backprop::model! {{ {src} }}\n\
             pub fn run() {{\n\
             let m = {s}::<::core::primitive::f64>::init(7, {s}Dims {{ {nh}: 4 }}).unwrap();\n\
             let (loss, g) = m.grad(&super::X(), &super::Y()).unwrap();\n\
             ::core::assert_eq!(loss.to_bits(), super::LOSS, \"loss of {s}\");\n\
             ::core::assert_eq!(g.{w1}, super::W1(), \"d{w1} of {s}\");\n\
             ::core::assert_eq!(g.{w2}, super::W2(), \"d{w2} of {s}\");\n\
             }}\n}}"
        );
        let _ = writeln!(main, "    m{models}::run();");
        models += 1;
    }
    main.push_str("}\n");
    file.push_str(&main);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("names");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("accepted_names.rs");
    std::fs::write(&path, file).unwrap();
    trybuild::TestCases::new().pass(&path);
}

/// A function returning `a` as an `ndarray` literal.
fn rust_array(name: &str, a: &Array2<f64>) -> String {
    let rows: Vec<String> = a
        .rows()
        .into_iter()
        .map(|r| {
            let v: Vec<String> = r
                .iter()
                .map(|v| format!("::core::primitive::f64::from_bits({:#x})", v.to_bits()))
                .collect();
            format!("[{}]", v.join(", "))
        })
        .collect();
    format!(
        "fn {name}() -> ::ndarray::Array2<::core::primitive::f64> {{ ::ndarray::array![{}] }}",
        rows.join(", ")
    )
}
