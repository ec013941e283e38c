"""The one exception type for mistakes a user (or the machine) can cause.

Library code raises UserError(message, field=NAME): a one-line message saying what is wrong
and what would be valid, and the Config / options field it concerns (None when it is about a
file or the machine, not a setting). The field is named, not its flag: str(error) reads
"NAME: message" for a caller of the library, and the entry points (cli.run) print
`error: --NAME: message` with exit code 1 and no traceback (cli.define_flags names each
flag after its field; a field of the run's saved config, such as dataset, reads as the
setting the run was trained with). Only advice to rerun a command spells a flag
(--overwrite). Any other exception is a bug (here, in Keras or in TensorFlow) and keeps its
traceback.
"""

import re

# TensorFlow decorates op errors: "{{function_node __wrapped__SaveV2...}} PATH; Reason [Op:SaveV2]".
_TF_DECORATION = re.compile(r"\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\]")


class UserError(Exception):
  """A bad setting, file, dataset or workdir, or a run that cannot go on.

  message: one line, without the field's name; field: the Config / options field at fault
  (e.g. "dataset"), or None.
  """

  def __init__(self, message: str, field: str = None):
    super().__init__(message, field)  # both in args: a pickled error keeps its field
    self.message, self.field = message, field

  def __str__(self):
    return f"{self.field}: {self.message}" if self.field else self.message

  def as_flag(self) -> str:
    """The message as an entry point prints it: the field named as its flag."""
    return f"--{self.field}: {self.message}" if self.field else self.message


def check(ok: bool, field: str, message: str) -> None:
  """Raises UserError(message, field) unless `ok`."""
  if not ok:
    raise UserError(message, field)


def error_text(error: BaseException) -> str:
  """The first line of an exception's message without TensorFlow's op decorations."""
  text = getattr(error, "message", None) or str(error)
  text = _TF_DECORATION.sub("", str(text)).strip()
  return text.splitlines()[0][:300] if text else type(error).__name__
