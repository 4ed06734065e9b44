//! The table's entries checked one by one: complete, and their derivatives right.

use super::*;
use crate::ir::Symbol;

/// Each entry is complete in the ways the type system cannot see (a field left out does
/// not compile), and spelled once.
#[test]
fn every_entry_is_complete() {
    for (i, def) in FUNCTIONS.iter().enumerate() {
        let name = def.name;
        assert_eq!(
            named(name),
            Some(Func(i as u8)),
            "`{name}` is spelled twice"
        );
        assert_eq!(def.incomplete(), Vec::<String>::new());
    }
}

/// An entry whose parts do not fit together is refused, with each part named.
#[test]
fn an_incomplete_entry_names_what_it_lacks() {
    let broken = Function {
        name: "softsign",
        param: Param::Number {
            what: "scale",
            default: Some(1.0),
        },
        domain: Domain::Real,
        activation: true,
        symbol: Symbol::same("softsign"),
        form: Form::Template {
            code: "softsign(x)",
            text: "softsign($x)",
            latex: r"\operatorname{softsign}\left($x\right)",
        },
        value: scalar!(relu),
        derivative: Derivative::Own {
            value: scalar!(leaky_step, param),
            form: Form::Call,
        },
    };
    assert_eq!(
        broken.incomplete(),
        [
            "`softsign`: its value `relu` does not take the function's number",
            "`softsign`: its form `softsign(x)` does not place `$x`",
        ]
    );
}

/// An entry's derivative agrees with central differences of its value, in `f64`.
#[test]
fn derivatives_match_finite_differences() {
    for f in spelled() {
        let def = f.def();
        let k = match def.param {
            Param::Number { default, .. } => default.unwrap_or(0.05),
            Param::None => 0.0,
        };
        let points: &[f64] = match def.domain {
            Domain::Real => &[-2.5, -0.7, -0.2, 0.3, 0.9, 2.1],
            Domain::Positive => &[0.2, 0.7, 1.3, 3.0],
        };
        let mut g = Graph::new(false);
        for &p in points {
            let value = |v: f64| (def.value.f64)(v, k);
            let numeric = (value(p + 1e-6) - value(p - 1e-6)) / 2e-6;
            let analytic = match def.derivative {
                Derivative::Own { value, .. } => (value.f64)(p, k),
                Derivative::Ir(build) => {
                    // The derivative's graph, evaluated with `a` and `f(a)` as constants.
                    let a = g.cst(p);
                    let out = g.cst(value(p));
                    let d = build(&mut g, a, out, k).unwrap();
                    g.konst(d).unwrap_or(f64::NAN)
                }
            };
            assert!(
                (analytic - numeric).abs() < 1e-6 * numeric.abs().max(1.0),
                "`{}`'({p}) = {analytic}, finite differences {numeric}",
                def.name
            );
        }
    }
}
