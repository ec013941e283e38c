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
