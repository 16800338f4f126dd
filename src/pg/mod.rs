//! Postgres plumbing that is neither SQL surface nor machine learning: the fmgr calling
//! convention of the hand-written C functions, whether pgml was preloaded, and walkers over
//! node trees (List cells, expression walkers and mutators, plan children).

pub mod fmgr;
pub mod preload;
pub mod walker;
