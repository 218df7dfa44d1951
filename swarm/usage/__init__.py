"""Usage and cost: what each agent's runtime reports it spent, per task, agent, role and day.

The modules here are imported by the witness (reading transcripts every tick), the
controller (may it hand out a task?) and the CLI, so this file imports nothing: each
caller imports the module it needs.

- tokens.py      the token counts and dollars of some usage (`Usage`)
- prices.py      the price table (per model family), overridable by a layout's `prices:`
- transcript.py  incremental reading of a runtime's JSONL transcript (offsets, partial lines)
- limits.py      rate and usage limits: parsing the signals, the swarm-wide pause decisions
- pauses.py      `dispatch_allowed`: may the controller hand out a task now (and to whom)
- reported.py    the one call `swarm report` makes (a StopFailure caused by a limit)
- holds.py       which task an agent held when, from the event log (attribution)
- meter.py       the witness's per-tick reading, attribution to tasks, budgets and limits
- report.py      usage per agent and task, and where the money went (`swarm budget`)
"""
