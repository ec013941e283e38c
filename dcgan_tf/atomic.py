"""Atomic file writes: write to a temporary name beside the target, then rename.

A crash, a full disk or a concurrent reader never sees a half-written file: the
target is either the old file or the complete new one. Every writer of a file a
later process reads (config.json, PNGs, evaluation results, cached features and
classifiers, SavedModels) goes through `replacing`.
"""

import contextlib
import os
import shutil


@contextlib.contextmanager
def replacing(path: str):
  """Yields a temporary path to write; on success renames it to `path`.

  The temporary name keeps the extension (np.savez and Keras' save look at it) and
  holds the process id, so two processes writing one cache never share it. `path`
  may be a file or a folder (a SavedModel); an existing folder is replaced whole.
  On an exception the temporary file or folder is removed and the old `path` kept.
  """
  path = os.path.abspath(path)
  folder = os.path.dirname(path)
  os.makedirs(folder, exist_ok=True)
  root, ext = os.path.splitext(os.path.basename(path))
  tmp = os.path.join(folder, f".{root}.tmp{os.getpid()}{ext}")
  _remove(tmp)
  try:
    yield tmp
    if os.path.isdir(tmp) and os.path.isdir(path):
      old = tmp + ".old"
      _remove(old)
      os.replace(path, old)
      os.replace(tmp, path)
      _remove(old)
    else:
      os.replace(tmp, path)
  except BaseException:
    _remove(tmp)
    raise


def write_text(path: str, text: str) -> str:
  with replacing(path) as tmp, open(tmp, "w") as f:
    f.write(text)
  return path


def write_bytes(path: str, data: bytes) -> str:
  with replacing(path) as tmp, open(tmp, "wb") as f:
    f.write(data)
  return path


def _remove(path: str) -> None:
  if os.path.isdir(path):
    shutil.rmtree(path, ignore_errors=True)
  elif os.path.lexists(path):
    os.remove(path)
