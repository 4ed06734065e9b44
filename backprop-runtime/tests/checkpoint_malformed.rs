//! Malformed checkpoints: each malformed file refused with its own error and the model
//! untouched, and no panic on any bytes.

use std::path::PathBuf;

use backprop_runtime::checkpoint::{
    load_npy_dir, load_safetensors, load_safetensors_bytes, save_npy_dir, save_npy_dir_with,
    save_safetensors, to_safetensors, to_safetensors_with, CheckpointError, NameMap,
};
#[path = "fixtures/checkpoint.rs"]
mod fixtures;

use fixtures::*;

// ---------------------------------------------------------------- malformed safetensors

/// A safetensors file of header `json` and `data`.
fn raw(json: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn safetensors_truncated() {
    let good = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let cut = &good[..good.len() - 5];
    let err = refused_bytes::<f32>(cut, &NameMap::new());
    assert!(
        matches!(err, CheckpointError::Truncated { expected, actual, .. }
            if expected == good.len() as u64 && actual == cut.len() as u64),
        "{err}"
    );
}

#[test]
fn safetensors_wrong_dtype() {
    let f64s = to_safetensors(&Mlp::<f64>::filled(1)).unwrap();
    let err = refused_bytes::<f32>(&f64s, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Dtype { tensor, param, found, expected, .. }
            if tensor == "w1" && param == "w1" && found == "F64" && expected == "F32"),
        "{err}"
    );
    let f32s = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let err = refused_bytes::<f64>(&f32s, &NameMap::new());
    assert!(matches!(err, CheckpointError::Dtype { .. }), "{err}");
}

#[test]
fn safetensors_wrong_shape() {
    // w1 stored transposed: the message says a transposition would fit.
    let bytes = to_safetensors(&bag(&[("w1", &[4, 3])], &[])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Shape { tensor, expected, actual, transposed: false, .. }
            if tensor == "w1" && expected == &[3, 4] && actual == &[4, 3]),
        "{err}"
    );
    assert!(err.to_string().contains("transposed it would fit"), "{err}");

    // The last tensor wrong, after the others were read: still nothing written.
    let bytes = to_safetensors(&bag(&[("b2", &[3])], &[])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Shape { param, .. } if param == "b2"),
        "{err}"
    );
    assert!(!err.to_string().contains("transposed"), "{err}");

    // A map reading a tensor transposed that is not stored so.
    let map = NameMap::new().transposed("w1", "w1");
    let bytes = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let err = refused_bytes::<f32>(&bytes, &map);
    assert!(
        matches!(
            err,
            CheckpointError::Shape {
                transposed: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("NameMap::rename reads it so"),
        "{err}"
    );
}

#[test]
fn safetensors_missing_tensor() {
    let bytes = to_safetensors(&bag(&[], &["b2"])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Missing { param, tensor, unmatched, .. }
            if param == "b2" && tensor == "b2" && unmatched.is_empty()),
        "{err}"
    );
    // Missing under the name the map gives, beside a tensor no parameter takes.
    let bytes = to_safetensors(&bag(&[("bias2", &[2])], &["b2"])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new().rename("fc2.bias", "b2"));
    assert!(
        matches!(&err, CheckpointError::Missing { param, tensor, unmatched, .. }
            if param == "b2" && tensor == "fc2.bias" && unmatched == &["bias2"]),
        "{err}"
    );
}

#[test]
fn safetensors_extra_tensor() {
    let bytes = to_safetensors(&bag(&[("w3", &[2, 2])], &[])).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Extra { tensor, .. } if tensor == "w3"),
        "{err}"
    );
    // Ignored, it is skipped.
    let mut model = Mlp::<f32>::zeros();
    load_safetensors_bytes(&mut model, &bytes, &NameMap::new().ignore("w3")).unwrap();
    assert_eq!(bits(&model), bits(&Mlp::<f32>::filled(3)));
}

