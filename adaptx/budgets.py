"""A target stage's step budget (`train.target_steps`) as ids, tables and plots name and order it: a
number of steps, `auto` (until English dev stops improving), or None where a run has one budget and
its stage ids carry none.
"""

from __future__ import annotations

from .config import AUTO


def budget_suffix(budget) -> str:
    """How a budget appears in stage ids and row names: '-auto', '-b600', or nothing."""
    return "" if budget is None else f"-{budget}" if budget == AUTO else f"-b{budget}"


def budget_of_stage_id(stage_id: str):
    """The budget a stage id ends in (budget_suffix read back): 'auto', a number of steps, or None."""
    last = stage_id.rsplit("-", 1)[-1]
    return AUTO if last == AUTO else int(last[1:]) if last[:1] == "b" and last[1:].isdigit() else None


def budget_order(budget) -> tuple:
    """A budget's place in a sweep: step counts in order, then `auto` (None, no sweep, first)."""
    return (2, 0) if budget == AUTO else (1, budget) if isinstance(budget, int) else (0, 0)


def budget_words(budget) -> str:
    """A budget as a table's header line says it."""
    return f"{AUTO} (until English dev stopped improving)" if budget == AUTO else f"{budget} steps"
