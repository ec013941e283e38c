"""The one exception type for mistakes a user (or the machine) can cause.

Raise UserError with a one-line message that names the flag or file involved and
what would be valid. The entry points (cli.run) print it as `error: MESSAGE` with
exit code 1 and no traceback. Any other exception is a bug (here, in Keras or in
TensorFlow) and keeps its traceback.
"""

import re

# TensorFlow decorates op errors: "{{function_node __wrapped__SaveV2...}} PATH; Reason [Op:SaveV2]".
_TF_DECORATION = re.compile(r"\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\]")


class UserError(Exception):
  """A bad flag, file, dataset or workdir, or a run that cannot go on; message: one line."""


def check(ok: bool, flag: str, message: str) -> None:
  """Raises UserError("--FLAG: MESSAGE") unless `ok`."""
  if not ok:
    raise UserError(f"--{flag}: {message}")


def error_text(error: BaseException) -> str:
  """The first line of an exception's message without TensorFlow's op decorations."""
  text = getattr(error, "message", None) or str(error)
  text = _TF_DECORATION.sub("", str(text)).strip()
  return text.splitlines()[0][:300] if text else type(error).__name__
