"""Runtimes: what runs in an agent's pane (`registry`), and how it is launched (`launch`).

Nothing is imported here: an agent's hook (`swarm report`, a process per event) asks the
registry for its runtime's facts and must not pay for the launch code as well.
"""
