use backprop::model;

model! {
    input x: [n, 3];
    param w: [3, 1];
    param w: [3, 1];
    let h = relux(x @ w);
    let g = k @ v;
    let k = h;
    g;
    loss msee
}

fn main() {}
