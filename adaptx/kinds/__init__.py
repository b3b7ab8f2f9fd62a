"""Task kinds: one small module per kind owns its encoding, head, loss, prediction and gold.

The pipeline and the training loop never look at a task's name or kind; they ask the task's
kind (`get_kind(task.kind)`) to encode examples into features, collate features into batches,
build the head, compute the loss, turn model outputs into per-feature results and merge those
into one prediction per example. One example may give several features (QA windows, long
tagged sentences); every feature carries the index of its example, and gold answers always
come from the examples, never from truncated features.

Kinds: classification (sentence or sentence pair), tagging (one label per word), qa
(extractive spans), multiple_choice (one score per choice, the choices flattened into the batch),
retrieval (no training: nearest neighbours of pooled sentence vectors); and two that are parts of
multi-task training, never tasks of their own: mixture (several tasks, one head each) and mlm
(masked-LM batches on raw text).
"""

from __future__ import annotations

# Importing a kind module registers its kind (kinds/base.register). The order here is the order
# of KINDS, as it was when this module built the dict itself.
from . import classification, tagging, qa, multiple_choice, retrieval, mixture, mlm  # noqa: F401 - registers the kinds
from .base import KINDS, Feature, Kind, get_kind, pad_batch

__all__ = ["Feature", "Kind", "KINDS", "get_kind", "pad_batch"]
