"""Retrieval losses: DirectSpec, DirectSpec+ and the baselines."""

from tfdirectspec.losses.base import RetrievalLoss
from tfdirectspec.losses.bpr import BPRLoss
from tfdirectspec.losses.directau import DirectAULoss
from tfdirectspec.losses.directspec import DirectSpecLoss
from tfdirectspec.losses.directspec_plus import DirectSpecPlusLoss
from tfdirectspec.losses.ials import IALSLoss
from tfdirectspec.losses.positive_only import PositiveOnlyLoss
from tfdirectspec.losses.sampled_softmax import SampledSoftmaxLoss

__all__ = [
    "BPRLoss",
    "DirectAULoss",
    "DirectSpecLoss",
    "DirectSpecPlusLoss",
    "IALSLoss",
    "PositiveOnlyLoss",
    "RetrievalLoss",
    "SampledSoftmaxLoss",
]
