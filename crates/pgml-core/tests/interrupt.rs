//! The interrupt points inside pure-Rust libraries (pgml_core::interrupt): with the server's
//! cancel flag raised, every fit that has them ends with `Interrupted`, from the main thread
//! or from rayon's workers, and a served model's predict says `Interrupted`, not "corrupt".
//!
//! Its own test binary: the flag is process-wide, and the crate's other tests fit models in
//! parallel threads that must never see it raised.

use ndarray::{Array1, Array2};
use pgml_core::bindings::{self, BindingError, Evaluation, Hyperparams, Task, TrainData};
use pgml_core::interrupt;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static CANCEL: AtomicI32 = AtomicI32::new(0);
static DIE: AtomicI32 = AtomicI32::new(0);
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn setup() -> std::sync::MutexGuard<'static, ()> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    CANCEL.store(0, Ordering::SeqCst);
    DIE.store(0, Ordering::SeqCst);
    // SAFETY: statics that live as long as the process; AtomicI32 has the layout of c_int.
    unsafe {
        interrupt::watch(
            CANCEL.as_ptr() as *const c_int,
            DIE.as_ptr() as *const c_int,
        )
    };
    guard
}

/// `rows` rows of 4 features in three blobs; the label is the blob.
fn blobs(rows: usize) -> (Array2<f32>, Array1<f32>) {
    let x = Array2::from_shape_fn((rows, 4), |(i, j)| {
        ((i % 3) * 10) as f32 + ((i * 7 + j * 13) % 17) as f32 / 17.0
    });
    let y = Array1::from_shape_fn(rows, |i| (i % 3) as f32);
    (x, y)
}

fn data<'a>(x: &'a Array2<f32>, y: &'a Array1<f32>, task: Task) -> TrainData<'a> {
    TrainData {
        x: x.view(),
        y: y.view(),
        task,
        num_classes: if task == Task::Classification { 3 } else { 0 },
        num_targets: 1,
        threads: Some(2),
    }
}

fn params(v: serde_json::Value) -> Hyperparams {
    Hyperparams::new(v.as_object().cloned().unwrap_or_default())
}

fn fit(algorithm: &str, task: Task, p: serde_json::Value, rows: usize) -> bindings::Result<()> {
    let (x, y) = blobs(rows);
    let backend = bindings::find(algorithm).expect("backend");
    bindings::fit(backend, &data(&x, &y, task), &params(p), &mut |_, _| Ok(())).map(|_| ())
}

/// The cases whose only interrupt points are inside the library call.
const CASES: &[(&str, Task, &str)] = &[
    ("kmeans", Task::Clustering, r#"{"n_clusters": 3}"#),
    ("dbscan", Task::Clustering, r#"{"tolerance": 1.0}"#),
    ("decision_tree", Task::Regression, "{}"),
    ("decision_tree", Task::Classification, "{}"),
    ("random_forest", Task::Regression, r#"{"n_trees": 2}"#),
    ("knn", Task::Classification, "{}"),
    ("linear", Task::Regression, "{}"),
    ("linear", Task::Classification, "{}"),
];

#[test]
fn a_raised_flag_interrupts_every_fit_with_interrupt_points() {
    let _one = setup();
    for (algorithm, task, p) in CASES {
        let p: serde_json::Value = serde_json::from_str(p).unwrap();
        // Unraised: the fit works.
        assert!(fit(algorithm, *task, p.clone(), 600).is_ok(), "{algorithm}");
        CANCEL.store(1, Ordering::SeqCst);
        let r = fit(algorithm, *task, p, 600);
        CANCEL.store(0, Ordering::SeqCst);
        // knn's fit builds its cover tree through the distance; linear reads in blocks, and
        // logistic regression computes its loss in blocks.
        assert!(
            matches!(r, Err(BindingError::Interrupted)),
            "{algorithm}: {:?}",
            r.err()
        );
    }
    // The terminate flag too.
    DIE.store(1, Ordering::SeqCst);
    let r = fit(
        "kmeans",
        Task::Clustering,
        serde_json::json!({"n_clusters": 3}),
        600,
    );
    DIE.store(0, Ordering::SeqCst);
    assert!(matches!(r, Err(BindingError::Interrupted)));
}

/// A kmeans that would run for minutes (tolerance 0, a billion iterations, its distances on
/// rayon's workers) ends soon after the flag goes up from another thread, the way a
/// signal handler raises it.
#[test]
fn a_long_fit_stops_when_the_flag_goes_up() {
    let _one = setup();
    let raiser = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(300));
        CANCEL.store(1, Ordering::SeqCst);
        Instant::now()
    });
    let r = fit(
        "kmeans",
        Task::Clustering,
        serde_json::json!({"n_clusters": 8, "max_n_iterations": 1_000_000_000i64, "tolerance": 1e-300, "n_runs": 1000}),
        200_000,
    );
    let ended = Instant::now();
    let raised = raiser.join().unwrap();
    CANCEL.store(0, Ordering::SeqCst);
    assert!(matches!(r, Err(BindingError::Interrupted)), "{:?}", r.err());
    let late = ended.saturating_duration_since(raised);
    assert!(
        late < Duration::from_secs(2),
        "stopped {late:?} after the flag"
    );
}

