"""A run's results files (results.json, results.md), written after each evaluated stage and at the
end; a smoke run's carry its note (adaptx.smoke, imported only then)."""

from __future__ import annotations

from .report import write_results


def write_run_results(run_dir, records: list[dict], context: dict, smoke: bool) -> str:
    """write_results, with the smoke note at the top of results.md (and of the returned tables)."""
    text = write_results(run_dir, records, context)
    if not smoke:
        return text
    from .smoke import mark_results

    return mark_results(run_dir, text)
