//! The end-to-end tests, one binary (one link, one `common`): each module
//! runs the archgate binary, or the library against real daemons, real
//! kernels and real Debian binaries. See each module's opening comment.
//!
//! Most need `scripts/fixtures` and the daemons of `scripts/testenv up`;
//! `scripts/test` starts both.

mod common;

mod action;
mod arch;
mod build_cache;
mod build_docker20;
mod build_flags;
mod build_gate;
mod build_lifecycle;
mod build_load;
mod build_nodes;
mod build_ssh;
mod build_stdin;
mod buildkit_transport;
mod completions;
mod daemon;
mod debian;
mod deep;
mod frontend_image;
mod golden;
mod hostile;
mod inputs;
mod kernel_exec;
mod lint;
mod plugin;
mod provenance;
mod redteam;
mod registry;
mod resolve;
mod sarif_file;
mod unpack;
