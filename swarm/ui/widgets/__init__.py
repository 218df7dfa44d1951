"""One module per sidebar section; each is given the whole snapshot and redraws only what changed."""
