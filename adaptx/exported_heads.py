"""Mean-pooling prediction heads for adapters exported by adaptx (`adaptx zoo export`).

adaptx copies this file verbatim into every export whose head pools by the masked mean, as
adaptx_heads.py; it needs only `adapters` and `torch`, never adaptx.

The adapters library's classification and multiple-choice heads read the first token (or BERT's
pooler). The heads of these exports were trained on the masked mean of the last hidden states, so
they are the library's own heads with that one change, registered the library's documented way
(`register_custom_head`). Register them before loading the export, then the standard forward
call gives the trained model's scores:

    import adaptx_heads
    adaptx_heads.register(model)  # model: an adapters.AutoAdapterModel
    model.load_adapter(DIR, use_safetensors=True, set_active=True)
    logits = model(**batch).logits
"""

from __future__ import annotations

from adapters.heads import ClassificationHead, MultipleChoiceHead


def masked_mean(outputs, attention_mask):
    """The mean of the last hidden states over the tokens the attention mask keeps (padding left out)."""
    hidden = outputs[0]
    if attention_mask is None:
        return hidden.mean(1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


class MeanPooledClassificationHead(ClassificationHead):
    """The library's classification head over the masked mean instead of the first token."""

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=False, **kwargs):
        if cls_output is None:
            cls_output = masked_mean(outputs, attention_mask)
        return super().forward(outputs, cls_output, attention_mask, return_dict, **kwargs)


class MeanPooledMultipleChoiceHead(MultipleChoiceHead):
    """The library's multiple-choice head over the masked mean of each (question, choice) row."""

    def forward(self, outputs, cls_output=None, attention_mask=None, return_dict=None, **kwargs):
        if cls_output is None:
            cls_output = masked_mean(outputs, attention_mask)
        return super().forward(outputs, cls_output, attention_mask, return_dict, **kwargs)


# the library's head type -> the head_type an export's head_config.json names, and its class
MEAN_POOLED = {
    "classification": ("adaptx_mean_classification", MeanPooledClassificationHead),
    "multiple_choice": ("adaptx_mean_multiple_choice", MeanPooledMultipleChoiceHead),
}


def register(model) -> None:
    """Make `model` (an adapters flex-head model) know the mean-pooling head types; call it before
    `load_adapter` / `load_head`, which otherwise refuse the export's head type as unknown."""
    for head_type, head_class in MEAN_POOLED.values():
        model.register_custom_head(head_type, head_class)
