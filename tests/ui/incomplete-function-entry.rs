// An entry of the compiler's function table that leaves out its derivative.
use backprop_compiler::registry::{Domain, Form, Function, Param, Scalar, Symbol};

const SOFTSIGN: Function = Function {
    name: "softsign",
    param: Param::None,
    domain: Domain::Real,
    activation: true,
    symbol: Symbol::same("softsign"),
    form: Form::Call,
    value: Scalar {
        runtime: "softsign",
        takes_param: false,
        f64: |v, _| v / (1.0 + v.abs()),
    },
};

fn main() {
    let _ = SOFTSIGN.name;
}
