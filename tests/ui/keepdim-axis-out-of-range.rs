use backprop::model;

model! {
    input x: [n, 3];
    let m = x.mean(2, keepdim=True);
    x - m;
    loss out.sum()
}

fn main() {}
