//! Memory that grows with the data, bounded and allocated fallibly.
//!
//! A backend that fails an infallible allocation aborts, and the postmaster then restarts
//! every connection of the cluster. So before a training reads its rows, or a batch is
//! scored, its working set is estimated (pgml's own buffer plus what the library copies:
//! [`crate::bindings::Backend::working_set`]), compared with the server's bound, and then
//! probed: the estimate is reserved once and released, so that a machine (or an address-
//! space limit, or strict overcommit) that cannot give it refuses here, as an error, rather
//! than inside a library that would abort. pgml's own buffers are then reserved with
//! `try_reserve`, never grown infallibly.

pub const MB: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MemoryError {
    /// More than the server's bound (pgml.max_train_memory).
    #[error("{what} needs about {} MB, more than pgml.max_train_memory ({} MB)", need.div_ceil(MB), limit / MB)]
    OverLimit {
        what: &'static str,
        need: usize,
        limit: usize,
    },
    /// Within the bound, but the allocation failed.
    #[error("{what} needs about {} MB, which the server could not allocate", need.div_ceil(MB))]
    Unavailable { what: &'static str, need: usize },
}

/// `need` bytes against `limit`: the error when past it.
fn within(what: &'static str, need: usize, limit: usize) -> Result<(), MemoryError> {
    if need > limit {
        return Err(MemoryError::OverLimit { what, need, limit });
    }
    Ok(())
}

/// The bytes one training (or one batch) may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub limit: usize,
}

impl Budget {
    /// Refuses `need` bytes past the bound, or when the machine cannot give them now.
    pub fn check(&self, what: &'static str, need: usize) -> Result<(), MemoryError> {
        within(what, need, self.limit)?;
        let mut probe: Vec<u8> = Vec::new();
        probe
            .try_reserve_exact(need)
            .map_err(|_| MemoryError::Unavailable { what, need })?;
        // Observed, so that the compiler cannot elide an allocation nobody reads (LLVM
        // removes unused malloc/free pairs, and the probe would always succeed).
        std::hint::black_box(probe.as_ptr());
        Ok(())
    }

    /// An empty vector with room for `len` values, checked against the bound.
    pub fn vec<T>(&self, what: &'static str, len: usize) -> Result<Vec<T>, MemoryError> {
        let need = len.saturating_mul(std::mem::size_of::<T>());
        within(what, need, self.limit)?;
        let mut v = Vec::new();
        v.try_reserve_exact(len)
            .map_err(|_| MemoryError::Unavailable { what, need })?;
        Ok(v)
    }
}

/// Room for `more` values in `v`, fallibly, and within `limit` bytes in all.
pub fn grow<T>(
    v: &mut Vec<T>,
    more: usize,
    limit: usize,
    what: &'static str,
) -> Result<(), MemoryError> {
    if v.capacity() - v.len() >= more {
        return Ok(());
    }
    let need = (v.len().saturating_add(more)).saturating_mul(std::mem::size_of::<T>());
    within(what, need, limit)?;
    // Doubling, as Vec would, but never past the limit.
    let target = (v.capacity().saturating_mul(2)).max(v.len() + more);
    let target = target.min(limit / std::mem::size_of::<T>().max(1));
    v.try_reserve_exact(target - v.len())
        .map_err(|_| MemoryError::Unavailable { what, need })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_bound_and_past_the_machine_are_errors() {
        let b = Budget { limit: 10 * MB };
        assert!(b.check("x", MB).is_ok());
        assert!(matches!(
            b.check("x", 11 * MB),
            Err(MemoryError::OverLimit { .. })
        ));
        let all = Budget { limit: usize::MAX };
        assert!(matches!(
            all.check("x", usize::MAX / 2),
            Err(MemoryError::Unavailable { .. })
        ));
        assert!(matches!(
            all.vec::<f32>("x", usize::MAX / 8),
            Err(MemoryError::Unavailable { .. })
        ));
        let mut v: Vec<f32> = b.vec("x", 4).unwrap();
        v.extend([1.0; 4]);
        assert!(grow(&mut v, 100, 10 * MB, "x").is_ok());
        assert!(v.capacity() >= 104);
        assert!(matches!(
            grow(&mut v, 3 * MB, 10 * MB, "x"),
            Err(MemoryError::OverLimit { .. })
        ));
    }
}
