"""Git plumbing: the repository, worktrees and branches the swarm works on."""
