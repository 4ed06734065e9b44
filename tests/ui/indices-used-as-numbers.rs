use backprop::model;

model! {
    input Xb: [n, 3];
    target Yb;
    param C: [27, 10], W1: [30, 27];
    let emb = C[Xb];
    let logits = emb.view(n, -1) @ W1 + Xb;
    logits;
    loss cross_entropy(logits, Yb)
}

fn main() {}
