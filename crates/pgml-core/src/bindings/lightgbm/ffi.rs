//! The few LightGBM C API calls pgml needs, behind owning handles.

use crate::bindings::{c_text, BindingError, Result};
use lightgbm3_sys as sys;
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

const DTYPE_FLOAT32: i32 = 0; // C_API_DTYPE_FLOAT32
const PREDICT_NORMAL: i32 = 0; // C_API_PREDICT_NORMAL

fn check(ret: i32) -> Result<()> {
    if ret == 0 {
        return Ok(());
    }
    // SAFETY: LightGBM returns a thread-local, NUL-terminated message.
    let message = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) }.to_string_lossy();
    Err(BindingError::Library {
        backend: "lightgbm",
        message: without_build_path(message.trim_end()),
    })
}

/// LightGBM's failed checks end "at /where/pgml/was/built/.../config_auto.cpp, line 345 .":
/// the directory tells a user nothing (and shows the build machine's), the file name and
/// line still point into LightGBM's source.
fn without_build_path(message: &str) -> String {
    match (message.find(" at /"), message.rfind(", line ")) {
        (Some(at), Some(line)) if at < line => {
            let path = &message[at + " at ".len()..line];
            let file = path.rsplit('/').next().unwrap_or(path);
            format!("{} at {file}{}", &message[..at], &message[line..])
        }
        _ => message.to_string(),
    }
}

pub struct Dataset(sys::DatasetHandle);

impl Dataset {
    /// LightGBM bins the rows on creation (its own copy); `params` are dataset parameters
    /// such as max_bin.
    pub fn dense(
        x: &[f32],
        rows: usize,
        cols: usize,
        labels: &[f32],
        params: &str,
    ) -> Result<Self> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let p = c_text(params)?;
        let mut handle = ptr::null_mut();
        // SAFETY: `x` holds rows*cols floats, row-major; LightGBM reads them before returning.
        check(unsafe {
            sys::LGBM_DatasetCreateFromMat(
                x.as_ptr().cast::<c_void>(),
                DTYPE_FLOAT32,
                rows as i32,
                cols as i32,
                1,
                p.as_ptr(),
                ptr::null_mut(),
                &mut handle,
            )
        })?;
        let d = Dataset(handle);
        check(unsafe {
            sys::LGBM_DatasetSetField(
                d.0,
                c"label".as_ptr(),
                labels.as_ptr().cast::<c_void>(),
                labels.len() as i32,
                DTYPE_FLOAT32,
            )
        })?;
        Ok(d)
    }
}

impl Drop for Dataset {
    fn drop(&mut self) {
        unsafe { sys::LGBM_DatasetFree(self.0) };
    }
}

pub struct Booster {
    handle: sys::BoosterHandle,
    /// Single-row prediction state, built once: LightGBM's cheapest per-call path.
    fast: sys::FastConfigHandle,
    num_features: usize,
}

// SAFETY: handles may move between threads; pgml never uses one from two threads at once.
unsafe impl Send for Booster {}