/// A served knn (loaded from bytes, as the caches hold it) meets the flag inside its
/// distance: Interrupted, which the SQL layer turns into the server's own error, rather
/// than the "corrupt model" a library panic means.
#[test]
fn a_served_model_reports_interrupted_not_corrupt() {
    let _one = setup();
    let (x, y) = blobs(600);
    let backend = bindings::find("knn").unwrap();
    let model = bindings::fit(
        backend,
        &data(&x, &y, Task::Classification),
        &params(serde_json::json!({})),
        &mut |_, _| Ok(()),
    )
    .expect("fit");
    let served = bindings::load(backend, &model.to_bytes().unwrap(), model.shape()).expect("load");
    let rows = x.as_slice().unwrap();
    let mut out = Vec::new();
    served
        .predict(rows, Evaluation::default(), &mut out)
        .expect("predict");
    assert_eq!(out.len(), 600);
    CANCEL.store(1, Ordering::SeqCst);
    let r = served.predict(rows, Evaluation::default(), &mut Vec::new());
    let chunked = interrupt::in_chunks(rows, 4, |r| {
        served.predict(r, Evaluation::default(), &mut Vec::new())
    });
    CANCEL.store(0, Ordering::SeqCst);
    assert!(matches!(r, Err(BindingError::Interrupted)), "{:?}", r.err());
    assert!(matches!(chunked, Err(BindingError::Interrupted)));
}

/// The XGBoost calls that have no interrupt point inside are cut into calls, with one
/// between them: the quantile DMatrix (fed in batches: a raised flag ends the build at its
/// first batch, and XGBoost copes with the short feed) and the random forest (grown in
/// parts: the progress hook, which checks for interrupts in the server, runs between parts).
#[test]
fn xgboost_calls_cut_in_parts_hear_the_flag_between_parts() {
    let _one = setup();
    // 2.5M rows x 4 features: more values than one batch of the DMatrix holds.
    let (x, y) = blobs(2_500_000);
    let backend = bindings::find("xgboost").unwrap();
    CANCEL.store(1, Ordering::SeqCst);
    let r = backend.fit(
        &data(&x, &y, Task::Regression),
        &params(serde_json::json!({"n_estimators": 1})),
        &mut |_, _| Ok(()),
    );
    CANCEL.store(0, Ordering::SeqCst);
    assert!(matches!(r, Err(BindingError::Interrupted)), "{:?}", r.err());

    // 200,000 rows x 4: a 100-tree forest in two parts.
    let (x, y) = blobs(200_000);
    let forest = bindings::find("xgboost_random_forest").unwrap();
    let mut parts = 0;
    let r = forest.fit(
        &data(&x, &y, Task::Regression),
        &params(serde_json::json!({"n_estimators": 100})),
        &mut |done, total| {
            if done > 0 && done < total {
                parts += 1;
                CANCEL.store(1, Ordering::SeqCst);
            }
            interrupt::check()
        },
    );
    CANCEL.store(0, Ordering::SeqCst);
    assert!(matches!(r, Err(BindingError::Interrupted)), "{:?}", r.err());
    assert_eq!(parts, 1, "the flag went up after the first part");
}
