//! The unpacker's rules, one test per rule, on headers made by hand.

use super::*;
