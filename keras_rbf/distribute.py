"""Scale-out with TensorFlow's own distribution engine (`tf.distribute`).

The training entry points take `--strategy {default,mirrored,multiworker}`:

- `default`: TensorFlow's default strategy (one device: the first GPU, else the CPU).
- `mirrored`: `tf.distribute.MirroredStrategy`, synchronous data parallelism over all GPUs
  of this machine (or the CPU when there is none).
- `multiworker`: `tf.distribute.MultiWorkerMirroredStrategy`, the same over several
  machines; every machine runs the same command with its own `TF_CONFIG`, e.g. on the
  first of two::

      TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                  "task": {"type": "worker", "index": 0}}'

How a recipe uses it (Keras 3 runs `fit` under the strategy the model was built in)::

    strategy = get_strategy(args.strategy)   # first: multiworker must precede any TF op
    with strategy.scope():
        model = build(...)
        model.compile(optimizer=..., loss=..., metrics=[...])
    model.fit(x, y, batch_size=global_batch_size, ...)    # batch_size is GLOBAL
    if is_chief(strategy):
        model.save_weights(path)                         # only one worker writes

`batch_size` stays the global batch: each of R replicas gets `batch_size / R` examples
and the per-replica gradients are summed, so a step is the same update as on one device
with the same batch (tests/test_distribute.py checks the trained weights).
"""

from __future__ import annotations

import argparse
import json
import os

__all__ = ["STRATEGIES", "get_strategy", "add_strategy_argument", "is_chief"]

STRATEGIES = ("default", "mirrored", "multiworker")


def get_strategy(name: str = "default", devices: list[str] | None = None):
    """The `tf.distribute.Strategy` called `name`.

    Args:
        name: "default", "mirrored" or "multiworker" (see the module docstring).
        devices: for "mirrored" only, the devices to mirror over (e.g.
            `["/gpu:0", "/gpu:1"]`); default all GPUs of this machine, else the CPU.

    Returns:
        A `tf.distribute.Strategy`. Build and compile the model inside `strategy.scope()`.

    Raises:
        ValueError: unknown name, `devices` given for another strategy, or "multiworker"
            without a `TF_CONFIG` that names this task.
        RuntimeError: "multiworker" asked for after TensorFlow ops already ran in this
            process (TensorFlow allows the collective setup only at start-up).
    """
    import tensorflow as tf  # deferred: the CLI imports this module for its argument only

    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if devices is not None and name != "mirrored":
        raise ValueError(f"`devices` applies to the 'mirrored' strategy only, not {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    _check_tf_config(os.environ.get("TF_CONFIG"))
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as err:
        if "program startup" not in str(err):
            raise
        raise RuntimeError(
            "MultiWorkerMirroredStrategy must be created before any TensorFlow op runs in "
            "this process: call keras_rbf.distribute.get_strategy('multiworker') first "
            "(before loading data with TensorFlow or building a model)"
        ) from err
    return _reduce_nests(strategy)


def _check_tf_config(raw: str | None) -> None:
    """Fails early, with the fix in the message, on a missing or malformed TF_CONFIG.

    Without it MultiWorkerMirroredStrategy silently trains alone on this machine, which
    is never what `--strategy multiworker` means.
    """
    example = (
        'TF_CONFIG=\'{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
        '"task": {"type": "worker", "index": 0}}\''
    )
    if not raw:
        raise ValueError(
            "--strategy multiworker needs the TF_CONFIG environment variable on every "
            f"worker, e.g. {example} (index = this worker's position in the list)"
        )
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        members = cluster[task["type"]]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"TF_CONFIG is not valid ({err!r}); expected e.g. {example}") from err
    if not 0 <= index < len(members):
        raise ValueError(f"TF_CONFIG task {task} does not name an entry of its cluster {cluster}")


def _reduce_nests(strategy):
    """Makes `strategy.reduce` accept the calls Keras 3's `fit` makes on it.

    Keras 3.x (TF backend) works with MirroredStrategy but not as is with
    MultiWorkerMirroredStrategy (keras-team/keras issue 20585), for two calls:
    - before training it calls `strategy.reduce("MEAN", (x, y, ...), axis=None)` on a
      nest, while `reduce` takes single values only (TF's own "TODO: support `value`
      being a nest"): "Attempt to convert a value (PerReplica...)";
    - after each step it reduces every metric, scalars included, with `axis=0`:
      "Invalid reduction dimension 0 for input with 0 dimensions".
    This wrapper reduces each leaf of a nest separately and drops `axis` for scalars
    (the mean over replicas is then what the call asks for). Nothing else changes.
    """
    import tensorflow as tf

    single = strategy.reduce

    def rank(value) -> int | None:
        if isinstance(value, tf.distribute.DistributedValues):
            value = strategy.experimental_local_results(value)[0]
        shape = getattr(value, "shape", None)
        return None if shape is None else shape.rank

    def reduce_one(reduce_op, value, axis):
        if value is None:
            return None
        if axis is not None and rank(value) == 0:
            axis = None
        return single(reduce_op, value, axis=axis)

    def reduce(reduce_op, value, axis=None):
        return tf.nest.map_structure(lambda v: reduce_one(reduce_op, v, axis), value)

    reduce.__doc__ = single.__doc__
    strategy.reduce = reduce
    return strategy


def is_chief(strategy=None) -> bool:
    """Whether this process should write checkpoints, weights, cards and reports.

    Under MultiWorkerMirroredStrategy every worker holds the same weights, and only the
    chief (the "chief" task, else worker 0) writes, so that workers sharing a file system
    do not overwrite each other. True for single-process strategies.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    jobs = resolver.cluster_spec().jobs
    if "chief" in jobs:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def add_strategy_argument(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Adds `--strategy {default,mirrored,multiworker}` (default "default") to `parser`.

    Returns:
        The same parser, for chaining.
    """
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help=(
            "tf.distribute strategy: 'default' (one device), 'mirrored' (all GPUs of this "
            "machine) or 'multiworker' (several machines; set TF_CONFIG on each). "
            "The batch size stays the global batch, split over the replicas."
        ),
    )
    return parser
