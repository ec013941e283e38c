"""What every generator shares: export through export/savedmodel.py's explicit signatures only."""

import keras


class GeneratorBase(keras.Model):
  """A keras.Model without Keras' implicit SavedModel signature.

  SavedModel export traces Keras' default signature, which calls the model with ONE
  input (z): a conditional G needs labels too and fails to trace, and for an
  unconditional G it is an unused extra trace (about 1 s per export). savedmodel.py
  declares the serving signatures explicitly instead.
  """

  @property
  def _default_save_signature(self):
    return None
