//! The proof catalog (being written).
