"""A team's swarm: several machines sharing one PostgreSQL store and one git remote."""
