"""Command-line plumbing shared by the entry points: dataclass -> absl flags, and errors.

Only entry points (the `__main__.py` of each stage) import this module; library
code receives a Config or an options dataclass and never reads flags.

  define_flags(Options)      one flag per field: type from the annotation, help text from
                             the field's metadata["help"], required if metadata["required"]
  read_flags(Options)        the parsed flags as an Options instance
  read_options(Options, validate, verbosity)   the same, validated, log verbosity set: the
                             first line of every entry point's main
  define_config_flags()      --config plus one flag per Config field (None = not overridden)
  run(main)                  app.run that prints a UserError (or an environment error such
                             as a full disk) as one `error: ...` line, exit code 1
"""

import dataclasses
import errno
import os
import sys
import typing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TF's C++ info banners

from absl import app, flags, logging  # noqa: E402

from dcgan_tf import config as config_lib  # noqa: E402
from dcgan_tf.errors import UserError, error_text  # noqa: E402

FLAGS = flags.FLAGS

# TensorFlow errors the environment causes (files, disk, memory), by class name in
# tf.errors; anything else from TensorFlow is a bug and keeps its traceback.
TF_ENVIRONMENT_ERRORS = ("PermissionDeniedError", "ResourceExhaustedError", "NotFoundError",
                         "DataLossError", "FailedPreconditionError", "AlreadyExistsError",
                         "UnavailableError")

# OS errors a user's machine or path causes (full disk, no permission, read-only
# filesystem, a path that does not exist, disk quota, a stale NFS handle on a shared
# workdir or dataset); any other OSError keeps its traceback.
USER_OS_ERRORS = (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
                  errno.ENOTDIR, errno.EISDIR, errno.EDQUOT, errno.ESTALE)

_DEFINE = {bool: flags.DEFINE_boolean, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string}


def _flag_type(field, hints):
  """bool | int | float | str of a dataclass field (Optional[X] -> X)."""
  hint = hints[field.name]
  args = [a for a in typing.get_args(hint) if a is not type(None)]
  return args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint


def define_flags(cls, overrides_only: bool = False) -> None:
  """Defines one flag per field of dataclass `cls`.

  overrides_only: every default is None, meaning "not given" (Config fields: the
  config file's value stands unless the flag is given).
  """
  hints = typing.get_type_hints(cls)
  for field in dataclasses.fields(cls):
    default = None if overrides_only else field.default
    # Key flags of the entry point that defines them: its --helpshort lists them.
    _DEFINE[_flag_type(field, hints)](field.name, default, field.metadata["help"],
                                      module_name=_entry_module())
    if field.metadata.get("required"):
      flags.mark_flag_as_required(field.name)


def _entry_module() -> str:
  """Name of the module that called into this one (an entry point, e.g. dcgan_tf.train.__main__)."""
  frame = sys._getframe(1)
  while frame is not None and frame.f_globals.get("__name__") == __name__:
    frame = frame.f_back
  name = frame.f_globals.get("__name__") if frame is not None else None
  return sys.argv[0] if name == "__main__" else name  # absl's name for the main module


def read_flags(cls):
  """The parsed flags of `cls`'s fields as an instance of `cls`."""
  return cls(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(cls)})


def read_options(cls, validate=None, verbosity=logging.INFO):
  """An entry point's start: absl's log verbosity, the parsed flags of dataclass `cls`,
  checked by validate(options) when given (UserError naming the field, so the flag) before
  TensorFlow loads."""
  logging.set_verbosity(verbosity)
  options = read_flags(cls)
  if validate is not None:
    validate(options)
  return options


def define_config_flags() -> None:
  """--config plus one flag per Config field; config_from_flags() reads them."""
  flags.DEFINE_string("config", None, "Experiment file in configs/ (name or path to a .py). "
                      "Default: configs/<dataset>.py when it exists. Available: "
                      + ", ".join(config_lib.available_configs()), module_name=_entry_module())
  define_flags(config_lib.Config, overrides_only=True)


def config_from_flags() -> config_lib.Config:
  overrides = {f.name: FLAGS[f.name].value for f in dataclasses.fields(config_lib.Config)}
  return config_lib.resolve_config(FLAGS.config, overrides)


def user_message(error: BaseException):
  """One line for an error the user or the machine caused, or None for a bug (traceback).

  TensorFlow is looked up in sys.modules, not imported: an error can only come from
  it when it is loaded, and this module must not import it.
  """
  if isinstance(error, UserError):
    return error.as_flag()
  tf = sys.modules.get("tensorflow")
  if tf is not None and isinstance(error, tf.errors.OpError):
    if type(error).__name__ not in TF_ENVIRONMENT_ERRORS:
      return None
    return f"{type(error).__name__[:-len('Error')]}: {error_text(error)}"
  if isinstance(error, OSError) and error.errno in USER_OS_ERRORS:
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
