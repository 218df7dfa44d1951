"""The controller: the swarm's one deterministic supervisor process.

It runs in the swarm's own `controller` window, restarted by its pane if it dies, and
reads everything it needs from the store and the live panes, so a new one carries on
wherever the last one was killed.
"""
