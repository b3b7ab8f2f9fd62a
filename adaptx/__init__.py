"""adaptx: adapter-based English intermediate-task training for zero-shot cross-lingual transfer.

Use a trained model (docs/predict.md):

    import adaptx
    predictor = adaptx.load("runs/quickstart")  # a run folder, a stage folder, or "zoo:NAME"
    predictor.predict([{"premise": "He is asleep.", "hypothesis": "He is awake."}])
"""

from .version import __version__

_LAZY = {"load": "load", "Predictor": "Predictor"}  # adaptx.predict names; imported on first use


def __getattr__(name):
    # `import adaptx` stays light (no torch): adaptx.load imports the model code when first asked for
    if name in _LAZY:
        from . import predict

        return getattr(predict, _LAZY[name])
    raise AttributeError(f"module 'adaptx' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
