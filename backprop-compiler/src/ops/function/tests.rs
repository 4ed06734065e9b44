//! The table's entries checked one by one: complete, and their derivatives right.

use super::*;

/// Each entry is complete in the ways the type system cannot see: a unique spelling,
/// a runtime function that takes the number exactly when the entry has one, and the
/// same in its derivative.
#[test]
fn every_entry_is_complete() {
    for (i, def) in FUNCTIONS.iter().enumerate() {
        let name = def.name;
        assert_eq!(
            named(name),
            Some(Func(i as u8)),
            "`{name}` is spelled twice"
        );
        let takes = matches!(def.param, Param::Number { .. });
        assert_eq!(
            def.value.takes_param, takes,
            "`{name}`: its runtime function `{}` and its number",
            def.value.runtime
        );
        if let Derivative::Own { value, .. } = def.derivative {
            assert_eq!(
                value.takes_param, takes,
                "`{name}`: its derivative `{}` and its number",
                value.runtime
            );
        }
        assert!(!def.symbol.text.is_empty() && !def.symbol.latex.is_empty());
        if let Form::Template { code, text, latex } = def.form {
            for t in [code, text, latex] {
                assert!(t.contains("$x"), "`{name}`: the template `{t}` has no `$x`");
            }
        }
    }
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