#[test]
fn safetensors_garbage_header() {
    for bytes in [
        raw("not json!!", b""),
        raw(
            "{\"w1\": {\"dtype\": \"F32\", \"shape\": [3, 4], \"data_offsets\": [0, 48]",
            b"",
        ),
        raw(
            "{\"w1\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
            &[0; 16],
        ),
        raw(
            "{\"w1\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
            &[0; 4],
        ),
        raw("{\"w1\":{\"dtype\":\"F32\",\"shape\":[1]}}", &[0; 4]),
        raw("[1, 2, 3]", b""),
        [
            &8u64.to_le_bytes()[..],
            &[0xff, 0xfe, b'{', b'}', 0x80, 0x81, b' ', b' '],
        ]
        .concat(),
        u64::MAX.to_le_bytes().to_vec(),
        b"PK\x03\x04 this is a zip file, not safetensors".to_vec(),
    ] {
        let err = refused_bytes::<f32>(&bytes, &NameMap::new());
        assert!(matches!(err, CheckpointError::Header { .. }), "{err}");
    }
}

#[test]
fn safetensors_empty() {
    let err = refused_bytes::<f32>(&[], &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Empty { file } if file == "<bytes>"),
        "{err}"
    );
    let path = tmp("empty.safetensors");
    std::fs::write(&path, b"").unwrap();
    let mut model = Mlp::<f32>::filled(1);
    let err = load_safetensors(&mut model, &path, &NameMap::new()).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Empty { file } if file == &path.display().to_string()),
        "{err}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn safetensors_wrong_names() {
    let bytes = to_safetensors_with(&Mlp::<f32>::filled(1), &torch_map()).unwrap();
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Names { found, expected, .. }
            if found.len() == 4 && expected == &["w1", "b1", "w2", "b2"]),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "`<bytes>`: no tensor of the model's is in the file; the model looks for w1, b1, w2, b2; \
         the file has fc1.bias, fc1.weight, fc2.bias, fc2.weight; a NameMap can map them"
    );
}

#[test]
fn the_eight_malformed_files_give_eight_errors() {
    let good = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let errors = [
        refused_bytes::<f32>(&good[..good.len() - 1], &NameMap::new()),
        refused_bytes::<f32>(
            &to_safetensors(&Mlp::<f64>::filled(1)).unwrap(),
            &NameMap::new(),
        ),
        refused_bytes::<f32>(
            &to_safetensors(&bag(&[("w2", &[4, 3])], &[])).unwrap(),
            &NameMap::new(),
        ),
        refused_bytes::<f32>(
            &to_safetensors(&bag(&[], &["w2"])).unwrap(),
            &NameMap::new(),
        ),
        refused_bytes::<f32>(
            &to_safetensors(&bag(&[("extra", &[1])], &[])).unwrap(),
            &NameMap::new(),
        ),
        refused_bytes::<f32>(&raw("{{{", b""), &NameMap::new()),
        refused_bytes::<f32>(&[], &NameMap::new()),
        refused_bytes::<f32>(
            &to_safetensors_with(&Mlp::<f32>::filled(1), &torch_map()).unwrap(),
            &NameMap::new(),
        ),
    ];
    let kinds: Vec<_> = errors.iter().map(std::mem::discriminant).collect();
    for (i, k) in kinds.iter().enumerate() {
        assert!(
            !kinds[..i].contains(k),
            "{} and an earlier error are one variant",
            errors[i]
        );
    }
    for e in &errors {
        println!("{e}");
    }
}

#[test]
fn a_map_sending_two_parameters_to_one_name_is_refused() {
    // File tensor `w1` is `b1`, so `w1` (still named `w1`) and `b1` would share it.
    let map = NameMap::new().rename("w1", "b1");
    let model = Mlp::<f32>::filled(1);
    let err = to_safetensors_with(&model, &map).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Clash { tensor, first, second, .. }
        if tensor == "w1" && first == "w1" && second == "b1"),
        "{err}"
    );
    let bytes = to_safetensors(&model).unwrap();
    let err = refused_bytes::<f32>(&bytes, &map);
    assert!(matches!(err, CheckpointError::Clash { .. }), "{err}");
    // Swapping two names is one-to-one.
    let swap = NameMap::new().rename("w1", "w2").rename("w2", "w1");
    assert_eq!(swap.file_name("w1"), "w2");
    assert_eq!(swap.file_name("w2"), "w1");
    // A later pair replaces an earlier one with the same file tensor or parameter.
    let map = NameMap::new().rename("a", "w1").transposed("a", "w2");
    assert_eq!((map.file_name("w1"), map.file_name("w2")), ("w1", "a"));
}

