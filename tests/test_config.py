"""Config layering, validation and the identity check used on resume."""

import ast
import os

import pytest

from dcgan_tf import config as config_lib
from dcgan_tf.config import Config
from dcgan_tf.errors import UserError


def test_dataset_picks_its_config_file_and_flags_override():
  config = config_lib.resolve_config(None, {"dataset": "digits", "batch_size": 8, "seed": None})
  assert config.image_size == 32 and config.channels == 1  # from configs/digits.py
  assert config.batch_size == 8  # the flag wins
  assert config.seed == Config().seed  # None = not set


def test_every_config_file_validates():
  for name in config_lib.available_configs():
    config_lib.validate(config_lib.load_config_file(name))


@pytest.mark.parametrize("field,value", [("image_size", 48), ("variant", "wgan"), ("d_steps", 0),
                                         ("label_smoothing", 0.5), ("g_lr", 0.0),
                                         ("ema_stat_samples", 1), ("ema_stat_samples", 300),
                                         ("ema_rampup", 1.5), ("ema_rampup", float("nan")),
                                         ("augment_p", "nan"), ("augment_p", "1.5"),
                                         ("augment_p", None),
                                         ("augment_p", "auto")])  # auto without --augment
def test_validate_names_the_field(field, value):
  with pytest.raises(UserError, match=f"^{field}: ") as error:
    config_lib.validate(Config(**{field: value}))
  assert error.value.field == field and error.value.as_flag().startswith(f"--{field}: ")
  import pickle  # as an error crosses processes (multiprocessing, tf.data workers)
  assert pickle.loads(pickle.dumps(error.value)).as_flag() == error.value.as_flag()


def test_identity_conflicts_only_compare_fields_the_variant_uses():
  saved = Config(variant="dcgan", mlp_units=1024)
  assert config_lib.identity_conflicts(saved, Config(variant="dcgan", mlp_units=1200)) == []
  assert config_lib.identity_conflicts(saved, Config(variant="dcgan", image_size=64)) == [
      ("image_size", 32, 64)]
  gan = Config(variant="gan", mlp_units=1200)
  assert config_lib.identity_conflicts(gan, gan.replace(mlp_units=240))[0][0] == "mlp_units"
  assert config_lib.identity_conflicts(gan, gan.replace(gen_filters=3)) == []


def test_workdir_config_round_trip_and_conflicts(tmp_path):
  from dcgan_tf.workdir import Workdir
  config = Config(dataset="folder:/x", image_size=64, channels=3)
  workdir = Workdir(str(tmp_path / "w"))
  assert workdir.saved_config() is None
  workdir.save_config(config)
  assert workdir.load_config() == config
  workdir.save_config(config.replace(batch_size=7))  # not an identity field: a rerun may change it
  with pytest.raises(UserError, match=r"^image_size: .* was trained with image_size=64, not 32"):
    workdir.start(config.replace(image_size=32))



def test_config_json_keeps_settings_set_to_zero_or_off(tmp_path):
  """Settings whose value is 0, False or "" but whose default is not are written too: a
  run trained without EMA or export must read back as one."""
  from dcgan_tf.workdir import Workdir
  config = Config(ema_decay=0.0, export=False, beta_1=0.0, eval_metrics="", eval_samples=2)
  assert all(getattr(config, k) != getattr(Config(), k)
             for k in ("ema_decay", "export", "beta_1", "eval_metrics"))
  workdir = Workdir(str(tmp_path / "w"))
  workdir.save_config(config)
  assert workdir.load_config() == config


def test_config_json_reads_with_its_class_count_resolved(tmp_path):
  """config.json holds the class count a run trained with (train/setup.py); one that holds
  0 for the conditional variant reads as one class (as with unlabelled data), and another
  variant's count as 0, which its networks take."""
  from dcgan_tf.workdir import Workdir
  for saved, expected in ((Config(variant="cdcgan", num_classes=10), 10),
                          (Config(variant="cdcgan"), 1),
                          (Config(variant="dcgan", num_classes=5), 0)):
    workdir = Workdir(str(tmp_path / f"{saved.variant}-{saved.num_classes}"))
    workdir.save_config(saved)
    assert workdir.load_config() == saved.replace(num_classes=expected)
    workdir.start(saved)  # a rerun with the same flags is no conflict


def _file_layers(name):
  """configs/NAME.py's get_config() as (the Config it starts from, [keywords of each call on
  it, innermost first]). The two forms config files take: Config(k=v, ...) and
  load_config_file("BASE").replace(k=v, ...); anything else fails, naming the file."""
  path = os.path.join(config_lib.CONFIG_DIR, name + ".py")
  with open(path) as f:
    tree = ast.parse(f.read())
  returns = [node for top in tree.body if isinstance(top, ast.FunctionDef)
             and top.name == "get_config" for node in ast.walk(top) if isinstance(node, ast.Return)]
  assert len(returns) == 1, f"{path}: want one get_config() with one return"
  node, layers = returns[0].value, []
  while (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
         and node.func.attr == "replace" and not node.args):
    layers.insert(0, node.keywords)
    node = node.func.value
  called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id
  if called == "Config" and not node.args:
    return Config(), [node.keywords] + layers
  if called == "load_config_file" and not node.keywords and len(node.args) == 1:
    return config_lib.load_config_file(ast.literal_eval(node.args[0])), layers
  raise AssertionError(f"{path}: get_config() returns neither Config(...) nor "
                       "load_config_file(...).replace(...)")


def test_config_file_is_logged_and_states_only_differences(caplog):
  import logging
  with caplog.at_level(logging.INFO):
    config_lib.resolve_config(None, {"dataset": "digits"})
  assert any("configs/digits.py" in r.getMessage() for r in caplog.records)
  for name in config_lib.available_configs():
    config, layers = _file_layers(name)
    for keywords in layers:
      for keyword in keywords:
        assert keyword.arg, f"configs/{name}.py: **kwargs hide which fields it sets"
        value = ast.literal_eval(keyword.value)
        assert value != getattr(config, keyword.arg), (
            f"configs/{name}.py sets {keyword.arg}={value!r}, the value it already had")
        config = config.replace(**{keyword.arg: value})
    # The parse is the whole file: what it states is what get_config() returns.
    assert config == config_lib.load_config_file(name), name
