"""The `socspec` command-line interface (import package `socspec_cli`)."""
