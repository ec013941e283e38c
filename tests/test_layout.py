"""The README's layout section matches the package tree: every module is listed, every
listed module exists."""

import os
import re

import pytest

from conftest import REPO, tiny


def _layout_block():
  with open(os.path.join(REPO, "README.md")) as f:
    readme = f.read()
  start = readme.index("## Layout")
  block = readme[readme.index("```", start) + 3:]
  return block[:block.index("```")]


def test_readme_layout_lists_every_module_and_nothing_else():
  block = _layout_block()
  listed = set(re.findall(r"\b([a-z_]+\.py)\b", block))
  folders = set(re.findall(r"^  ([a-z_]+)/", block, re.M))
  package = os.path.join(REPO, "dcgan_tf")
  modules, subfolders = set(), set()
  for root, dirs, files in os.walk(package):
    dirs[:] = [d for d in dirs if d != "__pycache__"]
    rel = os.path.relpath(root, package)
    if rel != "." and os.sep not in rel:
      subfolders.add(rel)
    modules |= {f for f in files if f.endswith(".py") and f != "__init__.py"}
  # metrics/ lists its modules by name without ".py".
  metrics = {f"{m}.py" for m in re.findall(r"metrics/ \(([^)]*)\)", block.replace("\n", " "))[0]
             .replace(" ", "").split(",")}
  assert folders == subfolders
  assert modules - listed - metrics == set(), "modules missing from README's layout"
  scripts = set(os.listdir(os.path.join(REPO, "scripts")))
  assert listed - modules - scripts == set(), "README lists files that do not exist"


def test_a_training_run_imports_no_evaluation_scikit_learn_or_converter(tmp_path):
  """A whole training run without --eval_every (data from an image folder, export on) loads
  neither the metrics (evaluate/: SVMs, Inception extractors), nor scikit-learn (which Keras
  would import for its own wrappers: dcgan_tf.startup refuses it to Keras), nor matplotlib,
  nor the ONNX converter; they load when --eval_every, plots or `export --format=onnx` ask."""
  import json
  import subprocess
  import sys
  import numpy as np
  from PIL import Image
  images = tmp_path / "images"
  images.mkdir()
  rng = np.random.default_rng(0)
  for i in range(20):
    Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(images / f"{i}.png")
  config = tiny(dataset=f"folder:{images}", export=True)
  code = ("import json, sys; import dcgan_tf.train.__main__; from dcgan_tf.train import loop; "
          "from dcgan_tf.config import Config; "
          f"loop.train(Config.from_dict(json.loads(sys.argv[1])), {str(tmp_path / 'run')!r}); "
          "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
          "('sklearn', 'matplotlib', 'tf2onnx', 'onnx', 'onnxruntime') or m.startswith("
          "('dcgan_tf.evaluate', 'dcgan_tf.export.convert')))))")
  out = subprocess.run([sys.executable, "-c", code, json.dumps(config.to_dict())], cwd=REPO,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=REPO))
  assert out.returncode == 0, out.stderr[-2000:]
  assert (tmp_path / "run" / "saved_model" / "saved_model.pb").is_file()  # it ran to the end
  assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_keras_optional_imports_are_refused_to_keras_only():
  """dcgan_tf.startup's finder: an `import sklearn` made by a keras.* module fails (Keras
  treats the package as absent), the same import from anywhere else succeeds."""
  import importlib
  import sys
  from dcgan_tf import startup
  finder = next(f for f in sys.meta_path if isinstance(f, startup._KerasOptionalImports))
  for name in startup.KERAS_OPTIONAL:
    assert finder.find_spec(name) is None  # importer: this test module
  keras_module = {"__name__": "keras.src.wrappers.fixes"}
  with pytest.raises(ImportError, match="Keras' optional features"):
    exec("finder.find_spec('sklearn')", dict(keras_module, finder=finder))
  assert eval("finder.find_spec('numpy')", dict(keras_module, finder=finder)) is None
  assert importlib.import_module("sklearn.linear_model") is not None  # ours still imports it
