"""`python -m swarm` is the same as the `swarm` console script."""

from swarm.cli.main import main

raise SystemExit(main())
