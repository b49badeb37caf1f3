//! (being written) The orchestration of one `compose build`.
