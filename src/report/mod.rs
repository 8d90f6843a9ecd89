//! Renders reports for people and machines.
