"""Sharing entries through the Hugging Face hub: `zoo push` uploads a verified entry (its files, its card
and the hub's README, adaptx.zoo_modelcard) under `<name>/` of a repo, which can hold a whole zoo; `zoo
pull` downloads one into a hidden folder, verifies it like any entry and only then lands it
(adaptx.zoo_folder). Both move JSON and safetensors only (hub_patterns), so a pickle in a repo never
reaches this disk, and both report the hub's errors the same way (hub_error).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .errors import AdaptxError
from .zoo_card import ALLOWED_SUFFIXES, CARD_FILE
from .zoo_folder import landing
from .zoo_resolve import require_entry
from .zoo_verify import check_entry

# the hub's HTTP and offline errors derive from these
HUB_ERRORS = (OSError, ValueError)


def hub_patterns(folder: str = "") -> list[str]:
    """The files a push uploads or a pull downloads (under `folder/`): an entry's file types only."""
    return [f"{folder}*{suffix}" for suffix in ALLOWED_SUFFIXES]


def hub_error(what: str, exc: Exception, hint: str) -> AdaptxError:
    """An error of the hub's client as one line: what failed, the client's first line, what to check."""
    said = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return AdaptxError(f"{what}: {said} ({hint})")


def push_entry(zoo: Path, name: str, repo_id: str, revision: str | None = None) -> None:
    """Upload a verified entry to `repo_id` under `<name>/` (a hub repo can hold a whole zoo)."""
    import huggingface_hub

    from .zoo_modelcard import model_card

    entry, card = require_entry(zoo, name)
    message = f"adaptx zoo: {name} {card.version} ({card.kind}, {card.task})"
    # the entry's files plus README.md (the model card the hub renders), staged aside: the entry itself
    # never holds a file its card does not list
    staged = Path(tempfile.mkdtemp(prefix=f"adaptx-push-{name}-"))
    try:
        for rel in [*card.files, CARD_FILE]:
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry / rel, staged / rel)
        (staged / "README.md").write_text(model_card(card, repo_id), encoding="utf-8")
        huggingface_hub.upload_folder(repo_id=repo_id, folder_path=str(staged), path_in_repo=name, revision=revision,
                                      commit_message=message, allow_patterns=hub_patterns() + ["README.md"])
    except HUB_ERRORS as exc:
        raise hub_error(f"cannot push {name!r} to the hub repo {repo_id}", exc, "logged in with write access? "
                        "`huggingface-cli login` or HF_TOKEN") from exc
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def pull_entry(zoo: Path, repo_id: str, name: str, revision: str | None = None) -> Path:
    """Download entry `name` from `repo_id`, verify it (card, sha256 of every file, safetensors only)
    in a hidden folder, and only then move it into the zoo and index it."""
    import huggingface_hub

    # a failed pull (offline, refused) leaves no new zoo folder behind
    with landing(zoo, name, "pull", f"`adaptx zoo remove {name}` first") as new:
        try:
            huggingface_hub.snapshot_download(repo_id=repo_id, revision=revision, local_dir=str(new.work),
                                              allow_patterns=hub_patterns(f"{name}/"))
        except HUB_ERRORS as exc:
            raise hub_error(f"cannot download {name!r} from the hub repo {repo_id}", exc,
                            "online? is the repo id right?") from exc
        new.entry = new.work / name
        if not (new.entry / CARD_FILE).is_file():
            raise AdaptxError(f"{repo_id}: has no zoo entry {name!r} (no {name}/{CARD_FILE} at revision "
                              f"{revision or 'main'})")
        new.card, problems = check_entry(new.entry)
        if problems:
            raise AdaptxError(f"{repo_id}: entry {name!r} failed verification; nothing was added to {zoo}:\n  - "
                              + "\n  - ".join(problems))
    return zoo / name