#[test]
fn io_errors_name_the_path() {
    let missing = tmp("no-such-file.safetensors");
    let mut model = Mlp::<f32>::filled(1);
    let err = load_safetensors(&mut model, &missing, &NameMap::new()).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Io { path, action: "read", .. } if path == &missing),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read `{}`", missing.display())),
        "{err}"
    );
    let err = load_npy_dir(&mut model, &missing, &NameMap::new()).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Io { action: "list", .. }),
        "{err}"
    );
    let err = save_safetensors(&model, missing.join("sub").join("x.safetensors")).unwrap_err();
    assert!(
        matches!(
            &err,
            CheckpointError::Io {
                action: "write",
                ..
            }
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------- no panic on any bytes

#[test]
fn every_prefix_of_a_file_is_truncated() {
    let good = to_safetensors(&Mlp::<f64>::filled(1)).unwrap();
    for k in 0..good.len() {
        let err = refused_bytes::<f64>(&good[..k], &NameMap::new());
        if k == 0 {
            assert!(matches!(err, CheckpointError::Empty { .. }), "{err}");
        } else {
            assert!(
                matches!(err, CheckpointError::Truncated { .. }),
                "prefix {k}: {err}"
            );
        }
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"tail");
    let err = refused_bytes::<f64>(&longer, &NameMap::new());
    assert!(matches!(err, CheckpointError::Malformed { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("4 bytes follow the last tensor's data"),
        "{err}"
    );
}

/// Xorshift: the fuzzing's bytes, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn random_bytes_are_refused_without_panic() {
    let mut rng = Rng(0x5eed);
    for i in 0..3000 {
        let n = (rng.next() % 300) as usize;
        let mut bytes = rng.bytes(n);
        // Half of them with a header length that fits the file.
        if i % 2 == 0 && n >= 8 {
            let len = rng.next() % (n as u64 - 7);
            bytes[..8].copy_from_slice(&len.to_le_bytes());
        }
        let err = refused_bytes::<f32>(&bytes, &NameMap::new());
        assert!(
            matches!(
                err,
                CheckpointError::Empty { .. }
                    | CheckpointError::Truncated { .. }
                    | CheckpointError::Header { .. }
                    | CheckpointError::Malformed { .. }
            ),
            "{err}"
        );
    }
}

#[test]
fn corrupted_files_never_panic() {
    let good = to_safetensors(&Mlp::<f32>::filled(1)).unwrap();
    let mut rng = Rng(0xc0ffee);
    for i in 0..good.len() {
        for v in [0u8, 0xff, good[i] ^ 1, good[i] ^ 0x80, b'9', b'"', b'\\'] {
            let mut bytes = good.clone();
            bytes[i] = v;
            let mut model = Mlp::<f32>::filled(7);
            let before = bits(&model);
            if load_safetensors_bytes(&mut model, &bytes, &NameMap::new()).is_err() {
                assert_eq!(bits(&model), before);
            }
        }
    }
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() % bytes.len() as u64) as usize;
            bytes[i] = rng.next() as u8;
        }
        let mut model = Mlp::<f32>::filled(7);
        let before = bits(&model);
        if load_safetensors_bytes(&mut model, &bytes, &NameMap::new()).is_err() {
            assert_eq!(bits(&model), before);
        }
    }
}

