use backprop::model;

model! {
    input Xb: [32, 3];
    target Yb;
    param C: [27, 10], W1: [30, 27];
    let emb = C[Xb];
    let embcat = emb.view(32, -1, 7);
    embcat.sum(1) @ W1;
    loss cross_entropy(out, Yb)
}

fn main() {}
