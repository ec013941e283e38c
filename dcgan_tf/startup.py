"""Process start-up: what must hold before TensorFlow initialises (imported by the package).

GPU memory: TensorFlow reserves nearly all memory of every visible GPU per process unless
memory growth is on: two pytest workers, a test's subprocess or an `evaluate` beside a
training run would then fail with out-of-memory. A value the user set is kept.

Import time: `import tensorflow` imports Keras, and Keras imports scikit-learn (its
`keras.wrappers` estimators, with SciPy), matplotlib.pyplot (`keras.visualization`) and
IPython (`keras.saving`'s notebook check) whenever they are installed: refusing them takes
`python -c "import dcgan_tf.train.loop"` from 8.4 s to 5.2 s on a 2-core AVX2 VM.
dcgan_tf uses none of those Keras features, so these optional imports of Keras' own modules
fail as if the packages were absent (Keras catches the ImportError). Only imports made by `keras.*` modules are refused:
dcgan_tf's own `import sklearn` (evaluation) and `import matplotlib` (plots) work as usual,
and a process that imported Keras before dcgan_tf is left as it is. The cost: in a
dcgan_tf process, `keras.wrappers.SKLearnClassifier` and `keras.visualization` report their
package missing (in a notebook IPython is loaded already, so Keras still finds it).
"""

import importlib.abc
import os
import sys

# Top-level packages that Keras imports only for optional features dcgan_tf never uses.
KERAS_OPTIONAL = ("sklearn", "matplotlib", "IPython")


class _KerasOptionalImports(importlib.abc.MetaPathFinder):
  """Refuses KERAS_OPTIONAL packages to importers inside Keras; finds nothing itself."""

  def find_spec(self, name, path=None, target=None):
    del path, target
    if name not in KERAS_OPTIONAL:
      return None
    frame = sys._getframe(1)  # skip the import machinery's frames to the importing module
    while frame is not None and (frame.f_globals.get("__name__") == "importlib" or
                                 frame.f_globals.get("__name__", "").startswith("importlib.")):
      frame = frame.f_back
    importer = frame.f_globals.get("__name__", "") if frame is not None else ""
    if importer == "keras" or importer.startswith("keras."):
      raise ImportError(f"{name} is not imported for Keras' optional features (dcgan_tf.startup)")
    return None


def prepare() -> None:
  """Sets GPU memory growth (unless set) and hides Keras' optional imports (before Keras
  loads). Idempotent."""
  os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
  if "keras" in sys.modules:
    return  # too late to matter, and keras.wrappers may already hold scikit-learn
  if not any(isinstance(f, _KerasOptionalImports) for f in sys.meta_path):
    sys.meta_path.insert(0, _KerasOptionalImports())