#[test]
fn headers_lying_about_lengths_are_refused() {
    let w1 = |offsets: &str| {
        format!("{{\"w1\":{{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":{offsets}}}}}")
    };
    // The data ends before the header says.
    let json = w1("[0,48]");
    let err = refused_bytes::<f32>(&raw(&json, &[0; 10]), &NameMap::new());
    let (expected, actual) = (8 + json.len() as u64 + 48, 8 + json.len() as u64 + 10);
    assert!(
        matches!(err, CheckpointError::Truncated { expected: e, actual: a, .. } if e == expected && a == actual),
        "{err}"
    );
    // Offsets that do not span the shape, or do not start at 0.
    for bad in ["[0,40]", "[8,56]", "[48,0]"] {
        let err = refused_bytes::<f32>(&raw(&w1(bad), &[0; 48]), &NameMap::new());
        assert!(
            matches!(err, CheckpointError::Malformed { .. }),
            "{bad}: {err}"
        );
    }
    // A header longer than the file.
    let mut bytes = raw(&w1("[0,48]"), &[0; 48]);
    bytes[..8].copy_from_slice(&1000u64.to_le_bytes());
    let err = refused_bytes::<f32>(&bytes, &NameMap::new());
    assert!(
        matches!(err, CheckpointError::Truncated { expected: 1008, .. }),
        "{err}"
    );
    // Offsets adding up past the largest file: the crate's own arithmetic would overflow.
    let big = (1u64 << 61) - 1;
    let json = format!(
        "{{{}}}",
        (0..8)
            .map(|i| format!(
                "\"t{i}\":{{\"dtype\":\"U8\",\"shape\":[{big}],\"data_offsets\":[{},{}]}}",
                i * big,
                (i + 1) * big
            ))
            .collect::<Vec<_>>()
            .join(",")
    );
    let err = refused_bytes::<f32>(&raw(&json, &[0; 16]), &NameMap::new());
    assert!(matches!(err, CheckpointError::Truncated { .. }), "{err}");
    // A dimension no array can have, beside a zero one.
    let json = format!(
        "{{\"w1\":{{\"dtype\":\"F32\",\"shape\":[0,{}],\"data_offsets\":[0,0]}}}}",
        u64::MAX
    );
    let err = refused_bytes::<f32>(&raw(&json, &[]), &NameMap::new());
    assert!(matches!(err, CheckpointError::Malformed { .. }), "{err}");
    // Numbers inside strings are names, not lengths.
    let json = format!("{{\"__metadata__\":{{\"n\":\"{}\"}},\"w1\":{{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}}}", u64::MAX);
    let err = refused_bytes::<f32>(&raw(&json, &[0; 48]), &NameMap::new());
    assert!(matches!(err, CheckpointError::Missing { .. }), "{err}");
}

// ---------------------------------------------------------------- malformed .npy

/// A directory of `Mlp::<f32>::filled(3)`'s files, as `save_npy_dir` writes them.
fn npy_dir(name: &str) -> PathBuf {
    let dir = tmp(name);
    save_npy_dir(&Mlp::<f32>::filled(3), &dir).unwrap();
    dir
}

