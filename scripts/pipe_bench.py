"""Input pipeline alone: images/s of data.pipeline_throughput for a folder at 64x64x3."""
import json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
from dcgan_tf.config import Config
from dcgan_tf import data
folder, cache = sys.argv[1], sys.argv[2]
batches = int(sys.argv[3]) if len(sys.argv) > 3 else 40
config = Config(dataset="folder:" + folder, image_size=64, channels=3, batch_size=128, cache=cache)
print(json.dumps(data.pipeline_throughput(config, num_batches=batches, batch_size=128)))
