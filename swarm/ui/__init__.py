"""The Textual sidebar: a view and a remote control over the store and the tmux layer.

This package imports the core; nothing outside it imports Textual (a test checks this), so a
broken or missing UI can never take the swarm down with it. Everything the sidebar does goes
through `swarm.actions` and the `Store`, the same functions the CLI calls.

- `data`: what the sidebar shows, read in one background pass (`Snapshot`); no Textual.
- `controls`: the actions the keys trigger, as one injectable object.
- `widgets/`: one module per section (agents, queue, merges, events).
- `app`: `SidebarApp`, the poll worker, the keys and the command palette.
"""