impl Booster {
    pub fn new(train: &Dataset, params: &str) -> Result<Self> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let p = c_text(params)?;
        let mut handle = ptr::null_mut();
        check(unsafe { sys::LGBM_BoosterCreate(train.0, p.as_ptr(), &mut handle) })?;
        Ok(Booster {
            handle,
            fast: ptr::null_mut(),
            num_features: 0,
        })
    }

    /// The training-data metrics so far as "name: value" pairs (needs
    /// `is_provide_training_metric`; empty without it).
    pub fn training_metrics(&self) -> Result<String> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let mut count = 0;
        check(unsafe { sys::LGBM_BoosterGetEvalCounts(self.handle, &mut count) })?;
        let count = count.max(0) as usize;
        if count == 0 {
            return Ok(String::new());
        }
        const NAME_BYTES: usize = 128;
        let mut buffers = vec![[0 as c_char; NAME_BYTES]; count];
        let mut pointers: Vec<*mut c_char> = buffers.iter_mut().map(|b| b.as_mut_ptr()).collect();
        let (mut names, mut needed) = (0, 0usize);
        // SAFETY: `count` buffers of NAME_BYTES each; LightGBM truncates longer names.
        check(unsafe {
            sys::LGBM_BoosterGetEvalNames(
                self.handle,
                count as i32,
                &mut names,
                NAME_BYTES,
                &mut needed,
                pointers.as_mut_ptr(),
            )
        })?;
        let mut values = vec![0f64; count];
        let mut len = 0;
        // SAFETY: `values` holds GetEvalCounts doubles, as the API requires.
        check(unsafe { sys::LGBM_BoosterGetEval(self.handle, 0, &mut len, values.as_mut_ptr()) })?;
        let shown = (len.max(0) as usize).min(names.max(0) as usize).min(count);
        Ok((0..shown)
            .map(|i| {
                // SAFETY: LightGBM NUL-terminated each name within its buffer.
                let name = unsafe { CStr::from_ptr(buffers[i].as_ptr()) }.to_string_lossy();
                format!("training {name}: {:.6}", values[i])
            })
            .collect::<Vec<_>>()
            .join(", "))
    }

    /// One boosting round; true when LightGBM can split no further.
    pub fn update(&mut self) -> Result<bool> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let mut finished = 0;
        check(unsafe { sys::LGBM_BoosterUpdateOneIter(self.handle, &mut finished) })?;
        Ok(finished != 0)
    }

    pub fn load(text: &[u8]) -> Result<Self> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let corrupt = |message: String| BindingError::Corrupt {
            backend: "lightgbm",
            message,
        };
        let text =
            CString::new(text).map_err(|_| corrupt("model text contains a NUL byte".into()))?;
        let mut iterations = 0;
        let mut handle = ptr::null_mut();
        check(unsafe {
            sys::LGBM_BoosterLoadModelFromString(text.as_ptr(), &mut iterations, &mut handle)
        })
        .map_err(|e| corrupt(e.to_string()))?;
        Ok(Booster {
            handle,
            fast: ptr::null_mut(),
            num_features: 0,
        })
    }

    pub fn num_features(&self) -> Result<usize> {
        let mut n = 0;
        check(unsafe { sys::LGBM_BoosterGetNumFeature(self.handle, &mut n) })?;
        Ok(n.max(0) as usize)
    }

    /// Prepares single-row prediction on one thread.
    pub fn init_single_row(&mut self, num_features: usize) -> Result<()> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let mut fast = ptr::null_mut();
        check(unsafe {
            sys::LGBM_BoosterPredictForMatSingleRowFastInit(
                self.handle,
                PREDICT_NORMAL,
                0,
                -1,
                DTYPE_FLOAT32,
                num_features as i32,
                c"num_threads=1".as_ptr(),
                &mut fast,
            )
        })?;
        self.fast = fast;
        self.num_features = num_features;
        Ok(())
    }

    /// The model as LightGBM's text format.
    pub fn to_text(&self) -> Result<Vec<u8>> {
        let mut len = 0i64;
        check(unsafe {
            sys::LGBM_BoosterSaveModelToString(self.handle, 0, -1, 0, 0, &mut len, ptr::null_mut())
        })?;
        let mut buf = vec![0u8; len.max(0) as usize];
        check(unsafe {
            sys::LGBM_BoosterSaveModelToString(
                self.handle,
                0,
                -1,
                0,
                len,
                &mut len,
                buf.as_mut_ptr().cast(),
            )
        })?;
        while buf.last() == Some(&0) {
            buf.pop();
        }
        Ok(buf)
    }

    /// Appends `outputs_per_row` values per row of `x`.
    pub fn predict(
        &self,
        x: &[f32],
        cols: usize,
        outputs_per_row: usize,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        let _signals = crate::signals::Blocked::new(); // threads it starts: see signals
        let rows = x.len() / cols.max(1);
        let mut result = vec![0f64; rows * outputs_per_row];
        let mut len = 0i64;
        if rows == 1 && !self.fast.is_null() && cols == self.num_features {
            check(unsafe {
                sys::LGBM_BoosterPredictForMatSingleRowFast(
                    self.fast,
                    x.as_ptr().cast(),
                    &mut len,
                    result.as_mut_ptr(),
                )
            })?;
        } else {
            check(unsafe {
                sys::LGBM_BoosterPredictForMat(
                    self.handle,
                    x.as_ptr().cast(),
                    DTYPE_FLOAT32,
                    rows as i32,
                    cols as i32,
                    1,
                    PREDICT_NORMAL,
                    0,
                    -1,
                    c"num_threads=1".as_ptr(),
                    &mut len,
                    result.as_mut_ptr(),
                )
            })?;
        }
        if len as usize != result.len() {
            return Err(BindingError::Library {
                backend: "lightgbm",
                message: format!("expected {} outputs, got {len}", result.len()),
            });
        }
        out.extend(result.iter().map(|v| *v as f32));
        Ok(())
    }
}

impl Drop for Booster {
    fn drop(&mut self) {
        unsafe {
            if !self.fast.is_null() {
                sys::LGBM_FastConfigFree(self.fast);
            }
            sys::LGBM_BoosterFree(self.handle);
        }
    }
}

/// LightGBM's Arrow entry points (pgml never calls them) reference this nanoarrow function,
/// which lightgbm3-sys does not link. cargo-pgrx links pgml.so with `--no-gc-sections`, so
/// the reference survives and the server could not load the library. Any call fails cleanly
/// with EINVAL, nanoarrow's own error convention.
#[no_mangle]
pub extern "C" fn ArrowSchemaViewInit(
    _view: *mut c_void,
    _schema: *const c_void,
    _error: *mut c_void,
) -> i32 {
    22
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_keep_the_file_but_not_the_build_directory() {
        let m = "Check failed: (num_leaves) > (1) at /root/.cache/pgml/target/release/build/\
                 lightgbm3-sys-0/out/lightgbm/src/io/config_auto.cpp, line 345 .";
        assert_eq!(
            super::without_build_path(m),
            "Check failed: (num_leaves) > (1) at config_auto.cpp, line 345 ."
        );
        let plain = "Unknown parameter: bogus";
        assert_eq!(super::without_build_path(plain), plain);
    }
}
