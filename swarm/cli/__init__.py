"""The `swarm` command line: one module per group of commands, each with `register()`."""
