"""The classic baselines a practitioner tries first: EASE^R (closed form) and iALS.

They run under the same protocol and write the same run directory as the embedding
losses (``tfdirectspec train --loss ease`` / ``--loss ials``, see
:mod:`tfdirectspec.training.baseline_trainer`). This package holds only the algorithms
(NumPy, SciPy and, for iALS, the optional ``implicit`` library), not the protocol.
"""

from tfdirectspec.baselines.ease import check_ease_fits, ease_item_table, ease_memory_bytes
from tfdirectspec.baselines.ials import IALS, ials_loss

__all__ = ["IALS", "check_ease_fits", "ease_item_table", "ease_memory_bytes", "ials_loss"]
