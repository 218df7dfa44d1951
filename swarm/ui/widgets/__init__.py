"""One module per sidebar section; each gets the whole snapshot, redraws only what changed."""
