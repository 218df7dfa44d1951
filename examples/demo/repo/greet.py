"""A tiny library the demo swarm works on."""


def greet(name: str) -> str:
    return f"Hello, {name}!"
