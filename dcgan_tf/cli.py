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

# TensorFlow errors the environment causes (files, disk, memory), by class name in
# tf.errors; anything else from TensorFlow is a bug and keeps its traceback.
TF_ENVIRONMENT_ERRORS = ("PermissionDeniedError", "ResourceExhaustedError", "NotFoundError",
                         "DataLossError", "FailedPreconditionError", "AlreadyExistsError",
                         "UnavailableError")


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


def user_message(error: BaseException):
  """One line for an error the user or the machine caused, or None for a bug (traceback).

  Modules are looked up in sys.modules, not imported: an error can only come from a
  module that is loaded, and this module must not import TensorFlow.
  """
  if isinstance(error, USER_ERRORS):
    return str(error)
  ckpt = sys.modules.get("dcgan_tf.checkpoint")
  if ckpt is not None and isinstance(error, ckpt.RunError):
    return str(error)
  tf = sys.modules.get("tensorflow")
  if tf is not None and isinstance(error, tf.errors.OpError):
    if type(error).__name__ not in TF_ENVIRONMENT_ERRORS:
      return None
    from dcgan_tf.checkpoint import error_text  # TensorFlow is loaded: cheap
    return f"{type(error).__name__[:-len('Error')]}: {error_text(error)}"
  if isinstance(error, OSError):  # disk full, read-only filesystem, ...
    filename = getattr(error, "filename", None)
    return f"{error.strerror or error}" + (f": {filename}" if filename else "")
  return None


def run(main):
  """app.run(main) that turns user and environment errors into one `error: ...` line on
  stderr (exit code 1), and a second Ctrl-C into `interrupted` (exit code 130)."""
  def wrapped(argv):
    if len(argv) > 1:
      print(f"error: unexpected arguments {argv[1:]}; flags look like --name=value",
            file=sys.stderr)
      sys.exit(2)
    try:
      main(argv)
    except KeyboardInterrupt:
      logging.flush()
      print("error: interrupted; the newest complete checkpoint (if any) is kept", file=sys.stderr)
      sys.exit(130)
    except Exception as e:  # noqa: BLE001 - anything not recognised is re-raised
      message = user_message(e)
      if message is None:
        raise
      logging.flush()
      print(f"error: {message}", file=sys.stderr)
      sys.exit(1)
  app.run(wrapped)