#[test]
fn npy_malformed_files() {
    // Truncated: the last 5 bytes of w2.npy cut.
    let dir = npy_dir("npy-truncated");
    let w2 = std::fs::read(dir.join("w2.npy")).unwrap();
    std::fs::write(dir.join("w2.npy"), &w2[..w2.len() - 5]).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Truncated { file, expected, actual }
            if file.ends_with("w2.npy") && *expected == w2.len() as u64 && *actual == w2.len() as u64 - 5),
        "{err}"
    );
    // Every prefix of it.
    for k in 0..w2.len() {
        std::fs::write(dir.join("w2.npy"), &w2[..k]).unwrap();
        let err = refused_dir::<f32>(&dir, &NameMap::new());
        if k == 0 {
            assert!(matches!(err, CheckpointError::Empty { .. }), "{err}");
        } else {
            assert!(
                matches!(err, CheckpointError::Truncated { .. }),
                "prefix {k}: {err}"
            );
        }
    }
    // Bytes after the data.
    std::fs::write(dir.join("w2.npy"), [&w2[..], b"tail"].concat()).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(matches!(err, CheckpointError::Malformed { .. }), "{err}");

    // Empty.
    std::fs::write(dir.join("w2.npy"), b"").unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Empty { file } if file.ends_with("w2.npy")),
        "{err}"
    );

    // Garbage headers.
    for bytes in [
        b"hello, world".to_vec(),
        b"\x93NUMPY\x09\x00\x10\x00".to_vec(),
        [&b"\x93NUMPY\x01\x00\x10\x00"[..], b"{'descr': '<f4'}\n"].concat(),
        npy(b"{'descr': '<f4', 'shape': (4, 2), 'x': ]]]]}", &[0; 32]),
        npy(
            b"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), 'shape': (4, 2)}",
            &[0; 32],
        ),
        npy(
            b"{'descr': '<f4', 'fortran_order': False, 's\\x68ape': (4, 2)}",
            &[0; 32],
        ),
        npy(
            b"{'descr': '<f4', 'fortran_order': False, 'shape': [4, 2]}",
            &[0; 32],
        ),
    ] {
        std::fs::write(dir.join("w2.npy"), &bytes).unwrap();
        let err = refused_dir::<f32>(&dir, &NameMap::new());
        assert!(matches!(err, CheckpointError::Header { .. }), "{err}");
    }
    std::fs::write(dir.join("w2.npy"), &w2).unwrap();
    let mut model = Mlp::<f32>::zeros();
    load_npy_dir(&mut model, &dir, &NameMap::new()).unwrap();

    // Missing, then extra.
    std::fs::rename(dir.join("w2.npy"), dir.join("w2.npy.bak")).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Missing { param, .. } if param == "w2"),
        "{err}"
    );
    std::fs::rename(dir.join("w2.npy.bak"), dir.join("w2.npy")).unwrap();
    std::fs::write(dir.join("w3.npy"), &w2).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Extra { tensor, .. } if tensor == "w3"),
        "{err}"
    );
    load_npy_dir(&mut model, &dir, &NameMap::new().ignore("w3")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    // Wrong dtype.
    let dir = tmp("npy-dtype");
    save_npy_dir(&Mlp::<f64>::filled(1), &dir).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Dtype { found, expected, .. } if found == "<f8" && expected == "<f4"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Wrong shape, and a header claiming a shape no file could hold.
    let dir = tmp("npy-shape");
    save_npy_dir(&bag(&[("w1", &[4, 3])], &[]), &dir).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(matches!(err, CheckpointError::Shape { .. }), "{err}");
    assert!(err.to_string().contains("transposed it would fit"), "{err}");
    let bytes = npy(
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387903, 4), }",
        &[],
    );
    std::fs::write(dir.join("w1.npy"), &bytes).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(matches!(err, CheckpointError::Shape { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();

    // Wrong names.
    let dir = tmp("npy-names");
    save_npy_dir_with(&Mlp::<f32>::filled(1), &dir, &torch_map()).unwrap();
    let err = refused_dir::<f32>(&dir, &NameMap::new());
    assert!(
        matches!(&err, CheckpointError::Names { found, .. } if found.len() == 4),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // A name that cannot be a file name.
    let dir = tmp("npy-file-name");
    let err = save_npy_dir_with(
        &Mlp::<f32>::filled(1),
        &dir,
        &NameMap::new().rename("../w1", "w1"),
    )
    .unwrap_err();
    assert!(
        matches!(&err, CheckpointError::FileName { tensor, .. } if tensor == "../w1"),
        "{err}"
    );
    assert!(!dir.exists());
}

#[test]
fn corrupted_npy_files_never_panic() {
    let dir = npy_dir("npy-fuzz");
    let w1 = std::fs::read(dir.join("w1.npy")).unwrap();
    let mut rng = Rng(0xbad5eed);
    for i in 0..w1.len() {
        for v in [0u8, 0xff, w1[i] ^ 1, b'9', b'(', b')', b'\''] {
            let mut bytes = w1.clone();
            bytes[i] = v;
            std::fs::write(dir.join("w1.npy"), &bytes).unwrap();
            let mut model = Mlp::<f32>::filled(7);
            let before = bits(&model);
            if load_npy_dir(&mut model, &dir, &NameMap::new()).is_err() {
                assert_eq!(bits(&model), before);
            }
        }
    }
    for _ in 0..300 {
        let n = (rng.next() % 200) as usize;
        let mut bytes = rng.bytes(n);
        if n > 10 && rng.next().is_multiple_of(2) {
            bytes[..10].copy_from_slice(&w1[..10]);
        }
        std::fs::write(dir.join("w1.npy"), &bytes).unwrap();
        refused_dir::<f32>(&dir, &NameMap::new());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
