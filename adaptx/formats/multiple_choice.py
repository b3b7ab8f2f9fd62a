"""Multiple-choice data (adaptx.intermediate_readers parses it): "commonsenseqa_jsonl" (hub:
tau/commonsense_qa), "cosmosqa_csv" (hub: allenai/cosmos_qa) and "hellaswag_txt" (HellaSwag's text
export, bz2 read directly; hub: Rowan/hellaswag). The task's params['num_choices'] is the number of
choices every item must have; unlabeled hub rows (the hub's test splits) are left out and counted."""

from __future__ import annotations

from ..intermediate_readers import multiple_choice_from_hub, read_commonsenseqa, read_cosmosqa, read_hellaswag_txt
from .base import DataFormat, Read, register_format


def _register(name: str, read, hub_schema: str) -> None:
    def local(task, spec, path, extra) -> Read:
        return Read(read(path, num_choices=task.params["num_choices"]))

    def hub(task, spec, ds, lang: str, where: str) -> Read:
        examples, unlabeled = multiple_choice_from_hub(ds, hub_schema, task.params["num_choices"], where)
        return Read(examples, {}, {"unlabeled rows left out": unlabeled} if unlabeled else {})

    register_format(DataFormat(name, local=local, hub=hub))


_register("commonsenseqa_jsonl", read_commonsenseqa, "commonsenseqa")
_register("cosmosqa_csv", read_cosmosqa, "cosmosqa")
_register("hellaswag_txt", read_hellaswag_txt, "hellaswag")
