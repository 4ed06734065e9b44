//! A process forked after a parallel product has none of the pool's threads: the child's
//! products run on its one thread, to the same values, instead of waiting forever.
#![cfg(unix)]

use std::time::{Duration, Instant};

use ndarray::Array2;

backprop::model! { struct Wide; x @ w; loss mse }

fn product() -> Array2<f64> {
    // 1024 · 512 · 64 multiply-adds: split over the threads.
    let x = Array2::from_shape_fn((1024, 512), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
    let w = Array2::from_shape_fn((512, 64), |(i, j)| ((i + 2 * j) % 5) as f64 / 4.0);
    Wide::new(w).unwrap().forward(&x).unwrap()
}

#[test]
fn a_forked_child_completes_a_product() {
    backprop::set_threads(2);
    let parent = product();
    // SAFETY: the child only multiplies, compares and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = if product() == parent { 0 } else { 1 };
        // SAFETY: ends the child without running the test harness's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let start = Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child, without blocking.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            // SAFETY: our own child, which hangs.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child's product did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(libc::WIFEXITED(status), "the child did not exit: {status}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "the child's product differs");
}
