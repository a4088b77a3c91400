//! Placeholder so the workspace builds.
