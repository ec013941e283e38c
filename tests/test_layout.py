"""The README's layout section matches the package tree: every module is listed, every
listed module exists."""

import os
import re

from conftest import REPO


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


def test_training_imports_no_evaluation_or_converter_code():
  """The train entry point and its library import neither the metrics (evaluate/: SVMs,
  Inception extractors) nor the ONNX converter; they load when --eval_every or
  `export --format=onnx` asks. (scikit-learn itself is imported by Keras 3.15's own
  `keras.wrappers` whenever it is installed, so it is not checked here.)"""
  import json
  import subprocess
  import sys
  code = ("import json, sys; import dcgan_tf.train.__main__, dcgan_tf.train.loop; "
          "print(json.dumps(sorted(m for m in sys.modules if m.startswith("
          "('dcgan_tf.evaluate', 'dcgan_tf.export.convert', 'tf2onnx', 'onnx')))))")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, PYTHONPATH=REPO))
  assert out.returncode == 0, out.stderr[-2000:]
  assert json.loads(out.stdout.strip().splitlines()[-1]) == []
