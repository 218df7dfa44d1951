"""The witness: every agent's state from exact signals, and recovery that loses no work.

signals (tmux, one command per tick) + proc (psutil trees) + hooks (the store) -> state
(pure decisions) -> recovery (pure policies) -> effects (actions, store, tmux), run by loop.
"""
