"""Shared command-line plumbing: one absl flag per Config field, and error handling.

Only entry points import this module: library code receives a Config.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TF's C++ info banners

from absl import app, flags, logging  # noqa: E402

from dcgan_tf import config as config_lib  # noqa: E402

FLAGS = flags.FLAGS

# Errors a user can cause: printed as one line, no traceback, exit code 1.
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError)


def define_config_flags():
  """Defines --config plus one flag per Config field (default None = not overridden)."""
  flags.DEFINE_string("config", None, "Experiment file in configs/ (name or path to a .py). "
                      "Default: configs/<dataset>.py when it exists. Available: "
                      + ", ".join(config_lib.available_configs()))
  types = config_lib.field_types()
  for name, text in config_lib.field_help().items():
    define = {bool: flags.DEFINE_boolean, int: flags.DEFINE_integer,
              float: flags.DEFINE_float}.get(types[name], flags.DEFINE_string)
    define(name, None, text)


def config_from_flags() -> config_lib.Config:
  overrides = {name: FLAGS[name].value for name in config_lib.field_help()}
  return config_lib.resolve_config(FLAGS.config, overrides)


def default_workdir(config) -> str:
  name = config.dataset.replace(":", "_").replace("/", "_").strip("_")
  return os.path.join("runs", f"{name}-{config.variant}")


def run(main):
  """app.run(main) that turns user errors into `error: ...` on stderr and exit code 1."""
  def wrapped(argv):
    if len(argv) > 1:
      print(f"error: unexpected arguments {argv[1:]}; flags look like --name=value",
            file=sys.stderr)
      sys.exit(2)
    try:
      main(argv)
    except USER_ERRORS as e:
      logging.flush()
      print(f"error: {e}", file=sys.stderr)
      sys.exit(1)
    except OSError as e:  # disk full, read-only filesystem, ...
      logging.flush()
      print(f"error: {e.strerror or e}: {getattr(e, 'filename', '') or ''}", file=sys.stderr)
      sys.exit(1)
  app.run(wrapped)
